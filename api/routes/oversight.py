"""The leading group's view (督办, REGULATIONS.md §7): what it must decide, its orders, the counts.

For the leading group office (it supervises the flow, Hubei 26) and the auditors (they read, never
act). Everything is read from the projection:

- ``GET /oversight/escalations``: the open tasks of escalations, rectification orders and complaints
  that the caller's department must decide (an auditor: all of them);
- ``GET /oversight/orders``: rectification orders by status, by respondent department, overdue or not;
- ``GET /oversight/orders/overdue``: the orders with an open task past its due date;
- ``GET /oversight/orders/counts``: per respondent department, its orders by state.

Who an order is against is its ``respondent`` party (the ``case_party`` table, the same as the
``respondent_department`` of the case's summary), so the filters are plain SQL on every database.
Whether an open task is overdue is the timeline's own test (:func:`api.views.is_overdue`: flagged, or
due and not yet flagged), made in Python over the open tasks of the orders a query selects.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.deps import Caller, EngineDep, Offset, caller_with_roles
from api.errors import problem_responses
from api.reading import department_names
from api.responses import (
    DepartmentRef,
    GroundOut,
    OrderCount,
    OrderCounts,
    OrderList,
    OrderSummary,
    OversightTask,
    OversightTaskList,
    as_aware,
)
from api.views import deadline_fields, is_overdue, party_out, task_actions, task_of
from govshare.core.models import Case, CaseParty, Task
from workflows import registry
from workflows.case import Task as CaseTask

router = APIRouter(prefix="/oversight", tags=["oversight"])

#: The leading group office decides; auditors read everything and change nothing.
OversightCaller = Annotated[Caller, Depends(caller_with_roles("leading_group", "auditor"))]

#: The case types of the ladder: the escalations a breach starts, the orders, the complaints.
LADDER_TYPES = (
    registry.ESCALATION.case_type,
    registry.RECTIFICATION_ORDER.case_type,
    registry.COMPLAINT.case_type,
)
ORDER = registry.RECTIFICATION_ORDER.case_type
ORDER_STATUSES = "in_progress | rectified | dismissed"


# --------------------------------------------------------------------------------------------------
# GET /oversight/escalations
# --------------------------------------------------------------------------------------------------


@router.get(
    "/escalations",
    response_model=OversightTaskList,
    summary="Open escalations, orders and complaints to decide",
    description="领导小组办公室待办的督办事项:逐级上报、整改通知、投诉案件中由本部门办理的待办(审计部门可见全部),"
    "按期限由近到远排列(不限期的在后),含依据条款、期限与是否超期。\n\n"
    "The open tasks of escalation, rectification order and complaint cases assigned to the caller's "
    "department, in whatever role it plays there (the leading group office on a rung, the issuer of an "
    "order, the investigator of a complaint); an auditor sees every such task. A task that only waits on "
    "a linked case (an escalation waiting on its order) is decided by that case and left out unless "
    "`waiting=true`. Decide through `POST /cases/{case_id}/decisions` with the `task_id`.",
    responses=problem_responses(401, 403, 422),
)
def list_escalations(
    caller: OversightCaller,
    engine: EngineDep,
    case_type: Annotated[
        str | None, Query(description="escalation | rectification_order | complaint", max_length=32)
    ] = None,
    overdue: Annotated[bool | None, Query(description="Only overdue tasks (or only those not)")] = None,
    waiting: Annotated[
        bool, Query(description="Also tasks that wait on a linked case (closed by it, not decided)")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Offset = 0,
) -> OversightTaskList:
    types = [t for t in LADDER_TYPES if case_type in (None, t)]
    conditions: list[Any] = [Task.status == "open", col(Case.case_type).in_(types)]
    if caller.role != "auditor":
        conditions.append(Task.assignee_department == caller.department)
    now = datetime.now(UTC)
    with Session(engine) as session:
        rows = session.exec(
            select(Task, Case)
            .join(Case, Case.id == Task.case_id)  # type: ignore[arg-type]
            .where(*conditions)
            .order_by(col(Task.due_at).is_(None), col(Task.due_at), col(Task.opened_at), col(Task.id))
        ).all()
        names = department_names(session)
    # Filtered in Python: whether a task waits on a case, and whether it is overdue (also a due date
    # passed that the breach timer has not recorded yet), are read from the task as the case has it.
    items: list[OversightTask] = []
    for task_row, case in rows:
        found = task_of(task_row, case)
        if found is None:
            continue
        pinned, task = found
        if task.waits_on_case and not waiting:
            continue
        fields = deadline_fields(pinned, task, now)
        if overdue is not None and fields["overdue"] != overdue:
            continue
        summary = case.summary or {}
        items.append(
            OversightTask(
                case_id=case.id,
                case_type=case.case_type,
                case_type_zh=_type_zh(case.case_type),
                subject_zh=case.subject_zh,
                profile_id=case.profile_id,
                task_id=task.task_id,
                step=task.step,
                name_zh=task.name_zh,
                name_en=task.name_en,
                assignee=party_out(task.assignee.department, task.assignee.role, names),
                opened_at=as_aware(task.opened_at),  # type: ignore[arg-type]
                due_at=fields["due_at"],
                due_date=fields["due_date"],
                working_days=fields["working_days"],
                article=fields["article"],
                citation_zh=fields["citation_zh"],
                limit_basis=fields["limit_basis"],
                limit_basis_zh=fields["limit_basis_zh"],
                overdue=fields["overdue"],
                waits_on_case=task.waits_on_case,
                respondent_department=summary.get("respondent_department", ""),
                concerns=summary.get("concerns", ""),
                actions=task_actions(pinned, task) if not task.waits_on_case else [],
            )
        )
    return OversightTaskList(
        items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset
    )


def _type_zh(case_type: str) -> str:
    kind = registry.by_case_type(case_type)
    return kind.name_zh if kind else case_type


# --------------------------------------------------------------------------------------------------
# GET /oversight/orders, /oversight/orders/overdue, /oversight/orders/counts
# --------------------------------------------------------------------------------------------------


def _respondent_of(department: str) -> Any:
    return col(Case.id).in_(
        select(CaseParty.case_id).where(CaseParty.role == "respondent", CaseParty.department == department)
    )


def _open_tasks(session: Session, case_ids: list[str]) -> dict[str, list[Task]]:
    """The open task rows of these cases, in order."""
    found: dict[str, list[Task]] = {}
    for chunk in range(0, len(case_ids), 500):  # bounded IN lists
        for row in session.exec(
            select(Task)
            .where(col(Task.case_id).in_(case_ids[chunk : chunk + 500]), Task.status == "open")
            .order_by(col(Task.seq))
        ):
            found.setdefault(row.case_id, []).append(row)
    return found


def _overdue(case: Case, open_rows: list[Task], now: datetime) -> bool:
    """An open task past its due date: the projection's flag, or a due date the breach timer has not
    recorded yet (the timeline's own test)."""
    if case.status != "in_progress":
        return False
    if case.overdue:
        return True
    for row in open_rows:
        found = task_of(row, case)
        if found is not None and is_overdue(found[1], now):
            return True
    return False


def _orders(
    session: Session,
    *,
    status: str | None,
    department: str | None,
    profile: str | None,
    overdue: bool | None,
    now: datetime,
) -> tuple[list[Case], dict[str, list[Task]], dict[str, bool]]:
    """The orders matching, newest first, with their open tasks and whether each is overdue."""
    conditions: list[Any] = [Case.case_type == ORDER]
    if status is not None:
        conditions.append(Case.status == status)
    if profile is not None:
        conditions.append(Case.profile_id == profile)
    if department is not None:
        conditions.append(_respondent_of(department))
    if overdue:
        conditions.append(Case.status == "in_progress")
    rows = list(
        session.exec(
            select(Case).where(*conditions).order_by(col(Case.submitted_at).desc(), col(Case.id).desc())
        ).all()
    )
    open_rows = _open_tasks(session, [r.id for r in rows if r.status == "in_progress"])
    late = {r.id: _overdue(r, open_rows.get(r.id, []), now) for r in rows}
    if overdue is not None:
        rows = [r for r in rows if late[r.id] == overdue]
    return rows, open_rows, late


def _order_summary(
    row: Case, open_rows: list[Task], late: bool, names: dict[str, DepartmentRef]
) -> OrderSummary:
    summary = row.summary or {}
    header = row.detail or {}
    attributes = header.get("attributes") or {}
    grounds = attributes.get("grounds") or [{"id": g} for g in summary.get("grounds", "").split(",") if g]
    concerns = attributes.get("concerns") or [c for c in summary.get("concerns", "").split(",") if c]
    links = header.get("links") or []
    started_by = next((k.get("case_id", "") for k in links if k.get("relation") == "started_by"), "")
    first: CaseTask | None = None
    if open_rows:
        found = task_of(open_rows[0], row)
        first = found[1] if found is not None else None
    issuer = summary.get("issuer_department", "")
    respondent = summary.get("respondent_department", "")
    return OrderSummary(
        id=row.id,
        status=row.status,
        status_zh=registry.status_words(row.case_type, row.status)[0],
        result=row.result,
        profile_id=row.profile_id,
        subject_zh=row.subject_zh,
        issuer=names.get(issuer) or DepartmentRef(code=issuer),
        respondent=names.get(respondent) or DepartmentRef(code=respondent),
        grounds=[GroundOut(**{k: g.get(k, "") for k in ("id", "article", "name_zh")}) for g in grounds],
        concerns=list(concerns),
        started_by=started_by,
        submitted_at=as_aware(row.submitted_at),  # type: ignore[arg-type]
        closed_at=as_aware(row.closed_at),
        overdue=late,
        open_step=first.step if first else None,
        open_step_zh=first.name_zh if first else None,
        open_assignee=party_out(first.assignee.department, first.assignee.role, names) if first else None,
        next_due_at=first.deadline.due_at if first and first.deadline and not first.suspended_at else None,
    )


def _order_list(
    engine: Any,
    *,
    status: str | None,
    department: str | None,
    profile: str | None,
    overdue: bool | None,
    limit: int,
    offset: int,
) -> OrderList:
    now = datetime.now(UTC)
    with Session(engine) as session:
        rows, open_rows, late = _orders(
            session, status=status, department=department, profile=profile, overdue=overdue, now=now
        )
        names = department_names(session)
    page = rows[offset : offset + limit]
    return OrderList(
        items=[_order_summary(r, open_rows.get(r.id, []), late[r.id], names) for r in page],
        total=len(rows),
        limit=limit,
        offset=offset,
    )


StatusQuery = Annotated[str | None, Query(description=ORDER_STATUSES, max_length=32)]
DepartmentQuery = Annotated[
    str | None, Query(description="Orders against this department (the respondent)", max_length=64)
]
ProfileQuery = Annotated[str | None, Query(description="Regulation profile id, e.g. hubei", max_length=32)]


@router.get(
    "/orders",
    response_model=OrderList,
    summary="Rectification orders by status and department",
    description="整改通知列表(按下达时间倒序,分页):可按状态(办理中/已整改/不予整改)、被责令整改部门、是否超期筛选;"
    "含整改事由及条款、涉及案件、当前环节与期限。\n\n"
    "Every rectification order — opened by hand, by the escalation ladder or by a complaint — newest "
    "first, filtered by status, by the department ordered to rectify, by profile and by whether an open "
    "task is overdue.",
    responses=problem_responses(401, 403, 422),
)
def list_orders(
    caller: OversightCaller,
    engine: EngineDep,
    status: StatusQuery = None,
    department: DepartmentQuery = None,
    overdue: Annotated[
        bool | None, Query(description="Only orders with an overdue open task (or none)")
    ] = None,
    profile: ProfileQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> OrderList:
    return _order_list(
        engine,
        status=status,
        department=department,
        profile=profile,
        overdue=overdue,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/orders/overdue",
    response_model=OrderList,
    summary="Overdue rectification orders",
    description="超期的整改通知:尚未办结且有待办已超过期限(含未在整改期限内完成整改的),按下达时间倒序,分页。\n\n"
    "Open orders with a task past its due date (a rectification not made within its period climbs the "
    "ladder it carries).",
    responses=problem_responses(401, 403, 422),
)
def list_overdue_orders(
    caller: OversightCaller,
    engine: EngineDep,
    department: DepartmentQuery = None,
    profile: ProfileQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> OrderList:
    return _order_list(
        engine,
        status=None,
        department=department,
        profile=profile,
        overdue=True,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/orders/counts",
    response_model=OrderCounts,
    summary="Rectification orders counted per department",
    description="按被责令整改部门统计整改通知:总数、办理中、超期、已整改、不予整改。\n\n"
    "Per respondent department: all its orders, those open, those overdue, rectified and dismissed; "
    "most orders first.",
    responses=problem_responses(401, 403, 422),
)
def count_orders(caller: OversightCaller, engine: EngineDep, profile: ProfileQuery = None) -> OrderCounts:
    now = datetime.now(UTC)
    with Session(engine) as session:
        conditions: list[Any] = [Case.case_type == ORDER, CaseParty.role == "respondent"]
        if profile is not None:
            conditions.append(Case.profile_id == profile)
        # Totals by department and status in SQL; overdue from the open orders' tasks.
        by_status = session.exec(
            select(CaseParty.department, Case.status, func.count())
            .join(Case, Case.id == CaseParty.case_id)  # type: ignore[arg-type]
            .where(*conditions)
            .group_by(CaseParty.department, Case.status)
        ).all()
        open_orders = session.exec(
            select(CaseParty.department, Case)
            .join(Case, Case.id == CaseParty.case_id)  # type: ignore[arg-type]
            .where(*conditions, Case.status == "in_progress")
        ).all()
        open_rows = _open_tasks(session, [case.id for _, case in open_orders])
        names = department_names(session)
    counts: dict[str, Counter[str]] = {}
    for department, status, n in by_status:
        counts.setdefault(department, Counter())[status] += n
    late: Counter[str] = Counter(
        department for department, case in open_orders if _overdue(case, open_rows.get(case.id, []), now)
    )
    items = [
        OrderCount(
            department=names.get(department) or DepartmentRef(code=department),
            total=sum(c.values()),
            open=c["in_progress"],
            overdue=late[department],
            rectified=c["rectified"],
            dismissed=c["dismissed"],
        )
        for department, c in counts.items()
    ]
    items.sort(key=lambda item: (-item.total, item.department.code))
    return OrderCounts(items=items, total=sum(item.total for item in items))
