"""The Idempotency-Key of every write: one key stands for one request.

A write (create, decision, clock change, withdrawal) may carry ``Idempotency-Key``. The same key with
the same request is the same request again: it is taken at most once and answered with its first
outcome (a create: the case it created, ``200 Idempotent-Replayed``; an Update: Temporal answers a
repeated Update id with its first outcome). The same key with another request — another body,
another case, another operation or role — is refused ``422 idempotency_key_reused`` before anything
is sent; it is never taken as a new request. Keys belong to who calls (``Caller.principal``): a
department, a person of a department, a citizen — another caller's key is its own, and two citizens
(who have no department) never share a scope.

How a key is bound to its request (:func:`bind`):

- a key the client chose is *claimed* in the ``idempotencykey`` table, (principal, key) unique,
  with a digest of the request (:func:`fingerprint`); a second request finds the row and is a replay
  (same digest) or refused (another digest). The claim is made before the request is sent, so two
  concurrent requests under one key agree on one outcome.
- a key the server made (given back with a 202/503 when no key was sent) carries the request's
  digest in itself (:func:`new_key`), so it is checked without the database — the answer that gives
  it out is the one written while the database is locked.

A create derives its case id from the key (``case_service.case_id_for_key``), so a retry reaches the
case the first attempt started whether or not the claim was written, and the workflow's memo holds a
tag of the request (:func:`request_tag`), so a create that finds its case started for another body
is refused the same way. A create's claim therefore waits only briefly for a locked database
(:data:`CREATE_CLAIM_WAIT_S`) and goes on without it; a decision, clock change or withdrawal has
nothing but its claim to bind a client's key, so it waits as any write does and answers 503
``database_busy`` (nothing sent, retry with the key) if the database stays locked.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from api.deps import Caller, run_db
from api.errors import ApiError, _is_lock_error
from calendars import SHANGHAI
from govshare.cases import service as case_service
from govshare.core.models import IdempotencyKey

log = structlog.get_logger("govshare.api")

#: How long a create's claim waits for SQLite's write lock before the create goes on unclaimed.
CREATE_CLAIM_WAIT_S = 1.0

#: A key the server made: ``gs-<day>-<random>-<digest of the request>`` (the day, Asia/Shanghai, is
#: the day of a create's case id). Keys handed out before this form (``gs-<hex>``) are claimed as
#: a client's.
_GENERATED = re.compile(r"^gs-(\d{8})-[0-9a-f]{16}-([0-9a-f]{12})$")


def fingerprint(request: dict[str, Any]) -> str:
    """The digest a key is bound to: SHA-256 of the request as canonical JSON."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_fingerprint(operation: str, case_id: str, role: str, body: Any) -> str:
    """The digest of a decision, clock change or withdrawal: what, on which case, in which role."""
    return fingerprint(
        {"operation": operation, "case_id": case_id, "role": role, "body": body.model_dump(mode="json")}
    )


def request_tag(principal: str, digest: str) -> str:
    """What a create's workflow keeps in its memo: who asked for what (another caller's request,
    even with the same body, is another request). Pass ``Caller.principal`` (for a department's
    credential it is the department's code, as the tags of running cases were made)."""
    return hashlib.sha256(f"{principal}\n{digest}".encode()).hexdigest()


def new_key(digest: str, now: datetime) -> str:
    """A key for a client that sent none, bound to its request's ``digest``."""
    return f"gs-{now.astimezone(SHANGHAI):%Y%m%d}-{uuid.uuid4().hex[:16]}-{digest[:12]}"


def key_reused() -> ApiError:
    return ApiError(
        422,
        "该幂等键(Idempotency-Key)已用于另一项内容不同的请求;同一幂等键只对应一个请求,新的请求请使用新的幂等键",
        "this Idempotency-Key was already used for a different request; a key stands for one request, "
        "send a new request with a new key",
        code="idempotency_key_reused",
        errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused with a different body"}],
    )


@dataclass(frozen=True)
class Binding:
    """A request's key and what it names."""

    key: str
    #: The case a create's key names (unused for other writes).
    case_id: str
    #: The record time of the create the key names (its first attempt's, when the claim was found).
    created_at: datetime
    #: The key was claimed by an earlier request with the same body: this one is a retry.
    replayed: bool = False
    #: This request claimed the key: it is the first (whichever concurrent retry started the case).
    claimed: bool = False


async def bind(
    engine: Engine,
    caller: Caller,
    key: str | None,
    digest: str,
    *,
    case_id: str | None = None,
    case_type: str | None = None,
    scope: str = "",
    now: datetime | None = None,
) -> Binding:
    """Bind ``key`` (None: make one) to the request whose digest is ``digest``; 422 if it is bound to
    another. A write to an existing case names it (``case_id``); a create names its case type (and
    the deployment's ``scope``, its task queue) and gets the case id its key derives (or the one its
    first attempt claimed)."""
    now = now or datetime.now(UTC)
    if key is None:
        key = new_key(digest, now)
        return Binding(key, case_id or _derived(case_type, scope, caller, key, _generated_day(key)), now)
    generated = _GENERATED.match(key)
    if generated is not None:
        if generated.group(2) != digest[:12]:
            raise key_reused()
        return Binding(key, case_id or _derived(case_type, scope, caller, key, _generated_day(key)), now)
    named = case_id or _derived(case_type, scope, caller, key, now.astimezone(SHANGHAI).date())
    if case_id is not None:
        return await run_db(engine, _claim, caller.principal, key, digest, named, now, None)
    try:
        return await run_db(engine, _claim, caller.principal, key, digest, named, now, CREATE_CLAIM_WAIT_S)
    except OperationalError as err:
        if not _is_lock_error(err):
            raise
        # The case id is the key's and the workflow's memo holds the request: the create goes on.
        log.warning("idempotency_key_not_claimed", case_id=named, error=str(err.orig or err)[:200])
        return Binding(key, named, now)


async def release(engine: Engine, caller: Caller, binding: Binding, digest: str) -> None:
    """Give up a claim this request made for a key that turns out to name a case started for another
    request (its first attempt could not claim it: the database was locked). The claim was wrong;
    left in place, it would refuse the first request's own retry."""
    if binding.claimed:
        await run_db(engine, _release, caller.principal, binding.key, digest)


def _release(session: Session, principal: str, key: str, digest: str) -> None:
    row = session.exec(
        select(IdempotencyKey).where(
            IdempotencyKey.department_code == principal,
            IdempotencyKey.key == key,
            IdempotencyKey.request_sha256 == digest,
        )
    ).first()
    if row is not None:
        session.delete(row)
        session.commit()


def _generated_day(key: str) -> date:
    match = _GENERATED.match(key)
    assert match is not None
    return datetime.strptime(match.group(1), "%Y%m%d").date()


def _derived(case_type: str | None, scope: str, caller: Caller, key: str, day: date) -> str:
    assert case_type is not None, "a create names its case type"
    # The principal: a department's is its code, so the ids its keys derive are what they were.
    return case_service.case_id_for_key(case_type, caller.principal, key, day, scope=scope)


def _claim(
    session: Session,
    principal: str,
    key: str,
    digest: str,
    case_id: str,
    now: datetime,
    wait_s: float | None,
) -> Binding:
    """Claim ``key`` for the request ``digest`` (naming ``case_id``), or find the claim it already has.

    ``principal`` is the caller's scope (``Caller.principal``), kept in ``department_code``. The
    unique (principal, key) row is written before the request is sent, so two concurrent
    requests under one key agree; a create's replay reuses the first attempt's record time (and
    case id: a key claimed before case ids were derived names a random one), so its deadlines are
    the same too (Hubei 22).
    """
    with _lock_wait(session, wait_s):
        for _attempt in range(2):
            existing = session.exec(
                select(IdempotencyKey).where(
                    IdempotencyKey.department_code == principal, IdempotencyKey.key == key
                )
            ).first()
            if existing is not None:
                if existing.request_sha256 != digest:
                    raise key_reused()
                created = existing.created_at
                created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
                return Binding(key, existing.case_id, created, replayed=True)
            session.add(
                IdempotencyKey(
                    department_code=principal,
                    key=key,
                    request_sha256=digest,
                    case_id=case_id,
                    created_at=now,
                )
            )
            try:
                session.commit()
                return Binding(key, case_id, now, claimed=True)
            except IntegrityError:  # a concurrent request claimed it first: read its row
                session.rollback()
    raise RuntimeError("idempotency key neither claimed nor found")


@contextmanager
def _lock_wait(session: Session, wait_s: float | None) -> Iterator[None]:
    """SQLite's busy timeout set to ``wait_s`` for this session's connection, and put back after
    (PostgreSQL: a unique insert waits only for a concurrent claim's transaction, milliseconds)."""
    connection = session.connection()
    if wait_s is None or connection.dialect.name != "sqlite":
        yield
        return
    before = int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
    connection.exec_driver_sql(f"PRAGMA busy_timeout = {min(before, int(wait_s * 1000))}")
    try:
        yield
    finally:
        session.rollback()
        session.connection().exec_driver_sql(f"PRAGMA busy_timeout = {before}")
