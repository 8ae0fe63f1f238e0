"""``govshare departments|users|tokens`` (``govshare/ops/users_cli.py``) on a SQLite ``DATABASE_URL``:
passwords only from stdin or a prompt, tokens printed once, lists in JSON without secrets, refusals
one line with exit code 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from govshare.core import users
from govshare.core.db import make_engine, migrate
from govshare.core.models import Credential
from govshare.core.settings import get_settings
from govshare.core.tokens import token_digest
from govshare.ops.cli import main

PASSWORD = "correct horse battery"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite file, the CLI's ``DATABASE_URL``, holding department rsj."""
    url = f"sqlite:///{tmp_path / 'govshare.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    migrate(engine)
    with Session(engine) as session:
        users.create_department(session, "rsj", "市人力资源和社会保障局", "Human Resources")
    engine.dispose()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def session(url: str):
    engine = make_engine(url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refused(result: tuple[int, str, str], message: str) -> None:
    code, out, err = result
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.startswith("govshare: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def create_zhangsan(capsys, monkeypatch, *extra: str) -> None:
    code, out, err = run(
        capsys,
        "users",
        "create",
        "zhangsan",
        "--name",
        "张三",
        "--department",
        "rsj",
        "--role",
        "consumer",
        "--role",
        "provider",
        "--password-stdin",
        *extra,
        stdin=f"{PASSWORD}\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0, err  # stderr: maybe log lines (the output stays on stdout alone)
    assert "已新建用户 user created: zhangsan 张三 (rsj; consumer, provider)" in out


# -- departments ---------------------------------------------------------------------------------
def test_departments_create_and_list(url, capsys) -> None:
    code, out, _ = run(
        capsys, "departments", "create", "fgw", "--name-zh", "市发展和改革委员会", "--name-en", "NDRC"
    )
    assert code == 0 and "fgw 市发展和改革委员会 / NDRC" in out
    refused(
        run(capsys, "departments", "create", "fgw", "--name-zh", "又一个"), "department fgw exists already"
    )
    refused(run(capsys, "departments", "create", "FG-W", "--name-zh", "某"), "invalid department code")
    refused(run(capsys, "departments", "create", "abc"), "the following arguments are required: --name-zh")
    code, out, _ = run(capsys, "departments", "list")
    assert code == 0 and "市发展和改革委员会 / NDRC" in out and "rsj" in out
    code, out, _ = run(capsys, "departments", "list", "--json")
    listed = {d["code"]: d for d in json.loads(out)}
    assert listed["fgw"]["name_en"] == "NDRC" and listed["rsj"]["users"] == 0


# -- users ---------------------------------------------------------------------------------------
def test_create_with_the_password_on_stdin(url, session, capsys, monkeypatch) -> None:
    create_zhangsan(capsys, monkeypatch)
    assert users.authenticate(session, "zhangsan", PASSWORD) is not None
    code, out, _ = run(capsys, "users", "list", "--json")
    [listed] = json.loads(out)
    assert listed["username"] == "zhangsan" and listed["roles"] == ["consumer", "provider"]
    assert listed["has_password"] is True and listed["disabled"] is False
    assert listed["person_id"].startswith("P-")
    assert "argon2" not in out and PASSWORD not in out and "password_hash" not in out
    code, out, _ = run(capsys, "users", "list")
    assert code == 0 and "zhangsan" in out and "张三" in out and "consumer,provider" in out
    code, out, _ = run(capsys, "departments", "list", "--json")
    assert json.loads(out)[0]["users"] == 1


def test_create_with_a_prompt_asked_twice(url, session, capsys, monkeypatch) -> None:
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, _, _ = run(
        capsys,
        "users",
        "create",
        "lisi",
        "--name",
        "李四",
        "--department",
        "rsj",
        "--role",
        "consumer",
        "--password-prompt",
    )
    assert code == 0
    assert users.authenticate(session, "lisi", PASSWORD) is not None

    answers = iter([PASSWORD, PASSWORD + "x"])
    refused(
        run(
            capsys,
            "users",
            "create",
            "wangwu",
            "--name",
            "王五",
            "--department",
            "rsj",
            "--role",
            "consumer",
            "--password-prompt",
        ),
        "the two passwords differ",
    )
    assert users.get_user(session, "wangwu") is None


def test_create_without_a_password_and_citizens(url, session, capsys, monkeypatch) -> None:
    code, out, _ = run(
        capsys, "users", "create", "zhaoliu", "--name", "赵六", "--department", "rsj", "--role", "auditor"
    )
    assert code == 0 and "govshare users passwd zhaoliu" in out
    assert users.get_user(session, "zhaoliu").password_hash is None
    code, out, _ = run(
        capsys, "users", "create", "acme", "--name", "某某公司", "--role", "citizen", "--kind", "legal_person"
    )
    assert code == 0 and "无部门 no department" in out


def test_refused_users(url, session, capsys, monkeypatch) -> None:
    base = ["users", "create", "zhangsan", "--name", "张三", "--department", "rsj"]
    refused(
        run(
            capsys, *base, "--role", "consumer", "--password-stdin", stdin="short\n", monkeypatch=monkeypatch
        ),
        "at least 10 characters",
    )
    refused(
        run(capsys, *base, "--role", "consumer", "--password-stdin", stdin="", monkeypatch=monkeypatch),
        "no password on standard input",
    )
    refused(run(capsys, *base, "--role", "citizen"), "may not hold the role citizen")
    refused(run(capsys, *base, "--role", "boss"), "unknown role boss")
    refused(
        run(capsys, "users", "create", "Bad Name", "--name", "x", "--role", "citizen"), "invalid username"
    )
    refused(
        run(capsys, *base[:-2], "--role", "consumer", "--department", "nowhere"), "unknown department nowhere"
    )
    refused(run(capsys, *base), "the following arguments are required: --role")
    # A password is never an argument.
    result = run(capsys, *base, "--role", "consumer", "--password", PASSWORD)
    refused(result, "ambiguous option: --password could match --password-stdin, --password-prompt")
    assert PASSWORD not in result[2]
    refused(
        run(capsys, *base, "--role", "consumer", "--password-stdin", "--password-prompt"),
        "not allowed with argument",
    )
    assert users.list_users(session) == []


def test_passwd_disable_enable_roles(url, session, capsys, monkeypatch) -> None:
    create_zhangsan(capsys, monkeypatch)
    code, out, _ = run(
        capsys,
        "users",
        "passwd",
        "zhangsan",
        "--password-stdin",
        stdin="a new password\r\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0 and "password set: zhangsan" in out
    assert users.authenticate(session, "zhangsan", "a new password") is not None
    assert users.authenticate(session, "zhangsan", PASSWORD) is None

    answers = iter(["prompted password", "prompted password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run(capsys, "users", "passwd", "zhangsan")[0] == 0  # without --password-stdin: a prompt
    assert users.authenticate(session, "zhangsan", "prompted password") is not None
    refused(
        run(
            capsys,
            "users",
            "passwd",
            "nobody",
            "--password-stdin",
            stdin=f"{PASSWORD}\n",
            monkeypatch=monkeypatch,
        ),
        "no user nobody",
    )

    code, out, _ = run(capsys, "users", "disable", "zhangsan")
    assert code == 0 and "disabled" in out
    assert users.authenticate(session, "zhangsan", "prompted password") is None
    code, out, _ = run(capsys, "users", "list", "--json")
    assert json.loads(out)[0]["disabled"] is True
    assert run(capsys, "users", "enable", "zhangsan")[0] == 0
    assert users.authenticate(session, "zhangsan", "prompted password") is not None

    code, out, _ = run(capsys, "users", "roles", "zhangsan", "--role", "auditor")
    assert code == 0 and "(rsj; auditor)" in out
    refused(run(capsys, "users", "roles", "zhangsan", "--role", "citizen"), "may not hold the role citizen")
    refused(run(capsys, "users", "disable", "nobody"), "no user nobody")
    code, out, _ = run(capsys, "users", "list", "--department", "other", "--json")
    assert json.loads(out) == []


# -- tokens ---------------------------------------------------------------------------------------
def test_tokens_issue_list_revoke(url, session, capsys, monkeypatch) -> None:
    create_zhangsan(capsys, monkeypatch)
    code, out, err = run(
        capsys, "tokens", "issue", "zhangsan", "--role", "provider", "--days", "30", "--label", "同步"
    )
    assert code == 0
    token = out.strip()
    assert out == f"{token}\n" and token.startswith("gs_")  # stdout: the token alone (TOKEN=$(…))
    assert "shown this once" in err and "provider" in err and "Asia/Shanghai" in err
    credential = session.exec(select(Credential).where(Credential.token_sha256 == token_digest(token))).one()
    assert credential.role == "provider" and credential.expires_at is not None

    code, out, _ = run(capsys, "tokens", "issue", "zhangsan", "--role", "consumer", "--json")
    issued = json.loads(out)
    assert (
        issued["token"].startswith("gs_") and issued["state"] == "active" and issued["username"] == "zhangsan"
    )

    code, out, _ = run(capsys, "tokens", "list", "--user", "zhangsan", "--json")
    listed = json.loads(out)
    assert [t["role"] for t in listed] == ["provider", "consumer"]
    assert token not in out and token_digest(token) not in out and "token_sha256" not in out
    assert listed[0]["label"] == "user:zhangsan 同步"
    code, out, _ = run(capsys, "tokens", "list")
    assert code == 0 and token not in out and "有效 active" in out

    code, out, _ = run(capsys, "tokens", "revoke", str(credential.id))
    assert code == 0 and f"token revoked: {credential.id}" in out
    code, out, _ = run(capsys, "tokens", "revoke", str(credential.id))
    assert code == 0 and "revoked already" in out
    code, out, _ = run(capsys, "tokens", "list", "--user", "zhangsan", "--json")
    assert [t["state"] for t in json.loads(out)] == ["revoked", "active"]


def test_tokens_refused(url, capsys, monkeypatch) -> None:
    create_zhangsan(capsys, monkeypatch)
    refused(run(capsys, "tokens", "issue", "zhangsan", "--role", "auditor"), "does not hold the role auditor")
    refused(run(capsys, "tokens", "issue", "zhangsan", "--role", "consumer", "--days", "400"), "1–366 days")
    refused(
        run(capsys, "tokens", "issue", "zhangsan", "--role", "consumer", "--days", "many"), "whole number"
    )
    refused(run(capsys, "tokens", "issue", "nobody", "--role", "consumer"), "no user nobody")
    refused(run(capsys, "tokens", "revoke", "99999"), "no token 99999")
    refused(run(capsys, "tokens", "revoke", "abc"), "is not a token id")
    refused(run(capsys, "tokens", "list", "--user", "nobody"), "no user nobody")
    run(capsys, "users", "disable", "zhangsan")
    refused(run(capsys, "tokens", "issue", "zhangsan", "--role", "consumer"), "user zhangsan is disabled")


def test_database_unavailable_is_exit_1(capsys, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    get_settings.cache_clear()
    try:
        code, out, err = run(capsys, "users", "list")
    finally:
        get_settings.cache_clear()
    assert code == 1 and out == ""
    assert err.startswith("govshare: error: 数据库不可用 database unavailable") and err.count("\n") == 1


def test_output_stays_clean_while_the_database_is_migrated(tmp_path, capsys, monkeypatch) -> None:
    """A first command on a new database migrates it (and logs so): the JSON on stdout stays JSON."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()
    try:
        code, out, _ = run(capsys, "departments", "list", "--json")
    finally:
        get_settings.cache_clear()
    assert code == 0 and json.loads(out) == []
