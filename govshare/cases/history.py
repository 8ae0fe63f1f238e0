"""The record rebuilt from the source of truth: a case's Temporal event history (issue 21).

Temporal's history is what happened; the ``case`` / ``task`` / ``audit_event`` tables are a projection
of it. Every projection write of a second-generation case is an activity (``record_delta``) whose
input — the ``CaseDelta``: the header, the tasks opened whole, the fields of tasks that changed, the
audit events, the links — is itself an event of the history (``ActivityTaskScheduled``). Folding those
inputs in order rebuilds the case as the workflow recorded it, without the database: each step, who
acted and when, each deadline with its article and explanation, reminders, breaches, escalations,
linked cases. A first-generation case recorded whole ``CaseState`` snapshots (``record_case``); the
last one is its state.

:func:`compare` then holds the projection against the rebuilt record, field by field, and names each
difference: the check an auditor runs for one case, and ``govshare audit compare`` for all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from activities.records import task_people
from govshare.core.converter import DATA_CONVERTER
from workflows.case import AuditEvent, CaseDelta, CaseHeader, CaseLink, Party, Task
from workflows.engine import attributes
from workflows.legacy.shapes import CaseRecord, CaseState

#: The first generation's workflow type: its Updates and its result are the whole ``CaseState``.
FIRST_GENERATION = "SharingApplication"

_TASK = TypeAdapter(Task)

#: The fields of a task the projection and the rebuilt record must agree on.
TASK_FIELDS = (
    "step",
    "status",
    "overdue",
    "closed_at",
    "due_at",
    "assignee",
    "action",
    "claimed_by",
    "decided_by",
)
#: The task row's own columns of who claimed and who decided (``activities.records.task_people``).
TASK_COLUMNS = ("claimed_by", "decided_by")


@dataclass
class Rebuilt:
    """A case as its history recorded it."""

    workflow_id: str
    workflow_type: str
    engine: int
    header: CaseHeader | None = None
    parties: list[Party] = field(default_factory=list)
    tasks: dict[str, Task] = field(default_factory=dict)
    events: list[AuditEvent] = field(default_factory=list)
    links: list[CaseLink] = field(default_factory=list)
    revision: int = 0
    #: The search attributes the workflow set (Temporal's own index of cases), by name.
    search_attributes: dict[str, Any] = field(default_factory=dict)
    #: How many projection writes the history holds (its record activities).
    writes: int = 0
    #: A first-generation case's state as its history last gave it.
    first_generation: CaseState | None = None
    completed: bool = False

    @property
    def case_id(self) -> str:
        return self.header.case_id if self.header else self.workflow_id.split(":", 1)[-1]


def _decode(payloads: Any, kind: type) -> Any:
    values = DATA_CONVERTER.payload_converter.from_payloads(list(payloads), [kind])
    return values[0]


def rebuild(history: WorkflowHistory) -> Rebuilt:
    """Fold the history's record activities (and its search-attribute upserts) into the case."""
    events = history.events
    first = events[0].workflow_execution_started_event_attributes if events else None
    rebuilt = Rebuilt(
        workflow_id=history.workflow_id,
        workflow_type=first.workflow_type.name if first else "",
        engine=2,
    )
    if first is not None and first.HasField("search_attributes"):
        rebuilt.search_attributes.update(_attributes(first.search_attributes))
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            name = attrs.activity_type.name
            if name == "record_delta":
                _fold(rebuilt, _decode(attrs.input.payloads, CaseDelta))
            elif name == "record_case":
                _fold_state(rebuilt, _decode(attrs.input.payloads, CaseRecord))
        elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            upsert = event.upsert_workflow_search_attributes_event_attributes
            rebuilt.search_attributes.update(_attributes(upsert.search_attributes))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            outcome = event.workflow_execution_update_completed_event_attributes.outcome
            if rebuilt.workflow_type == FIRST_GENERATION and outcome.HasField("success"):
                _take_state(rebuilt, _decode(outcome.success.payloads, CaseState))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            rebuilt.completed = True
            result = event.workflow_execution_completed_event_attributes.result
            if rebuilt.workflow_type == FIRST_GENERATION and result.payloads:
                _take_state(rebuilt, _decode(result.payloads, CaseState))
    if rebuilt.workflow_type == FIRST_GENERATION:
        rebuilt.engine = 1
    return rebuilt


def _attributes(indexed: Any) -> dict[str, Any]:
    found = {}
    for name, payload in indexed.indexed_fields.items():
        found[name] = DATA_CONVERTER.payload_converter.from_payloads([payload], None)[0]
    return found


def _fold(rebuilt: Rebuilt, delta: CaseDelta) -> None:
    """One projection write, applied as the projection applies it (activities/records.py): a newer
    header replaces the old, tasks opened whole replace theirs, patches merge their fields, events and
    links append (a retried write carries the same ones: kept once, by seq and by case id)."""
    rebuilt.writes += 1
    rebuilt.revision = max(rebuilt.revision, delta.revision)
    if delta.header is not None:
        rebuilt.header = delta.header
    if delta.parties is not None:
        rebuilt.parties = list(delta.parties)
    for task in delta.tasks:
        rebuilt.tasks[task.task_id] = task
    for patch in delta.task_patches:
        held = rebuilt.tasks.get(patch.task_id)
        if held is None:
            continue
        rebuilt.tasks[patch.task_id] = _patched(held, patch.fields)
    seen = {e.seq for e in rebuilt.events}
    rebuilt.events += [e for e in delta.events if e.seq not in seen]
    for link in delta.links:
        rebuilt.links = [k for k in rebuilt.links if (k.case_id, k.relation) != (link.case_id, link.relation)]
        rebuilt.links.append(link)


def _patched(task: Task, fields: dict[str, Any]) -> Task:
    data = _TASK.dump_python(task, mode="json")
    data.update(fields)
    return _TASK.validate_python(data)


def _fold_state(rebuilt: Rebuilt, record: CaseRecord) -> None:
    """A first-generation write: the whole state each time, with the events since the last."""
    rebuilt.writes += 1
    _take_state(rebuilt, record.state)
    seen = {e.seq for e in rebuilt.events}
    rebuilt.events += [e for e in record.events if e.seq not in seen]


def _take_state(rebuilt: Rebuilt, state: CaseState) -> None:
    """A first-generation case's whole state (a write, an Update's answer, its result): the newest
    revision wins. (Its oldest histories recorded through a local activity, whose input history does
    not keep: their audit events are not in the history, only the state.)"""
    if state.revision < rebuilt.revision:
        return
    rebuilt.revision = state.revision
    rebuilt.tasks = {t.task_id: t for t in state.tasks}
    rebuilt.first_generation = state


# -- the timeline an auditor reads ------------------------------------------------------------------
def timeline(rebuilt: Rebuilt) -> list[dict[str, Any]]:
    """The case's events in order, as the history recorded them, each with what it concerns."""
    return [
        {
            "seq": e.seq,
            "at": e.at.isoformat(),
            "kind": e.kind,
            "actor": (
                {"department": e.actor.department, "role": e.actor.role, "user": e.actor.user}
                if e.actor
                else None
            ),
            "summary_zh": e.summary_zh,
            "summary_en": e.summary_en,
            "data": e.data,
        }
        for e in sorted(rebuilt.events, key=lambda e: e.seq)
    ]


def task_lines(rebuilt: Rebuilt) -> list[dict[str, Any]]:
    """Each task as the history recorded it: step, who, when opened and closed, the deadline with its
    article and explanation, the clock's entries, reminder, breach, decision."""
    lines = []
    for task in sorted(rebuilt.tasks.values(), key=lambda t: t.seq):
        deadline = task.deadline
        lines.append(
            {
                "task_id": task.task_id,
                "step": task.step,
                "name_zh": task.name_zh,
                "assignee": {
                    "department": task.assignee.department,
                    "role": task.assignee.role,
                    "person": task.assignee.person,
                },
                "status": task.status,
                "opened_at": task.opened_at.isoformat(),
                "closed_at": task.closed_at.isoformat() if task.closed_at else None,
                "article": task.article,
                "limit_basis": task.limit_basis,
                "due_at": deadline.due_at.isoformat() if deadline else None,
                "working_days": deadline.working_days if deadline else None,
                "explanation_zh": list(deadline.explanation_zh) if deadline else [],
                "calendar_data": [
                    vars(ref) if hasattr(ref, "__dict__") else ref for ref in deadline.calendar_data
                ]
                if deadline
                else [],
                "clock": [
                    {
                        "kind": c.kind,
                        "at": c.at.isoformat(),
                        "article": c.article,
                        "working_days": c.working_days,
                    }
                    for c in task.clock
                ],
                "claimed_by": task.claimed_by,
                "claimed_by_name": task.claimed_by_name,
                "claimed_at": task.claimed_at.isoformat() if task.claimed_at else None,
                "reminded_at": task.reminded_at.isoformat() if task.reminded_at else None,
                "overdue": task.overdue,
                "breach": {
                    "due_at": task.breach.due_at.isoformat(),
                    "article": task.breach.article,
                    "escalation": task.breach.escalation_case_id,
                }
                if task.breach
                else None,
                "decision": {
                    "action": task.decision.action,
                    "by": {
                        "department": task.decision.actor.department,
                        "role": task.decision.actor.role,
                        "user": task.decision.actor.user,
                    },
                    "at": task.decision.decided_at.isoformat(),
                    "reason": task.decision.reason,
                    "kind": task.decision.kind,
                }
                if task.decision
                else None,
            }
        )
    return lines


# -- the projection held against it ----------------------------------------------------------------
@dataclass
class Difference:
    what: str
    recorded: Any
    projected: Any

    def line(self) -> str:
        return f"{self.what}: history {self.recorded!r} ≠ projection {self.projected!r}"


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _task_fields(task: Task) -> dict[str, Any]:
    return {
        "step": task.step,
        "status": task.status,
        "overdue": task.overdue,
        "closed_at": _instant(task.closed_at),
        "due_at": _instant(task.deadline.due_at) if task.deadline else None,
        "assignee": (task.assignee.department, task.assignee.role, task.assignee.person),
        "action": task.decision.action if task.decision else None,
        "claimed_by": task.claimed_by,
        "decided_by": task.decision.actor.user if task.decision else "",
    }


def compare(
    rebuilt: Rebuilt,
    *,
    status: str,
    result: str,
    revision: int,
    tasks: list[Task],
    events: list[tuple[int, str, str]],
    attributes: dict[str, Any] | None = None,
    expected_attributes: dict[str, Any] | None = None,
    columns: dict[str, tuple[str, str]] | None = None,
) -> list[Difference]:
    """Every way the projection (status, result, revision, tasks, audit rows as (seq, kind, summary))
    differs from the record rebuilt from history; and, given them, how Temporal's search attributes
    differ from what the projection says they should be. ``columns``: the task rows' own
    ``claimed_by`` and ``decided_by`` by task id, held against what the history says they hold."""
    found: list[Difference] = []
    header = rebuilt.header or rebuilt.first_generation
    if header is not None:
        for name, recorded, projected in (
            ("status", header.status, status),
            ("result", header.result, result),
        ):
            if recorded != projected:
                found.append(Difference(name, recorded, projected))
    if rebuilt.revision != revision:
        found.append(Difference("revision", rebuilt.revision, revision))
    projected_tasks = {t.task_id: t for t in tasks}
    for task_id in sorted(set(rebuilt.tasks) | set(projected_tasks)):
        mine, theirs = rebuilt.tasks.get(task_id), projected_tasks.get(task_id)
        if mine is None or theirs is None:
            found.append(Difference(f"task {task_id}", mine is not None, theirs is not None))
            continue
        a, b = _task_fields(mine), _task_fields(theirs)
        for name in TASK_FIELDS:
            if a[name] != b[name]:
                found.append(Difference(f"task {task_id} {name}", a[name], b[name]))
        if columns is not None and task_id in columns:
            for name, recorded, projected in zip(
                TASK_COLUMNS, task_people(mine), columns[task_id], strict=True
            ):
                # A row written before the column existed holds "" (migration 0009 added no data).
                if recorded != projected and not (name == "decided_by" and projected == ""):
                    found.append(Difference(f"task {task_id} column {name}", recorded, projected))
    if rebuilt.engine == 1 and not rebuilt.writes:
        events = []  # recorded through a local activity: the history keeps no event to hold them to
    recorded_events = [(e.seq, e.kind, e.summary_zh) for e in sorted(rebuilt.events, key=lambda e: e.seq)]
    mine_by_seq = {seq: (kind, text) for seq, kind, text in recorded_events}
    theirs_by_seq = {seq: (kind, text) for seq, kind, text in events}
    for seq in sorted(set(mine_by_seq) | set(theirs_by_seq)):
        if mine_by_seq.get(seq) != theirs_by_seq.get(seq):
            found.append(Difference(f"event {seq}", mine_by_seq.get(seq), theirs_by_seq.get(seq)))
    if attributes is not None and expected_attributes is not None:
        for name, value in expected_attributes.items():
            if attributes.get(name) != value:
                found.append(Difference(f"search attribute {name}", attributes.get(name), value))
    return found


# -- one case, and every case: the history fetched, rebuilt, held against the projection -------------
@dataclass
class CaseCheck:
    """A case's history, the record rebuilt from it, and how the projection differs."""

    case_id: str
    workflow_id: str
    case_type: str
    history: WorkflowHistory
    rebuilt: Rebuilt
    differences: list[Difference]

    @property
    def agrees(self) -> bool:
        return not self.differences


def projection_of(session: Any, case_id: str) -> tuple[Any, list[Task], list[tuple[int, str, str]]]:
    """The projection of a case: its row, its tasks and its audit rows as (seq, kind, summary)."""
    from sqlmodel import col, select

    from govshare.core import models

    row = session.get(models.Case, case_id)
    if row is None:
        raise LookupError(case_id)
    if row.engine >= 2:
        tasks = [
            _TASK.validate_python(t.detail)
            for t in session.exec(select(models.Task).where(models.Task.case_id == case_id)).all()
            if t.detail
        ]
    else:
        tasks = [_TASK.validate_python(t) for t in (row.detail or {}).get("tasks", [])]
    events = [
        (e.seq, e.kind, e.summary_zh)
        for e in session.exec(
            select(models.AuditEvent)
            .where(models.AuditEvent.case_id == case_id)
            .order_by(col(models.AuditEvent.seq))
        ).all()
    ]
    return row, tasks, events


def expected_attributes(row: Any, tasks: list[Task], parties: list[Party]) -> dict[str, Any]:
    """What Temporal's search attributes should say of a case, from its projection."""
    header = CaseHeader(
        case_id=row.id,
        case_type=row.case_type,
        workflow_id=row.workflow_id,
        workflow_type=row.workflow_type,
        profile_id=row.profile_id,
        profile_version=row.profile_version,
        profile_digest="",
        profile_name_zh="",
        submitted_at=row.submitted_at,
        submitted_by=None,  # type: ignore[arg-type]
        status=row.status,
    )
    return attributes.values(header, parties, tasks)


async def check_case(client: Any, engine: Any, case_id: str) -> CaseCheck:
    """Fetch the case's history from Temporal, rebuild it, and hold the projection against it (and,
    where the case keeps search attributes, Temporal's attributes against the projection)."""
    from sqlmodel import Session, select

    from govshare.core import models

    with Session(engine) as session:
        row, tasks, events = projection_of(session, case_id)
        parties = [
            Party(department=p.department, role=p.role, person=p.person)  # type: ignore[arg-type]
            for p in session.exec(select(models.CaseParty).where(models.CaseParty.case_id == case_id)).all()
        ]
        columns = {
            t.id: (t.claimed_by, t.decided_by)
            for t in session.exec(select(models.Task).where(models.Task.case_id == case_id)).all()
        }
    handle = client.get_workflow_handle(row.workflow_id)
    history = await handle.fetch_history()
    rebuilt = rebuild(history)
    held = expected = None
    if rebuilt.search_attributes:
        description = await handle.describe()
        held = attributes.current(description.typed_search_attributes)
        expected = expected_attributes(row, tasks, parties)
    differences = compare(
        rebuilt,
        status=row.status,
        result=row.result,
        revision=row.revision,
        tasks=tasks,
        events=events,
        attributes=held,
        expected_attributes=expected,
        columns=columns,
    )
    return CaseCheck(row.id, row.workflow_id, row.case_type, history, rebuilt, differences)


__all__ = [
    "CaseCheck",
    "Difference",
    "Rebuilt",
    "check_case",
    "compare",
    "expected_attributes",
    "projection_of",
    "rebuild",
    "task_lines",
    "timeline",
]
