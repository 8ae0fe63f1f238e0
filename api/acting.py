"""Acting on cases of every type: one frame for every state change (decision, clock change,
withdrawal): the caller's key bound to its request, the Update sent through the case service, the
answer read back from the projection once the case has settled, or 202 with the key to retry with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import Request
from pydantic import TypeAdapter
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from api import idempotency
from api.deps import (
    Caller,
    bind_log_context,
    get_temporal_client,
    load_visible_case,
    run_db,
)
from api.errors import OutcomePending
from api.reading import department_names
from api.requests import DecisionCreate, WithdrawalCreate
from api.responses import (
    CaseOut,
)
from api.views import case_out, load_view
from calendars import SHANGHAI
from govshare.cases import service as case_service
from govshare.cases.service import CaseConflict, CaseNotFound, CasePending, EngineUnavailable
from govshare.core.models import Case
from workflows import registry
from workflows.case import (
    Actor,
    CaseAnswer,
    DecisionRequest,
    GrantTerms,
    WithdrawRequest,
)

log = structlog.get_logger("govshare.api")

# --------------------------------------------------------------------------------------------------
# Acting: one frame for every state change
# --------------------------------------------------------------------------------------------------


def closed_conflict(case: Case) -> CaseConflict:
    status_zh = registry.status_words(case.case_type, case.status)[0]
    return CaseConflict(f"案件已办结({status_zh}),不能再办理", f"the case is closed ({case.status})")


def grant_terms(grant: Any) -> GrantTerms | None:
    if grant is None:
        return None
    valid_until = grant.valid_until
    if valid_until is not None and valid_until.tzinfo is None:
        valid_until = valid_until.replace(tzinfo=SHANGHAI)  # the platform's clock (Hubei 22)
    return GrantTerms(
        scope=grant.scope,
        fields=list(grant.fields),
        sharing_mode=grant.sharing_mode,
        conditions=grant.conditions,
        valid_until=valid_until,
    )


def _grant_payload(grant: GrantTerms | None) -> dict[str, Any] | None:
    """A sharing application's grant terms as its decision payload (instants already in Asia/Shanghai)."""
    return _GRANT_JSON.dump_python(grant, mode="json") if grant is not None else None


_GRANT_JSON = TypeAdapter(GrantTerms)


def _update_id(operation: str, caller: Caller, key: str, body: Any) -> str:
    """The Update's id: the caller's key, scoped to the department and role that send it and to the
    request's content — a repeat of the same request is one Update (Temporal answers its first
    outcome), while another department's key never is. Another body under the same key is refused
    before it is sent (api/idempotency.py); the digest here keeps the ids of Updates sent before that
    check was made (a key handed out then is still answered by the Update it names)."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    return f"{operation}:{caller.department}:{caller.role}:{key}:{digest}"


def answered_case(session: Session, case_id: str, answer: CaseAnswer) -> CaseOut:
    row = session.get(Case, case_id)
    if row is None or row.revision < answer.revision:
        # The Update answers after its step is recorded; a row behind it would be a projection that
        # lags (never one that leads). Say so rather than show an older case as the outcome.
        log.warning("projection_behind_answer", case_id=case_id, revision=answer.revision)
    assert row is not None
    return case_out(load_view(session, row), department_names(session))


async def act_on_case(
    request: Request,
    engine: Engine,
    settings: Any,
    caller: Caller,
    case_id: str,
    operation: str,
    body: Any,
    idempotency_key: str | None,
    send: Callable[[Client, str, int], Awaitable[CaseAnswer]],
) -> CaseOut:
    """Send a state change to a case the caller can see and that is still open.

    Visibility first (a department not party to the case gets 404, never a hint it exists), then
    the projection's status (a closed case → 409 without a round trip — unless the client retries
    with a key: the Update it names may be what closed the case, and Temporal answers its outcome),
    then the key: bound to this request, or 422 if it already stands for another (api/idempotency.py);
    the workflow's validator decides the rest (403 / 409 / 422). The projection is read in short
    sessions, none held while the Update is sent; the answer is the case as it then stands.
    """
    bind_log_context(request, case_id=case_id)
    case = await run_db(engine, lambda session: load_visible_case(session, caller, case_id, request))
    bind_log_context(request, workflow_id=case.workflow_id)  # here too: the thread bound on a copy
    if case.status != "in_progress" and idempotency_key is None:
        raise closed_conflict(case)
    digest = idempotency.write_fingerprint(operation, case_id, caller.role, body)
    key = (await idempotency.bind(engine, caller, idempotency_key, digest, case_id=case_id)).key
    client = await get_temporal_client(request)
    try:
        answer = await send(client, _update_id(operation, caller, key, body), case.engine)
    except CaseNotFound:
        # The projection has the case, so the workflow has completed since: the case is closed.
        raise closed_conflict(case) from None
    except CasePending:
        raise OutcomePending(
            case_id=case_id, operation=operation, idempotency_key=key, waited_s=settings.api_settle_timeout_s
        ) from None
    except EngineUnavailable:
        # The engine went away with the Update sent: it may or may not have been taken. The key lets
        # the client retry safely (Temporal applies one Update id once and answers its outcome).
        raise OutcomePending(
            case_id=case_id,
            operation=operation,
            idempotency_key=key,
            waited_s=settings.api_settle_timeout_s,
            started=False,
        ) from None
    log.info(f"{operation}_taken", status=answer.status, open_tasks=len(answer.open_tasks))
    return await run_db(engine, answered_case, case_id, answer)


def actor_of(caller: Caller) -> Actor:
    return Actor(department=caller.department, role=caller.role, user=caller.label)  # type: ignore[arg-type]


async def decide_case(
    request: Request,
    engine: Engine,
    settings: Any,
    caller: Caller,
    case_id: str,
    body: DecisionCreate,
    key: str | None,
) -> CaseOut:
    grant = grant_terms(body.grant)
    decision = DecisionRequest(
        actor=actor_of(caller),
        action=body.action,
        step=body.step or "",
        reason=body.reason,
        note=body.note,
        grant=grant,
        task_id=body.task_id or "",
        limit_working_days=body.limit_working_days,
        # The second generation reads the payload (its case type checks it); a sharing application's
        # grant terms are its payload. The first generation reads ``grant``.
        payload=body.payload if body.payload is not None else _grant_payload(grant),
    )
    return await act_on_case(
        request,
        engine,
        settings,
        caller,
        case_id,
        "decision",
        body,
        key,
        lambda client, update_id, generation: case_service.decide(
            client,
            case_id,
            decision,
            update_id=update_id,
            settle_timeout_s=settings.api_settle_timeout_s,
            generation=generation,
        ),
    )


async def withdraw_case(
    request: Request,
    engine: Engine,
    settings: Any,
    caller: Caller,
    case_id: str,
    body: WithdrawalCreate,
    key: str | None,
) -> CaseOut:
    withdrawal = WithdrawRequest(actor=actor_of(caller), reason=body.reason)
    return await act_on_case(
        request,
        engine,
        settings,
        caller,
        case_id,
        "withdrawal",
        body,
        key,
        lambda client, update_id, generation: case_service.withdraw(
            client,
            case_id,
            withdrawal,
            update_id=update_id,
            settle_timeout_s=settings.api_settle_timeout_s,
            generation=generation,
        ),
    )
