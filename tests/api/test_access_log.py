"""Reads are audit events, and the trail is tamper-evident (issue 21), over HTTP on SQLite and PostgreSQL.

- A read of a case by an auditor and by a consumer, a list, a catalog query, a version list and an
  export each leave an ``access_event`` row with who, what, when, from where and the status; so does
  a 401 (without a caller). Writes and other paths leave none. ``X-Forwarded-For`` counts only from
  a trusted proxy.
- The app's own engine cannot UPDATE or DELETE either trail (the migration's triggers).
- ``govshare audit verify`` (the CLI's ``main``) passes a clean trail with exit 0, and names each
  tampering — an edit, a deletion, two events swapped, a tail cut — of the access log (against its
  anchors) and of a case's state changes (against the case's workflow history), with exit 1. Each
  tampering is done on a database of its own, with the triggers disabled first, as an attacker who
  owns the tables would (the shared test database stays clean).
- A write that fails is logged as an error and counted; the read still answers.
- The ``AuditAnchor`` workflow keeps the anchors it is signalled, answers its query, continues as new
  carrying the newest, and its history gives them back (what ``verify`` reads).
- Two concurrent writers of the access chain do not fork it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from api_helpers import AUDITOR, CONSUMER, CONSUMER2, PLATFORM, SCJGJ, auth
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.access_log import client_address, subject
from api.main import create_app
from govshare.core import audit_trail
from govshare.core.audit_trail import AccessRecord
from govshare.core.db import init_schema, make_engine
from govshare.core.models import AuditEvent, Case
from govshare.core.settings import Settings, get_settings
from govshare.ops.cli import main


# -- what is recorded, pure -------------------------------------------------------------------------
def test_which_paths_are_reads_of_cases_or_shared_data():
    assert subject("/cases/SA-1") == ("case", "SA-1")
    assert subject("/cases/SA-1/events") == ("case", "SA-1")
    assert subject("/applications/SA-2/history") == ("case", "SA-2")
    assert subject("/cases") == subject("/applications") == subject("/tasks") == ("cases", "")
    assert subject("/oversight/orders/overdue") == ("cases", "")
    assert subject("/resources") == ("resources", "")
    assert subject("/resources/export") == ("resource_export", "")
    assert subject("/resources/gaj-x/versions/2") == ("resource", "gaj-x")
    assert subject("/me") is subject("/healthz") is subject("/notifications") is subject("/docs") is None


def test_forwarded_for_counts_only_from_a_trusted_proxy():
    assert client_address("203.0.113.9", "10.9.9.9", "") == "203.0.113.9"
    assert client_address("203.0.113.9", "10.9.9.9", "10.0.0.0/8") == "203.0.113.9"  # peer not a proxy
    # Behind two of ours: the nearest hop that is not ours; what the client wrote itself is ignored.
    assert client_address("10.0.0.5", "6.6.6.6, 198.51.100.4, 10.0.0.6", "10.0.0.0/8") == "198.51.100.4"
    assert client_address("10.0.0.5", "", "10.0.0.0/8") == "10.0.0.5"
    assert client_address("::1", "2001:db8::7", "::1") == "2001:db8::7"


# -- helpers -------------------------------------------------------------------------------------------
def access_rows(engine: Engine, probe: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text("SELECT * FROM access_event WHERE query LIKE :q ORDER BY id"), {"q": f"%{probe}%"}
            ).mappings()
        ]


async def wait_for_rows(engine: Engine, probe: str, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    """The writer appends after the answer, in the background: wait for the rows of ``probe``."""
    deadline = time.monotonic() + timeout
    while True:
        rows = access_rows(engine, probe)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


def one(rows: list[dict[str, Any]], probe: str) -> dict[str, Any]:
    found = [r for r in rows if parse_qs(r["query"]).get("probe") == [probe]]
    assert len(found) == 1, rows
    return found[0]


async def completed_case(http: httpx.AsyncClient) -> str:
    """A Hubei application taken to its grant: every step of it recorded."""
    created = await http.post(
        "/applications",
        json={"resource_id": "scjgj-legal-entity-basic", "purpose": "核验用人单位", "reason": "社会保险登记"},
        headers=auth(CONSUMER),
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    for token, step, action in (
        (PLATFORM, "platform_check", "accept"),
        (SCJGJ, "provider_authorization", "grant"),
        (PLATFORM, "notify_consumer", "inform"),
    ):
        response = await http.post(
            f"/applications/{case_id}/decisions", json={"step": step, "action": action}, headers=auth(token)
        )
        assert response.status_code == 200, response.text
    return case_id


@contextlib.contextmanager
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, **overrides: str) -> Iterator[None]:
    values = {
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TASK_QUEUE": settings.task_queue,
        "LOG_FORMAT": "console",
        **overrides,
    }
    with monkeypatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()


async def govshare(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``govshare …`` in a thread (it runs its own event loop), its exit code and stdout."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    out, _err = capsys.readouterr()
    return code, out


def finding_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("[")]


@pytest.fixture
def new_url(api, request: pytest.FixtureRequest, tmp_path) -> Any:
    """Empty databases of the backend the system runs on."""

    def make() -> str:
        if api.database == "sqlite":
            return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        return request.getfixturevalue("postgres").create_database(f"trail_{uuid.uuid4().hex[:10]}")

    return make


def allow_tampering(engine: Engine, table: str) -> None:
    """What an attacker who owns the table does first: the append-only triggers out of the way."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
        else:
            conn.execute(text(f"DROP TRIGGER {table}_no_update"))
            conn.execute(text(f"DROP TRIGGER {table}_no_delete"))


# -- reads leave access events -----------------------------------------------------------------------
async def test_reads_leave_access_events_with_who_what_where(api, monkeypatch):
    case = await api.apply()
    case_id, probe = case["id"], uuid.uuid4().hex[:10]
    reads = [
        ("auditor", f"/cases/{case_id}", AUDITOR, {}),
        ("auditor_events", f"/cases/{case_id}/events", AUDITOR, {}),
        ("consumer", f"/applications/{case_id}", CONSUMER, {}),
        ("stranger", f"/applications/{case_id}", CONSUMER2, {}),
        ("anonymous", f"/cases/{case_id}", None, {}),
        ("list", "/cases", PLATFORM, {"limit": "5"}),
        ("query", "/resources", CONSUMER, {"q": "人口"}),
        ("versions", "/resources/scjgj-legal-entity-basic/versions", CONSUMER, {}),
        ("export", "/resources/export", AUDITOR, {"format": "csv"}),
        ("forwarded", f"/cases/{case_id}", AUDITOR, {}),
    ]
    statuses = {}
    for name, path, token, params in reads:
        headers = auth(token) if token else {}
        if name == "forwarded":
            headers["X-Forwarded-For"] = "203.0.113.9"
        response = await api.http.get(path, params={**params, "probe": f"{probe}-{name}"}, headers=headers)
        statuses[name] = response.status_code
    # Not reads of cases or shared data: not recorded.
    await api.http.get("/me", params={"probe": f"{probe}-me"}, headers=auth(CONSUMER))
    await api.http.post(
        f"/applications/{case_id}/withdrawal",
        params={"probe": f"{probe}-post"},
        json={},
        headers=auth(CONSUMER),
    )
    assert statuses["anonymous"] == 401 and statuses["stranger"] == 404 and statuses["auditor"] == 200

    rows = await wait_for_rows(api.engine, probe, len(reads))
    assert len(rows) == len(reads), rows
    auditor = one(rows, f"{probe}-auditor")
    assert (auditor["department"], auditor["role"], auditor["person"]) == ("sjj", "auditor", "")
    assert (auditor["method"], auditor["path"], auditor["status"]) == ("GET", f"/cases/{case_id}", 200)
    assert (auditor["subject_type"], auditor["subject_id"], auditor["client"]) == (
        "case",
        case_id,
        "127.0.0.1",
    )
    assert datetime.fromisoformat(audit_trail.instant(auditor["at"])) <= datetime.now(UTC)
    consumer = one(rows, f"{probe}-consumer")
    assert (consumer["department"], consumer["role"], consumer["subject_id"], consumer["status"]) == (
        "rsj",
        "consumer",
        case_id,
        200,
    )
    assert one(rows, f"{probe}-auditor_events")["path"] == f"/cases/{case_id}/events"
    stranger = one(rows, f"{probe}-stranger")
    assert (stranger["department"], stranger["status"]) == ("mzj", 404)
    anonymous = one(rows, f"{probe}-anonymous")
    assert (anonymous["department"], anonymous["role"], anonymous["status"]) == ("", "", 401)
    assert anonymous["subject_id"] == case_id
    assert one(rows, f"{probe}-list")["subject_type"] == "cases"
    query = one(rows, f"{probe}-query")
    assert query["subject_type"] == "resources" and "q=%E4%BA%BA%E5%8F%A3" in query["query"]
    assert one(rows, f"{probe}-versions")["subject_id"] == "scjgj-legal-entity-basic"
    export = one(rows, f"{probe}-export")
    assert (export["subject_type"], export["status"], export["department"]) == ("resource_export", 200, "sjj")
    # X-Forwarded-For from a peer that is not a trusted proxy is anyone's word: ignored.
    assert one(rows, f"{probe}-forwarded")["client"] == "127.0.0.1"

    # Behind a trusted proxy, the address it saw.
    monkeypatch.setattr(api.settings, "trusted_proxies", "127.0.0.1")
    await api.http.get(
        f"/cases/{case_id}",
        params={"probe": f"{probe}-proxied"},
        headers=auth(AUDITOR, **{"X-Forwarded-For": "203.0.113.9"}),
    )
    proxied = await wait_for_rows(api.engine, f"{probe}-proxied", 1)
    assert [r["client"] for r in proxied] == ["203.0.113.9"]
    # Written in order: by now /me and the POST would be there too, had they been recorded.
    assert access_rows(api.engine, f"{probe}-me") == access_rows(api.engine, f"{probe}-post") == []

    # Every row of the shared log is in one unbroken chain.
    assert audit_trail.check_access_chain(audit_trail.access_rows(api.engine)).findings == []


async def test_the_apps_engine_cannot_update_or_delete_the_trail(api):
    case_id = (await api.apply())["id"]
    probe = uuid.uuid4().hex[:10]
    await api.http.get(f"/cases/{case_id}", params={"probe": probe}, headers=auth(AUDITOR))
    [row] = await wait_for_rows(api.engine, probe, 1)
    deadline = time.monotonic() + 15
    while not _events(api.engine, case_id) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for statement in (
        f"UPDATE access_event SET status = 200, department = 'lgo' WHERE id = {row['id']}",
        f"DELETE FROM access_event WHERE id = {row['id']}",
        f"UPDATE auditevent SET summary_zh = '改' WHERE case_id = '{case_id}'",
        f"DELETE FROM auditevent WHERE case_id = '{case_id}'",
    ):
        with pytest.raises(Exception, match="append-only"), api.engine.begin() as conn:
            conn.execute(text(statement))
    assert access_rows(api.engine, probe) == [row]
    assert len(_events(api.engine, case_id)) >= 1


def _events(engine: Engine, case_id: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq))
        )


# -- verify: a case's state changes against its workflow history -------------------------------------
_CASES: dict[str, str] = {}


async def shared_completed_case(api) -> str:
    """One completed case per backend, shared by the tampering tests (each tampers a copy)."""
    if api.settings.database_url not in _CASES:
        case_id = await completed_case(api.http)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(e.kind == "case_closed" for e in _events(api.engine, case_id)):
                break
            await asyncio.sleep(0.1)
        _CASES[api.settings.database_url] = case_id
    return _CASES[api.settings.database_url]


def copy_case(source: Engine, target_url: str, case_id: str) -> Engine:
    """The case's row and its audit trail, as the app wrote them, into a database of their own."""
    target = make_engine(target_url)
    init_schema(target)
    with Session(source) as session:
        case = session.get(Case, case_id)
        events = _events(source, case_id)
        rows = [Case(**case.model_dump()), *(AuditEvent(**e.model_dump()) for e in events)]
    with Session(target) as session:
        for row in rows:
            session.add(row)
        session.commit()
    return target


async def test_a_clean_case_trail_verifies_against_its_history(api, capsys, monkeypatch):
    case_id = await shared_completed_case(api)
    events = _events(api.engine, case_id)
    assert all(e.hash and e.prev_hash for e in events) and events[0].prev_hash == audit_trail.GENESIS
    with cli_env(monkeypatch, api.settings):
        code, out = await govshare(capsys, "audit", "verify", "--case", case_id)
        assert (code, finding_lines(out)) == (0, []), out
        assert "ok: 1 cases" in out.splitlines()[-1] and "1 workflow histories" in out
        code, out = await govshare(capsys, "audit", "verify", "--case", case_id, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["findings"] == []
    assert report["checked"]["audit_events"] == len(events) and report["checked"]["histories"] == 1


TAMPERINGS = {
    "edit": (
        "UPDATE auditevent SET summary_zh = '提供方同意(已改)' WHERE case_id = :c AND seq = 3",
        {("edited", "seq 3"), ("history_differs", "seq 3")},
    ),
    "delete": (
        "DELETE FROM auditevent WHERE case_id = :c AND seq = 3",
        {("deleted", "seq 3")},
    ),
    "swap": (
        "UPDATE auditevent SET seq = -1 WHERE case_id = :c AND seq = 3;"
        "UPDATE auditevent SET seq = 3 WHERE case_id = :c AND seq = 4;"
        "UPDATE auditevent SET seq = 4 WHERE case_id = :c AND seq = -1",
        {("swapped", "seq 3"), ("history_differs", "seq 3"), ("history_differs", "seq 4")},
    ),
    "cut_tail": (
        "DELETE FROM auditevent WHERE case_id = :c"
        " AND seq = (SELECT max(seq) FROM auditevent WHERE case_id = :c)",
        {("cut_short", "seq LAST")},
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
async def test_verify_names_a_tampered_case_trail(api, capsys, monkeypatch, new_url, tampering):
    case_id = await shared_completed_case(api)
    last = max(e.seq for e in _events(api.engine, case_id))
    url = new_url()
    copy = copy_case(api.engine, url, case_id)
    # The copy verifies as the original does (a different anchor queue: the shared one stays the app's).
    settings = api.settings.model_copy(
        update={"database_url": url, "task_queue": f"copy-{uuid.uuid4().hex[:8]}"}
    )
    try:
        with cli_env(monkeypatch, settings):
            code, out = await govshare(capsys, "audit", "verify", "--case", case_id)
            assert (code, finding_lines(out)) == (0, []), out

            if tampering == "cut_tail":  # the heads as they stand, in the copy's own anchor workflow
                code, out = await govshare(capsys, "audit", "anchor", "--grace-seconds", "0")
                assert code == 0, out

            allow_tampering(copy, "auditevent")
            statements, expected = TAMPERINGS[tampering]
            with copy.begin() as conn:
                for statement in statements.split(";"):
                    conn.execute(text(statement), {"c": case_id})

            code, out = await govshare(capsys, "audit", "verify", "--case", case_id, "--json")
            report = json.loads(out)
            named = {(f["kind"], f["where"]) for f in report["findings"]}
            wanted = {(kind, where.replace("LAST", str(last))) for kind, where in expected}
            assert code == 1 and report["ok"] is False
            assert named == wanted, report["findings"]
            # --all: every case against its history, with bounded concurrency: the same names.
            code, out = await govshare(capsys, "audit", "verify", "--all", "--concurrency", "2", "--json")
            report = json.loads(out)
            assert code == 1 and wanted <= {(f["kind"], f["where"]) for f in report["findings"]}, out
            assert report["checked"]["histories"] == 1
            if tampering == "cut_tail":  # without the history: the anchor is ahead of the table
                code, out = await govshare(capsys, "audit", "verify")
                assert code == 1, out
                assert [line.split("]")[0] for line in finding_lines(out)] == ["[cut_short"], out
                assert f"anchor holds {len(_events(api.engine, case_id))} events of 1 cases" in out, out
    finally:
        copy.dispose()


# -- verify: the access log against its anchors --------------------------------------------------------
@contextlib.asynccontextmanager
async def app_on(url: str, api) -> AsyncIterator[tuple[httpx.AsyncClient, Settings, Any]]:
    """A second API on a database of its own (its own anchor workflow), on the test's Temporal."""
    settings = api.settings.model_copy(
        update={"database_url": url, "task_queue": f"al-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://govshare.test") as http:
            yield http, settings, app


ACCESS_TAMPERINGS = {
    "edit": ("UPDATE access_event SET department = 'lgo' WHERE id = 3", ("edited", "id 3")),
    "delete": ("DELETE FROM access_event WHERE id = 3", ("deleted", "id 3")),
    "swap": (
        "UPDATE access_event SET id = -3 WHERE id = 3;"
        "UPDATE access_event SET id = 3 WHERE id = 4;"
        "UPDATE access_event SET id = 4 WHERE id = -3",
        ("swapped", "id 3"),
    ),
    "cut_tail": ("DELETE FROM access_event WHERE id > 4", ("cut_short", "id 5")),
}


@pytest.mark.parametrize("tampering", list(ACCESS_TAMPERINGS))
async def test_verify_names_a_tampered_access_log(api, capsys, monkeypatch, new_url, tampering):
    url = new_url()
    async with app_on(url, api) as (http, settings, app):
        for token, path in (
            (AUDITOR, "/cases"),
            (CONSUMER, "/applications"),
            (None, "/cases/SA-NOPE"),
            (AUDITOR, "/resources"),
            (CONSUMER, "/resources/scjgj-legal-entity-basic"),
            (AUDITOR, "/resources/export"),
        ):
            await http.get(path, headers=auth(token) if token else {})
        assert await asyncio.to_thread(app.state.access_log.flush, 10)
    engine = make_engine(url)
    try:
        assert [r.pos for r in audit_trail.access_rows(engine)] == [1, 2, 3, 4, 5, 6]
        with cli_env(monkeypatch, settings):
            code, out = await govshare(capsys, "audit", "anchor", "--grace-seconds", "0")
            assert code == 0 and "id 6" in out, out
            code, out = await govshare(capsys, "audit", "verify")  # all of it: access, chains, anchors
            assert (code, finding_lines(out)) == (0, []), out

            allow_tampering(engine, "access_event")
            statements, expected = ACCESS_TAMPERINGS[tampering]
            with engine.begin() as conn:
                for statement in statements.split(";"):
                    conn.execute(text(statement))

            code, out = await govshare(capsys, "audit", "verify", "--access")
        lines = finding_lines(out)
        assert code == 1, out
        assert lines and lines[0].startswith(f"[{expected[0]}]"), out
        assert f"{expected[1]}" in lines[0] and len(lines) == 1, out
    finally:
        engine.dispose()


# -- the anchor workflow (on the real dev server) --------------------------------------------------
async def test_the_anchor_workflow_keeps_anchors_and_carries_them_on(api):
    """Anchors by signal-with-start, answered by the query and read back from the history (what
    ``verify`` does, no worker needed); after ``continue_after`` the run continues as new carrying the
    newest ones, so the next run's history still starts from them."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    from govshare.ops.audit_verify import anchors_in
    from workflows.audit_anchor import QUERY, SIGNAL, Anchor, AnchorLog, anchor_workflow_id

    ts_client = api.env.client
    workflow_id = anchor_workflow_id(f"{api.settings.task_queue}-{uuid.uuid4().hex[:6]}")
    anchors = [
        Anchor(
            at=datetime(2027, 2, 17, tzinfo=UTC) + timedelta(seconds=i),
            source="test",
            access_id=i,
            access_hash=f"{i:064x}",
        )
        for i in range(1, 6)
    ]

    async def send(anchor: Anchor) -> Any:
        return await ts_client.start_workflow(
            "AuditAnchor",
            AnchorLog(continue_after=3),
            id=workflow_id,
            task_queue=api.settings.task_queue,  # the system's worker; the id names a deployment
            start_signal=SIGNAL,
            start_signal_args=[anchor],
        )

    async def held_until(wanted: list[int]) -> list[int]:
        """The query's answer once it is ``wanted`` (a loaded machine answers late), or at 30 s."""
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                held = await ts_client.get_workflow_handle(workflow_id).query(QUERY, result_type=list[Anchor])
                ids = [a.access_id for a in held]
            except RPCError:
                ids = []
            if ids == wanted or asyncio.get_running_loop().time() > deadline:
                return ids
            await asyncio.sleep(0.1)

    first_run_id = (await send(anchors[0])).result_run_id
    await send(anchors[1])
    assert await held_until([1, 2]) == [1, 2]
    history = await ts_client.get_workflow_handle(workflow_id).fetch_history()
    assert [a["access_id"] for a in anchors_in(history.events, SIGNAL)] == [1, 2]

    for anchor in anchors[2:]:
        await send(anchor)
    # The third anchor ended the first run; the next run carries 1–3 and takes 4 and 5.
    assert await held_until([1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]
    latest = await ts_client.get_workflow_handle(workflow_id).describe()
    first_run = await ts_client.get_workflow_handle(workflow_id, run_id=first_run_id).describe()
    assert first_run.status == WorkflowExecutionStatus.CONTINUED_AS_NEW and latest.run_id != first_run.run_id
    history = await ts_client.get_workflow_handle(workflow_id).fetch_history()
    assert [a["access_id"] for a in anchors_in(history.events, SIGNAL)] == [1, 2, 3, 4, 5]
    await ts_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_a_write_that_fails_is_logged_and_counted_and_the_read_still_answers(api, new_url, monkeypatch):
    from structlog.testing import capture_logs

    from api import access_log

    def refuse(engine: Engine, records: list) -> None:
        raise RuntimeError("the database refuses")

    monkeypatch.setattr(access_log, "RETRY_DELAYS_S", (0.0,))
    async with app_on(new_url(), api) as (http, _settings, app):
        monkeypatch.setattr(audit_trail, "append_access_events", refuse)
        with capture_logs() as logs:
            response = await http.get("/cases", headers=auth(AUDITOR))
            assert response.status_code == 200, response.text
            assert await asyncio.to_thread(app.state.access_log.flush, 10)
        writer = app.state.access_log
        assert (writer.failed_writes, writer.dropped_events, writer.written_events) == (2, 1, 0)
    failed = [e for e in logs if e["event"] == "access_log_write_failed"]
    assert failed and failed[0]["log_level"] == "error" and failed[0]["dropped_total"] == 1, logs
    assert "the database refuses" in failed[0]["error"]


# -- two writers, one chain ------------------------------------------------------------------------------
async def test_two_concurrent_writers_do_not_fork_the_access_chain(api, new_url):
    """Two engines — two API processes' pools — appending at once to one database: one chain with
    every event, ids 1…N, each following the one before (PostgreSQL: the advisory lock serializes
    the appends; SQLite: its write lock)."""
    url = new_url()
    engines = [make_engine(url), make_engine(url)]
    init_schema(engines[0])
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(engine: Engine, who: str) -> None:
        try:
            start.wait()
            for batch in range(30):
                records = [
                    AccessRecord(
                        at=datetime.now(UTC), method="GET", path=f"/cases/{who}-{batch}-{i}", status=200
                    )
                    for i in range(4)
                ]
                audit_trail.append_access_events(engine, records)
        except BaseException as err:  # pragma: no cover - the failure under test
            errors.append(err)

    def race() -> None:
        threads = [threading.Thread(target=write, args=(e, w)) for e, w in zip(engines, "ab", strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    try:
        await asyncio.to_thread(race)
        assert errors == []
        rows = list(audit_trail.access_rows(engines[0]))
        assert [r.pos for r in rows] == list(range(1, 241))
        assert {r.fields["path"].split("-")[0] for r in rows} == {"/cases/a", "/cases/b"}
        assert audit_trail.check_access_chain(rows).findings == []
    finally:
        for engine in engines:
            engine.dispose()
