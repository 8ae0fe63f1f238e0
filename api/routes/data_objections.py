"""Data objections (数据疑义 / 纠错 / 校核): ``POST /data-objections``.

A consumer department reports doubtful or wrong data in a catalog entry (Hubei 23, Luzhou 26,
Jiangsu 18); under Luoyang 19 a citizen, a legal person or another organisation may too; under Hubei
17 the platform's quality check opens the same case, and names a second entry when two providers'
data disagree (one joint verification with both). The report says which records or fields, what is
wrong, the evidence, and when the problem was found (Luzhou 26: the 3 working days to report count
from it — a report filed later is taken and marked late). The provider's check and the outcome
(corrected, saying what changed; confirmed, saying why) go through the generic ``/cases`` path, as do
the note a party adds while the data is checked (``/cases/{id}/notes``) and an extension the head
approves (``/cases/{id}/tasks/{seq}/clock``, then the head's decision).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Request, Response
from sqlmodel import Session

from api import acting, reading
from api.deps import ActingCaller, Caller, EngineDep, SettingsDep, run_db
from api.errors import ApiError, pending_responses, problem_responses
from api.requests import DataObjectionCreate
from api.responses import CaseOut
from api.routes import cases
from calendars import SHANGHAI
from govshare.core.directory import read_directory
from govshare.core.models import Resource
from workflows import registry

log = structlog.get_logger("govshare.api")

router = APIRouter(prefix="/data-objections", tags=["data objections"])


def _entry(session: Session, resource_id: str, where: str) -> Resource:
    row = session.get(Resource, resource_id)
    if row is None or row.status == "withdrawn":
        raise ApiError(
            422,
            f"目录中没有在用的资源 {resource_id}",
            f"no published catalog entry {resource_id}",
            code="unknown_resource",
            errors=[{"loc": ["body", where], "msg": "no published entry"}],
        )
    return row


def _check_report(
    session: Session, caller: Caller, body: DataObjectionCreate, profile_id: str
) -> dict[str, Any]:
    """Everything checked before the case starts, in one short session: the profile has data
    objections (422, naming it) and the caller's role may report under it (403); the entry exists
    and the fields are its own (422 each); the reporter does not report its own data (422: it
    corrects it by a catalog update); a second entry only where the profile verifies
    inconsistencies jointly, and of another provider (422)."""
    kind = registry.DATA_OBJECTION
    profile = acting.profile_with(profile_id, kind.case_type, kind.name_zh)
    rules = profile.case_types[kind.case_type]
    directory = read_directory(session)
    acting.check_opener(caller, profile, kind.case_type, directory)
    entry = _entry(session, body.resource_id, "resource_id")
    unknown = [f for f in body.fields if f not in (entry.fields or [])]
    if unknown:
        raise ApiError(
            422,
            f"资源 {entry.id} 没有数据项:{'、'.join(unknown)}",
            f"entry {entry.id} has no field(s): {', '.join(unknown)}",
            code="unknown_field",
            errors=[{"loc": ["body", "fields"], "msg": f"not a field of {entry.id}: {f}"} for f in unknown],
        )
    if caller.department and caller.department == entry.provider_department and caller.role != "platform":
        raise ApiError(
            422,
            "本部门提供的数据有误的,请直接更正(目录更新),无需提出疑义",
            "your own department provides this data: correct it (a catalog update) rather than object",
            code="own_data",
            errors=[{"loc": ["body", "resource_id"], "msg": "the caller's own data"}],
        )
    providers = [entry.provider_department]
    if body.other_resource_id is not None:
        if "inconsistency" not in (rules.facts or []):
            title = profile.title_zh or profile.name_zh
            raise ApiError(
                422,
                f"规范配置 {profile.id}({title})未规定提供部门之间数据不一致的共同核实",
                f"profile {profile.id} has no joint verification of inconsistent data",
                code="no_joint_verification",
                errors=[{"loc": ["body", "other_resource_id"], "msg": "not under this profile"}],
            )
        other = _entry(session, body.other_resource_id, "other_resource_id")
        if other.provider_department == entry.provider_department:
            raise ApiError(
                422,
                "两个目录资源由同一部门提供:请作为一件疑义提出",
                "both entries come from the same provider: report it as one objection",
                code="same_provider",
                errors=[{"loc": ["body", "other_resource_id"], "msg": "same provider"}],
            )
        providers.append(other.provider_department)
    acting.check_directory(profile, kind.case_type, directory)
    names = {code: ref.name_zh for code, ref in reading.department_names(session).items()}
    counts = any(rules.steps[t.step].counts_from == "case" for t in rules.entry if t.step)
    return {
        "directory": directory,
        "names": names,
        "providers": providers,
        "entry": entry,
        "counts_from_finding": counts,
    }


@router.post(
    "",
    status_code=201,
    response_model=CaseOut,
    summary="Report doubtful or wrong data in a catalog entry",
    description="提出数据疑义(纠错):使用部门(洛阳办法第十九条:公民、法人和其他组织亦可)对目录资源中的数据有疑义或"
    "发现错误的,说明涉及的记录或数据项、问题、证明材料及发现日期。泸州办法第二十六条:应在发现问题3个工作日内反馈"
    "(逾期提交的照常受理并记为逾期),提供部门5个工作日内处理和回复;洛阳第十九条:提供部门10个工作日内校核,经主要"
    "负责人批准可延长一次、不超过10个工作日;湖北第二十三条:及时校核(不限期),共享平台质量检查亦可提出(第十七条),"
    "两部门数据不一致的由双方共同核实。办理通过 `POST /cases/{id}/decisions`:"
    "`correct`(须说明更正内容)或 `confirm`(须说明理由),结果告知提出方。\n\n"
    "A consumer department (Luoyang: also a citizen or a company; Hubei: also the platform's quality "
    "check) reports which records or fields are wrong, what is wrong, the evidence, and when it was "
    "found. Luzhou counts the 3 WD to report from `found_on` (a late report is taken and marked "
    "late). With `other_resource_id` (Hubei 17) the two providers verify jointly. The provider answers "
    "on `/cases/{id}/decisions` with `correct` (what changed) or `confirm` (why); the reporter is told.",
    responses={**pending_responses(), **problem_responses(401, 403, 422, 503)},
)
async def create_data_objection(
    request: Request,
    response: Response,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[DataObjectionCreate, Body()],
    idempotency_key: Annotated[
        str | None,
        cases.idempotency_header(
            "Optional. A retried request with the same key returns the case the first one opened "
            "(200, `Idempotent-Replayed: true`); the same key with a different body is refused (422)."
        ),
    ] = None,
) -> CaseOut:
    profile_id = body.profile or settings.default_profile
    checked = await run_db(engine, _check_report, caller, body, profile_id)
    entry: Resource = checked["entry"]
    found_on = body.found_on or datetime.now(SHANGHAI).date()
    reporter = {
        "role": caller.role,
        "department": caller.department,
        "person": "" if caller.department else caller.person,
    }
    opened, answered = await acting.create_case(
        request,
        response,
        engine,
        settings,
        caller,
        kind=registry.DATA_OBJECTION,
        profile_id=profile_id,
        body=body,
        idempotency_key=idempotency_key,
        department_names=checked["names"],
        directory=checked["directory"],
        fields={
            "reporter": reporter,
            "source": "quality_check" if caller.role == "platform" else "report",
            "providers": checked["providers"],
            "resource_id": entry.id,
            "resource_version": entry.version,
            "resource_name_zh": entry.name_zh,
            "resource_name_en": entry.name_en,
            "other_resource_id": body.other_resource_id or "",
            "records": list(body.records),
            "fields": list(body.fields),
            "problem": body.problem,
            "evidence": body.evidence,
            "found_on": found_on.isoformat(),
        },
        # Luzhou 26: the days to report count from the finding (the day itself not counted).
        counts_from=datetime.combine(found_on, time(0), SHANGHAI) if checked["counts_from_finding"] else None,
    )
    log.info(
        "data_objection_opened",
        resource_id=entry.id,
        providers=checked["providers"],
        profile=profile_id,
        status=opened.answer.status,
    )
    return answered
