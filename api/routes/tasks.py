"""The inbox (待办): the open tasks of every case type assigned to the caller's department in its role
(and in a role the department plays in one case only — respondent, issuer …: ``api.deps.party_roles``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import Text, cast, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from api.deps import CurrentCaller, EngineDep, Offset, party_roles
from api.errors import problem_responses
from api.responses import InboxTask, TaskList, as_aware
from api.views import PINNED, deadline_fields, task_actions, task_in
from govshare.core.models import Case, CaseParty, Task

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get(
    "",
    response_model=TaskList,
    summary="My open tasks, soonest due first",
    description="本部门本角色的待办事项(含本部门作为被整改方、下达方等本案角色的待办),"
    "按办理期限由近到远排列(不限期的排在最后),含期限依据条款和可选决定。\n\n"
    "可按案件类型、环节、是否超期筛选。\n\n"
    "Open tasks assigned to the caller's department in the caller's role (or in a role the department "
    "plays in one case only: respondent, issuer, complainant, investigator); untimed tasks last. "
    "Optional filters: `case_type`, `step`, `overdue`.",
    responses=problem_responses(401, 422),
)
def list_tasks(
    caller: CurrentCaller,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Offset = 0,
    case_type: Annotated[
        str | None, Query(max_length=32, description="Only tasks of cases of this type")
    ] = None,
    step: Annotated[str | None, Query(max_length=64, description="Only tasks at this step")] = None,
    overdue: Annotated[bool | None, Query(description="Only overdue tasks (true) or only others")] = None,
) -> TaskList:
    conditions = [
        Task.assignee_department == caller.department,
        # The roles the caller answers for, as the engine decides who may act (is_assignee): its own,
        # and its department's case-only roles (the respondent of an order …) with any acting role.
        col(Task.assignee_role).in_(sorted(party_roles(caller))),
        Task.status == "open",
    ]
    if case_type is not None:
        conditions.append(col(Task.case_id).in_(select(Case.id).where(Case.case_type == case_type)))
    if step is not None:
        conditions.append(Task.step == step)
    if overdue is not None:
        conditions.append(Task.overdue == overdue)
    if not caller.department:
        # A party who is not a department (a citizen): its tasks are in its own cases only, never
        # another citizen's with the same empty department.
        conditions.append(
            col(Task.case_id).in_(
                select(CaseParty.case_id).where(CaseParty.person == caller.person, CaseParty.person != "")
            )
        )
    # A synchronous route runs in one thread from start to end; its session ends inside it, before
    # the rows are turned into the answer.
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(Task).where(*conditions)).one()
        # The case's columns, and its pinned rules as the stored text (validated once per content,
        # api.views.PINNED), not the whole case row decoded for every task.
        rows = session.execute(
            sa_select(
                Task,
                Case.id,
                Case.case_type,
                Case.subject_zh,
                Case.profile_id,
                Case.summary,
                Case.engine,
                cast(Case.detail, Text).label("pinned"),
            )
            .join(Case, Case.id == Task.case_id)  # type: ignore[arg-type]
            .where(*conditions)
            # Untimed tasks (statutory none) last; every due_at is written in the same zone (+08:00).
            .order_by(col(Task.due_at).is_(None), col(Task.due_at), col(Task.opened_at), col(Task.id))
            .offset(offset)
            .limit(limit)
        ).all()
    now = datetime.now(UTC)
    items = []
    for task_row, case_id, case_type, subject_zh, profile_id, summary, engine, pinned in rows:
        found = task_in(PINNED.get(case_id, engine, pinned), task_row)
        if found is None:  # projection rows written by an older revision; skip rather than guess
            continue
        profile, task = found
        items.append(
            InboxTask(
                case_id=case_id,
                case_type=case_type,
                task_id=task.task_id,
                step=task.step,
                name_zh=task.name_zh,
                name_en=task.name_en,
                subject_zh=subject_zh,
                profile_id=profile_id,
                opened_at=as_aware(task.opened_at),  # type: ignore[arg-type]
                **deadline_fields(profile, task, now),
                actions=task_actions(profile, task),
                claimed_by=task.claimed_by,
                claimed_by_name=task.claimed_by_name,
                # The case type's own summary fields (an application: its resource, its departments).
                **{k: v for k, v in (summary or {}).items() if k not in InboxTask.model_fields},
            )
        )
    return TaskList(items=items, total=total, limit=limit, offset=offset)
