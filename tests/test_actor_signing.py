"""Issue 23: the API's signature on an Update's actor (``workflows/engine/signing.py``), checked
without a server — sign and verify, each way a request can be wrong, the key from the settings, the
door's checks repeated for the engine, and the Temporal client's mTLS settings."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.service import TLSConfig

from govshare.core.converter import DATA_CONVERTER
from govshare.core.settings import Settings
from govshare.core.temporal_client import tls_config
from workflows.case import (
    ERROR_FORBIDDEN,
    ERROR_INVALID,
    Actor,
    ClaimRequest,
    ClockRequest,
    DecisionRequest,
    GrantTerms,
    NoteRequest,
    WithdrawRequest,
)
from workflows.engine import signing

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
WID = "SharingApplication:SA-20261201-ABCDEF"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PLATFORM = Actor("bdb", "platform", "operator")


def decision(**kw) -> DecisionRequest:
    return DecisionRequest(actor=kw.pop("actor", PLATFORM), action="accept", step="platform_check", **kw)


def check(req, *, wid: str = WID, op: str = "decide", key: bytes | None = KEY, now=NOW):
    return signing.problem(req, workflow_id=wid, operation=op, key=key, now=now)


def roundtrip(value):
    """What the worker receives: the request through the data converter, as Temporal carries it."""
    (payload,) = DATA_CONVERTER.payload_converter.to_payloads([value])
    (back,) = DATA_CONVERTER.payload_converter.from_payloads([payload], [type(value)])
    return back


def test_a_signed_request_verifies_after_travelling_through_temporal():
    req = decision(
        reason="理由",
        payload={"fields": ["name"], "valid_until": "2027-01-01T00:00:00+08:00", "n": 1.5, "z": None},
        grant=GrantTerms(scope="s", valid_until=datetime(2027, 1, 1, tzinfo=UTC)),
    )
    signed = signing.sign(req, WID, "decide", KEY, issued_at=NOW)
    assert req.signature == "" and signed.signature.startswith("v1.")  # a copy; the request unchanged
    assert check(signed) is None
    assert check(roundtrip(signed)) is None


@pytest.mark.parametrize(
    "req, update",
    [
        (ClockRequest(actor=PLATFORM, task_id="SA-1/1", kind="suspension", reason="r"), "adjust_clock"),
        (NoteRequest(actor=PLATFORM, kind="served_with_proof", text="t", payload={"a": [1]}), "note"),
        (WithdrawRequest(actor=Actor("rsj", "consumer", "clerk"), reason="r"), "withdraw"),
        (ClaimRequest(actor=PLATFORM, task_id="SA-1/1", name="刘洋"), "claim"),
    ],
)
def test_every_request_that_names_an_actor_is_signed_the_same_way(req, update):
    signed = roundtrip(signing.sign(req, WID, update, KEY, issued_at=NOW))
    assert check(signed, op=update) is None
    assert check(signed, op="decide") is not None


def test_a_missing_signature_is_refused():
    found = check(decision())
    assert found is not None and "not signed" in found[1]


def test_a_tampered_actor_is_refused():
    signed = signing.sign(
        decision(actor=Actor("rsj", "consumer", "clerk")), WID, "decide", KEY, issued_at=NOW
    )
    signed.actor = PLATFORM  # the signature was for the consumer; now it claims the platform
    found = check(signed)
    assert found is not None and "does not match" in found[1]
    signed = signing.sign(decision(), WID, "decide", KEY, issued_at=NOW)
    signed.actor = Actor("bdb", "platform", "someone-else")  # the user is signed too
    assert check(signed) is not None


def test_tampered_content_is_refused():
    signed = signing.sign(decision(reason="同意"), WID, "decide", KEY, issued_at=NOW)
    signed.action = "reject"
    assert check(signed) is not None
    signed = signing.sign(decision(payload={"fields": ["a"]}), WID, "decide", KEY, issued_at=NOW)
    signed.payload = {"fields": ["a", "id_number"]}
    assert check(signed) is not None


def test_a_signature_for_another_case_or_update_or_with_another_key_is_refused():
    signed = signing.sign(decision(), WID, "decide", KEY, issued_at=NOW)
    assert check(signed, wid="SharingApplication:SA-20261201-OTHER1") is not None
    assert check(signed, op="withdraw") is not None
    assert check(signed, key=OTHER_KEY) is not None
    assert check(signing.sign(decision(), WID, "decide", OTHER_KEY, issued_at=NOW)) is not None


def test_an_old_or_future_signature_is_refused():
    old = signing.sign(decision(), WID, "decide", KEY, issued_at=NOW - timedelta(minutes=10, seconds=1))
    found = check(old)
    assert found is not None and "10 minutes" in found[1]
    recent = signing.sign(decision(), WID, "decide", KEY, issued_at=NOW - timedelta(minutes=9, seconds=59))
    assert check(recent) is None
    ahead = signing.sign(decision(), WID, "decide", KEY, issued_at=NOW + timedelta(minutes=3))
    assert check(ahead) is not None
    # The issued instant is part of what is signed: moving it breaks the signature.
    version, issued, mac = recent.signature.split(".")
    recent.signature = f"{version}.{int(issued) + 60_000}.{mac}"
    assert check(recent) is not None


def test_a_malformed_signature_and_a_worker_without_key_are_refused():
    assert check(decision(signature="not-a-signature")) is not None
    assert check(decision(signature="v1.abc.def")) is not None
    signed = signing.sign(decision(), WID, "decide", KEY, issued_at=NOW)
    found = check(signed, key=None)
    assert found is not None and "no signing key" in found[1]


def test_the_validator_refusal_is_forbidden(monkeypatch):
    monkeypatch.setattr(signing, "_key", KEY)
    with pytest.raises(ApplicationError) as err:
        signing.require_signed(decision(), workflow_id=WID, operation="decide", now=NOW)
    assert err.value.type == ERROR_FORBIDDEN and err.value.details[0]["zh"]
    signed = signing.sign(decision(), WID, "decide", KEY, issued_at=NOW)
    signing.require_signed(signed, workflow_id=WID, operation="decide", now=NOW)


def test_a_case_start_is_signed_for_its_workflow_id_without_age_limit(monkeypatch):
    from factories import application, resource

    inp = application("hubei", resource())
    wid = f"SharingApplication:{inp.case.case_id}"
    signed = signing.sign(inp, wid, signing.START, KEY, issued_at=NOW - timedelta(days=3))
    assert inp.case.signature == "" and signed.case.signature
    assert signing.is_start(signed) and not signing.is_start(decision())
    monkeypatch.setattr(signing, "_key", KEY)
    # What the engine checks: the CaseStart it was handed, after the trip through Temporal.
    signing.require_signed_start(roundtrip(signed).case, workflow_id=wid)
    with pytest.raises(signing.UnsignedStart):
        signing.require_signed_start(roundtrip(signed).case, workflow_id=wid + "X")
    with pytest.raises(signing.UnsignedStart):
        signing.require_signed_start(inp.case, workflow_id=wid)
    forged = roundtrip(signed)
    forged.case.submitted_by = PLATFORM
    with pytest.raises(signing.UnsignedStart):
        signing.require_signed_start(forged.case, workflow_id=wid)


# -- the key -------------------------------------------------------------------------------------------


def settings(tmp_path, key: str = "") -> Settings:
    return Settings(var_dir=tmp_path, actor_signing_key=SecretStr(key))


def test_the_key_comes_from_the_setting_hex_or_base64(tmp_path):
    import base64

    assert signing.key_from_settings(settings(tmp_path, KEY.hex())) == KEY
    assert signing.key_from_settings(settings(tmp_path, base64.b64encode(KEY).decode())) == KEY
    assert signing.key_from_settings(settings(tmp_path, base64.urlsafe_b64encode(KEY).decode())) == KEY
    with pytest.raises(signing.SigningKeyError):
        signing.key_from_settings(settings(tmp_path, "00" * 31))  # 31 bytes: too short
    with pytest.raises(signing.SigningKeyError):
        signing.key_from_settings(settings(tmp_path, "not a key!"))


def test_without_a_setting_the_launcher_makes_the_key_file_and_others_read_it(tmp_path):
    with pytest.raises(signing.SigningKeyError) as err:
        signing.key_from_settings(settings(tmp_path))  # a process started alone: refuses, one line
    assert "\n" not in str(err.value) and "ACTOR_SIGNING_KEY" in str(err.value)
    made = signing.key_from_settings(settings(tmp_path), create=True)  # govshare run
    path = tmp_path / "actor-signing.key"
    assert len(made) == 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert signing.key_from_settings(settings(tmp_path)) == made  # the API, the worker
    assert signing.key_from_settings(settings(tmp_path), create=True) == made  # never replaced


def test_the_launcher_hands_its_children_the_key(tmp_path):
    from govshare.ops.launcher import Launcher

    launcher = Launcher(settings(tmp_path))
    launcher.signing_key_hex = KEY.hex()
    assert launcher._child_env()["ACTOR_SIGNING_KEY"] == KEY.hex()


# -- the door's checks, again ----------------------------------------------------------------------------


def test_a_decision_with_a_grant_ending_in_the_past_or_out_of_range_is_refused():
    past = NOW - timedelta(days=1)
    for req in (
        decision(grant=GrantTerms(valid_until=past)),
        decision(payload={"valid_until": past.isoformat()}),
        decision(payload={"valid_until": "2101-01-01T00:00:00+08:00"}),
        decision(payload={"valid_until": "1999-12-31T00:00:00"}),
        decision(limit_working_days=0),
        decision(limit_working_days=251),
    ):
        with pytest.raises(ApplicationError) as err:
            signing.check_decision_request(req, NOW)
        assert err.value.type == ERROR_INVALID
    signing.check_decision_request(decision(payload={"valid_until": "2027-06-30T00:00:00"}), NOW)
    signing.check_decision_request(decision(payload={"valid_until": "someday"}), NOW)  # the case type's
    signing.check_decision_request(decision(limit_working_days=10), NOW)


def test_a_clock_change_and_a_note_are_held_to_the_door_s_bounds():
    with pytest.raises(ApplicationError):
        signing.check_clock_request(
            ClockRequest(actor=PLATFORM, task_id="t", kind="extension", working_days=300)
        )
    signing.check_clock_request(ClockRequest(actor=PLATFORM, task_id="t", kind="extension", working_days=5))
    with pytest.raises(ApplicationError):
        note = NoteRequest(actor=PLATFORM, kind="proposal", payload={"valid_until": "2020-01-01"})
        signing.check_note_request(note, NOW)


# -- mTLS to a Temporal cluster ------------------------------------------------------------------------


def test_tls_settings_build_the_client_s_tls_config(tmp_path):
    assert tls_config(Settings()) is False  # the embedded dev server on loopback: plain
    for name in ("cert", "key", "ca"):
        (tmp_path / f"{name}.pem").write_bytes(f"-----{name}-----".encode())
    config = tls_config(
        Settings(
            temporal_tls_cert=str(tmp_path / "cert.pem"),
            temporal_tls_key=str(tmp_path / "key.pem"),
            temporal_tls_ca=str(tmp_path / "ca.pem"),
        )
    )
    assert isinstance(config, TLSConfig)
    assert config.client_cert == b"-----cert-----" and config.client_private_key == b"-----key-----"
    assert config.server_root_ca_cert == b"-----ca-----"
    only_ca = tls_config(Settings(temporal_tls_ca=str(tmp_path / "ca.pem")))
    assert isinstance(only_ca, TLSConfig) and only_ca.client_cert is None
    with pytest.raises(ValueError):
        tls_config(Settings(temporal_tls_cert=str(tmp_path / "cert.pem")))
