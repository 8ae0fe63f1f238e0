"""Rectification orders opened by hand (整改通知, REGULATIONS.md §7): ``POST /rectification-orders``.

The leading group office (Hubei 26; Luzhou 42; Jiangsu 25) — or, under Hubei 31, the same-level
functional department (the coordinator) — orders a department to rectify, on the profile's grounds
and within a period it sets in working days (the seeds set none). The order is a case of its own
(``workflows/rectification_order.py``): the create starts it and issues it at once as the caller, so
the answer shows the respondent's rectification task with its due date, labelled as set by the issuer
and cited to the article that empowers it. Everything after — the report, a return with reasons, the
acceptance — goes through the generic ``POST /cases/{id}/decisions``; orders started by the
escalation ladder or by a complaint are issued there too.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Request, Response
from sqlmodel import Session

from api import acting, idempotency, reading
from api.deps import ActingCaller, Caller, EngineDep, SettingsDep, get_temporal_client, run_db
from api.errors import ApiError, pending_responses, problem_responses
from api.requests import RectificationOrderCreate
from api.responses import CaseOut
from api.routes import cases
from govshare.cases import service as case_service
from govshare.cases.service import CaseError, CasePending
from govshare.core.directory import read_directory
from workflows import registry
from workflows.case import CaseAnswer, DecisionRequest

log = structlog.get_logger("govshare.api")

router = APIRouter(prefix="/rectification-orders", tags=["rectification orders"])

#: The steps of an order as the profiles name them (the create issues the first at once).
ISSUE_STEP = "rectification_issue"
ISSUE_ACTION = "issue"


def _check_order(
    session: Session, caller: Caller, body: RectificationOrderCreate, profile_id: str
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Everything checked before the order starts, in one short session: the profile has orders
    (422), the caller may open one (403: its role opens orders under the profile, and its department
    is the one the directory names for that role), the respondent, the grounds, the cases it
    concerns (422 each). Returns the concerns, the role directory and the department names."""
    kind = registry.RECTIFICATION_ORDER
    profile = acting.profile_with(profile_id, kind.case_type, kind.name_zh)
    directory = read_directory(session)
    acting.check_opener(caller, profile, kind.case_type, directory)
    acting.check_respondent(session, caller, body.respondent_department)
    grounds = profile.case_types[kind.case_type].grounds
    unknown = [
        {"loc": ["body", "grounds", index], "msg": f"unknown ground {ground}"}
        for index, ground in enumerate(body.grounds)
        if ground not in grounds
    ]
    if unknown:
        allowed_zh = ";".join(f"{g}({grounds[g].name_zh},第{grounds[g].article}条)" for g in grounds)
        allowed_en = "; ".join(f"{g} ({grounds[g].name_en}, art. {grounds[g].article})" for g in grounds)
        raise ApiError(
            422,
            f"整改事由不在规范 {profile_id} 所列情形之内:"
            + "、".join(e["msg"].removeprefix("unknown ground ") for e in unknown)
            + f"。可选:{allowed_zh}",
            f"grounds not in profile {profile_id}'s list: "
            + ", ".join(e["msg"].removeprefix("unknown ground ") for e in unknown)
            + f". Allowed: {allowed_en}",
            code="unknown_ground",
            errors=unknown,
        )
    concerns = acting.check_concerns(session, caller, body.concerns)
    acting.check_directory(profile, kind.case_type, directory)
    names = {code: ref.name_zh for code, ref in reading.department_names(session).items()}
    return concerns, directory, names


def _fingerprint(body: RectificationOrderCreate, profile_id: str) -> str:
    return idempotency.fingerprint(
        {"operation": "rectification_order", **body.model_dump(mode="json"), "profile": profile_id}
    )


@router.post(
    "",
    status_code=201,
    response_model=CaseOut,
    summary="Issue a rectification order",
    description="下达整改通知:领导小组办公室(湖北办法第二十六条、泸州办法第四十二条、江苏办法第二十五条),或依湖北办法"
    "第三十一条由本级政府相关职能部门,责令某部门在其设定的期限(工作日)内整改,整改事由须为规范所列情形。"
    "返回整改通知案件:被责令部门的“整改”待办及其期限(由下达方设定,引用授权条款)。"
    "提交整改报告、退回重新整改、确认整改完成均通过 `POST /cases/{id}/decisions` 办理。\n\n"
    "Opened by a role in the profile's `rectification_order.opened_by` (else 403), from the department "
    "the role directory names for that role (else 403: only the issuer may issue). The order is started "
    "and issued at once with `period_working_days` as the rectification period, so the answer shows the "
    "respondent's open `rectification` task with its due date, labelled as set by the issuer "
    "(`limit_basis = decision`) and cited to the empowering article. Should the issue not be taken in "
    "time, the order is answered at its issue step, to be issued through `POST /cases/{id}/decisions`. "
    "Reports, returns and the acceptance go through `POST /cases/{id}/decisions`.",
    responses={**pending_responses(), **problem_responses(401, 403, 422, 503)},
)
async def create_order(
    request: Request,
    response: Response,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[RectificationOrderCreate, Body()],
    idempotency_key: Annotated[
        str | None,
        cases.idempotency_header(
            "Optional. A retried request with the same key returns the order the first one created "
            "(200, `Idempotent-Replayed: true`) and issues it at most once; the same key with a different "
            "body is refused (422). 同一幂等键重复提交只创建并下达一份整改通知。"
        ),
    ] = None,
) -> CaseOut:
    profile_id = body.profile or settings.default_profile
    concerns, directory, names = await run_db(engine, _check_order, caller, body, profile_id)
    digest = _fingerprint(body, profile_id)
    opened = await acting.open_case(
        request,
        response,
        engine,
        settings,
        caller,
        kind=registry.RECTIFICATION_ORDER,
        operation="rectification_order",
        profile_id=profile_id,
        digest=digest,
        idempotency_key=idempotency_key,
        department_names=names,
        directory=directory,
        fields={
            "issuer": caller.department,
            "respondent": body.respondent_department,
            "grounds": list(dict.fromkeys(body.grounds)),
            "concerns": concerns,
            "description": body.description,
        },
    )
    answer = await _issue(request, settings, caller, opened, body.period_working_days)
    log.info(
        "rectification_order_opened",
        respondent=body.respondent_department,
        profile=profile_id,
        status=answer.status,
        issued=not any(t.step == ISSUE_STEP for t in answer.open_tasks),
    )
    return await run_db(engine, acting.answered_case, opened.case_id, answer)


async def _issue(
    request: Request, settings: Any, caller: Caller, opened: acting.Opened, period: int
) -> CaseAnswer:
    """Issue the order just started, as the caller, with its period. Sent only while the order is at
    its issue step (a retry of a create already issued sends nothing); under an Update id derived from
    the create's key, so a retry whose first attempt's issue is still pending is the same Update,
    taken once. If the issue is not taken (pending, refused, the engine gone), the order stays at its
    issue step and is answered as it stands — it was created; the issuer issues it through
    ``POST /cases/{id}/decisions``."""
    issue_task = next((t for t in opened.answer.open_tasks if t.step == ISSUE_STEP), None)
    if issue_task is None:
        return opened.answer
    decision = DecisionRequest(
        actor=acting.actor_of(caller),
        action=ISSUE_ACTION,
        step=ISSUE_STEP,
        task_id=issue_task.task_id,
        limit_working_days=period,
    )
    try:
        client = await get_temporal_client(request)
        return await case_service.decide(
            client,
            opened.case_id,
            decision,
            update_id=f"issue:{caller.department}:{caller.role}:{opened.key}",
            settle_timeout_s=settings.api_settle_timeout_s,
        )
    except (CasePending, CaseError) as err:
        log.warning("rectification_order_not_issued", case_id=opened.case_id, error=repr(err))
        return opened.answer
