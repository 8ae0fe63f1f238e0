"""Users who sign in and the tokens issued to them (``govshare.core.users``), on a SQLite file:
Argon2id hashes, authentication and its refusals, validation of usernames and roles, tokens stored
only as their keyed digest and expiring, and the demo users (idempotent, never overwritten)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.deps import ALL_ROLES
from govshare.core import users
from govshare.core.db import init_schema, make_engine
from govshare.core.models import Credential, PartyIdentity, UserAccount, WebSession
from govshare.core.seed import DEPARTMENTS, demo_parties, seed_demo
from govshare.core.tokens import KEYED, token_digest

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the demo departments, parties and users, copied for each test."""
    path = tmp_path_factory.mktemp("users") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    seed_demo(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(template: Path, tmp_path: Path) -> Engine:
    path = tmp_path / "govshare.db"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Session:
    with Session(engine) as session:
        yield session


def clerk(session: Session, username: str = "zhangsan", **overrides) -> UserAccount:
    spec = {
        "username": username,
        "display_name": "张三",
        "department": "rsj",
        "roles": ["consumer"],
        "password": PASSWORD,
        **overrides,
    }
    return users.create_user(session, **spec)


# -- passwords ----------------------------------------------------------------------------------
def test_passwords_are_argon2id_salted_and_verified() -> None:
    first, second = users.hash_password(PASSWORD), users.hash_password(PASSWORD)
    assert first.startswith("$argon2id$") and second.startswith("$argon2id$")
    assert first != second  # a salt each
    assert users.verify_password(first, PASSWORD)
    assert not users.verify_password(first, PASSWORD + "!")
    assert not users.verify_password("not a hash", PASSWORD)
    assert not users.verify_password("$argon2id$v=19$m=65536,t=3,p=4$garbage", PASSWORD)


def test_the_dummy_hash_has_the_current_parameters() -> None:
    """Verifying it costs what a user's costs: an unknown username is not told apart by time."""
    assert not PasswordHasher().check_needs_rehash(users._dummy_hash())


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_a_short_new_password_is_refused(session: Session, password: str) -> None:
    with pytest.raises(users.UserError, match=r"至少 10 个字符.*at least 10 characters"):
        clerk(session, password=password)
    assert users.get_user(session, "zhangsan") is None
    with pytest.raises(ValueError, match="at least 10"):
        users.set_password(session, "rsj-clerk", password)
    with pytest.raises(users.UserError, match="at most 1024"):
        users.check_new_password("x" * 1025)


def test_authenticate(session: Session) -> None:
    user = clerk(session)
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert users.authenticate(session, "zhangsan", PASSWORD).id == user.id
    assert users.authenticate(session, " ZhangSan ", PASSWORD).id == user.id  # usernames are lowercase


def test_authenticate_refuses_without_saying_why(session: Session) -> None:
    clerk(session)
    clerk(session, "nopassword", password=None)
    assert users.get_user(session, "nopassword").password_hash is None
    assert users.authenticate(session, "zhangsan", "wrong password!") is None
    assert users.authenticate(session, "zhangsan", "") is None
    assert users.authenticate(session, "nobody", PASSWORD) is None
    assert users.authenticate(session, "", PASSWORD) is None
    assert users.authenticate(session, "NOT A NAME!", PASSWORD) is None
    assert users.authenticate(session, "nopassword", "") is None
    assert users.authenticate(session, "zhangsan", PASSWORD + "x" * 2000) is None  # too long: not hashed
    users.disable_user(session, "zhangsan")
    assert users.authenticate(session, "zhangsan", PASSWORD) is None
    users.enable_user(session, "zhangsan")
    assert users.authenticate(session, "zhangsan", PASSWORD) is not None


def test_unknown_usernames_verify_a_hash_too(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    clerk(session)
    verified: list[str] = []
    real = users.verify_password

    def counting(stored: str, password: str) -> bool:
        verified.append(stored)
        return real(stored, password)

    monkeypatch.setattr(users, "verify_password", counting)
    for name in ("nobody", "NOT A NAME!", "zhangsan"):
        verified.clear()
        users.authenticate(session, name, "wrong password!")
        assert len(verified) == 1 and verified[0].startswith("$argon2id$"), name


def test_an_old_hash_is_replaced_on_sign_in(session: Session) -> None:
    user = clerk(session)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    session.add(user)
    session.commit()
    assert users.authenticate(session, "zhangsan", "wrong password!") is None
    assert users.get_user(session, "zhangsan").password_hash == weak  # only a right password rehashes
    signed_in = users.authenticate(session, "zhangsan", PASSWORD)
    assert signed_in is not None
    stored = users.get_user(session, "zhangsan").password_hash
    assert stored != weak and "m=65536,t=3,p=4" in stored
    assert not PasswordHasher().check_needs_rehash(stored)
    assert users.authenticate(session, "zhangsan", PASSWORD) is not None


def test_set_password_signs_the_browsers_out(session: Session) -> None:
    user = clerk(session)
    session.add(
        WebSession(
            token_sha256="ab" * 32,
            user_id=user.id,
            role="consumer",
            csrf_token="x",
            created_at=NOW,
            last_seen_at=NOW,
            expires_at=NOW + timedelta(hours=8),
        )
    )
    session.commit()
    users.set_password(session, "zhangsan", "another password", now=NOW)
    assert users.authenticate(session, "zhangsan", PASSWORD) is None
    assert users.authenticate(session, "zhangsan", "another password") is not None
    assert users.get_user(session, "zhangsan").password_changed_at is not None
    assert session.exec(select(WebSession)).one().ended_at is not None


# -- departments and users --------------------------------------------------------------------------
def test_create_department(session: Session) -> None:
    department = users.create_department(session, "fgw", "市发展和改革委员会", "Development and Reform")
    assert (department.code, department.name_zh) == ("fgw", "市发展和改革委员会")
    with pytest.raises(users.UserError, match="fgw 已存在 / department fgw exists already"):
        users.create_department(session, "fgw", "别的")
    for bad in ("F", "fg-w", "FGW", "a" * 33, "发改委", ""):
        with pytest.raises(users.UserError, match="invalid department code"):
            users.create_department(session, bad, "某部门")
    with pytest.raises(users.UserError, match="Chinese name"):
        users.create_department(session, "abc", "  ")
    assert "fgw" in {d.code for d in users.list_departments(session)}


def test_a_user_is_a_party_identity_of_its_department(session: Session) -> None:
    user = clerk(session, roles=["consumer", "provider", "consumer"])
    assert user.roles == ["consumer", "provider"]
    identity = session.get(PartyIdentity, user.person_id)
    assert identity.id.startswith("P-") and len(identity.id) == 12
    assert (identity.kind, identity.name, identity.department) == ("person", "张三", "rsj")
    assert user.created_at is not None and user.password_changed_at is not None


def test_a_citizen_user_has_no_department(session: Session) -> None:
    user = users.create_user(
        session,
        username="wangfang",
        display_name="王芳",
        roles=["citizen"],
        password=PASSWORD,
        id_type="resident_id",
        id_number="410302199202021234",
    )
    identity = session.get(PartyIdentity, user.person_id)
    assert user.department_code is None and identity.department is None
    assert (identity.kind, identity.id_type, identity.id_number) == (
        "person",
        "resident_id",
        "410302199202021234",
    )
    company = users.create_user(
        session, username="acme", display_name="某某公司", roles=["citizen"], kind="legal_person"
    )
    assert session.get(PartyIdentity, company.person_id).kind == "legal_person"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"username": "a"}, "invalid username"),
        ({"username": "-zhang"}, "invalid username"),
        ({"username": "zhang san"}, "invalid username"),
        ({"username": "张三"}, "invalid username"),
        ({"username": "z" * 65}, "invalid username"),
        ({"username": "rsj-clerk"}, "user rsj-clerk exists already"),
        ({"department": "nowhere"}, "unknown department nowhere"),
        ({"roles": []}, "at least one role"),
        ({"roles": ["clerk"]}, "unknown role clerk"),
        ({"roles": ["consumer", "citizen"]}, "may not hold the role citizen"),
        ({"department": None, "roles": ["consumer"]}, "holds the role citizen only"),
        ({"department": None, "roles": ["citizen", "consumer"]}, "holds the role citizen only"),
        ({"display_name": " "}, "display name"),
        ({"kind": "legal_person"}, "a user of a department is a person"),
        ({"department": None, "roles": ["citizen"], "kind": "robot"}, "unknown party kind robot"),
        ({"id_type": "dna"}, "unknown ID type dna"),
        ({"person_id": "P-NOBODY"}, "unknown identity P-NOBODY"),
        ({"person_id": "P-DEMO-GAJ-HEAD"}, "belongs to gaj"),  # rsj's user may not be gaj's head
        ({"person_id": "P-DEMO-CITIZEN"}, "belongs to no department"),
    ],
)
def test_invalid_users_are_refused_and_nothing_is_written(session: Session, overrides, message) -> None:
    before = (
        len(session.exec(select(UserAccount)).all()),
        len(session.exec(select(PartyIdentity)).all()),
    )
    with pytest.raises(users.UserError, match=message):
        clerk(session, **overrides)
    assert (
        len(session.exec(select(UserAccount)).all()),
        len(session.exec(select(PartyIdentity)).all()),
    ) == before


def test_a_user_may_be_linked_to_an_existing_identity_once(session: Session) -> None:
    identity = PartyIdentity(
        id="P-0123456789",
        kind="person",
        name="赵六",
        id_type="other",
        id_number="",
        department="rsj",
        created_at=NOW,
    )
    session.add(identity)
    session.commit()
    user = clerk(session, "zhaoliu", person_id="P-0123456789", roles=["principal_head"])
    assert user.person_id == "P-0123456789"
    with pytest.raises(users.UserError, match="is user zhaoliu's already"):
        clerk(session, "zhaoliu2", person_id="P-0123456789")


def test_roles_disable_enable_and_list(session: Session) -> None:
    clerk(session)
    user = users.set_roles(session, "zhangsan", ["provider", "consumer"])
    assert user.roles == ["provider", "consumer"]
    with pytest.raises(users.UserError, match="may not hold the role citizen"):
        users.set_roles(session, "zhangsan", ["citizen"])
    with pytest.raises(users.UserError, match="holds the role citizen only"):
        users.set_roles(session, "liming", ["consumer"])
    with pytest.raises(users.UserError, match="no user nobody"):
        users.set_roles(session, "nobody", ["consumer"])
    assert users.disable_user(session, "zhangsan", now=NOW).disabled_at is not None
    assert users.disable_user(session, "zhangsan").disabled_at is not None  # twice: the same
    assert users.enable_user(session, "zhangsan").disabled_at is None
    rsj = users.list_users(session, department="rsj")
    assert [u.username for u in rsj] == ["rsj-clerk", "zhangsan"]
    everyone = users.list_users(session)
    assert everyone[-2:] == [users.get_user(session, "company"), users.get_user(session, "liming")]


def test_roles_are_the_apis() -> None:
    assert users.ROLES == ALL_ROLES


# -- tokens ---------------------------------------------------------------------------------------
def test_issue_token_stores_only_its_hash(engine: Engine, session: Session) -> None:
    user = clerk(session, roles=["consumer", "provider"])
    token, credential = users.issue_token(
        session, username="zhangsan", role="provider", days=30, label="同步", now=NOW
    )
    assert token.startswith("gs_") and len(token) > 40
    assert (credential.token_sha256, credential.hash_scheme) == (token_digest(token), KEYED)
    assert (credential.user_id, credential.department_code, credential.person_id, credential.role) == (
        user.id,
        "rsj",
        user.person_id,
        "provider",
    )
    assert credential.label == "user:zhangsan 同步"
    stored = (
        credential.expires_at if credential.expires_at.tzinfo else credential.expires_at.replace(tzinfo=UTC)
    )
    assert stored == NOW + timedelta(days=30)
    # Nowhere in the database: not in a row, not in the file.
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM credential")).all()
    assert token not in repr(rows)
    engine.dispose()
    assert token.encode() not in Path(engine.url.database).read_bytes()
    second, _ = users.issue_token(session, username="zhangsan", role="consumer")
    assert second != token


def test_issue_token_refusals(session: Session) -> None:
    clerk(session)
    with pytest.raises(users.UserError, match="does not hold the role provider"):
        users.issue_token(session, username="zhangsan", role="provider")
    for days in (0, 367, -1):
        with pytest.raises(users.UserError, match="1–366 days"):
            users.issue_token(session, username="zhangsan", role="consumer", days=days)
    with pytest.raises(users.UserError, match="no user nobody"):
        users.issue_token(session, username="nobody", role="consumer")
    users.disable_user(session, "zhangsan")
    with pytest.raises(users.UserError, match="is disabled"):
        users.issue_token(session, username="zhangsan", role="consumer")
    assert users.list_tokens(session, "zhangsan") == []


def test_list_and_revoke_tokens(session: Session) -> None:
    clerk(session)
    _, first = users.issue_token(
        session, username="zhangsan", role="consumer", days=1, now=NOW - timedelta(days=2)
    )
    _, second = users.issue_token(session, username="zhangsan", role="consumer", label="手机")
    listed = users.list_tokens(session, "zhangsan")
    assert [t.id for t in listed] == [first.id, second.id]
    assert [t.state() for t in listed] == ["expired", "active"]
    assert listed[1].username == "zhangsan" and listed[1].label == "user:zhangsan 手机"
    shown = listed[1].to_dict()
    assert set(shown) == {
        "id",
        "username",
        "department",
        "person",
        "role",
        "label",
        "created_at",
        "expires_at",
        "revoked_at",
        "state",
    }
    assert users.revoke_token(session, second.id, now=NOW) is True
    assert users.revoke_token(session, second.id) is False  # the first revocation stays
    revoked = users.list_tokens(session, "zhangsan")[1]
    assert revoked.state() == "revoked" and revoked.revoked_at == NOW
    with pytest.raises(users.UserError, match="no token 999999"):
        users.revoke_token(session, 999999)
    # Every credential: the demo ones have no user.
    everything = users.list_tokens(session)
    assert any(t.username is None and t.role == "platform" for t in everything)


def test_dropping_a_role_revokes_its_tokens(session: Session) -> None:
    clerk(session, roles=["consumer", "provider"])
    _, consumer = users.issue_token(session, username="zhangsan", role="consumer")
    _, provider = users.issue_token(session, username="zhangsan", role="provider")
    users.set_roles(session, "zhangsan", ["consumer"])
    states = {t.id: t.state() for t in users.list_tokens(session, "zhangsan")}
    assert states == {consumer.id: "active", provider.id: "revoked"}


# -- the demo users -------------------------------------------------------------------------------
def test_demo_users(session: Session) -> None:
    demo = {u.username: u for u in users.demo_users()}
    codes = [code for code, *_ in DEPARTMENTS]
    assert {f"{code}-clerk" for code in codes} <= set(demo)
    assert {"scjgj-clerk2", "liming", "company", "gaj-head"} <= set(demo)
    assert len({u.display_name for u in demo.values() if u.username.endswith("-clerk")}) == len(codes)
    for user in users.list_users(session):
        assert users.authenticate(session, user.username, users.DEMO_PASSWORD) is not None, user.username
    rsj = users.get_user(session, "rsj-clerk")
    assert (rsj.display_name, rsj.department_code, rsj.roles) == ("张伟", "rsj", ["consumer"])
    assert users.get_user(session, "bdb-clerk").roles == ["platform"]
    assert users.get_user(session, "scjgj-clerk2").display_name == "王芳"
    heads = [p for p in demo_parties() if p.role == "principal_head"]
    for head in heads:
        user = users.get_user(session, f"{head.department}-head")
        assert (user.person_id, user.roles, user.department_code) == (
            head.id,
            ["principal_head"],
            head.department,
        )
    liming = users.get_user(session, "liming")
    assert (liming.person_id, liming.department_code, liming.roles, liming.display_name) == (
        "P-DEMO-CITIZEN",
        None,
        ["citizen"],
        "李明",
    )
    assert users.get_user(session, "company").person_id == "P-DEMO-COMPANY"
    assert len(users.list_users(session)) == len(demo)
    # A clerk's own identity is a person of its department.
    gaj = users.get_user(session, "gaj-clerk")
    assert session.get(PartyIdentity, gaj.person_id).department == "gaj"
    # No credential is made for a demo user.
    assert session.exec(select(Credential).where(Credential.user_id.is_not(None))).first() is None


def test_seeding_again_adds_what_is_missing_and_changes_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        users.set_password(session, "rsj-clerk", "my own password")
        users.disable_user(session, "gaj-clerk")
        users.set_roles(session, "mzj-clerk", ["consumer"])
        scjgj2 = users.get_user(session, "scjgj-clerk2")
        session.delete(scjgj2)
        session.commit()
        identities = len(session.exec(select(PartyIdentity)).all())
    seed_demo(engine)
    seed_demo(engine)
    with Session(engine) as session:
        assert users.authenticate(session, "rsj-clerk", users.DEMO_PASSWORD) is None
        assert users.authenticate(session, "rsj-clerk", "my own password") is not None
        assert users.get_user(session, "gaj-clerk").disabled_at is not None
        assert users.get_user(session, "mzj-clerk").roles == ["consumer"]
        assert users.get_user(session, "scjgj-clerk2") is not None  # missing: added again (once)
        assert len(session.exec(select(PartyIdentity)).all()) == identities + 1
        assert len(users.list_users(session)) == len(users.demo_users())


def test_seed_demo_users_with_another_platform_department(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    try:
        init_schema(engine)
        seed_demo(engine, platform_department="ops")
        with Session(engine) as session:
            assert users.get_user(session, "ops-clerk").roles == ["platform"]
            assert users.get_user(session, "bdb-clerk") is None
            present = {u.username for u in users.demo_users_present(session, "ops")}
            assert "ops-clerk" in present and "liming" in present
    finally:
        engine.dispose()


def test_the_banner_names_the_sign_in_address_and_the_key_users(session: Session) -> None:
    from govshare.ops.launcher import demo_users_block

    lines = demo_users_block(users.demo_users_present(session), "http://127.0.0.1:8000")
    assert "http://127.0.0.1:8000/ui/" in lines[0] and "govshare-demo" in lines[0]
    assert [line.split()[0] for line in lines[1:-1]] == list(users.KEY_DEMO_USERS)
    assert "rsj-clerk" in lines[1] and "张伟" in lines[1] and "consumer" in lines[1]
    assert "<code>-clerk" in lines[-1]
    assert len(lines) <= 12
