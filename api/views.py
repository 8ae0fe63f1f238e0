"""A case as the projection holds it, for any case type and either engine generation: ``CaseView``.

Second-generation cases are written as deltas: the ``case`` row's ``detail`` is the case header, each
``task`` row's ``detail`` the whole task, ``case_party`` the parties, ``case_link`` the links. Cases of
the frozen first generation keep their whole ``CaseState`` in ``case.detail``; :func:`load_view`
turns either into the same view, so every route renders one shape through one function.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pydantic import TypeAdapter
from sqlmodel import Session, col, select

from govshare.core import models
from workflows.case import CaseHeader, CaseLink, CaseParty, CaseState, Task

_HEADER = TypeAdapter(CaseHeader)
_TASK = TypeAdapter(Task)
_STATE = TypeAdapter(CaseState)


@dataclass
class CaseView:
    header: CaseHeader
    parties: list[CaseParty]
    tasks: list[Task]
    revision: int
    engine: int
    record_error: str = ""
    links: list[CaseLink] = field(default_factory=list)

    @property
    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.status == "open"]


def load_view(session: Session, row: models.Case) -> CaseView:
    if row.engine >= 2:
        header = _HEADER.validate_python(row.detail)
        parties = [
            CaseParty(role=p.role, department=p.department, person=p.person)  # type: ignore[arg-type]
            for p in session.exec(
                select(models.CaseParty)
                .where(models.CaseParty.case_id == row.id)
                .order_by(col(models.CaseParty.id))
            )
        ]
        tasks = [
            _TASK.validate_python(t.detail)
            for t in session.exec(
                select(models.Task).where(models.Task.case_id == row.id).order_by(col(models.Task.seq))
            )
            if t.detail
        ]
        return CaseView(header, parties, tasks, row.revision, 2, row.record_error, list(header.links))
    return view_of_state(_STATE.validate_python(row.detail), row.record_error)


def view_of_state(state: CaseState, record_error: str = "") -> CaseView:
    """A first-generation CaseState as a view (its application fields become the header's attributes)."""
    header = CaseHeader(
        case_id=state.case_id,
        case_type=state.case_type,
        workflow_id=state.workflow_id,
        workflow_type="SharingApplication",
        profile_id=state.profile_id,
        profile_version=state.profile_version,
        profile_digest=state.profile_digest,
        profile_name_zh=state.profile_name_zh,
        submitted_at=state.submitted_at,
        submitted_by=state.submitted_by,
        status=state.status,
        result=state.result,
        result_reason=state.result_reason,
        result_article=state.result_article,
        closed_at=state.closed_at,
        subject_zh=state.resource.name_zh if state.resource else "",
        subject_en=state.resource.name_en if state.resource else "",
        attributes={
            "resource": asdict(state.resource) if state.resource else None,
            "purpose": state.purpose,
            "reason": state.reason,
            "requested_fields": list(state.requested_fields),
            "requested_mode": state.requested_mode,
            "grant": asdict(state.grant) if state.grant else None,
        },
        breaches=list(state.breaches),
        engine=1,
    )
    parties = [CaseParty(role=role, department=dept) for role, dept in state.parties.items()]  # type: ignore[arg-type]
    return CaseView(header, parties, list(state.tasks), state.revision, 1, record_error)


def task_of(task_row: models.Task, case_row: models.Case) -> tuple[CaseHeader | CaseState, Task] | None:
    """One task of the projection with what cites it (the case's profile): from the task row of a
    second-generation case, from the case's whole state for the first generation."""
    if case_row.engine >= 2:
        if not task_row.detail:
            return None
        return _HEADER.validate_python(case_row.detail), _TASK.validate_python(task_row.detail)
    state = _STATE.validate_python(case_row.detail)
    task = next((t for t in state.tasks if t.task_id == task_row.id), None)
    return (state, task) if task is not None else None
