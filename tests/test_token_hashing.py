"""Bearer tokens at rest (issue 23; ``govshare/core/tokens.py``, ``govshare/core/keys.py``): a keyed
digest (HMAC-SHA256 under the server key), found by its index and compared in constant time; a legacy
(plain SHA-256) row authenticates once and is upgraded; nothing stores a token in plain; the seed
upgrades the demo tokens; the server key comes from the setting or from a key file made once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.deps import _authenticate
from api.errors import ApiError
from govshare.core import keys, tokens, users
from govshare.core.db import init_schema, make_engine
from govshare.core.models import Credential, Department
from govshare.core.seed import demo_token, seed_demo
from govshare.core.settings import Settings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A migrated, empty database; the server key is :data:`KEY` for everything in the test."""
    monkeypatch.setattr(tokens, "server_key", lambda settings=None: KEY)
    engine = make_engine(f"sqlite:///{tmp_path / 'tokens.db'}")
    init_schema(engine)
    yield engine
    engine.dispose()


def bearer(token: str) -> HTTPAuthorizationCredentials:
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


def add_credential(engine: Engine, digest: str, scheme: str, **fields) -> int:
    with Session(engine) as session:
        if session.get(Department, "rsj") is None:
            session.add(Department(code="rsj", name_zh="人社局", name_en="", created_at=NOW))
            session.flush()
        row = Credential(
            **{
                "token_sha256": digest,
                "hash_scheme": scheme,
                "department_code": "rsj",
                "role": "consumer",
                "label": "clerk",
                "created_at": NOW,
                **fields,
            }
        )
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def stored(engine: Engine, credential_id: int) -> tuple[str, str]:
    with Session(engine) as session:
        row = session.get(Credential, credential_id)
        assert row is not None
        return row.token_sha256, row.hash_scheme


def refused(engine: Engine, token: str) -> ApiError:
    with pytest.raises(ApiError) as err:
        _authenticate(engine, bearer(token))
    assert err.value.status == 401
    return err.value


# -- the digest ------------------------------------------------------------------------------------
def test_the_keyed_digest_depends_on_the_key_and_is_not_the_plain_sha256() -> None:
    token = "demo-rsj-consumer"
    keyed = tokens.keyed_digest(token, KEY)
    assert keyed == hmac.new(KEY, token.encode(), hashlib.sha256).hexdigest() and len(keyed) == 64
    assert keyed == tokens.keyed_digest(token, KEY)  # deterministic: an index can find it
    assert keyed != tokens.keyed_digest(token, OTHER_KEY)
    assert keyed != tokens.legacy_digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert tokens.keyed_digest("demo-rsj-consumer2", KEY) != keyed
    assert tokens.digests(token, KEY) == {tokens.KEYED: keyed, tokens.LEGACY: tokens.legacy_digest(token)}


def test_a_row_matches_only_under_its_own_scheme_compared_in_constant_time(monkeypatch) -> None:
    token = "gs_" + secrets.token_urlsafe(32)
    wanted = tokens.digests(token, KEY)
    assert tokens.matches(wanted[tokens.KEYED], tokens.KEYED, wanted)
    assert tokens.matches(wanted[tokens.LEGACY], tokens.LEGACY, wanted)
    # A keyed digest in a row that says legacy (or the reverse), or an unknown scheme: no one.
    assert not tokens.matches(wanted[tokens.KEYED], tokens.LEGACY, wanted)
    assert not tokens.matches(wanted[tokens.LEGACY], tokens.KEYED, wanted)
    assert not tokens.matches(wanted[tokens.KEYED], "md5", wanted)
    # The comparison is hmac.compare_digest, whatever the outcome (constant time by construction).
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    assert tokens.matches(wanted[tokens.KEYED], tokens.KEYED, wanted)
    assert not tokens.matches("0" * 64, tokens.KEYED, wanted)
    assert [a for a, _b in calls] == [wanted[tokens.KEYED].encode(), b"0" * 64]


# -- the lookup ------------------------------------------------------------------------------------
def test_a_keyed_row_authenticates_and_only_under_its_key(engine: Engine, monkeypatch) -> None:
    token = "gs_" + secrets.token_urlsafe(32)
    add_credential(engine, tokens.keyed_digest(token, KEY), tokens.KEYED)
    caller = _authenticate(engine, bearer(token))
    assert (caller.department, caller.role, caller.label) == ("rsj", "consumer", "clerk")
    refused(engine, token + "x")
    # Another server key (a rotated or lost key file): the stored digest no longer matches.
    monkeypatch.setattr(tokens, "server_key", lambda settings=None: OTHER_KEY)
    assert refused(engine, token).code == "invalid_token"


def test_a_legacy_row_authenticates_once_and_is_upgraded(engine: Engine) -> None:
    token = "demo-rsj-consumer"
    credential_id = add_credential(engine, tokens.legacy_digest(token), tokens.LEGACY)
    assert _authenticate(engine, bearer(token)).role == "consumer"
    # Upgraded on that first use: the keyed digest, and the plain SHA-256 is gone from the table.
    assert stored(engine, credential_id) == (tokens.keyed_digest(token, KEY), tokens.KEYED)
    with Session(engine) as session:
        assert (
            session.exec(
                select(Credential).where(Credential.token_sha256 == tokens.legacy_digest(token))
            ).all()
            == []
        )
    # It keeps working (now through the keyed digest); a wrong token still does not.
    assert _authenticate(engine, bearer(token)).role == "consumer"
    refused(engine, "demo-rsj-consumer2")
    # A row whose scheme says keyed but which holds the plain SHA-256 is no one's.
    other = "demo-rsj-provider"
    add_credential(engine, tokens.legacy_digest(other), tokens.KEYED, label="mislabelled")
    refused(engine, other)


def test_a_refused_legacy_row_is_not_upgraded(engine: Engine) -> None:
    token = "demo-rsj-revoked"
    credential_id = add_credential(engine, tokens.legacy_digest(token), tokens.LEGACY, revoked_at=NOW)
    assert refused(engine, token).detail_en == "the bearer token has been revoked"
    assert stored(engine, credential_id) == (tokens.legacy_digest(token), tokens.LEGACY)


def test_a_legacy_row_that_cannot_be_upgraded_still_authenticates(engine: Engine, monkeypatch) -> None:
    token = "demo-rsj-busy"
    credential_id = add_credential(engine, tokens.legacy_digest(token), tokens.LEGACY)

    def busy(*_args, **_kwargs):
        from sqlalchemy.exc import OperationalError

        raise OperationalError("UPDATE credential", {}, Exception("database is locked"))

    monkeypatch.setattr(tokens, "upgrade", busy)
    assert _authenticate(engine, bearer(token)).role == "consumer"
    assert stored(engine, credential_id)[1] == tokens.LEGACY  # tried again on the next use


# -- nothing in plain; the seed ----------------------------------------------------------------------
def test_no_token_is_stored_in_plain_nor_as_its_plain_sha256(engine: Engine) -> None:
    seed_demo(engine)
    with Session(engine) as session:
        users.create_user(
            session, username="zhangsan", display_name="张三", department="rsj", roles=["consumer"]
        )
        issued, _credential = users.issue_token(session, username="zhangsan", role="consumer", now=NOW)
        rows = session.exec(select(Credential)).all()
    demo = [demo_token("rsj", "consumer"), demo_token("gaj", "provider"), "demo-citizen", "demo-gaj-head"]
    assert len(rows) > len(demo)
    assert {r.hash_scheme for r in rows} == {tokens.KEYED}
    columns = [c["name"] for c in inspect(engine).get_columns("credential")]
    values = {str(getattr(r, c)) for r in rows for c in columns}
    for token in [*demo, issued]:
        assert token not in values and tokens.legacy_digest(token) not in values
        assert tokens.keyed_digest(token, KEY) in values
    assert _authenticate(engine, bearer(issued)).label == "user:zhangsan"


def test_the_seed_upgrades_the_legacy_demo_tokens(engine: Engine) -> None:
    seed_demo(engine)
    token = demo_token("rsj", "consumer")
    with Session(engine) as session:
        # As a database seeded before migration 0010: the demo token's plain SHA-256.
        row = session.exec(
            select(Credential).where(Credential.token_sha256 == tokens.keyed_digest(token, KEY))
        ).one()
        row.token_sha256, row.hash_scheme = tokens.legacy_digest(token), tokens.LEGACY
        session.add(row)
        session.commit()
        credential_id = row.id
    in_force = {t.token for t in seed_demo(engine)}
    assert token in in_force
    assert stored(engine, credential_id) == (tokens.keyed_digest(token, KEY), tokens.KEYED)


# -- the server key ----------------------------------------------------------------------------------
def test_the_server_key_is_the_setting_or_a_key_file_made_once(tmp_path: Path) -> None:
    hex_key = secrets.token_hex(32)
    assert keys.key_from(hex_key, tmp_path, "t1") == bytes.fromhex(hex_key)
    raw = secrets.token_bytes(40)
    assert keys.key_from(base64.urlsafe_b64encode(raw).decode(), tmp_path, "t1") == raw
    with pytest.raises(keys.ServerKeyError):
        keys.key_from("short", tmp_path, "t1")
    assert not (tmp_path / "t1.key").exists()  # a configured key makes no file

    made = keys.key_from("", tmp_path / "var", "t2")
    path = tmp_path / "var" / "t2.key"
    assert len(made) == 32 and bytes.fromhex(path.read_text().strip()) == made
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys._key.__wrapped__("", str((tmp_path / "var").resolve()), "t2") == made  # read back
    # A key file that holds no key is an error, never replaced.
    (tmp_path / "bad.key").write_text("not a key\n")
    with pytest.raises(keys.ServerKeyError):
        keys.key_from("", tmp_path, "bad")
    assert (tmp_path / "bad.key").read_text() == "not a key\n"

    # The settings' key: TOKEN_HASH_KEY, else the file under VAR_DIR.
    assert tokens.server_key(Settings(token_hash_key=hex_key, var_dir=tmp_path)) == bytes.fromhex(hex_key)
    from_file = tokens.server_key(Settings(var_dir=tmp_path / "v2"))
    assert (tmp_path / "v2" / "token_hash.key").exists() and len(from_file) == 32
    assert hex_key not in repr(Settings(token_hash_key=hex_key))


def test_processes_starting_together_agree_on_one_key_file(tmp_path: Path) -> None:
    found: list[bytes] = []
    start = threading.Barrier(8)

    def make() -> None:
        start.wait()
        found.append(keys._key.__wrapped__("", str(tmp_path), "race"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and len(set(found)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["race.key"]  # no temporary file left behind
