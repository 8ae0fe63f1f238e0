"""Reading cases of every type from the projection: one case (as its view renders it), its audit
trail, and lists of case rows with their case type's summary fields. The routes of ``/cases`` and
``/applications`` read through these keyword-free helpers; visibility is the party table's.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.deps import (
    Caller,
    load_visible_case,
    visible_condition,
)
from api.responses import (
    AuditEventList,
    AuditEventOut,
    CaseList,
    CaseOut,
    CaseSummary,
    DepartmentRef,
    as_aware,
)
from api.views import case_out, load_view, party_out, person_names
from govshare.core.models import AuditEvent, Case, CaseParty, Department, Task
from workflows import registry


def department_names(session: Session) -> dict[str, DepartmentRef]:
    return {
        code: DepartmentRef(code=code, name_zh=name_zh, name_en=name_en)
        for code, name_zh, name_en in session.exec(
            select(Department.code, Department.name_zh, Department.name_en)
        ).all()
    }


def assignee_person(task: Task | None) -> str:
    """The person an open task is assigned to ("" for a department): the task row has the
    department and role only; a second-generation task's detail has the whole assignee."""
    if task is None or not task.detail:
        return ""
    return str((task.detail.get("assignee") or {}).get("person") or "")


# Persons are named with ``api.views.person_names`` (identity reference → name; only the name is
# read, never the ID number). It lives in views because ``load_view`` names a case's persons with it.


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def read_case(engine: Engine, caller: Caller, case_id: str, request: Request) -> CaseOut:
    """A case the caller may see, as the projection holds it (404 otherwise: never reveal it)."""
    with Session(engine) as session:
        row = load_visible_case(session, caller, case_id, request)
        view = load_view(session, row)
        names = department_names(session)
    return case_out(view, names)


def case_events(engine: Engine, caller: Caller, case_id: str, request: Request) -> AuditEventList:
    with Session(engine) as session:
        load_visible_case(session, caller, case_id, request)
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(col(AuditEvent.seq))
        ).all()
    return AuditEventList(
        case_id=case_id,
        items=[
            AuditEventOut(
                seq=r.seq,
                at=as_aware(r.at),
                kind=r.kind,
                actor_department=r.actor_department,
                actor_role=r.actor_role,
                actor_user=r.actor_user,
                summary_zh=r.summary_zh,
                summary_en=r.summary_en,
                data=r.data,
            )
            for r in rows
        ],
    )


def list_case_rows(
    engine: Engine,
    caller: Caller,
    conditions: list[Any],
    *,
    department: str | None,
    limit: int,
    offset: int,
) -> CaseList:
    """One page of cases the caller may see (newest first), each with its first open task."""
    visible = visible_condition(caller)
    if visible is not None:
        conditions.append(visible)
    if department is not None:
        conditions.append(
            col(Case.id).in_(select(CaseParty.case_id).where(CaseParty.department == department))
        )
    # A synchronous route: one thread from start to end, its session closed inside it.
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(Case).where(*conditions)).one()
        rows = session.exec(
            select(Case)
            .where(*conditions)
            .order_by(col(Case.submitted_at).desc(), col(Case.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        open_tasks: dict[str, Task] = {}
        if rows:
            for task in session.exec(
                select(Task)
                .where(col(Task.case_id).in_([r.id for r in rows]), Task.status == "open")
                .order_by(col(Task.seq))
            ):
                open_tasks.setdefault(task.case_id, task)
        names = department_names(session)
        persons = person_names(session, {assignee_person(t) for t in open_tasks.values()})
    return CaseList(
        items=[summary(row, open_tasks.get(row.id), names, persons) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


def _summary_fields(row: Case) -> dict[str, str]:
    """The case type's own summary fields; never one that would shadow a field every case has."""
    return {k: v for k, v in (row.summary or {}).items() if k not in CaseSummary.model_fields}


def summary(
    row: Case,
    open_task: Task | None,
    names: dict[str, DepartmentRef],
    persons: dict[str, str] | None = None,
) -> CaseSummary:
    return CaseSummary(
        id=row.id,
        case_type=row.case_type,
        status=row.status,
        status_zh=registry.status_words(row.case_type, row.status)[0],
        result=row.result,
        profile_id=row.profile_id,
        subject_zh=row.subject_zh,
        **_summary_fields(row),
        submitted_at=as_aware(row.submitted_at),  # type: ignore[arg-type]
        closed_at=as_aware(row.closed_at),
        overdue=row.overdue,
        next_due_at=as_aware(open_task.due_at) if open_task else None,
        open_step=open_task.step if open_task else None,
        open_step_zh=open_task.name_zh if open_task else None,
        open_assignee=party_out(
            open_task.assignee_department,
            open_task.assignee_role,
            names,
            assignee_person(open_task),
            persons,
        )
        if open_task
        else None,
    )
