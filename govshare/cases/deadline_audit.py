"""Recorded deadlines proved as of their calendar (issue 21): read from the projection or a history.

The proof itself is pure and lives in :mod:`calendars.proof`; this module finds what was recorded:

- **projection** — every task's ``deadline`` (the whole Deadline record the case computed, in
  ``task.detail``; a first-generation case keeps its tasks in ``case.detail``), and every clock
  entry's due instant. A clock entry records no calendar data of its own: it is recomputed with the
  data its task's deadline names. The entry that set the deadline in force must agree with it; an
  entry a later adjustment superseded (a base limit before an extension, a provisional date before
  its re-plan) that does not recompute with that data is *unproven*, not failed — the projection
  does not keep what it was computed with; its own Deadline record is in the history.
- **history** — every ``compute_deadline`` local-activity result in the workflow's history (the
  ``core_local_activity`` markers): each Deadline record exactly as the case received it.

A recorded deadline that does not recompute to itself with its own data (``mismatch``), whose data
is not found (``data_missing``) or that cannot be read (``unreadable``) fails the audit; a different
date under the calendar now in force is reported (a notice published or corrected since), never a
failure. Used by ``govshare audit deadlines`` and ``GET /cases/{id}/deadlines/audit``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session, col, select
from temporalio.api.history.v1 import HistoryEvent
from temporalio.contrib.pydantic import pydantic_data_converter

from calendars import SHANGHAI, Deadline, WorkingDayCalendar
from calendars.proof import DeadlineProof, prove, prove_deadline
from govshare.core.models import Case
from govshare.core.models import Task as TaskRow
from workflows.case import Task

__all__ = [
    "LOCAL_ACTIVITY_MARKER",
    "DeadlineAudit",
    "DeadlineCheck",
    "audit_history",
    "audit_projection",
    "history_deadlines",
]

Source = Literal["projection", "history"]
CheckVerdict = Literal["agrees", "mismatch", "data_missing", "unproven", "unreadable"]

#: The marker Temporal's core SDK records for a completed local activity.
LOCAL_ACTIVITY_MARKER = "core_local_activity"
#: The local activity whose results are the deadlines (activities/deadlines.py).
COMPUTE_DEADLINE = "compute_deadline"

#: Verdicts that fail the audit (a recorded deadline not proved to be what its data gives).
FAILING: frozenset[str] = frozenset({"mismatch", "data_missing", "unreadable"})

_TASK = TypeAdapter(Task)

_VERDICT_WORDS = {
    "agrees": ("一致", "agrees"),
    "mismatch": ("不一致", "MISMATCH"),
    "data_missing": ("数据缺失", "DATA MISSING"),
    "unproven": ("无法证明", "unproven"),
    "unreadable": ("无法读取", "UNREADABLE"),
}
_SOURCE_WORDS = {
    "projection": ("数据库投影", "the projection (database)"),
    "history": ("Temporal 工作流历史", "the Temporal workflow history"),
}


@dataclass(frozen=True)
class DeadlineCheck:
    """One recorded deadline and its verdict."""

    case_id: str
    #: The task it belongs to ("" when read from a history: a marker names no task).
    task_id: str
    step: str
    article: str
    #: ``deadline`` (a task's Deadline record), ``clock:<kind>#<n>`` (a clock entry, from 1), or
    #: ``history:event <id>`` (a compute_deadline result in the history).
    what: str
    recorded_due_at: datetime | None
    recorded_due_date: date | None
    working_days: int | None
    verdict: CheckVerdict
    proof: DeadlineProof | None = None
    note_zh: str = ""
    note_en: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict not in FAILING

    @property
    def now_differs(self) -> bool:
        return self.proof is not None and self.proof.now_verdict == "differs"

    def describe(self) -> tuple[str, str]:
        """(zh, en) of the verdict, the comparison now, and any note."""
        if self.proof is not None:
            zh, en = self.proof.describe()
            if self.verdict == "unproven":  # the proof disagreed, but the data was not the entry's
                zh, en = self.proof.describe_now()
        else:
            zh, en = "", ""
        if self.note_zh:
            zh = f"{self.note_zh};{zh}" if zh else self.note_zh
            en = f"{self.note_en}; {en}" if en else self.note_en
        return zh, en

    def to_json_dict(self) -> dict[str, Any]:
        zh, en = self.describe()
        words = _VERDICT_WORDS[self.verdict]
        return {
            "case_id": self.case_id,
            "task_id": self.task_id,
            "step": self.step,
            "article": self.article,
            "what": self.what,
            "recorded_due_at": _iso(self.recorded_due_at),
            "recorded_due_date": _iso(self.recorded_due_date),
            "working_days": self.working_days,
            "verdict": self.verdict,
            "verdict_zh": words[0],
            "verdict_en": words[1],
            "ok": self.ok,
            "now_differs": self.now_differs,
            "summary_zh": zh,
            "summary_en": en,
            "proof": self.proof.to_json_dict() if self.proof is not None else None,
        }


@dataclass
class DeadlineAudit:
    """The checks of one run, where they were read from, and the totals."""

    source: Source
    case_ids: list[str] = field(default_factory=list)
    checks: list[DeadlineCheck] = field(default_factory=list)
    #: The workflow whose history was read (source ``history``).
    workflow_id: str = ""

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def counts(self) -> dict[str, int]:
        found = {verdict: 0 for verdict in _VERDICT_WORDS}
        for check in self.checks:
            found[check.verdict] += 1
        found["now_differs"] = sum(check.now_differs for check in self.checks)
        return found

    def source_words(self) -> tuple[str, str]:
        zh, en = _SOURCE_WORDS[self.source]
        if self.workflow_id:
            zh, en = f"{zh} {self.workflow_id}", f"{en} of {self.workflow_id}"
        return zh, en

    def summary(self) -> tuple[str, str]:
        c = self.counts()
        total = len(self.checks)
        source_zh, source_en = self.source_words()
        zh = (
            f"共 {total} 个期限(来源:{source_zh}):一致 {c['agrees']},不一致 {c['mismatch']},"
            f"数据缺失 {c['data_missing']},无法读取 {c['unreadable']},无法证明 {c['unproven']};"
            f"现行日历下日期不同 {c['now_differs']}"
        )
        en = (
            f"{total} deadline(s) (source: {source_en}): {c['agrees']} agree, {c['mismatch']} mismatch, "
            f"{c['data_missing']} data missing, {c['unreadable']} unreadable, {c['unproven']} unproven; "
            f"{c['now_differs']} with another date under the calendar now in force"
        )
        return zh, en

    def to_json_dict(self) -> dict[str, Any]:
        zh, en = self.summary()
        source_zh, source_en = self.source_words()
        return {
            "source": self.source,
            "source_zh": source_zh,
            "source_en": source_en,
            "workflow_id": self.workflow_id or None,
            "case_ids": list(self.case_ids),
            "ok": self.ok,
            "counts": self.counts(),
            "summary_zh": zh,
            "summary_en": en,
            "deadlines": [check.to_json_dict() for check in self.checks],
        }


# --------------------------------------------------------------------------------------------------
# the projection
# --------------------------------------------------------------------------------------------------


def audit_projection(
    session: Session, case_ids: Iterable[str] | None = None, *, now: WorkingDayCalendar | None = None
) -> DeadlineAudit:
    """Check every recorded deadline of the cases ``case_ids`` (None: every case) in the projection.

    A case id that is not in the projection is simply absent from ``case_ids`` of the answer.
    """
    query = select(Case).order_by(col(Case.id))
    if case_ids is not None:
        query = query.where(col(Case.id).in_(list(case_ids)))
    cases = list(session.exec(query).all())
    rows: dict[str, list[TaskRow]] = {}
    if cases:
        task_query = select(TaskRow).order_by(col(TaskRow.case_id), col(TaskRow.seq), col(TaskRow.id))
        if case_ids is not None:
            task_query = task_query.where(col(TaskRow.case_id).in_([c.id for c in cases]))
        for row in session.exec(task_query).all():
            rows.setdefault(row.case_id, []).append(row)
    calendar = now if now is not None else WorkingDayCalendar.default()
    audit = DeadlineAudit(source="projection", case_ids=[case.id for case in cases])
    for case in cases:
        audit.checks.extend(_case_checks(case, rows.get(case.id, []), calendar))
    return audit


def _case_checks(case: Case, rows: list[TaskRow], calendar: WorkingDayCalendar) -> list[DeadlineCheck]:
    if case.engine >= 2:
        raw = [(row.id, row.step, row.article, row.detail) for row in rows if row.detail]
    else:  # the first generation keeps the whole state, tasks included, in the case row
        raw = [
            (item.get("task_id", ""), item.get("step", ""), item.get("article", ""), item)
            for item in (case.detail or {}).get("tasks", [])
            if isinstance(item, dict)
        ]
    checks: list[DeadlineCheck] = []
    for task_id, step, article, detail in raw:
        try:
            task = _TASK.validate_python(detail)
        except ValidationError as exc:
            checks.append(
                DeadlineCheck(
                    case_id=case.id,
                    task_id=task_id,
                    step=step,
                    article=article,
                    what="deadline",
                    recorded_due_at=None,
                    recorded_due_date=None,
                    working_days=None,
                    verdict="unreadable",
                    note_zh="待办记录无法读取",
                    note_en=f"the task's record cannot be read ({exc.error_count()} error(s))",
                )
            )
            continue
        checks.extend(task_checks(case.id, task, calendar))
    return checks


def task_checks(case_id: str, task: Task, calendar: WorkingDayCalendar) -> list[DeadlineCheck]:
    """The task's Deadline record, then each clock entry that carries a due instant."""
    checks: list[DeadlineCheck] = []
    deadline = task.deadline
    if deadline is not None:
        checks.append(_deadline_check(case_id, task.task_id, deadline, "deadline", calendar, fallback=task))
    dated = [i for i, entry in enumerate(task.clock) if entry.due_at is not None]
    for index in dated:
        entry = task.clock[index]
        assert entry.due_at is not None
        common = {
            "case_id": case_id,
            "task_id": task.task_id,
            "step": task.step,
            "article": entry.article or task.article,
            "what": f"clock:{entry.kind}#{index + 1}",
            "recorded_due_at": entry.due_at,
            "recorded_due_date": None,
            "working_days": entry.working_days,
        }
        in_force = index == dated[-1]
        if deadline is None:
            checks.append(
                DeadlineCheck(
                    **common,
                    verdict="mismatch" if in_force else "unproven",
                    note_zh="待办无期限记录,无从证明该条目",
                    note_en="the task has no Deadline record to prove this entry with",
                )
            )
            continue
        if in_force and entry.due_at != deadline.due_at:
            checks.append(
                DeadlineCheck(
                    **common,
                    verdict="mismatch",
                    note_zh=f"计时记录的截止时刻与待办期限记录({_iso(deadline.due_at)})不同",
                    note_en=f"the clock's due instant is not the task's deadline ({_iso(deadline.due_at)})",
                )
            )
            continue
        if entry.kind == "limit_kept" or entry.starts_at is None or entry.working_days is None:
            # A deadline kept from the step's earlier run: a copy of that run's record, proved as the
            # task's deadline (its own start and count are the earlier run's, not this entry's).
            checks.append(
                DeadlineCheck(
                    **common,
                    verdict="agrees" if in_force else "unproven",
                    note_zh="沿用原期限,以待办期限记录证明" if in_force else "沿用原期限,已被后续调整取代",
                    note_en="the deadline kept from the earlier run, proved as the task's deadline"
                    if in_force
                    else "a kept deadline superseded by a later adjustment",
                )
            )
            continue
        proof = prove(
            entry.starts_at,
            entry.working_days,
            deadline.cutoff,
            deadline.calendar_data,
            {"due_at": entry.due_at},
            now=calendar,
        )
        if proof.verdict == "agrees" or in_force:
            checks.append(
                DeadlineCheck(
                    **common,
                    verdict=proof.verdict,
                    proof=proof,
                    note_zh="按待办期限记录的日历数据重算",
                    note_en="recomputed with the calendar data of the task's deadline",
                )
            )
        else:
            checks.append(
                DeadlineCheck(
                    **common,
                    verdict="unproven",
                    proof=proof,
                    note_zh="已被后续调整取代;投影未保存其所用日历数据(可用 --from-history 按工作流历史证明)",
                    note_en="superseded by a later adjustment; the projection keeps no calendar data for "
                    "it (prove it from the workflow history: --from-history)",
                )
            )
    return checks


def _deadline_check(
    case_id: str,
    task_id: str,
    deadline: Deadline,
    what: str,
    calendar: WorkingDayCalendar,
    *,
    fallback: Task | None = None,
) -> DeadlineCheck:
    proof = prove_deadline(deadline, now=calendar)
    return DeadlineCheck(
        case_id=case_id,
        task_id=task_id,
        step=deadline.step or (fallback.step if fallback else ""),
        article=deadline.article or (fallback.article if fallback else ""),
        what=what,
        recorded_due_at=deadline.due_at,
        recorded_due_date=deadline.due_date,
        working_days=deadline.working_days,
        verdict=proof.verdict,
        proof=proof,
    )


# --------------------------------------------------------------------------------------------------
# the history
# --------------------------------------------------------------------------------------------------


def history_deadlines(events: Iterable[HistoryEvent]) -> list[tuple[int, Deadline]]:
    """Every ``compute_deadline`` result in a workflow history, with its marker's event id.

    Temporal's core SDK records a completed local activity as a ``MarkerRecorded`` event named
    ``core_local_activity``: ``details["data"]`` is its JSON header (seq, attempt, activity_type …),
    ``details["result"]`` the result payload, here a Deadline encoded by the pydantic data converter
    the workers run with. A failed attempt has no result and is skipped.
    """
    converter = pydantic_data_converter.payload_converter
    found: list[tuple[int, Deadline]] = []
    for event in events:
        if not event.HasField("marker_recorded_event_attributes"):
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in marker.details:
            continue
        header = converter.from_payloads(list(marker.details["data"].payloads))
        if not header or not isinstance(header[0], dict):
            continue
        if header[0].get("activity_type") != COMPUTE_DEADLINE or "result" not in marker.details:
            continue
        result = list(marker.details["result"].payloads)
        if not result:
            continue
        found.append((event.event_id, converter.from_payloads(result, [Deadline])[0]))
    return found


def audit_history(
    case_id: str, workflow_id: str, events: Iterable[HistoryEvent], *, now: WorkingDayCalendar | None = None
) -> DeadlineAudit:
    """Check every Deadline record the case computed, as its workflow history holds them."""
    calendar = now if now is not None else WorkingDayCalendar.default()
    audit = DeadlineAudit(source="history", case_ids=[case_id], workflow_id=workflow_id)
    for event_id, deadline in history_deadlines(events):
        audit.checks.append(_deadline_check(case_id, "", deadline, f"history:event {event_id}", calendar))
    return audit


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).isoformat()
    return value.isoformat()
