"""Cases of every type (案件), one generic path: read, list, decide, change a task's clock, withdraw,
the audit trail.

A case type registered in ``workflows/registry.py`` is read, listed and decided here with no route of
its own; only its creation is particular (``POST /applications`` for the sharing application).
Decisions and clock changes are workflow Updates: the caller gets the accept or the refusal at once;
the answer is the case as the projection shows it once the Update has settled (the workflow writes
the projection before it answers), so what the caller sees next is what happened.

A write whose outcome does not come back within ``API_SETTLE_TIMEOUT_S`` (no worker running, the app
DB locked under the worker) is answered 202 with the case id and the Idempotency-Key to retry with:
it is with Temporal and will be taken, and the retry answers its outcome without doing it twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Header, Path, Query, Request
from pydantic import TypeAdapter
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from api import idempotency
from api.deps import (
    ActingCaller,
    Caller,
    CurrentCaller,
    EngineDep,
    Offset,
    SettingsDep,
    bind_log_context,
    get_temporal_client,
    load_visible_case,
    run_db,
    visible_condition,
)
from api.errors import OutcomePending, pending_responses, problem_responses
from api.requests import ClockCreate, DecisionCreate, WithdrawalCreate
from api.responses import (
    AuditEventList,
    AuditEventOut,
    CaseList,
    CaseOut,
    CaseSummary,
    DepartmentRef,
    as_aware,
)
from api.views import case_out, load_view, party_out
from calendars import SHANGHAI
from govshare.cases import service as case_service
from govshare.cases.service import CaseConflict, CaseNotFound, CasePending, EngineUnavailable
from govshare.core.models import AuditEvent, Case, CaseParty, Department, Task
from workflows import registry
from workflows.case import (
    Actor,
    CaseAnswer,
    ClockRequest,
    DecisionRequest,
    GrantTerms,
    WithdrawRequest,
)

log = structlog.get_logger("govshare.api")

router = APIRouter(prefix="/cases", tags=["cases"])


#: The Idempotency-Key header: printable ASCII, 1–100 characters (the same on every write).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"


def idempotency_header(description: str) -> Any:
    return Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=description,
    )


DECISION_KEY = idempotency_header(
    "Optional. The same decision sent again with the same key is taken once and answered with its "
    "first outcome (also after a 202 pending answer, which gives the key to use); the same key with "
    "another request is refused (422 `idempotency_key_reused`). 同一幂等键重复提交同一决定只办理一次,"
    "并返回首次的结果;同一幂等键用于不同内容的请求将被拒绝。"
)
WITHDRAWAL_KEY = idempotency_header(
    "Optional. The same withdrawal sent again with the same key is taken once and answered with its "
    "first outcome; the same key with another request is refused (422). 同一幂等键重复提交只办理一次。"
)
CLOCK_KEY = idempotency_header(
    "Optional. The same change sent again with the same key is taken once; the same key with another "
    "request is refused (422). 同一幂等键重复提交只办理一次。"
)


def department_names(session: Session) -> dict[str, DepartmentRef]:
    return {
        d.code: DepartmentRef(code=d.code, name_zh=d.name_zh, name_en=d.name_en)
        for d in session.exec(select(Department)).all()
    }


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def read_case(engine: Engine, caller: Caller, case_id: str, request: Request) -> CaseOut:
    """A case the caller may see, as the projection holds it (404 otherwise: never reveal it)."""
    with Session(engine) as session:
        row = load_visible_case(session, caller, case_id, request)
        view = load_view(session, row)
        names = department_names(session)
    return case_out(view, names)


def case_events(engine: Engine, caller: Caller, case_id: str, request: Request) -> AuditEventList:
    with Session(engine) as session:
        load_visible_case(session, caller, case_id, request)
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(col(AuditEvent.seq))
        ).all()
    return AuditEventList(
        case_id=case_id,
        items=[
            AuditEventOut(
                seq=r.seq,
                at=as_aware(r.at),
                kind=r.kind,
                actor_department=r.actor_department,
                actor_role=r.actor_role,
                actor_user=r.actor_user,
                summary_zh=r.summary_zh,
                summary_en=r.summary_en,
                data=r.data,
            )
            for r in rows
        ],
    )


def list_case_rows(
    engine: Engine,
    caller: Caller,
    conditions: list[Any],
    *,
    department: str | None,
    limit: int,
    offset: int,
) -> CaseList:
    """One page of cases the caller may see (newest first), each with its first open task."""
    visible = visible_condition(caller)
    if visible is not None:
        conditions.append(visible)
    if department is not None:
        conditions.append(
            col(Case.id).in_(select(CaseParty.case_id).where(CaseParty.department == department))
        )
    # A synchronous route: one thread from start to end, its session closed inside it.
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(Case).where(*conditions)).one()
        rows = session.exec(
            select(Case)
            .where(*conditions)
            .order_by(col(Case.submitted_at).desc(), col(Case.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        open_tasks: dict[str, Task] = {}
        if rows:
            for task in session.exec(
                select(Task)
                .where(col(Task.case_id).in_([r.id for r in rows]), Task.status == "open")
                .order_by(col(Task.seq))
            ):
                open_tasks.setdefault(task.case_id, task)
        names = department_names(session)
    return CaseList(
        items=[summary(row, open_tasks.get(row.id), names) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


def _summary_fields(row: Case) -> dict[str, str]:
    """The case type's own summary fields; never one that would shadow a field every case has."""
    return {k: v for k, v in (row.summary or {}).items() if k not in CaseSummary.model_fields}


def summary(row: Case, open_task: Task | None, names: dict[str, DepartmentRef]) -> CaseSummary:
    return CaseSummary(
        id=row.id,
        case_type=row.case_type,
        status=row.status,
        status_zh=registry.status_words(row.case_type, row.status)[0],
        result=row.result,
        profile_id=row.profile_id,
        subject_zh=row.subject_zh,
        **_summary_fields(row),
        submitted_at=as_aware(row.submitted_at),  # type: ignore[arg-type]
        closed_at=as_aware(row.closed_at),
        overdue=row.overdue,
        next_due_at=as_aware(open_task.due_at) if open_task else None,
        open_step=open_task.step if open_task else None,
        open_step_zh=open_task.name_zh if open_task else None,
        open_assignee=party_out(open_task.assignee_department, open_task.assignee_role, names)
        if open_task
        else None,
    )


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


def _actor(caller: Caller) -> Actor:
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
        actor=_actor(caller),
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
            engine=generation,
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
    withdrawal = WithdrawRequest(actor=_actor(caller), reason=body.reason)
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
            engine=generation,
        ),
    )


# --------------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------------

CaseId = Annotated[str, Path(max_length=128, description="Case id, e.g. SA-20261201-7K3Q9X / 案件编号")]


@router.get(
    "",
    response_model=CaseList,
    summary="List cases of every type",
    description="查询案件列表(各类案件,按提交时间倒序,分页)。平台、领导小组办公室和审计部门可见全部案件;其他部门仅见本部门为办理方之一的案件。\n\n"
    "Newest first, every case type. Platform, leading group and auditor roles see every case; other "
    "departments the cases they are a party to, in any role.",
    responses=problem_responses(401, 422),
)
def list_cases(
    caller: CurrentCaller,
    engine: EngineDep,
    case_type: Annotated[str | None, Query(description="e.g. sharing_application", max_length=32)] = None,
    status: Annotated[
        str | None, Query(description="in_progress | granted | refused | …", max_length=32)
    ] = None,
    department: Annotated[
        str | None, Query(description="Cases this department is a party to", max_length=64)
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="Only cases with an overdue open task (or none)")
    ] = None,
    profile: Annotated[
        str | None, Query(description="Regulation profile id, e.g. hubei", max_length=32)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> CaseList:
    conditions: list[Any] = []
    for column, value in (
        (Case.case_type, case_type),
        (Case.status, status),
        (Case.overdue, overdue),
        (Case.profile_id, profile),
    ):
        if value is not None:
            conditions.append(column == value)
    return list_case_rows(engine, caller, conditions, department=department, limit=limit, offset=offset)


@router.get(
    "/{case_id}",
    response_model=CaseOut,
    summary="Read one case with its timeline",
    description="查看案件详情:状态、结果、全部办理方、各待办的办理部门与期限(工作日数、依据条款、计算说明、期限调整记录)、超期、决定与关联案件。\n\n"
    "Readable by the case's parties and by the leading group and auditor roles; anyone else gets 404.",
    responses=problem_responses(401, 404),
)
def get_case(case_id: CaseId, request: Request, caller: CurrentCaller, engine: EngineDep) -> CaseOut:
    return read_case(engine, caller, case_id, request)


@router.get(
    "/{case_id}/events",
    response_model=AuditEventList,
    summary="The case's audit trail",
    description="案件的审计记录(只增不改)。The append-only trail in order (Hubei 27, Luzhou 34/35); same "
    "visibility as the case; the workflow history in Temporal remains the source of truth.",
    responses=problem_responses(401, 404),
)
def get_case_events(
    case_id: CaseId, request: Request, caller: CurrentCaller, engine: EngineDep
) -> AuditEventList:
    return case_events(engine, caller, case_id, request)


@router.post(
    "/{case_id}/decisions",
    response_model=CaseOut,
    summary="Decide an open task",
    description="对待办作出决定。`task_id` 指明待办(一个环节分送多个部门时必填),"
    "或以 `step` 指明本部门在该环节的待办。\n\n"
    "Name the task (`task_id`, from `open_tasks`) or the step (the caller's own task there). A task "
    "not assigned to the caller → 403; a task no longer open or the case closed → 409; an unknown "
    "action, a refusal without reason, a missing period → 422.",
    responses={**pending_responses(), **problem_responses(401, 403, 404, 409, 422, 503)},
)
async def decide(
    case_id: CaseId,
    request: Request,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[DecisionCreate, Body()],
    idempotency_key: Annotated[str | None, DECISION_KEY] = None,
) -> CaseOut:
    return await decide_case(request, engine, settings, caller, case_id, body, idempotency_key)


@router.post(
    "/{case_id}/tasks/{seq}/clock",
    response_model=CaseOut,
    summary="Change one task's clock: extension, suspension, resume",
    description="调整待办期限:经批准的延期(须填写批准人,按规范的延期条款)、中止计时与恢复计时(剩余工作日顺延)。\n\n"
    "An approved extension (the profile's extension rule: who approves, how many working days, how "
    "often), or a suspension and its resume (the working days left carry over). Each is recorded on "
    "the task's clock with its own article and who approved it.",
    responses={**pending_responses(), **problem_responses(401, 403, 404, 409, 422, 503)},
)
async def change_clock(
    case_id: CaseId,
    seq: Annotated[int, Path(ge=1, le=10_000, description="The task's number in the case (`seq`)")],
    request: Request,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[ClockCreate, Body()],
    idempotency_key: Annotated[str | None, CLOCK_KEY] = None,
) -> CaseOut:
    change = ClockRequest(
        actor=_actor(caller),
        task_id=f"{case_id}/{seq}",
        kind=body.kind,
        working_days=body.working_days,
        reason=body.reason,
        approver_name=body.approver_name,
    )
    return await act_on_case(
        request,
        engine,
        settings,
        caller,
        case_id,
        "clock_change",
        body,
        idempotency_key,
        lambda client, update_id, generation: case_service.adjust_clock(
            client,
            case_id,
            change,
            update_id=update_id,
            settle_timeout_s=settings.api_settle_timeout_s,
            engine=generation,
        ),
    )


@router.post(
    "/{case_id}/withdrawal",
    response_model=CaseOut,
    summary="Withdraw a case",
    description="申请部门撤回尚在办理中的案件(须说明理由)。"
    "Only the applicant may withdraw: another party → 403, "
    "a department not party to the case → 404, a closed case → 409.",
    responses={**pending_responses(), **problem_responses(401, 403, 404, 409, 422, 503)},
)
async def withdraw(
    case_id: CaseId,
    request: Request,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[WithdrawalCreate, Body()],
    idempotency_key: Annotated[str | None, WITHDRAWAL_KEY] = None,
) -> CaseOut:
    return await withdraw_case(request, engine, settings, caller, case_id, body, idempotency_key)
