"""Complaints (投诉, Luzhou 44): ``POST /complaints``.

"各部门如违反本办法规定的,其他部门有权向领导小组或市政府办公室投诉,有关部门接到投诉后,应当及时调查处理,并将处理
结果反馈投诉部门。" A department complains about another's conduct to the leading group or to the
municipal government office; the body it is addressed to (the department the role directory names for
it) investigates — a task for it — may find that the conduct calls for a rectification order (a linked
case), and reports the result back to the complainant. The complaint is read and decided through the
generic ``/cases`` path; only its creation is here. A profile without complaints answers 422 naming it.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Body, Request, Response
from sqlmodel import Session

from api import acting, idempotency, reading
from api.deps import ActingCaller, Caller, EngineDep, SettingsDep, run_db
from api.errors import ApiError, pending_responses, problem_responses
from api.requests import ComplaintCreate
from api.responses import CaseOut
from api.routes import cases
from govshare.core.directory import ROLE_NAMES, read_directory
from workflows import registry

log = structlog.get_logger("govshare.api")

router = APIRouter(prefix="/complaints", tags=["complaints"])


def _check_complaint(
    session: Session, caller: Caller, body: ComplaintCreate, profile_id: str
) -> tuple[str, list[str], dict[str, str], dict[str, str]]:
    """Everything checked before the complaint starts, in one short session: the profile has
    complaints (422, naming it), the caller's role may complain under it (403), the respondent, the
    body it is addressed to (a department must play that role), the cases it concerns (422 each).
    Returns the investigating department, the concerns, the role directory and the department names."""
    kind = registry.COMPLAINT
    profile = acting.profile_with(profile_id, kind.case_type, kind.name_zh)
    directory = read_directory(session)
    acting.check_opener(caller, profile, kind.case_type, directory)
    acting.check_respondent(session, caller, body.respondent_department)
    investigator = directory.get(body.addressed_to, "")
    role_zh, role_en = ROLE_NAMES[body.addressed_to]
    if not investigator:
        raise ApiError(
            422,
            f"本系统尚未指定承担“{role_zh}”的部门,无法受理向其提出的投诉",
            f"no department plays the {role_en} in this deployment: a complaint to it cannot be received",
            code="role_unplayed",
            errors=[{"loc": ["body", "addressed_to"], "msg": f"no department plays {body.addressed_to}"}],
        )
    if investigator == body.respondent_department:
        raise ApiError(
            422,
            f"被投诉部门即{role_zh},不能由其调查本部门;请向另一受理机构投诉",
            f"the department complained about is the {role_en} itself: complain to the other body",
            code="investigator_is_respondent",
            errors=[{"loc": ["body", "addressed_to"], "msg": "the respondent would investigate itself"}],
        )
    concerns = acting.check_concerns(session, caller, body.concerns)
    acting.check_directory(profile, kind.case_type, directory)
    names = {code: ref.name_zh for code, ref in reading.department_names(session).items()}
    return investigator, concerns, directory, names


@router.post(
    "",
    status_code=201,
    response_model=CaseOut,
    summary="File a complaint about another department",
    description="投诉:部门认为另一部门违反规定的,可向领导小组或市政府办公室投诉(泸州办法第四十四条);受理机构调查处理"
    "(可责令整改,另立整改通知案件并关联),并将处理结果反馈投诉部门。返回投诉案件及受理机构的“调查处理”待办。"
    "调查与反馈通过 `POST /cases/{id}/decisions` 办理。\n\n"
    "Any department acting in a role of the profile's `complaint.opened_by` (consumer or provider) may "
    "complain about another's conduct, to the leading group or to the municipal government office; the "
    "department the role directory names for that body investigates (`substantiated`, `unsubstantiated`, "
    "or `order`: substantiated, and a linked rectification order starts) and reports back (`inform`). "
    "A profile without complaints → 422 `profile_without_case_type`, naming the profile.",
    responses={**pending_responses(), **problem_responses(401, 403, 422, 503)},
)
async def create_complaint(
    request: Request,
    response: Response,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[ComplaintCreate, Body()],
    idempotency_key: Annotated[
        str | None,
        cases.idempotency_header(
            "Optional. A retried request with the same key returns the complaint the first one filed "
            "(200, `Idempotent-Replayed: true`); the same key with a different body is refused (422). "
            "同一幂等键重复提交只立一件投诉。"
        ),
    ] = None,
) -> CaseOut:
    profile_id = body.profile or settings.default_profile
    investigator, concerns, directory, names = await run_db(
        engine, _check_complaint, caller, body, profile_id
    )
    digest = idempotency.fingerprint(
        {"operation": "complaint", **body.model_dump(mode="json"), "profile": profile_id}
    )
    opened = await acting.open_case(
        request,
        response,
        engine,
        settings,
        caller,
        kind=registry.COMPLAINT,
        operation="complaint",
        profile_id=profile_id,
        digest=digest,
        idempotency_key=idempotency_key,
        department_names=names,
        directory=directory,
        fields={
            "complainant": caller.department,
            "respondent": body.respondent_department,
            "investigator": investigator,
            "addressed_to": body.addressed_to,
            "conduct": body.conduct,
            "concerns": concerns,
        },
    )
    log.info(
        "complaint_filed",
        respondent=body.respondent_department,
        investigator=investigator,
        profile=profile_id,
        status=opened.answer.status,
    )
    return await run_db(engine, acting.answered_case, opened.case_id, opened.answer)
