"""Catalog updates (目录更新, REGULATIONS.md §5): ``POST /catalog-updates``.

A law revision or a change of functions is registered for a department, with the date it took effect
(by the platform, for any department, or by the department itself), or a department opens its own
update. The case's first deadline counts from that date (Luoyang 14: 10 WD, then the bureau's review
5 WD from receipt; Luzhou 10 and Jiangsu 9: 15 WD; Hubei 6: promptly, untimed), so a change
registered late is overdue at once. The department then submits its change set — new, changed and
withdrawn entries — through ``POST /cases/{id}/decisions`` (``payload: {"items": [...]}``), checked
against the catalog's rules before it is taken; the platform publishes every entry at once, or
returns the set with reasons.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

import structlog
from fastapi import APIRouter, Body, Request, Response
from sqlmodel import Session

from api import acting, idempotency, reading
from api.deps import ActingCaller, Caller, EngineDep, SettingsDep, run_db
from api.errors import ApiError, pending_responses, problem_responses
from api.requests import CatalogUpdateCreate
from api.responses import CaseOut
from api.routes import cases
from calendars import SHANGHAI
from govshare.core.directory import read_directory
from govshare.core.models import Department
from workflows import registry

log = structlog.get_logger("govshare.api")

router = APIRouter(prefix="/catalog-updates", tags=["catalog updates"])


def _check_update(
    session: Session, caller: Caller, body: CatalogUpdateCreate, profile_id: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The profile has catalog updates (422); the caller may open one for that department (the
    platform for any, a provider for its own: 403 otherwise); the department exists (422)."""
    kind = registry.CATALOG_UPDATE
    profile = acting.profile_with(profile_id, kind.case_type, kind.name_zh)
    department = body.department or caller.department
    if caller.role not in ("platform", "provider"):
        raise ApiError(
            403,
            "目录更新由共享平台管理部门或本部门(提供部门身份)登记",
            "a catalog update is registered by the platform or by the department itself (provider role)",
            code="forbidden",
        )
    if caller.role == "provider" and department != caller.department:
        raise ApiError(
            403,
            "只能登记本部门的目录更新",
            "a department registers updates of its own catalog only",
            code="forbidden",
        )
    if session.get(Department, department) is None:
        raise ApiError(
            422,
            f"没有部门 {department}",
            f"no department {department}",
            code="unknown_department",
            errors=[{"loc": ["body", "department"], "msg": "unknown department"}],
        )
    directory = read_directory(session)
    acting.check_directory(profile, kind.case_type, directory)
    names = {code: ref.name_zh for code, ref in reading.department_names(session).items()}
    return department, directory, names


@router.post(
    "",
    status_code=201,
    response_model=CaseOut,
    summary="Register a catalog update",
    description="登记目录更新:法律法规修订或行政管理职能变化(须填写变更日期,期限自变更之日起计算:洛阳办法第十四条10个工作日、"
    "泸州办法第十条和江苏办法第九条15个工作日;湖北办法第六条“及时”,不限期),或部门自行更新。"
    "登记时已超过期限的,案件即刻标为超期。"
    "部门随后通过 `POST /cases/{id}/decisions` 提交目录变更(新增、变更、撤销),"
    "提交时按目录规则逐条检查;共享平台发布(全部条目同时生效)或退回修改。\n\n"
    "The platform registers one for any department, a department (provider role) for its own. The first "
    "deadline counts from `change_date` (a date in the past may be overdue at once). The change set is "
    'submitted as the department\'s decision with `payload: {"items": [{"action": "new"|"change"|'
    '"withdraw", "resource_id": …, "entry": {…}}]}`; a set that breaks a catalog rule is refused 422 '
    "with each problem, its rule and article.",
    responses={**pending_responses(), **problem_responses(401, 403, 422, 503)},
)
async def create_catalog_update(
    request: Request,
    response: Response,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[CatalogUpdateCreate, Body()],
    idempotency_key: Annotated[
        str | None,
        cases.idempotency_header(
            "Optional. A retried request with the same key returns the case the first one opened "
            "(200, `Idempotent-Replayed: true`); the same key with a different body is refused (422)."
        ),
    ] = None,
) -> CaseOut:
    profile_id = body.profile or settings.default_profile
    department, directory, names = await run_db(engine, _check_update, caller, body, profile_id)
    change = body.change_date
    opened = await acting.open_case(
        request,
        response,
        engine,
        settings,
        caller,
        kind=registry.CATALOG_UPDATE,
        operation="catalog_update",
        profile_id=profile_id,
        digest=idempotency.fingerprint(
            {"operation": "catalog_update", **body.model_dump(mode="json"), "profile": profile_id}
        ),
        idempotency_key=idempotency_key,
        department_names=names,
        directory=directory,
        fields={
            "department": department,
            "reason": body.reason,
            "change_date": change.isoformat() if change else "",
            "description": body.description,
        },
        # The period counts from the change (the day itself not counted), in the platform's zone.
        counts_from=datetime.combine(change, time(0), SHANGHAI) if change else None,
    )
    log.info("catalog_update_opened", department=department, reason=body.reason, profile=profile_id)
    return await run_db(engine, acting.answered_case, opened.case_id, opened.answer)
