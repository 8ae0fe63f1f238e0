"""The lists compiled with the catalog (Luoyang 12–14): responsibility lists (责任清单) and the demand
list (需求清单). The lists themselves are ``govshare.core.catalog_lists``.

Responsibility lists: a department reads its own; the platform, the leading group office and
auditors read every department's (the overview gives a department only its own row). The list is
kept by the catalog-update cases that publish entries; nothing here writes it.

Demands: a department acting as consumer states one and may withdraw its own open ones; the platform
answers one with a published catalog entry. The platform, the leading group office and auditors see
every demand; a department sees its own and those addressed to it as provider.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import Session

from api.deps import Caller, CurrentCaller, EngineDep, Offset, caller_with_roles
from api.errors import ApiError, problem_responses
from api.requests import DemandAnswer, DemandCreate
from api.responses import (
    DemandCountOut,
    DemandList,
    DemandOut,
    DemandSummary,
    FulfilmentOut,
    ResponsibilityItemOut,
    ResponsibilityListOut,
    ResponsibilityOverview,
    as_aware,
)
from govshare.core import catalog_lists
from govshare.core.catalog_lists import DemandError, Fulfilment
from govshare.core.models import DataDemand, Department

router = APIRouter(tags=["catalog lists"])

ConsumerCaller = Annotated[Caller, Depends(caller_with_roles("consumer"))]
PlatformCaller = Annotated[Caller, Depends(caller_with_roles("platform"))]
DepartmentCode = Annotated[str, Path(min_length=1, max_length=64, description="Department code / 部门代码")]
DemandId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Demand id / 需求编号")]

_DEMAND_ERROR_STATUS = {"not_found": 404, "forbidden": 403, "conflict": 409, "invalid": 422}


def _fulfilment_out(figure: Fulfilment) -> FulfilmentOut:
    return FulfilmentOut(
        department=figure.department, count=figure.count, fulfilled=figure.fulfilled, ratio=figure.ratio
    )


def _demand_out(row: DataDemand) -> DemandOut:
    assert row.id is not None
    return DemandOut(
        id=row.id,
        department=row.department,
        title=row.title,
        description=row.description,
        fields_wanted=list(row.fields_wanted or []),
        provider_department=row.provider_department,
        status=row.status,
        answered_by_resource=row.answered_by_resource,
        reviewed_by=row.reviewed_by,
        created_at=as_aware(row.created_at),  # type: ignore[arg-type]
        answered_at=as_aware(row.answered_at),
    )


def _demand_error(err: DemandError) -> ApiError:
    return ApiError(_DEMAND_ERROR_STATUS.get(err.kind, 422), err.message_zh, err.message_en, code=err.code)


def _forbidden(zh: str, en: str) -> ApiError:
    return ApiError(403, zh, en, code="forbidden")


# --------------------------------------------------------------------------------------------------
# Responsibility lists (责任清单, Luoyang 13–14)
# --------------------------------------------------------------------------------------------------


@router.get(
    "/responsibility-lists",
    response_model=ResponsibilityOverview,
    summary="Responsibility-list fulfilment per department",
    description="各部门责任清单履行情况(洛阳第十三条:纳入考核):清单条目数、已履行数(已发布且未超期更新)及履行率。"
    "平台、领导小组办公室、审计可见全部部门;其他部门只见本部门。\n\n"
    "Per department: entries on its responsibility list, how many are published and not overdue for "
    "refresh, and the ratio. Oversight roles see every department; a department only its own row.",
    responses=problem_responses(401),
)
def responsibility_overview(caller: CurrentCaller, engine: EngineDep) -> ResponsibilityOverview:
    with Session(engine) as session:
        figures = catalog_lists.fulfilment_by_department(session, datetime.now(UTC))
    if not caller.sees_all:
        figures = [figure for figure in figures if figure.department == caller.department]
    return ResponsibilityOverview(items=[_fulfilment_out(figure) for figure in figures])


@router.get(
    "/responsibility-lists/{department}",
    response_model=ResponsibilityListOut,
    summary="A department's responsibility list",
    description="部门责任清单(洛阳第十三、十四条):本部门须提供并及时更新的目录条目,以及履行情况。"
    "本部门、平台、领导小组办公室、审计可查看。\n\n"
    "The entries the department must provide and keep fresh, each marked fulfilled (published and not "
    "overdue for refresh), and the fulfilment figure. Readable by the department itself and the "
    "oversight roles (platform, leading group office, auditor).",
    responses=problem_responses(401, 403, 404),
)
def responsibility_list(
    department: DepartmentCode, caller: CurrentCaller, engine: EngineDep
) -> ResponsibilityListOut:
    if not caller.sees_all and caller.department != department:
        raise _forbidden("只能查看本部门的责任清单", "a department may read only its own responsibility list")
    with Session(engine) as session:
        if session.get(Department, department) is None:
            raise ApiError(
                404, f"没有部门 {department}", f"no department {department}", code="department_not_found"
            )
        entries, figure = catalog_lists.responsibility_list(session, department, datetime.now(UTC))
        items = [
            ResponsibilityItemOut(
                resource_id=entry.item.resource_id,
                name_zh=entry.resource.name_zh if entry.resource else "",
                name_en=entry.resource.name_en if entry.resource else "",
                status=entry.resource.status if entry.resource else "",
                update_period=entry.resource.update_period if entry.resource else "",
                next_refresh_due=as_aware(entry.resource.next_refresh_due) if entry.resource else None,
                added_at=as_aware(entry.item.added_at),  # type: ignore[arg-type]
                case_id=entry.item.case_id,
                fulfilled=entry.fulfilled,
            )
            for entry in entries
        ]
    return ResponsibilityListOut(department=department, items=items, fulfilment=_fulfilment_out(figure))


# --------------------------------------------------------------------------------------------------
# The demand list (需求清单, Luoyang 12)
# --------------------------------------------------------------------------------------------------


@router.post(
    "/demands",
    status_code=201,
    response_model=DemandOut,
    summary="State a data demand",
    description="部门(以使用部门身份)提出履职所需的数据需求(洛阳第十二条),由共享平台审核、以目录条目答复。\n\n"
    "A department, acting as consumer, states data it needs from others for its duties (Luoyang 12). "
    "`provider_department`, if given, must be a known department.",
    responses=problem_responses(401, 403, 422),
)
def create_demand(body: DemandCreate, caller: ConsumerCaller, engine: EngineDep) -> DemandOut:
    with Session(engine) as session:
        provider = body.provider_department
        if provider is not None and session.get(Department, provider) is None:
            raise ApiError(
                422,
                f"没有部门 {provider}",
                f"no department {provider}",
                code="department_not_found",
                errors=[{"loc": ["body", "provider_department"], "msg": "unknown department"}],
            )
        demand = catalog_lists.create_demand(
            session,
            department=caller.department,
            title=body.title,
            description=body.description,
            fields_wanted=body.fields_wanted,
            provider_department=provider,
            now=datetime.now(UTC),
        )
        session.commit()
        session.refresh(demand)
        return _demand_out(demand)


@router.get(
    "/demands",
    response_model=DemandList,
    summary="The demand list",
    description="需求清单:平台、领导小组办公室、审计可见全部;部门可见本部门提出的及指向本部门(拟提供部门)的需求。"
    "可按状态和需求部门筛选,分页。\n\n"
    "Oversight roles see every demand; a department its own and those addressed to it as provider. "
    "Filter by status and by the demanding department; by id; paginated.",
    responses=problem_responses(401, 422),
)
def list_demands(
    caller: CurrentCaller,
    engine: EngineDep,
    offset: Offset = 0,
    status: Annotated[Literal["open", "answered", "withdrawn"] | None, Query()] = None,
    department: Annotated[
        str | None, Query(max_length=64, description="Only this demanding department")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size (1–200)")] = 50,
) -> DemandList:
    with Session(engine) as session:
        rows, total = catalog_lists.visible_demands(
            session,
            viewer=None if caller.sees_all else caller.department,
            status=status,
            department=department,
            limit=limit,
            offset=offset,
        )
        return DemandList(items=[_demand_out(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/demands/summary",
    response_model=DemandSummary,
    summary="Open (unmet) and answered demands per department",
    description="各部门需求清单汇总:未满足(open)、已答复、已撤回需求数。平台、领导小组办公室、审计可见全部部门;"
    "其他部门只见本部门。\n\n"
    "Per demanding department: open (unmet), answered and withdrawn demands. Oversight roles see every "
    "department; a department only its own.",
    responses=problem_responses(401),
)
def demand_summary(caller: CurrentCaller, engine: EngineDep) -> DemandSummary:
    with Session(engine) as session:
        counts = catalog_lists.demand_summary(
            session, department=None if caller.sees_all else caller.department
        )
    return DemandSummary(
        items=[
            DemandCountOut(department=c.department, open=c.open, answered=c.answered, withdrawn=c.withdrawn)
            for c in counts
        ],
        open=sum(c.open for c in counts),
        answered=sum(c.answered for c in counts),
    )


@router.post(
    "/demands/{demand_id}/answer",
    response_model=DemandOut,
    summary="Answer a demand with a published catalog entry (platform)",
    description="共享平台以已发布的目录条目答复需求,需求状态变为已答复,需求部门即可据此申请。"
    "资源不存在或已撤销:422;需求已答复或已撤回:409。\n\n"
    "The platform names a published catalog entry that answers an open demand (status answered); "
    "the department can then apply for it. 422 for an unknown or withdrawn entry, 409 for a demand "
    "that is not open.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def answer_demand(
    demand_id: DemandId, body: DemandAnswer, caller: PlatformCaller, engine: EngineDep
) -> DemandOut:
    with Session(engine) as session:
        try:
            demand = catalog_lists.answer_demand(
                session,
                demand_id,
                resource_id=body.resource_id,
                reviewed_by=caller.department,
                now=datetime.now(UTC),
            )
        except DemandError as err:
            raise _demand_error(err) from None
        session.commit()
        session.refresh(demand)
        return _demand_out(demand)


@router.post(
    "/demands/{demand_id}/withdraw",
    response_model=DemandOut,
    summary="Withdraw one's own open demand",
    description="需求部门撤回本部门尚未答复的需求。他部门:403;已答复或已撤回:409。\n\n"
    "The department that stated an open demand withdraws it. Another department: 403; a demand "
    "that is not open: 409.",
    responses=problem_responses(401, 403, 404, 409),
)
def withdraw_demand(demand_id: DemandId, caller: ConsumerCaller, engine: EngineDep) -> DemandOut:
    with Session(engine) as session:
        try:
            demand = catalog_lists.withdraw_demand(
                session, demand_id, department=caller.department, now=datetime.now(UTC)
            )
        except DemandError as err:
            raise _demand_error(err) from None
        session.commit()
        session.refresh(demand)
        return _demand_out(demand)
