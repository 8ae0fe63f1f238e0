"""Who may send an Update: the API's signature on the actor (issue 23), and the door's checks again.

Anyone who reaches Temporal's frontend can send a case an Update naming any actor. So every request
that names an actor carries ``signature``: an HMAC-SHA256, with a key only the API and the worker
hold (``ACTOR_SIGNING_KEY``), over a canonical serialization of

- the operation (the Update's name: ``decide``, ``adjust_clock``, ``note``, ``withdraw``, ``claim``;
  :data:`START` for a case's start input),
- the workflow id the request is sent to,
- the actor (department, role, user),
- a SHA-256 digest of the request's content (the request without its ``signature``, canonical JSON;
  for a start, its ``CaseStart``, which names who submitted it — the case type's fields beside it
  name no actor),
- the instant it was issued.

The case service signs what it sends (``govshare/cases/service.py``); the engine's validators refuse
(Forbidden, 403) a request whose signature is missing, made with another key, made for another
request, case or operation, or issued more than :data:`MAX_AGE` before ``workflow.now()`` (or more
than :data:`MAX_AHEAD` after it). Validators do not run on replay, and the handlers never read the
key, so a history replays the same whatever the key is. A case start carries the signature in
``CaseStart.signature``; the engine checks it when a case that no workflow started takes its first
workflow task (not on replay), with no age limit (a start left pending runs when a worker does): an
unsigned start fails that workflow task, so the case records nothing and never reaches the database.

The key lives in this module (:func:`install_key`), set by the worker and the API at start from the
settings (:func:`key_from_settings`). The engine imports this module through the workflow sandbox's
passthrough, so the validators running in the sandbox read the one the worker set.

The second half (:func:`check_decision_request` …) repeats the API's checks on what a request says
(dates in range, a grant's end in the future, working days within bounds) so that a request sent
past the API, signed or not, is held to the same rules.

Pure apart from the key holder: nothing here calls a workflow API (the engine passes ``now`` and the
workflow id).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import temporalio.client
from pydantic_core import to_jsonable_python

from workflows.case import ERROR_FORBIDDEN, ERROR_INVALID
from workflows.engine.words import refuse

#: The signature's format version (the first part of ``v1.<issued ms>.<hex mac>``).
VERSION = "v1"
#: A signed request older than this (against ``workflow.now()``) is refused.
MAX_AGE = timedelta(minutes=10)
#: … and one issued further ahead than this (clocks of the API and the worker differ a little).
MAX_AHEAD = timedelta(minutes=2)
#: The operation a case's start input is signed for.
START = "start"
#: The Updates that carry an actor, hence a signature. (``settled`` and ``replan_deadlines`` carry
#: nothing: they cannot say who decided anything.)
SIGNED_UPDATES = frozenset({"decide", "adjust_clock", "note", "withdraw", "claim"})
#: The key ``govshare run`` keeps under ``VAR_DIR`` when ``ACTOR_SIGNING_KEY`` is empty.
KEY_NAME = "actor-signing"
KEY_FILE = f"{KEY_NAME}.key"
MIN_KEY_BYTES = 32

SHANGHAI = ZoneInfo("Asia/Shanghai")

T = TypeVar("T")


class SigningKeyError(Exception):
    """No usable key: the process must not start (the message is one line for the operator)."""


# --------------------------------------------------------------------------------------------------
# The key
# --------------------------------------------------------------------------------------------------

_key: bytes | None = None


def install_key(key: bytes | None) -> None:
    """The key this process signs and checks with (the worker and the API call this at start)."""
    global _key
    if key is not None and len(key) < MIN_KEY_BYTES:
        raise SigningKeyError(f"the actor signing key must be at least {MIN_KEY_BYTES} bytes")
    _key = key


def current_key() -> bytes:
    """The installed key; if none was installed, the one the settings give (``ACTOR_SIGNING_KEY``
    or ``var/actor-signing.key``), installed for next time. :class:`SigningKeyError` if neither."""
    if _key is None:
        from govshare.core.settings import get_settings

        install_key(key_from_settings(get_settings()))
    assert _key is not None
    return _key


def _verifying_key() -> bytes | None:
    """The key a validator checks with; None: the worker holds none (every request is refused)."""
    try:
        return current_key()
    except SigningKeyError:
        return None


def key_file(settings: Any) -> Path:
    return Path(settings.var_dir) / KEY_FILE


def key_from_settings(settings: Any, *, create: bool = False) -> bytes:
    """The key from ``ACTOR_SIGNING_KEY`` (hex or base64, at least 32 bytes); else from
    ``<VAR_DIR>/actor-signing.key``; else, with ``create`` (``govshare run``), a new random key written
    there (mode 0600, atomically: ``govshare/core/keys.py``). Otherwise :class:`SigningKeyError`, whose
    message is the one line a process that refuses to start prints."""
    from govshare.core.keys import ServerKeyError, key_from

    configured = settings.actor_signing_key.get_secret_value().strip()
    path = key_file(settings)
    if not configured and not create and not path.exists():
        raise SigningKeyError(
            "no actor signing key: set ACTOR_SIGNING_KEY (at least 32 bytes, hex or base64), the same "
            f"for the API and the worker, or start with `govshare run`, which keeps one in {path}"
        )
    try:
        return key_from(configured, settings.var_dir, KEY_NAME)
    except ServerKeyError as err:
        raise SigningKeyError(f"ACTOR_SIGNING_KEY: {err}") from err


# --------------------------------------------------------------------------------------------------
# Signing and checking
# --------------------------------------------------------------------------------------------------


def canonical(value: Any) -> bytes:
    """``value`` as JSON the same way on both sides: dataclasses and models as the data converter
    sends them, keys sorted, no spaces, UTF-8."""
    return json.dumps(
        to_jsonable_python(value), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def _has_signature(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and any(f.name == "signature" for f in dataclasses.fields(value))


def _carrier(request: Any) -> Any:
    """The dataclass that holds the signature: the request, or a start input's ``case``."""
    if _has_signature(request):
        return request
    case = getattr(request, "case", None)
    return case if _has_signature(case) else None


def signable(request: Any) -> bool:
    return _carrier(request) is not None


def is_start(request: Any) -> bool:
    """A case's start input (or its ``CaseStart``): signed by who submitted it."""
    carrier = _carrier(request)
    return carrier is not None and hasattr(carrier, "submitted_by") and not hasattr(carrier, "actor")


def _actor(carrier: Any) -> Any:
    return carrier.actor if hasattr(carrier, "actor") else carrier.submitted_by


def content_digest(carrier: Any) -> str:
    """SHA-256 of the signed dataclass without its signature: an Update's request, a start's
    ``CaseStart`` (which names who submitted it; the case type's own fields beside it carry no actor)."""
    data = to_jsonable_python(carrier)
    if isinstance(data, dict):
        data.pop("signature", None)
    return hashlib.sha256(canonical(data)).hexdigest()


def _message(carrier: Any, workflow_id: str, operation: str, issued_ms: int) -> bytes:
    actor = _actor(carrier)
    return canonical(
        {
            "v": VERSION,
            "operation": operation,
            "workflow_id": workflow_id,
            "actor": {"department": actor.department, "role": actor.role, "user": actor.user},
            "content": content_digest(carrier),
            "issued_at": issued_ms,
        }
    )


def signature_for(
    request: Any, workflow_id: str, operation: str, key: bytes, issued_at: datetime | None = None
) -> str:
    """The signature of ``request`` sent as ``operation`` to ``workflow_id`` (``v1.<ms>.<hex>``)."""
    carrier = _carrier(request)
    if carrier is None:
        raise TypeError(f"{type(request).__name__} carries no signature field")
    issued = issued_at or datetime.now(UTC)
    issued_ms = int(issued.timestamp() * 1000)
    mac = hmac.new(key, _message(carrier, workflow_id, operation, issued_ms), hashlib.sha256).hexdigest()
    return f"{VERSION}.{issued_ms}.{mac}"


def sign(
    request: T, workflow_id: str, update_name: str, key: bytes, *, issued_at: datetime | None = None
) -> T:
    """A copy of ``request`` carrying its signature for ``update_name`` on ``workflow_id`` (a start
    input: signed for :data:`START`, in its ``case``). The request itself is left as it was."""
    carrier = _carrier(request)
    if carrier is None:
        raise TypeError(f"{type(request).__name__} carries no signature field")
    signature = signature_for(request, workflow_id, update_name, key, issued_at)
    if carrier is request:
        return dataclasses.replace(request, signature=signature)  # type: ignore[type-var]
    return dataclasses.replace(request, case=dataclasses.replace(carrier, signature=signature))  # type: ignore[type-var]


def problem(
    request: Any, *, workflow_id: str, operation: str, key: bytes | None, now: datetime | None
) -> tuple[str, str] | None:
    """What is wrong with the request's signature (Chinese, English), or None if it is good.
    ``now`` None: no age limit (a start)."""
    if key is None:
        return (
            "工作节点未配置签名密钥,不受理任何办理请求",
            "the worker holds no signing key: every request is refused",
        )
    carrier = _carrier(request)
    signature = getattr(carrier, "signature", "") or ""
    if carrier is None or not signature:
        return (
            "请求未经 API 签名:办理只能通过 API 进行",
            "the request is not signed by the API: decisions are taken through the API only",
        )
    parts = signature.split(".")
    if len(parts) != 3 or parts[0] != VERSION or not parts[1].lstrip("-").isdigit():
        return ("请求签名格式无效", "the request's signature is malformed")
    issued_ms = int(parts[1])
    expected = hmac.new(key, _message(carrier, workflow_id, operation, issued_ms), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts[2]):
        return (
            "请求签名无效(内容或办理人被改动,或签给了其他案件、其他操作)",
            "the signature does not match this request, actor, case and operation",
        )
    if now is not None:
        issued = datetime.fromtimestamp(issued_ms / 1000, UTC)
        if issued < now - MAX_AGE:
            minutes = int(MAX_AGE.total_seconds() // 60)
            return (
                f"请求签发已超过{minutes}分钟,请重新提交",
                f"the request was signed more than {minutes} minutes ago: send it again",
            )
        if issued > now + MAX_AHEAD:
            return ("请求签发时间晚于当前时间", "the request is signed for a time still to come")
    return None


def require_signed(request: Any, *, workflow_id: str, operation: str, now: datetime) -> None:
    """For a validator: refuse (Forbidden) a request not signed for this case and operation, now."""
    found = problem(request, workflow_id=workflow_id, operation=operation, key=_verifying_key(), now=now)
    if found is not None:
        raise refuse(ERROR_FORBIDDEN, *found)


class UnsignedStart(RuntimeError):
    """A case start not signed by the API: the first workflow task fails (and is retried), so the
    case records nothing. Not an ApplicationError, which would fail the workflow with a history."""


def require_signed_start(start_input: Any, *, workflow_id: str) -> None:
    """For a case's first workflow task (not on replay, not for a case a workflow started)."""
    found = problem(start_input, workflow_id=workflow_id, operation=START, key=_verifying_key(), now=None)
    if found is not None:
        raise UnsignedStart(f"case start refused ({workflow_id}): {found[1]}")


# --------------------------------------------------------------------------------------------------
# A client that signs what it sends (tests, tools that hold the key)
# --------------------------------------------------------------------------------------------------


class SigningInterceptor(temporalio.client.Interceptor):
    """Signs every Update that carries an actor and every case start a client sends, issued at
    ``clock()`` (the time-skipping test server's time in tests; else now). For clients of processes
    that hold the key; the API signs in the case service and needs none of this."""

    def __init__(
        self, key: bytes | None = None, clock: Callable[[], Awaitable[datetime]] | None = None
    ) -> None:
        self.key = key
        self.clock = clock

    def intercept_client(
        self, next: temporalio.client.OutboundInterceptor
    ) -> temporalio.client.OutboundInterceptor:
        return _SigningOutbound(next, self)


class _SigningOutbound(temporalio.client.OutboundInterceptor):
    def __init__(self, next: temporalio.client.OutboundInterceptor, owner: SigningInterceptor) -> None:
        super().__init__(next)
        self._owner = owner

    async def _signed(self, arg: Any, workflow_id: str, operation: str) -> Any:
        key = self._owner.key or current_key()
        issued = await self._owner.clock() if self._owner.clock is not None else None
        return sign(arg, workflow_id, operation, key, issued_at=issued)

    async def start_workflow_update(
        self, input: temporalio.client.StartWorkflowUpdateInput
    ) -> temporalio.client.WorkflowUpdateHandle[Any]:
        if input.update in SIGNED_UPDATES and len(input.args) == 1 and signable(input.args[0]):
            input.args = [await self._signed(input.args[0], input.id, input.update)]
        return await super().start_workflow_update(input)

    async def start_workflow(
        self, input: temporalio.client.StartWorkflowInput
    ) -> temporalio.client.WorkflowHandle[Any, Any]:
        if len(input.args) == 1 and is_start(input.args[0]):
            input.args = [await self._signed(input.args[0], input.id, START)]
        return await super().start_workflow(input)


# --------------------------------------------------------------------------------------------------
# The door's checks, again (api/requests.py): what a request says, whoever sent it
# --------------------------------------------------------------------------------------------------

#: The instants a request may name (as ``api/requests.py``): 2000-01-01 up to 2101-01-01, Shanghai.
EARLIEST_INSTANT = datetime(2000, 1, 1, tzinfo=SHANGHAI)
END_OF_INSTANTS = datetime(2101, 1, 1, tzinfo=SHANGHAI)
#: The most working days a request may name (a period, an extension), as the API allows.
MAX_WORKING_DAYS = 250


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return None  # not a date: the case type's own check refuses it
    else:
        return None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=SHANGHAI)


def _check_valid_until(value: Any, now: datetime) -> None:
    instant = _instant(value)
    if instant is None:
        return
    if not EARLIEST_INSTANT <= instant < END_OF_INSTANTS:
        raise refuse(
            ERROR_INVALID,
            "有效期须在 2000-01-01 至 2100-12-31 之间(北京时间)",
            "valid_until must lie between 2000-01-01 and 2100-12-31 (Asia/Shanghai)",
        )
    if instant <= now:
        raise refuse(
            ERROR_INVALID,
            "有效期(valid_until)不能早于当前时间",
            "valid_until must be in the future (a grant cannot end before it begins)",
        )


def _check_working_days(value: int | None, what_zh: str, what_en: str) -> None:
    if value is not None and not 1 <= value <= MAX_WORKING_DAYS:
        raise refuse(
            ERROR_INVALID,
            f"{what_zh}须为 1 至 {MAX_WORKING_DAYS} 个工作日",
            f"{what_en} must be 1 to {MAX_WORKING_DAYS} working days",
        )


def _check_payload(payload: Any, now: datetime) -> None:
    if isinstance(payload, dict) and payload.get("valid_until") is not None:
        _check_valid_until(payload["valid_until"], now)


def check_decision_request(req: Any, now: datetime) -> None:
    """A decision: a grant's end (in ``grant`` or the payload) in range and in the future; a period
    it sets within 1–250 working days (``api/requests.py``: ``GrantIn``, ``DecisionCreate``)."""
    grant = getattr(req, "grant", None)
    if grant is not None and grant.valid_until is not None:
        _check_valid_until(grant.valid_until, now)
    _check_payload(req.payload, now)
    _check_working_days(req.limit_working_days, "设定的期限", "the limit it sets")


def check_clock_request(req: Any) -> None:
    """A clock change: the working days of an extension within 1–250 (``ClockCreate``)."""
    _check_working_days(req.working_days, "延长的期限", "an extension")


def check_note_request(req: Any, now: datetime) -> None:
    """A note: a proposal's terms that end (``valid_until``) end in range and in the future."""
    _check_payload(req.payload, now)
