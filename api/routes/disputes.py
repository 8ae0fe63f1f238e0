"""Sharing disputes (共享争议: 异议 → 协商 → 协调 → 裁定): ``POST /disputes``.

The consumer opens a dispute over a refused or rejected application of its own, or over a not-shared
entry it needs for its duties (Jiangsu 16). The negotiation (messages and proposals: ``POST
/cases/{id}/notes``; agreeing or ending it: ``POST /cases/{id}/decisions``), the coordination and the
ruling go through the generic ``/cases`` path. The dispute is linked to the application (both
timelines show it); a settlement, coordination or ruling that grants access starts the sharing
application with the agreed scope, linked both ways.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Request, Response
from sqlmodel import Session

from api import acting, reading
from api.deps import ActingCaller, Caller, EngineDep, SettingsDep, can_see_case, run_db
from api.errors import ApiError, pending_responses, problem_responses
from api.requests import DisputeCreate
from api.responses import CaseOut
from api.routes import cases
from govshare.cases import service as case_service
from govshare.core.directory import read_directory
from govshare.core.models import Case, Resource
from workflows import registry
from workflows.case import CaseLink

log = structlog.get_logger("govshare.api")

router = APIRouter(prefix="/disputes", tags=["disputes"])

#: The results an application may be disputed after (a refusal by the provider, a rejection).
DISPUTABLE = ("refused", "rejected")


def _unprocessable(zh: str, en: str, code: str, field: str) -> ApiError:
    return ApiError(422, zh, en, code=code, errors=[{"loc": ["body", field], "msg": en}])


def _subject(session: Session, caller: Caller, body: DisputeCreate) -> tuple[Resource, Case | None]:
    """The entry in dispute, and the application when one is named (each checked: 422)."""
    if body.application_id is not None:
        application = session.get(Case, body.application_id)
        if application is None or not can_see_case(session, caller, application):
            raise _unprocessable(
                f"未找到申请 {body.application_id}",
                f"no application {body.application_id}",
                "unknown_case",
                "application_id",
            )
        if application.case_type != registry.SHARING_APPLICATION.case_type:
            raise _unprocessable(
                f"{body.application_id} 不是数据使用申请",
                f"{body.application_id} is not an application",
                "not_an_application",
                "application_id",
            )
        if (application.summary or {}).get("consumer_department") != caller.department:
            raise _unprocessable(
                "只能对本部门的申请提出争议",
                "a consumer disputes its own applications only",
                "not_own_application",
                "application_id",
            )
        if application.status not in DISPUTABLE:
            status_zh = registry.status_words(application.case_type, application.status)[0]
            raise _unprocessable(
                f"申请 {application.id} 的状态为“{status_zh}”,只有被拒绝或不予受理的申请可以提出争议",
                f"application {application.id} is {application.status}: "
                "only a refused or rejected one is disputed",
                "not_disputable",
                "application_id",
            )
        resource_id = (application.summary or {}).get("resource_id", "")
        resource = session.get(Resource, resource_id)
        if resource is None:
            raise _unprocessable(
                f"申请所涉资源 {resource_id} 已不在目录中",
                f"the entry {resource_id} is no longer in the catalog",
                "unknown_resource",
                "application_id",
            )
        return resource, application
    resource = session.get(Resource, body.resource_id)
    if resource is None or resource.status == "withdrawn":
        raise _unprocessable(
            f"目录中没有在用的资源 {body.resource_id}",
            f"no published catalog entry {body.resource_id}",
            "unknown_resource",
            "resource_id",
        )
    if resource.share_type != "not_shared":
        raise _unprocessable(
            "可共享的资源请直接申请;被拒绝后可对该申请提出争议",
            "a shareable entry is applied for; a refused application may then be disputed",
            "shareable_resource",
            "resource_id",
        )
    return resource, None


def _check_dispute(session: Session, caller: Caller, body: DisputeCreate, profile_id: str) -> dict[str, Any]:
    kind = registry.DISPUTE
    profile = acting.profile_with(profile_id, kind.case_type, kind.name_zh)
    directory = read_directory(session)
    acting.check_opener(caller, profile, kind.case_type, directory)
    resource, application = _subject(session, caller, body)
    if resource.provider_department == caller.department:
        raise _unprocessable(
            "不能与本部门发生共享争议",
            "a department does not dispute with itself",
            "own_department",
            "resource_id",
        )
    if body.provincial and "provincial" not in (profile.case_types[kind.case_type].facts or []):
        raise _unprocessable(
            f"规范配置 {profile.id} 未对涉及省级部门的争议另作规定",
            f"profile {profile.id} sets no separate path for provincial departments",
            "no_provincial_path",
            "provincial",
        )
    for role in ("coordinator", "leading_group"):
        needed = role in profile.case_types[kind.case_type].roles_needed()
        if needed and not directory.get(role):
            raise ApiError(
                422,
                f"本系统尚未指定承担“{role}”角色的部门,无法受理争议",
                f"no department plays the {role} in this deployment: a dispute cannot be received",
                code="role_unplayed",
            )
    acting.check_directory(profile, kind.case_type, directory)
    names = {code: ref.name_zh for code, ref in reading.department_names(session).items()}
    return {
        "directory": directory,
        "names": names,
        "resource": asdict(case_service.resource_snapshot(resource)),
        "provider": resource.provider_department,
        "application": application,
    }


@router.post(
    "",
    status_code=201,
    response_model=CaseOut,
    summary="Open a sharing dispute",
    description="提出共享争议:使用部门对被拒绝、不予受理的申请有异议,或履职确需使用不予共享的资源的,与提供部门(湖北第二十五条:"
    "连同共享平台)协商;协商通过 `POST /cases/{id}/notes` 发表意见(`message`)与方案(`proposal`,附条款),"
    "各方以 `agree_access`(同意最新方案)、`agree_no_access` 或 `fail`(协商不成)办理;协商不成的由协调部门协调"
    "(湖北:同级政府相关职能部门;泸州:市经济和信息化委;江苏:本级共享主管部门,涉及省级部门的由领导小组),"
    "泸州必要时由领导小组最终裁定。同意共享的,自动启动按约定范围的数据使用申请,双向关联。条例未规定各阶段时限,"
    "所列时限为本地政策。\n\n"
    "Over a refused or rejected application of the caller's (`application_id`), or a not-shared entry "
    "it needs for its duties (`resource_id` with `duty`). Negotiation, coordination and ruling go "
    "through `/cases/{id}`; a settlement, coordination or ruling granting access starts the sharing "
    "application with the agreed scope. Stage limits are local policy, labelled as such.",
    responses={**pending_responses(), **problem_responses(401, 403, 422, 503)},
)
async def create_dispute(
    request: Request,
    response: Response,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[DisputeCreate, Body()],
    idempotency_key: Annotated[
        str | None,
        cases.idempotency_header(
            "Optional. A retried request with the same key returns the dispute the first one opened "
            "(200, `Idempotent-Replayed: true`); the same key with a different body is refused (422)."
        ),
    ] = None,
) -> CaseOut:
    profile_id = body.profile or settings.default_profile
    checked = await run_db(engine, _check_dispute, caller, body, profile_id)
    application: Case | None = checked["application"]
    links = []
    if application is not None:
        links.append(
            CaseLink(
                case_id=application.id,
                workflow_id=application.workflow_id,
                case_type=application.case_type,
                relation="linked",
                at=datetime.now(UTC),
                reason_zh="对该申请的办理结果提出争议",
                reason_en="the dispute is over this application's outcome",
            )
        )
    _opened, answered = await acting.create_case(
        request,
        response,
        engine,
        settings,
        caller,
        kind=registry.DISPUTE,
        profile_id=profile_id,
        body=body,
        idempotency_key=idempotency_key,
        department_names=checked["names"],
        directory=checked["directory"],
        links=links,
        fields={
            "consumer": caller.department,
            "provider": checked["provider"],
            "resource": checked["resource"],
            "application_id": body.application_id or "",
            "matter": body.matter,
            "duty": body.duty,
            "purpose": body.purpose,
            "provincial": body.provincial,
        },
    )
    log.info(
        "dispute_opened", provider=checked["provider"], application_id=body.application_id, profile=profile_id
    )
    return answered
