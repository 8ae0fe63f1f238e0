"""Schema migrations (``govshare/core/migrations``), on SQLite and on PostgreSQL.

1. An empty database upgraded to head has exactly the models' schema: Alembic's ``compare_metadata``
   finds nothing (this fails when a model changes without a migration).
2. A database of the 76b4170 baseline holding a first-generation case comes through ``init_schema``
   with every row intact, the new columns at their defaults and the case's parties in ``case_party``:
   versioned at 0001, unversioned (``create_all`` of that release), and unversioned from before
   Idempotency-Key (the ``idempotencykey`` table missing).
3. A database made by this release's ``create_all`` code (no ``alembic_version``, some or all of
   0002 present) is stamped and upgraded, duplicating nothing; a second start does nothing.
4. ``upgrade head`` twice is a no-op; concurrent starts migrate once; an unknown revision and an
   unversioned database that does not match the baseline are refused, leaving it as it was.
Also: revision 0001 is the schema ``create_all`` made at commit 76b4170 (when git has that commit).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pg import SKIP_ENV
from pydantic import TypeAdapter
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from govshare.core import models
from govshare.core.db import init_schema, make_engine, migrate
from govshare.core.migrations import alembic_config
from workflows.case import Actor
from workflows.legacy.shapes import CaseState

ROOT = Path(__file__).resolve().parents[2]
BASELINE_COMMIT = "76b4170"
DATABASES = ["sqlite"] if os.environ.get(SKIP_ENV) == "1" else ["sqlite", "postgresql"]
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
NOW = datetime(2026, 9, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
def new_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A function making empty databases of the parametrized backend."""

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        return request.getfixturevalue("postgres").create_database(f"migr_{uuid.uuid4().hex[:10]}")

    return make


@pytest.fixture
def engine(new_url):
    engine = make_engine(new_url())
    yield engine
    engine.dispose()


# -- helpers ------------------------------------------------------------------------------------
def differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), revision)


def unversion(engine: Engine) -> None:
    """What a database made by ``create_all`` looks like: no ``alembic_version``."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))


def columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def schema_dump(engine: Engine) -> dict[str, Any]:
    """The schema as reflection sees it, normalized (for comparing two databases)."""
    inspector = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        out[table] = {
            "columns": [
                (c["name"], repr(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
            "uniques": sorted(
                (u["name"] or "", tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
            ),
        }
    return out


def first_generation_detail(case_id: str) -> dict[str, Any]:
    """``case.detail`` as the first-generation engine writes it: the whole CaseState."""
    state = CaseState(
        case_id=case_id,
        case_type="sharing_application",
        workflow_id=f"SharingApplication:{case_id}",
        profile_id="hubei",
        profile_version="1.1",
        profile_digest="d1",
        profile_name_zh="湖北省",
        parties={"consumer": "rsj", "provider": "gaj", "platform": "bdb"},
        submitted_at=NOW,
        submitted_by=Actor("rsj", "consumer", "clerk"),
        revision=3,
    )
    return TypeAdapter(CaseState).dump_python(state, mode="json")


def insert_baseline_rows(engine: Engine, case_id: str) -> None:
    """Rows of every baseline table, written with the baseline's columns only (reflected)."""
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        for code, name in [("rsj", "市人社局"), ("gaj", "市公安局"), ("bdb", "市大数据局")]:
            conn.execute(
                t["department"].insert(), {"code": code, "name_zh": name, "name_en": "", "created_at": NOW}
            )
        conn.execute(
            t["credential"].insert(),
            {
                "token_sha256": "ab" * 32,
                "department_code": "rsj",
                "role": "consumer",
                "label": "clerk",
                "created_at": NOW,
                "revoked_at": None,
            },
        )
        conn.execute(
            t["resource"].insert(),
            {
                "id": "gaj-household-members",
                "version": 1,
                "name_zh": "户籍及家庭成员关系信息",
                "name_en": "Household members",
                "provider_department": "gaj",
                "share_type": "conditional",
                "controlled_parameters": False,
                "sharing_modes": ["online_query"],
                "fields": ["name", "members"],
                "legal_basis": "",
                "created_at": NOW,
            },
        )
        case = {
            "workflow_id": f"SharingApplication:{case_id}",
            "case_type": "sharing_application",
            "profile_id": "hubei",
            "profile_version": "1.1",
            "status": "provider_authorization",
            "result": "",
            "consumer_department": "rsj",
            "provider_department": "gaj",
            "resource_id": "gaj-household-members",
            "subject_zh": "户籍及家庭成员关系信息",
            "submitted_at": NOW,
            "closed_at": None,
            "overdue": False,
            "next_due_at": NOW,
            "revision": 3,
            "updated_at": NOW,
        }
        conn.execute(t["case"].insert(), {"id": case_id, **case, "detail": first_generation_detail(case_id)})
        # A first-generation row whose detail has no parties: left alone, and no failure.
        conn.execute(
            t["case"].insert(),
            {**case, "id": f"{case_id}-X", "workflow_id": f"SharingApplication:{case_id}-X", "detail": {}},
        )
        conn.execute(
            t["task"].insert(),
            {
                "id": f"{case_id}:2",
                "case_id": case_id,
                "seq": 2,
                "step": "provider_authorization",
                "name_zh": "提供方授权",
                "name_en": "Provider authorization",
                "assignee_department": "gaj",
                "assignee_role": "provider",
                "status": "open",
                "opened_at": NOW,
                "due_at": NOW,
                "working_days": 10,
                "article": "20",
                "limit_basis": "statute",
                "provisional": False,
                "overdue": False,
                "action": "",
                "closed_at": None,
            },
        )
        for seq, kind in enumerate(["submitted", "decision", "task_opened"], start=1):
            conn.execute(
                t["auditevent"].insert(),
                {
                    "case_id": case_id,
                    "seq": seq,
                    "at": NOW,
                    "kind": kind,
                    "actor_department": "rsj",
                    "actor_role": "consumer",
                    "actor_user": "clerk",
                    "summary_zh": f"事件{seq}",
                    "summary_en": f"event {seq}",
                    "data": {"seq": seq},
                    "recorded_at": NOW,
                },
            )
        conn.execute(
            t["notification"].insert(),
            {
                "key": f"{case_id}:2:opened:gaj:provider",
                "case_id": case_id,
                "recipient_department": "gaj",
                "recipient_role": "provider",
                "kind": "task_opened",
                "text_zh": "请授权",
                "text_en": "Please authorize",
                "created_at": NOW,
                "read_at": None,
            },
        )
        if "idempotencykey" in t:
            conn.execute(
                t["idempotencykey"].insert(),
                {
                    "department_code": "rsj",
                    "key": "k-1",
                    "request_sha256": "cd" * 32,
                    "case_id": case_id,
                    "created_at": NOW,
                },
            )


def parties(session: Session, case_id: str) -> set[tuple[str, str, str]]:
    rows = session.exec(select(models.CaseParty).where(models.CaseParty.case_id == case_id))
    return {(p.role, p.department, p.person) for p in rows}


THREE = {("consumer", "rsj", ""), ("provider", "gaj", ""), ("platform", "bdb", "")}


# -- 1. the migrations make the models' schema ----------------------------------------------------
def test_fresh_database_upgraded_to_head_is_exactly_the_models(engine: Engine) -> None:
    init_schema(engine)
    assert revision_of(engine) == HEAD
    assert differences(engine) == [], (
        "a model changed without a migration (python -m govshare.core.migrations)"
    )
    # Every table of the models, and no other (besides Alembic's own).
    assert set(inspect(engine).get_table_names()) == set(SQLModel.metadata.tables) | {"alembic_version"}


# -- 2. a baseline database keeps its data and gets the parties ------------------------------------
@pytest.mark.parametrize("origin", ["versioned", "create_all", "before_idempotency"])
def test_baseline_database_keeps_its_data(engine: Engine, origin: str) -> None:
    upgrade_to(engine, "0001")
    if origin != "versioned":
        unversion(engine)
    if origin == "before_idempotency":
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE idempotencykey"))
    assert "engine" not in columns(engine, "case") and not inspect(engine).has_table("case_party")
    case_id = f"SA-{uuid.uuid4().hex[:8].upper()}"
    insert_baseline_rows(engine, case_id)

    init_schema(engine)

    assert revision_of(engine) == HEAD
    assert differences(engine) == []
    with Session(engine) as session:
        row = session.get(models.Case, case_id)
        assert row is not None
        assert (row.status, row.revision, row.submitted_at) == ("provider_authorization", 3, NOW)
        # 0003: the application's three list columns are folded into its summary fields.
        assert row.summary == {
            "consumer_department": "rsj",
            "provider_department": "gaj",
            "resource_id": "gaj-household-members",
        }
        assert TypeAdapter(CaseState).validate_python(row.detail).parties["provider"] == "gaj"
        # New columns at their defaults.
        assert (row.record_error, row.workflow_type, row.engine, row.subject_en) == (
            "",
            "SharingApplication",
            1,
            "",
        )
        task = session.get(models.Task, f"{case_id}:2")
        assert task is not None and (task.working_days, task.due_at, task.article) == (10, NOW, "20")
        assert (task.group, task.suspended, task.detail) == ("", False, None)
        events = session.exec(
            select(models.AuditEvent)
            .where(models.AuditEvent.case_id == case_id)
            .order_by(models.AuditEvent.seq)
        ).all()
        assert [(e.seq, e.kind, e.data) for e in events] == [
            (1, "submitted", {"seq": 1}),
            (2, "decision", {"seq": 2}),
            (3, "task_opened", {"seq": 3}),
        ]
        notice = session.exec(select(models.Notification)).one()
        assert (notice.text_zh, notice.recipient_person) == ("请授权", "")
        credential = session.exec(select(models.Credential)).one()
        assert (credential.department_code, credential.person_id) == ("rsj", None)
        assert session.get(models.Resource, "gaj-household-members").fields == ["name", "members"]
        keys = session.exec(select(models.IdempotencyKey)).all()
        assert len(keys) == (0 if origin == "before_idempotency" else 1)
        # The data migration: one case_party row per role → department.
        assert parties(session, case_id) == THREE
        assert parties(session, f"{case_id}-X") == set()
        assert len(session.exec(select(models.CaseParty)).all()) == 3

    init_schema(engine)  # a second start: nothing more
    with Session(engine) as session:
        assert len(session.exec(select(models.CaseParty)).all()) == 3


# -- 3. a database made by this release's create_all code -----------------------------------------
@pytest.mark.parametrize("made", ["all_of_it", "part_of_it"])
def test_database_made_by_create_all_is_stamped_and_upgraded(engine: Engine, made: str) -> None:
    SQLModel.metadata.create_all(engine)  # what init_schema did before migrations
    if made == "part_of_it":  # as the add-column code left it before the last tables and columns
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE worker_heartbeat"))
            conn.execute(text("DROP TABLE case_link"))
            conn.execute(text("ALTER TABLE task DROP COLUMN detail"))
            conn.execute(text('ALTER TABLE "case" DROP COLUMN subject_en'))
    first, second = (f"SA-{uuid.uuid4().hex[:8].upper()}" for _ in range(2))
    meta = MetaData()
    meta.reflect(engine)  # the columns the database has (not the models')
    with engine.begin() as conn:
        for code in ("rsj", "gaj", "bdb", "scjgj"):
            conn.execute(
                meta.tables["department"].insert(),
                {"code": code, "name_zh": code, "name_en": "", "created_at": NOW},
            )
        for case_id, generation, detail in [
            (first, 1, first_generation_detail(first)),
            (second, 2, {"case_id": second}),
        ]:
            row = models.Case(
                id=case_id,
                workflow_id=f"W:{case_id}",
                case_type="sharing_application",
                profile_id="hubei",
                profile_version="1.1",
                status="open",
                submitted_at=NOW,
                updated_at=NOW,
                engine=generation,
                detail=detail,
            ).model_dump()
            # The list columns the tables had before 0003 (where the database has them).
            row |= {"consumer_department": "rsj", "provider_department": "gaj"}
            case = meta.tables["case"]
            conn.execute(case.insert(), {k: v for k, v in row.items() if k in case.c})
        # The first-generation case already has one of its parties; the second generation its own.
        party = meta.tables["case_party"]
        conn.execute(
            party.insert(), {"case_id": first, "role": "consumer", "department": "rsj", "person": ""}
        )
        conn.execute(
            party.insert(), {"case_id": second, "role": "provider", "department": "scjgj", "person": "p1"}
        )

    assert migrate(engine) == (None, HEAD)
    assert revision_of(engine) == HEAD
    assert differences(engine) == []
    with Session(engine) as session:
        assert parties(session, first) == THREE
        assert parties(session, second) == {("provider", "scjgj", "p1")}
        assert session.get(models.Case, second).engine == 2
    assert migrate(engine) == (HEAD, HEAD)  # a second start does nothing
    init_schema(engine)
    with Session(engine) as session:
        assert len(session.exec(select(models.CaseParty)).all()) == 4


# -- 0007: parties who are not departments --------------------------------------------------------
def test_0007_keeps_credentials_and_admits_persons(engine: Engine) -> None:
    """From 0006 with a department's credential and notice: the credential keeps its row, indexes and
    foreign key (SQLite rebuilds the table to drop NOT NULL), gains ``person_id``; a citizen's
    credential (no department) can be stored, one naming an unknown identity cannot."""
    from sqlalchemy.exc import IntegrityError

    upgrade_to(engine, "0006")
    meta = MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        conn.execute(
            meta.tables["department"].insert(),
            {"code": "rsj", "name_zh": "人社局", "name_en": "", "created_at": NOW},
        )
        conn.execute(
            meta.tables["credential"].insert(),
            {
                "token_sha256": "ab" * 32,
                "department_code": "rsj",
                "role": "consumer",
                "label": "clerk",
                "created_at": NOW,
                "revoked_at": None,
            },
        )
        conn.execute(
            meta.tables["notification"].insert(),
            {
                "key": "n-1",
                "case_id": "SA-1",
                "recipient_department": "rsj",
                "recipient_role": "consumer",
                "kind": "task_assigned",
                "text_zh": "请办理",
                "text_en": "Please act",
                "created_at": NOW,
                "read_at": None,
            },
        )

    init_schema(engine)

    assert revision_of(engine) == HEAD and differences(engine) == []
    indexes = {i["name"]: bool(i["unique"]) for i in inspect(engine).get_indexes("credential")}
    assert indexes["ix_credential_token_sha256"] is True and "ix_credential_department_code" in indexes
    assert "ix_credential_person_id" in indexes
    fks = {
        (tuple(f["constrained_columns"]), f["referred_table"])
        for f in inspect(engine).get_foreign_keys("credential")
    }
    assert fks == {
        (("department_code",), "department"),
        (("person_id",), "party_identity"),
        (("user_id",), "user_account"),  # 0009: tokens issued to a user
    }
    with Session(engine) as session:
        kept = session.exec(select(models.Credential)).one()
        assert (kept.department_code, kept.person_id, kept.role, kept.label) == (
            "rsj",
            None,
            "consumer",
            "clerk",
        )
        assert session.exec(select(models.Notification)).one().recipient_person == ""
        session.add(
            models.PartyIdentity(
                id="P-0123456789",
                kind="person",
                name="李明",
                id_type="resident_id",
                id_number="410302199001011234",
                created_at=NOW,
            )
        )
        session.flush()
        session.add(
            models.Credential(
                token_sha256="cd" * 32, person_id="P-0123456789", role="citizen", label="", created_at=NOW
            )
        )
        session.commit()
        session.add(
            models.Credential(
                token_sha256="ef" * 32, person_id="P-NOBODY", role="citizen", label="", created_at=NOW
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(
            models.Credential(token_sha256="ab" * 32, department_code="rsj", role="x", created_at=NOW)
        )
        with pytest.raises(IntegrityError):  # the token's unique index survived
            session.commit()


# -- 0008: the audit trail's chains, append-only tables -------------------------------------------
@pytest.mark.parametrize("origin", ["from_0007", "create_all"])
def test_0008_keeps_old_events_unchained_and_refuses_rewrites(engine: Engine, origin: str) -> None:
    """From 0007 with an audit event (or from ``create_all``): the event keeps its row with NULL
    hashes (``verify``: unchained before 0008), ``access_event`` exists, and from then on both
    tables refuse UPDATE and DELETE (PostgreSQL: the trigger function; SQLite: triggers) while
    taking inserts."""
    from govshare.core import audit_trail

    if origin == "from_0007":
        upgrade_to(engine, "0007")
        meta = MetaData()
        meta.reflect(engine)
        with engine.begin() as conn:
            conn.execute(
                meta.tables["auditevent"].insert(),
                {
                    "case_id": "SA-OLD",
                    "seq": 1,
                    "at": NOW,
                    "kind": "case_submitted",
                    "actor_department": "rsj",
                    "actor_role": "consumer",
                    "actor_user": "",
                    "summary_zh": "提交",
                    "summary_en": "submitted",
                    "data": {},
                    "recorded_at": NOW,
                },
            )
    else:
        SQLModel.metadata.create_all(engine)  # tables and columns already there: 0008 adds the triggers

    init_schema(engine)

    assert revision_of(engine) == HEAD and differences(engine) == []
    assert {"prev_hash", "hash"} <= columns(engine, "auditevent")
    assert "ix_access_event_subject" in {i["name"] for i in inspect(engine).get_indexes("access_event")}
    if origin == "from_0007":
        with Session(engine) as session:
            old = session.exec(select(models.AuditEvent)).one()
            assert (old.kind, old.hash, old.prev_hash) == ("case_submitted", None, None)
    else:
        with Session(engine) as session:
            session.add(
                models.AuditEvent(
                    case_id="SA-NEW", seq=1, at=NOW, kind="case_submitted", recorded_at=NOW, hash="ab" * 32
                )
            )
            session.commit()
    head = audit_trail.append_access_events(
        engine, [audit_trail.AccessRecord(at=NOW, method="GET", path="/cases", status=200)]
    )
    assert head[0] == 1
    for statement in (
        "UPDATE auditevent SET summary_zh = '改'",
        "DELETE FROM auditevent",
        "UPDATE access_event SET status = 500",
        "DELETE FROM access_event",
    ):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auditevent")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM access_event")).scalar() == 1
    init_schema(engine)  # a second start: nothing more, still refused
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM access_event"))


# -- 4. idempotent, serialized, refusing what it does not know ------------------------------------
def test_upgrade_head_twice_is_a_no_op(engine: Engine) -> None:
    assert migrate(engine) == (None, HEAD)
    before = schema_dump(engine)
    assert migrate(engine) == (HEAD, HEAD)
    upgrade_to(engine, "head")  # Alembic's own command, too
    assert revision_of(engine) == HEAD and schema_dump(engine) == before


START_TOGETHER = """
import sys, time
from govshare.core.db import make_engine, migrate
engine = make_engine(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # imports done: start at the same instant
before, after = migrate(engine)
print("RESULT", before, after)
"""


def test_concurrent_starts_migrate_once(new_url) -> None:
    """Four processes (an API and workers starting together) on one empty database: one migrates,
    the others wait for it and find the database at head; none fails."""
    url = new_url()
    at = f"{time.time() + 4:.3f}"
    env = {**os.environ, "LOG_FORMAT": "console"}
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", START_TOGETHER, url, at],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in starts]
    assert [p.returncode for p in starts] == [0] * 4, outputs
    results = sorted(line for out in outputs for line in out.splitlines() if line.startswith("RESULT"))
    assert results == sorted([f"RESULT None {HEAD}"] + [f"RESULT {HEAD} {HEAD}"] * 3), outputs
    engine = make_engine(url)
    try:
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_unknown_revision_is_refused(engine: Engine) -> None:
    init_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(RuntimeError, match="revision 9999"):
        init_schema(engine)


def test_unversioned_database_unlike_the_baseline_is_refused_and_left_alone(engine: Engine) -> None:
    upgrade_to(engine, "0001")
    unversion(engine)
    with engine.begin() as conn:
        conn.execute(text('ALTER TABLE "case" DROP COLUMN next_due_at'))
    before = schema_dump(engine)
    with pytest.raises(RuntimeError, match="next_due_at"):
        init_schema(engine)
    # The whole upgrade was one transaction: not stamped, no table or column added.
    assert schema_dump(engine) == before
    assert not inspect(engine).has_table("alembic_version")


# -- the baseline is what 76b4170 made ------------------------------------------------------------
def _baseline_models() -> str:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not found")
    shown = subprocess.run(
        [git, "show", f"{BASELINE_COMMIT}:govshare/core/models.py"], cwd=ROOT, capture_output=True, text=True
    )
    if shown.returncode != 0:
        pytest.skip(f"commit {BASELINE_COMMIT} not in this checkout's history")
    return shown.stdout


CREATE_ALL = """
import sys, types
from sqlalchemy import create_engine
module = types.ModuleType("baseline_models")
sys.modules["baseline_models"] = module
exec(compile(sys.stdin.read(), "baseline_models.py", "exec"), module.__dict__)
from sqlmodel import SQLModel
SQLModel.metadata.create_all(create_engine(sys.argv[1]))
"""


def test_revision_0001_is_the_schema_of_76b4170(new_url) -> None:
    source = _baseline_models()
    by_create_all, by_migration = new_url(), new_url()
    # In a process of its own: the old models would clash with today's on SQLModel.metadata.
    subprocess.run(
        [sys.executable, "-c", CREATE_ALL, by_create_all], input=source, text=True, check=True, cwd=ROOT
    )
    old, migrated = make_engine(by_create_all), make_engine(by_migration)
    try:
        upgrade_to(migrated, "0001")
        assert json.dumps(schema_dump(migrated), default=str) == json.dumps(schema_dump(old), default=str)
    finally:
        old.dispose()
        migrated.dispose()


# -- by hand -------------------------------------------------------------------------------------
def test_command_line_upgrade_and_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "govshare.core.migrations", "--url", url, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "LOG_FORMAT": "console"},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    first = run("upgrade", "head")
    assert "schema migrated" in first and f"empty → {HEAD}" in first
    assert f"at {HEAD}" in run("upgrade", "head")
    assert f"{HEAD} (head)" in run("current")


# -- 0009: users, browser sessions, tokens of users, claims ---------------------------------------
def test_0009_keeps_credentials_and_tasks(engine: Engine) -> None:
    """From 0008 with a department's credential and an open task: the credential keeps its row, its
    indexes and foreign keys (SQLite rebuilds the table to add ``user_id``'s), with ``user_id`` and
    ``expires_at`` NULL (a department's token without expiry, as before); the task is unclaimed and
    undecided (""); ``user_account`` and ``web_session`` exist, and a user's token can be stored."""
    upgrade_to(engine, "0008")
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(
            t["department"].insert(), {"code": "rsj", "name_zh": "人社局", "name_en": "", "created_at": NOW}
        )
        conn.execute(
            t["credential"].insert(),
            {
                "token_sha256": "ab" * 32,
                "department_code": "rsj",
                "role": "consumer",
                "label": "clerk",
                "created_at": NOW,
            },
        )
        conn.execute(
            t["case"].insert(),
            {
                "id": "SA-0009",
                "workflow_id": "SharingApplication:SA-0009",
                "case_type": "sharing_application",
                "profile_id": "hubei",
                "profile_version": "1.1",
                "status": "platform_check",
                "result": "",
                "subject_zh": "测试",
                "submitted_at": NOW,
                "overdue": False,
                "revision": 1,
                "updated_at": NOW,
                "detail": {},
            },
        )
        conn.execute(
            t["task"].insert(),
            {
                "id": "SA-0009:1",
                "case_id": "SA-0009",
                "seq": 1,
                "step": "platform_check",
                "name_zh": "规范性检查",
                "name_en": "Normative check",
                "assignee_department": "rsj",
                "assignee_role": "platform",
                "status": "open",
                "opened_at": NOW,
                "article": "19",
                "limit_basis": "statute",
                "provisional": False,
                "overdue": False,
                "action": "",
            },
        )

    init_schema(engine)

    assert revision_of(engine) == HEAD and differences(engine) == []
    assert {"user_account", "web_session"} <= set(inspect(engine).get_table_names())
    assert {"user_id", "expires_at"} <= columns(engine, "credential")
    indexes = {i["name"]: bool(i["unique"]) for i in inspect(engine).get_indexes("credential")}
    assert indexes["ix_credential_token_sha256"] is True
    assert {"ix_credential_department_code", "ix_credential_person_id", "ix_credential_user_id"} <= set(
        indexes
    )
    assert "ix_task_decided_by" in {i["name"] for i in inspect(engine).get_indexes("task")}
    with Session(engine) as session:
        kept = session.exec(select(models.Credential)).one()
        assert (kept.token_sha256, kept.department_code, kept.role, kept.label) == (
            "ab" * 32,
            "rsj",
            "consumer",
            "clerk",
        )
        assert (kept.user_id, kept.expires_at, kept.revoked_at) == (None, None, None)
        task = session.exec(select(models.Task)).one()
        assert (task.id, task.status, task.claimed_by, task.decided_by) == ("SA-0009:1", "open", "", "")
        # A user, and a token of the user that expires, can be stored now.
        session.add(
            models.PartyIdentity(
                id="P-0123456789",
                kind="person",
                name="张伟",
                id_type="other",
                id_number="",
                department="rsj",
                created_at=NOW,
            )
        )
        session.flush()
        user = models.UserAccount(
            username="zhangwei",
            display_name="张伟",
            department_code="rsj",
            person_id="P-0123456789",
            roles=["consumer"],
            created_at=NOW,
        )
        session.add(user)
        session.flush()
        session.add(
            models.Credential(
                token_sha256="cd" * 32,
                department_code="rsj",
                person_id="P-0123456789",
                role="consumer",
                created_at=NOW,
                user_id=user.id,
                expires_at=NOW,
            )
        )
        session.commit()
        assert session.exec(select(models.UserAccount)).one().roles == ["consumer"]


# -- 0010: keyed token digests --------------------------------------------------------------------
def test_0010_marks_existing_tokens_legacy_and_upgrades_them_on_use(engine: Engine) -> None:
    """From 0009 with two department credentials stored as the plain SHA-256 of their tokens (one
    revoked): both keep their rows and get ``hash_scheme`` "sha256"; the live one authenticates with
    its token and is rewritten to the keyed digest on that use, the revoked one stays as it was. A
    credential stored now is keyed by default."""
    from fastapi.security import HTTPAuthorizationCredentials

    from api.deps import _authenticate
    from govshare.core import tokens

    live, revoked = "demo-rsj-consumer", "demo-rsj-provider"
    upgrade_to(engine, "0009")
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(
            t["department"].insert(), {"code": "rsj", "name_zh": "人社局", "name_en": "", "created_at": NOW}
        )
        for token, revoked_at in ((live, None), (revoked, NOW)):
            conn.execute(
                t["credential"].insert(),
                {
                    "token_sha256": tokens.legacy_digest(token),
                    "department_code": "rsj",
                    "role": "consumer",
                    "label": token,
                    "created_at": NOW,
                    "revoked_at": revoked_at,
                },
            )

    init_schema(engine)

    assert revision_of(engine) == HEAD and differences(engine) == []
    assert "hash_scheme" in columns(engine, "credential")
    indexes = {i["name"]: bool(i["unique"]) for i in inspect(engine).get_indexes("credential")}
    assert indexes["ix_credential_token_sha256"] is True
    with Session(engine) as session:
        rows = {r.label: r for r in session.exec(select(models.Credential))}
        assert {label: (r.token_sha256, r.hash_scheme) for label, r in rows.items()} == {
            token: (tokens.legacy_digest(token), tokens.LEGACY) for token in (live, revoked)
        }
    caller = _authenticate(engine, HTTPAuthorizationCredentials(scheme="Bearer", credentials=live))
    assert (caller.department, caller.role) == ("rsj", "consumer")
    with Session(engine) as session:
        rows = {r.label: r for r in session.exec(select(models.Credential))}
        assert (rows[live].token_sha256, rows[live].hash_scheme) == (tokens.token_digest(live), tokens.KEYED)
        assert (rows[revoked].token_sha256, rows[revoked].hash_scheme) == (
            tokens.legacy_digest(revoked),
            tokens.LEGACY,
        )
        fresh = models.Credential(
            token_sha256=tokens.token_digest("gs_new"), department_code="rsj", role="provider", created_at=NOW
        )
        session.add(fresh)
        session.commit()
        assert fresh.hash_scheme == tokens.KEYED
    bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials="gs_new")
    assert _authenticate(engine, bearer).role == "provider"
