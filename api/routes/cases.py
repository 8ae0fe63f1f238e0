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

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Header, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from api.acting import act_on_case, actor_of, decide_case, withdraw_case
from api.deps import (
    ActingCaller,
    Caller,
    CurrentCaller,
    EngineDep,
    Offset,
    SettingsDep,
)
from api.errors import pending_responses, problem_responses
from api.reading import case_events, list_case_rows, read_case
from api.requests import ClaimCreate, ClockCreate, DecisionCreate, NoteCreate, WithdrawalCreate
from api.responses import (
    AuditEventList,
    CaseList,
    CaseOut,
)
from govshare.cases import service as case_service
from govshare.core.models import Case
from workflows.case import (
    ClaimRequest,
    ClockRequest,
    NoteRequest,
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
CLAIM_KEY = idempotency_header(
    "Optional. The same claim (or release) sent again with the same key is taken once and answered "
    "with its first outcome; the same key with another request is refused (422). "
    "同一幂等键重复提交只办理一次。"
)
NOTE_KEY = idempotency_header(
    "Optional. The same note sent again with the same key is recorded once; the same key with another "
    "request is refused (422). 同一幂等键重复提交只记录一次。"
)


# --------------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------------

CaseId = Annotated[str, Path(max_length=128, description="Case id, e.g. SA-20261201-7K3Q9X / 案件编号")]
TaskSeq = Annotated[int, Path(ge=1, le=10_000, description="The task's number in the case (`seq`)")]


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
    description="调整待办期限:申请延期、中止计时与恢复计时(剩余工作日顺延)。须经主要负责人批准的延期(洛阳第十九、"
    "三十二、三十三条),申请后由本部门主要负责人在其“审批延期申请”待办上批准或不批准"
    "(`POST /cases/{id}/decisions`,`approve` / `refuse`),批准后期限顺延;"
    "延期以一次、不超过10个工作日为限。\n\n"
    "An extension under the profile's rule (who approves, how many working days, how often): where the "
    "principal head approves on the system, the request opens the head's approval task beside the "
    "running one (answered with `approve` / `refuse` on the decisions path; the approved extension "
    "names the head); only where the profile says the approval is given off the system is the "
    "approver's name typed here. A suspension and its resume (the working days left carry over). "
    "Each change is recorded on the task's clock with its own article and who approved it.",
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
        actor=actor_of(caller),
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
            generation=generation,
        ),
    )


class _ClaimTarget(BaseModel):
    """What a claim's key is bound to: the task (in the path, not the body) and claim or release.
    An Idempotency-Key reused for another task is refused rather than answered with the first."""

    task: int
    release: bool


CLAIM_RULES = (
    "Any person who answers for the task's assignee may claim it while it is open (a person's "
    "credential, or a department's under its label); while claimed, only the claimer decides the "
    "task or changes its clock, and the task shows `claimed_by` / `claimed_by_name` / `claimed_at`; "
    "the decision records the person (`decision.actor.user`). Not the task's assignee → 403; a "
    "department not party to the case → 404; a task claimed by someone else, a task no longer open, "
    "a closed case → 409; an unknown task, a case of the first-generation engine → 422."
)


async def _claim(
    request: Request,
    caller: Caller,
    engine: Engine,
    settings: Any,
    case_id: str,
    seq: int,
    idempotency_key: str | None,
    *,
    release: bool,
) -> CaseOut:
    claim = ClaimRequest(
        actor=actor_of(caller),
        task_id=f"{case_id}/{seq}",
        name=caller.person_name or caller.label,
        release=release,
    )
    return await act_on_case(
        request,
        engine,
        settings,
        caller,
        case_id,
        "release" if release else "claim",
        _ClaimTarget(task=seq, release=release),
        idempotency_key,
        lambda client, update_id, generation: case_service.claim(
            client,
            case_id,
            claim,
            update_id=update_id,
            settle_timeout_s=settings.api_settle_timeout_s,
            generation=generation,
        ),
    )


@router.post(
    "/{case_id}/tasks/{seq}/claim",
    response_model=CaseOut,
    summary="Claim a task (签收)",
    description="签收待办:办理部门(或本人)中的一名办理人签收后,该待办只能由签收人作出决定或调整期限,"
    "避免两人同时办理同一事项;决定记录办理人。已由他人签收 → 409(并告知签收人);"
    "重复签收本人已签收的待办不作改变。\n\n" + CLAIM_RULES,
    responses={**pending_responses(), **problem_responses(401, 403, 404, 409, 422, 503)},
)
async def claim_task(
    case_id: CaseId,
    seq: TaskSeq,
    request: Request,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[ClaimCreate | None, Body()] = None,
    idempotency_key: Annotated[str | None, CLAIM_KEY] = None,
) -> CaseOut:
    del body  # nothing in it: who claims is the caller
    return await _claim(request, caller, engine, settings, case_id, seq, idempotency_key, release=False)


@router.delete(
    "/{case_id}/tasks/{seq}/claim",
    response_model=CaseOut,
    summary="Release a claimed task (退回签收)",
    description="退回签收:只有签收人本人可以退回,退回后同一办理部门的其他办理人可以签收。"
    "未签收 → 409;由他人签收 → 403。\n\n"
    "Only the claimer releases its claim; then another person of the assignee may claim the task. "
    "A task not claimed → 409; claimed by someone else → 403. " + CLAIM_RULES,
    responses={**pending_responses(), **problem_responses(401, 403, 404, 409, 422, 503)},
)
async def release_task(
    case_id: CaseId,
    seq: TaskSeq,
    request: Request,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, CLAIM_KEY] = None,
) -> CaseOut:
    return await _claim(request, caller, engine, settings, case_id, seq, idempotency_key, release=True)


@router.post(
    "/{case_id}/notes",
    response_model=CaseOut,
    summary="Add a note to a running case",
    description="在办理中的案件上添加记录(不改变待办与期限),类别由规范配置列出:例如湖北第二十三条、洛阳第十九条——"
    "校核期间,已提供合法有效证明材料的,受理单位照常办理,并在案件中记录。\n\n"
    "A note of a kind the case type's profile lists (`notes`), by a party in a role the kind admits; "
    "it changes no task or deadline, is kept on the case (`attributes.notes`) and in the audit trail, "
    "and the other parties are told. Another kind → 422; a role the kind does not admit → 403; a "
    "closed case → 409.",
    responses={**pending_responses(), **problem_responses(401, 403, 404, 409, 422, 503)},
)
async def add_note(
    case_id: CaseId,
    request: Request,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[NoteCreate, Body()],
    idempotency_key: Annotated[str | None, NOTE_KEY] = None,
) -> CaseOut:
    note = NoteRequest(actor=actor_of(caller), kind=body.kind, text=body.text, payload=body.payload)
    return await act_on_case(
        request,
        engine,
        settings,
        caller,
        case_id,
        "note",
        body,
        idempotency_key,
        lambda client, update_id, generation: case_service.note(
            client,
            case_id,
            note,
            update_id=update_id,
            settle_timeout_s=settings.api_settle_timeout_s,
            generation=generation,
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
