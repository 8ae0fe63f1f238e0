"""Sharing applications (数据使用申请): apply, read, list, decide, withdraw.

Create → start the workflow; decide / withdraw → a workflow Update (the caller gets the accept or
the refusal at once, with the next task and its due date); detail and list → the projection, which
the workflow's activities write.

A write whose outcome does not come back within ``API_SETTLE_TIMEOUT_S`` (no worker running, the app
DB locked under the worker) is answered 202 with the case id and the Idempotency-Key to retry with:
it is with Temporal and will be taken, and the retry answers its outcome without doing it twice
(issue 13, defect 5).
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Query, Request, Response
from sqlmodel import Session

from api import acting, idempotency, reading
from api.deps import (
    ActingCaller,
    Caller,
    ConsumerCaller,
    CurrentCaller,
    EngineDep,
    Offset,
    SettingsDep,
    run_db,
)
from api.errors import ApiError, pending_responses, problem_responses
from api.requests import ApplicationCreate, DecisionCreate, WithdrawalCreate
from api.responses import AuditEventList, CaseList, CaseOut, DepartmentRef
from api.routes import cases
from govshare.cases import service as case_service
from govshare.core.directory import read_directory
from govshare.core.models import Case, Resource
from workflows import registry

log = structlog.get_logger("govshare.api")

router = APIRouter(prefix="/applications", tags=["applications"])


# --------------------------------------------------------------------------------------------------
# POST /applications
# --------------------------------------------------------------------------------------------------


def _check_application(
    session: Session, caller: Caller, body: ApplicationCreate, profile_id: str
) -> tuple[Resource, list[str], dict[str, DepartmentRef], dict[str, str]]:
    """Everything checked before a workflow starts: profile, resource, fields, mode (422 each); with
    the department names the answer shows and the role directory the case pins (one DB step, one
    short session)."""
    errors: list[dict[str, Any]] = []
    acting.profile_with(profile_id, "sharing_application", "数据使用申请")
    resource = session.get(Resource, body.resource_id)
    if resource is None:
        raise ApiError(
            422,
            f"目录中没有资源 {body.resource_id}",
            f"no catalog resource {body.resource_id}",
            code="unknown_resource",
            errors=[{"loc": ["body", "resource_id"], "msg": "unknown resource"}],
        )
    if resource.status == "withdrawn":
        raise ApiError(
            422,
            f"资源 {body.resource_id} 已从目录中撤销,不能申请",
            f"catalog resource {body.resource_id} has been withdrawn",
            code="resource_withdrawn",
            errors=[{"loc": ["body", "resource_id"], "msg": "withdrawn resource"}],
        )
    if resource.provider_department == caller.department:
        raise ApiError(
            422,
            "不能申请本部门提供的资源",
            "a department cannot apply for its own resource",
            code="own_resource",
            errors=[{"loc": ["body", "resource_id"], "msg": "resource provided by the applicant itself"}],
        )
    fields = list(dict.fromkeys(body.fields))  # keep order, drop repeats
    for index, name in enumerate(fields):
        if name not in resource.fields:
            errors.append({"loc": ["body", "fields", index], "msg": f"unknown field {name}"})
    if body.sharing_mode is not None and body.sharing_mode not in resource.sharing_modes:
        errors.append({"loc": ["body", "sharing_mode"], "msg": f"mode {body.sharing_mode} not offered"})
    if errors:
        raise ApiError(
            422,
            "申请的字段或共享方式不在该资源的目录中:" + "、".join(e["msg"].split(" ", 2)[-1] for e in errors),
            "requested fields or sharing mode not in the catalog entry: "
            + "; ".join(e["msg"] for e in errors),
            code="not_in_catalog",
            errors=errors,
        )
    return resource, fields, reading.department_names(session), read_directory(session)


@router.post(
    "",
    status_code=201,
    response_model=CaseOut,
    summary="Apply to use a catalog resource",
    description="提交数据使用申请(须说明用途和理由,湖北办法第十三条、第十八条)。返回案件及其第一个待办环节和办理期限。\n\n"
    "Starts the case; returns it once the first task is open (with its due date and the article "
    "that sets it), or closed at once when the profile decides by rule (not_shared → rejected on its "
    "legal basis; Luzhou unconditional → granted).",
    responses={**pending_responses(), **problem_responses(401, 403, 422, 503)},
)
async def create_application(
    request: Request,
    response: Response,
    caller: ConsumerCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[ApplicationCreate, Body()],
    idempotency_key: Annotated[
        str | None,
        cases.idempotency_header(
            "Optional. A retried request with the same key returns the case the first one "
            "created (200, `Idempotent-Replayed: true`) instead of creating another; the same key with a "
            "different body is refused (422). A create whose first task does not open in time is answered "
            "202 with the case id and a key to retry with. 同一幂等键重复提交只创建一个案件。"
        ),
    ] = None,
) -> CaseOut:
    profile_id = body.profile or settings.default_profile
    # Short sessions, one per DB step, none held while Temporal is called (issue 13).
    resource, fields, department_refs, directory = await run_db(
        engine, _check_application, caller, body, profile_id
    )
    names = {code: ref.name_zh for code, ref in department_refs.items()}
    # Every create has a key (the client's, or one made now and given back if the answer is 202/503)
    # and its case id is derived from it: a retry with the key reaches the same case even when the
    # database was locked and the key could not be claimed (api/idempotency.py; acting.open_case).
    opened = await acting.open_case(
        request,
        response,
        engine,
        settings,
        caller,
        kind=registry.SHARING_APPLICATION,
        operation="application",
        profile_id=profile_id,
        digest=_request_fingerprint(body, profile_id),
        idempotency_key=idempotency_key,
        department_names=names,
        directory=directory,
        fields={
            "consumer_department": caller.department,
            "resource": case_service.resource_snapshot(resource),
            "purpose": body.purpose,
            "reason": body.reason,
            "requested_fields": fields,
            "requested_mode": body.sharing_mode or "",
        },
    )
    case_id, answer = opened.case_id, opened.answer
    log.info("application_submitted", resource_id=resource.id, profile=profile_id, status=answer.status)
    response.headers["Location"] = f"/applications/{case_id}"
    # The first tasks are recorded before the case answers: show the case as the projection has it.
    return await run_db(engine, acting.answered_case, case_id, answer)


# --------------------------------------------------------------------------------------------------
# GET /applications, GET /applications/{id}
# --------------------------------------------------------------------------------------------------


@router.get(
    "",
    response_model=CaseList,
    summary="List applications",
    description="查询数据使用申请列表(按提交时间倒序,分页)。平台、领导小组办公室和审计部门可见全部案件;其他部门仅见本部门作为使用方或提供方的案件。\n\n"
    "Newest first. Platform, leading group and auditor roles see every case; other departments see "
    "the cases where they are the consumer or the provider.",
    responses=problem_responses(401, 422),
)
def list_applications(
    request: Request,
    caller: CurrentCaller,
    engine: EngineDep,
    status: Annotated[
        str | None, Query(description="in_progress | granted | refused | rejected | withdrawn", max_length=32)
    ] = None,
    department: Annotated[
        str | None, Query(description="Cases where this department is consumer or provider", max_length=64)
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
    conditions: list[Any] = [Case.case_type == "sharing_application"]
    if status is not None:
        conditions.append(Case.status == status)
    if overdue is not None:
        conditions.append(Case.overdue == overdue)
    if profile is not None:
        conditions.append(Case.profile_id == profile)
    return reading.list_case_rows(
        engine, caller, conditions, department=department, limit=limit, offset=offset
    )


@router.get(
    "/{case_id}",
    response_model=CaseOut,
    summary="Read one application with its timeline",
    description="查看案件详情:状态、结果、各环节的办理部门、期限(工作日数、依据条款、计算说明)、超期与决定。\n\n"
    "Readable by the case's consumer, provider and platform departments and by the leading group and "
    "auditor roles; anyone else gets 404 (existence is not revealed). The same as `GET /cases/{id}`.",
    responses=problem_responses(401, 404),
)
def get_application(
    case_id: cases.CaseId, request: Request, caller: CurrentCaller, engine: EngineDep
) -> CaseOut:
    return reading.read_case(engine, caller, case_id, request)


@router.get(
    "/{case_id}/events",
    response_model=AuditEventList,
    summary="The case's audit trail",
    description="案件的审计记录(只增不改):提交、待办、提醒、超期、决定、撤回、办结,每条含时间、操作部门与角色、中英文摘要。\n\n"
    "The append-only trail in order (Hubei 27, Luzhou 34/35). Same visibility as the case; the workflow "
    "history in Temporal remains the source of truth and replays to the same events.",
    responses=problem_responses(401, 404),
)
def get_application_events(
    case_id: cases.CaseId, request: Request, caller: CurrentCaller, engine: EngineDep
) -> AuditEventList:
    return cases.case_events(engine, caller, case_id, request)


# --------------------------------------------------------------------------------------------------
# POST /applications/{id}/decisions, POST /applications/{id}/withdrawal
# --------------------------------------------------------------------------------------------------


def _request_fingerprint(body: ApplicationCreate, profile_id: str) -> str:
    # The digest keys were claimed with before every write was bound: kept, so those keys still replay.
    return idempotency.fingerprint({**body.model_dump(mode="json"), "profile": profile_id})


@router.post(
    "/{case_id}/decisions",
    response_model=CaseOut,
    summary="Decide the open task",
    description="对当前待办环节作出决定(受理/不予受理/同意授权/不同意授权/告知结果……)。不予受理或不同意授权须说明理由。\n\n"
    "`step` is the step the decider saw open. The case refuses: a department or role the task is not "
    "assigned to → 403; another step open or the case closed → 409; an unknown action or a refusal "
    "without reason → 422. Returns the case with its next open task and due date.",
    responses={**pending_responses(), **problem_responses(401, 403, 404, 409, 422, 503)},
)
async def decide(
    case_id: str,
    request: Request,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[DecisionCreate, Body()],
    idempotency_key: Annotated[
        str | None,
        cases.idempotency_header(
            "Optional. The same decision sent again with the same key is taken once and answered with its "
            "first outcome (also after a 202 pending answer, which gives the key to use); the same key "
            "with another request is refused (422 `idempotency_key_reused`). 同一幂等键重复提交同一决定只办理"
            "一次,并返回首次的结果;同一幂等键用于不同内容的请求将被拒绝。"
        ),
    ] = None,
) -> CaseOut:
    return await acting.decide_case(request, engine, settings, caller, case_id, body, idempotency_key)


@router.post(
    "/{case_id}/withdrawal",
    response_model=CaseOut,
    summary="Withdraw an application",
    description="申请部门撤回尚在办理中的申请(须说明理由)。已办结的案件不能撤回。\n\n"
    "Only the applicant department (as consumer) may withdraw: another party gets 403, a department "
    "not party to the case 404, a closed case 409.",
    responses={**pending_responses(), **problem_responses(401, 403, 404, 409, 422, 503)},
)
async def withdraw(
    case_id: str,
    request: Request,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[WithdrawalCreate, Body()],
    idempotency_key: Annotated[
        str | None,
        cases.idempotency_header(
            "Optional. The same withdrawal sent again with the same key is taken once and answered with its "
            "first outcome; the same key with another request is refused (422). "
            "同一幂等键重复提交只办理一次。"
        ),
    ] = None,
) -> CaseOut:
    return await acting.withdraw_case(request, engine, settings, caller, case_id, body, idempotency_key)
