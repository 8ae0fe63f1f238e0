"""The role directory: which department plays each directory role (``govshare.core.directory``), its
demo rows (``govshare.core.seed``), ``govshare directory …`` and whether a profile's rungs and issuers
are all played (``regulations.roles``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.deps import ACTING_ROLES, ALL_ROLES
from govshare.core import directory
from govshare.core.db import make_engine, migrate
from govshare.core.models import Department, RoleAssignment
from govshare.core.seed import DEPARTMENTS, seed_demo
from govshare.core.settings import get_settings
from govshare.ops.cli import main
from regulations import PROFILE_DIR_ENV, ProfileError, clear_cache, load_profile_file
from regulations.roles import check_directory, unplayed_roles
from regulations.schema import DIRECTORY_ROLES

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DEMO = {"platform": "bdb", "leading_group": "lgo", "coordinator": "jxw", "government_office": "szfb"}

#: A small profile of its own (the shipped ones change under other hands): a ladder with a task rung
#: for each of platform and coordinator around a case rung for the leading group, an action whose
#: issuer is the government office, and rungs/steps of roles that are not directory roles.
MINI = """
id = "mini"
version = "1"
name_zh = "测试办法"
name_en = "Test measures"
document = "test"
seed = "test"

[case_types.app]
name_zh = "申请"
name_en = "Application"
article = "1"
results = ["granted"]
entry = [{ step = "review" }]

[[case_types.app.escalation]]
id = "report"
name_zh = "报告"
name_en = "Report"
actor = "platform"
article = "2"

[[case_types.app.escalation]]
id = "order"
name_zh = "责令整改"
name_en = "Rectification order"
actor = "leading_group"
article = "3"
starts_case = "order"

[[case_types.app.escalation]]
id = "circular"
name_zh = "通报"
name_en = "Circular"
actor = "coordinator"
article = "4"
follows = ["late"]

[case_types.app.steps.review]
name_zh = "审核"
name_en = "Review"
actor = "provider"
article = "5"
working_days = 5

[case_types.app.steps.review.actions.grant]
name_zh = "同意"
name_en = "Grant"
result = "granted"
next = [{ end = true }]

[case_types.app.steps.review.actions.complain]
name_zh = "投诉"
name_en = "Complain"
starts_case = "order"
issuer = "government_office"
next = [{ end = true }]

[case_types.order]
name_zh = "整改"
name_en = "Rectification"
article = "6"
results = ["done"]
entry = [{ step = "respond" }]
escalation = [
  { id = "again", name_zh = "再报", name_en = "Report again", actor = "platform", article = "7" },
]

[case_types.order.steps.respond]
name_zh = "整改"
name_en = "Respond"
actor = "respondent"
article = "6"
working_days = 10

[case_types.order.steps.respond.actions.done]
name_zh = "完成"
name_en = "Done"
result = "done"
next = [{ end = true }]
"""


@pytest.fixture
def profile_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "mini.toml").write_text(MINI, encoding="utf-8")
    monkeypatch.setenv(PROFILE_DIR_ENV, str(folder))
    clear_cache()
    yield folder
    clear_cache()


@pytest.fixture
def mini(profile_dir: Path):
    return load_profile_file(profile_dir / "mini.toml")


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite file, also the CLI's ``DATABASE_URL``."""
    url = f"sqlite:///{tmp_path / 'govshare.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def engine(url: str) -> Engine:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def add_departments(engine: Engine, *codes: str) -> None:
    with Session(engine) as session:
        for code in codes:
            session.add(Department(code=code, name_zh=f"部门{code}", name_en=code, created_at=NOW))
        session.commit()


def read(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return directory.read_directory(session)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what the fixtures logged (schema migrated, demo seeded)
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- the table and its functions ------------------------------------------------------------------
def test_roles_are_the_profiles_directory_roles() -> None:
    assert directory.ROLES == DIRECTORY_ROLES
    assert set(directory.ROLE_NAMES) == set(DIRECTORY_ROLES)
    assert {"coordinator", "government_office"} <= set(ALL_ROLES) & set(ACTING_ROLES)


def test_migration_makes_the_table(engine: Engine) -> None:
    columns = {c["name"] for c in inspect(engine).get_columns("role_directory")}
    assert columns == {"role", "department", "note", "updated_at"}
    assert inspect(engine).get_pk_constraint("role_directory")["constrained_columns"] == ["role"]
    fks = inspect(engine).get_foreign_keys("role_directory")
    assert [(f["constrained_columns"], f["referred_table"]) for f in fks] == [(["department"], "department")]


def test_assign_read_unassign(engine: Engine) -> None:
    add_departments(engine, "lgo", "jxw", "mzj")
    assert read(engine) == {}
    with Session(engine) as session:
        row = directory.assign(session, "leading_group", "lgo", now=NOW)
        assert (row.role, row.department, row.note) == ("leading_group", "lgo", "")
        directory.assign(session, "coordinator", "jxw", note="市政府令", now=NOW)
    assert read(engine) == {"leading_group": "lgo", "coordinator": "jxw"}

    later = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    with Session(engine) as session:  # an upsert: one department per role
        directory.assign(session, "coordinator", "mzj", note="changed", now=later)
    with Session(engine) as session:
        rows = session.exec(select(RoleAssignment)).all()
        assert len(rows) == 2
        row = session.get(RoleAssignment, "coordinator")
        assert (row.department, row.note, row.updated_at.replace(tzinfo=UTC)) == ("mzj", "changed", later)

    with Session(engine) as session:
        assert directory.unassign(session, "coordinator") is True
        assert directory.unassign(session, "coordinator") is False
    assert read(engine) == {"leading_group": "lgo"}


def test_assign_refuses_an_unknown_role_or_department(engine: Engine) -> None:
    add_departments(engine, "lgo")
    with Session(engine) as session:
        with pytest.raises(ValueError, match="unknown role 'consumer'"):
            directory.assign(session, "consumer", "lgo")
        with pytest.raises(ValueError, match="unknown department 'nowhere'"):
            directory.assign(session, "leading_group", "nowhere")
    assert read(engine) == {}


# -- the demo seed ----------------------------------------------------------------------------------
def test_seed_adds_the_departments_tokens_and_directory(engine: Engine) -> None:
    tokens = seed_demo(engine)
    assert read(engine) == DEMO
    by_token = {t.token: t for t in tokens}
    assert by_token["demo-jxw-coordinator"].department_name_zh == "市经济和信息化局"
    assert by_token["demo-szfb-government_office"].department_name_zh == "市人民政府办公室"
    with Session(engine) as session:
        assert session.get(Department, "jxw").name_en == "Municipal Economy and Information Technology Bureau"
        assert session.get(Department, "szfb").name_en == "Municipal Government Office"


def test_seed_is_idempotent_and_keeps_the_operators_choice(engine: Engine) -> None:
    first = seed_demo(engine)
    with Session(engine) as session:
        directory.assign(session, "coordinator", "mzj", note="operator", now=NOW)
        directory.unassign(session, "government_office")

    again = seed_demo(engine)
    assert again == first
    # The operator's coordinator stays; a missing row is filled again.
    assert read(engine) == {**DEMO, "coordinator": "mzj"}
    with Session(engine) as session:
        assert session.get(RoleAssignment, "coordinator").note == "operator"
        assert len(session.exec(select(Department)).all()) == len(DEPARTMENTS)
        assert len(session.exec(select(RoleAssignment)).all()) == 4


def test_seed_plays_the_platform_with_the_settings_department(engine: Engine) -> None:
    tokens = seed_demo(engine, platform_department="ops")
    assert read(engine) == {**DEMO, "platform": "ops"}
    assert "demo-ops-platform" in {t.token for t in tokens}


def test_seed_skips_roles_whose_department_an_older_demo_lacks(engine: Engine) -> None:
    add_departments(engine, "bdb", "lgo")  # seeded before jxw and szfb were in the demo
    seed_demo(engine)
    assert read(engine) == {"platform": "bdb", "leading_group": "lgo"}


# -- regulations.roles (pure) -------------------------------------------------------------------------
def test_unplayed_roles_names_profile_case_type_rung_and_role(mini) -> None:
    messages = unplayed_roles(mini, {"platform": "bdb"})
    assert messages == [
        "mini: case_types.app.escalation[1] (order): no department plays role leading_group",
        "mini: case_types.app.escalation[2] (circular): no department plays role coordinator",
        "mini: case_types.app.steps.review.actions.complain.issuer: "
        "no department plays role government_office",
    ]
    # Only the case types named are looked at; a rung's actor is always a directory role (the schema
    # refuses any other at load).
    assert unplayed_roles(mini, {"platform": "bdb"}, ["order"]) == []
    assert unplayed_roles(mini, {}, ["order"]) == [
        "mini: case_types.order.escalation[0] (again): no department plays role platform"
    ]
    assert len(unplayed_roles(mini, {})) == 5
    assert unplayed_roles(mini, DEMO) == []
    # An empty department plays nothing.
    assert len(unplayed_roles(mini, {**DEMO, "coordinator": ""})) == 1


def test_unplayed_roles_of_named_case_types(mini) -> None:
    assert unplayed_roles(mini, {"platform": "bdb"}, ["order"]) == []
    assert [m.split(": ")[1] for m in unplayed_roles(mini, {**DEMO, "platform": ""}, ["app"])] == [
        "case_types.app.escalation[0] (report)"
    ]
    with pytest.raises(ProfileError, match="no case type 'nope'"):
        unplayed_roles(mini, DEMO, ["nope"])


def test_check_directory_joins_every_message(mini) -> None:
    check_directory(mini, DEMO)
    with pytest.raises(ProfileError) as refused:
        check_directory(mini, {"platform": "bdb", "leading_group": "lgo"})
    text = str(refused.value)
    assert "escalation[2] (circular): no department plays role coordinator" in text
    assert "actions.complain.issuer: no department plays role government_office" in text
    assert "leading_group" not in text


def test_enginetest_profile_rung_needs_the_leading_group() -> None:
    profile = load_profile_file(Path(__file__).parent / "profiles" / "enginetest.toml")
    messages = unplayed_roles(profile, {})
    assert any("escalation[0] (order): no department plays role leading_group" in m for m in messages)
    assert unplayed_roles(profile, DEMO) == []


# -- govshare directory ------------------------------------------------------------------------------
def test_cli_set_list_remove(capsys, engine: Engine) -> None:
    seed_demo(engine)
    with Session(engine) as session:
        directory.unassign(session, "government_office")

    code, out, err = run(capsys, "directory", "list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("角色 role")
    coordinator = next(line for line in lines if line.startswith("coordinator"))
    assert "jxw" in coordinator and "市经济和信息化局" in coordinator and "demo" in coordinator
    nobody = lines.index("无部门担任的角色 roles nobody plays:")
    assert "government_office (市政府办公室" in lines[nobody + 1]

    code, out, err = run(capsys, "directory", "set", "government_office", "szfb", "--note", "市政府令第1号")
    assert (code, err) == (0, "")
    assert "szfb 市人民政府办公室" in out
    with Session(engine) as session:
        assert session.get(RoleAssignment, "government_office").note == "市政府令第1号"

    code, out, _ = run(capsys, "directory", "list", "--json")
    assert code == 0
    assert '"unplayed": []' in out

    code, out, err = run(capsys, "directory", "remove", "coordinator")
    assert (code, err) == (0, "")
    assert "removed" in out
    assert read(engine) == {k: v for k, v in DEMO.items() if k != "coordinator"}
    code, out, _ = run(capsys, "directory", "remove", "coordinator")
    assert code == 0 and "nothing to remove" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["directory", "set", "consumer", "lgo"], "unknown role 'consumer'"),
        (["directory", "set", "leading_group", "nowhere"], "unknown department 'nowhere'"),
        (["directory", "remove", "auditor"], "unknown role 'auditor'"),
        (["directory", "set", "leading_group"], "required"),
        (["directory"], "required"),
        (["directory", "check", "--profile", "atlantis"], "unknown profile 'atlantis'"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(capsys, engine: Engine, profile_dir, argv, message) -> None:
    seed_demo(engine)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("govshare: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert read(engine) == DEMO


def test_cli_check(capsys, engine: Engine, profile_dir: Path) -> None:
    add_departments(engine, "bdb", "lgo")
    with Session(engine) as session:
        directory.assign(session, "platform", "bdb")
        directory.assign(session, "leading_group", "lgo")

    code, out, err = run(capsys, "directory", "check")
    assert (code, err) == (1, "")
    assert "mini: case_types.app.escalation[2] (circular): no department plays role coordinator" in out
    assert "no department plays role government_office" in out
    assert "incomplete" in out

    add_departments(engine, "jxw", "szfb")
    with Session(engine) as session:
        directory.assign(session, "coordinator", "jxw")
        directory.assign(session, "government_office", "szfb")
    code, out, err = run(capsys, "directory", "check", "--profile", "mini")
    assert (code, err) == (0, "")
    assert "complete" in out and "mini" in out
