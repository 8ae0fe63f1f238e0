"""What a case sends to the projection: revision, changed tasks, events, notices, one delta per step.

The engine tells the recorder what changed (``touch`` a task, ``header_changed``, ``link_added``,
``event``, ``notice``); ``flush`` sends it all as one ``CaseDelta`` to the regular ``record_delta``
activity. A regular activity is dispatched only after the workflow task that scheduled it is
committed, so the database never shows what the history does not hold (issue 13). Flushes are
serialized, so revisions reach the database in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.case import (
    RECORD_REJECTED,
    Actor,
    AuditEvent,
    CaseAnswer,
    CaseDelta,
    CaseHeader,
    CaseLink,
    Notice,
    Party,
    RecordFailure,
    Task,
    TaskBrief,
    TaskPatch,
)
from workflows.contracts import CaseStart
from workflows.engine.words import Speaker

#: The regular ``record_delta`` activity: each attempt bounded (a stuck write is retried; the write
#: is idempotent), retried without end for outages; RECORD_REJECTED (never storable) is not retried.
RECORD_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=[RECORD_REJECTED],
    ),
}


class Recorder:
    """The changes of one case since its last write, and the write itself."""

    def __init__(self, header: CaseHeader, parties: list[Party]) -> None:
        self._header = header
        self._parties = parties
        self.revision = 0
        self.audit_seq = 0
        self._events: list[AuditEvent] = []
        self._notices: list[Notice] = []
        self._dirty: dict[str, Task] = {}
        #: task id → (the task, the names of its fields that changed since the last write)
        self._patched: dict[str, tuple[Task, set[str]]] = {}
        self._header_dirty = True
        self._parties_dirty = True
        self._new_links: list[CaseLink] = list(header.links)
        self._full_next = False
        self._lock = asyncio.Lock()
        #: The answer as of the last write that completed: what an Update returns, so a caller never
        #: hears of a state the database does not hold yet (a later step may be mid-write).
        self.recorded: CaseAnswer | None = None

    # -- what changed ------------------------------------------------------------------------------

    def parties_changed(self) -> None:
        """A party joined the case (a decision brought it in): the next write carries the parties."""
        self._parties_dirty = True

    def touch(self, task: Task, *fields: str) -> None:
        """``task`` changed: only ``fields`` of it, or (none named) all of it (a task just opened)."""
        if not fields:
            self._dirty[task.task_id] = task
            return
        _task, names = self._patched.setdefault(task.task_id, (task, set()))
        names.update(fields)

    def header_changed(self) -> None:
        self._header_dirty = True

    def link_added(self, link: CaseLink) -> None:
        self._new_links.append(link)
        self._header_dirty = True

    def event(
        self, kind: str, actor: Actor | None, zh: str, en: str, data: dict[str, Any] | None = None
    ) -> None:
        self.audit_seq += 1
        self._events.append(
            AuditEvent(
                case_id=self._header.case_id,
                seq=self.audit_seq,
                at=workflow.now(),
                kind=kind,
                actor=actor,
                summary_zh=zh,
                summary_en=en,
                data=data or {},
            )
        )

    def notice(self, kind: str, recipient: Party, params: dict[str, Any]) -> None:
        """A message to a party; its key makes it once per (case, event, recipient)."""
        who = f"{recipient.department}:{recipient.role}" + (
            f":{recipient.person}" if recipient.person else ""
        )
        case_id = self._header.case_id
        self._notices.append(
            Notice(
                case_id=case_id,
                key=f"{case_id}:{self.audit_seq}:{kind}:{who}",
                recipient=recipient,
                kind=kind,
                params=params,
            )
        )

    # -- the write ---------------------------------------------------------------------------------
    async def flush(self, tasks: list[Task], answer: Callable[[int], CaseAnswer]) -> None:
        """Send what changed since the last write (``tasks``: all of the case's, for a full write);
        ``answer(revision)`` is the case's answer as this write records it, kept once it is written.

        A database outage is retried until it ends (the projection lags, nothing is lost). A write the
        database can never take (``RecordRejected``) is logged as an error, the case row marked, and
        the next write carries the whole case, so the projection heals with the next step.
        """
        async with self._lock:
            self.revision += 1
            full = self._full_next
            header = self._header
            delta = CaseDelta(
                case_id=header.case_id,
                workflow_id=header.workflow_id,
                revision=self.revision,
                header=header if (self._header_dirty or full) else None,
                parties=list(self._parties) if (self._parties_dirty or full) else None,
                tasks=list(tasks) if full else list(self._dirty.values()),
                task_patches=[]
                if full
                else [
                    TaskPatch(task_id, {name: getattr(task, name) for name in sorted(names)})
                    for task_id, (task, names) in self._patched.items()
                    if task_id not in self._dirty
                ],
                links=list(header.links) if full else list(self._new_links),
                events=self._events,
                notices=self._notices,
                full=full,
            )
            self._events, self._notices = [], []
            self._dirty, self._patched, self._new_links = {}, {}, []
            self._header_dirty = self._parties_dirty = self._full_next = False
            written = answer(self.revision)
            try:
                await workflow.execute_activity("record_delta", delta, **RECORD_OPTIONS)
                self.recorded = written
            except ActivityError as err:
                cause = err.cause
                if not (isinstance(cause, ApplicationError) and cause.type == RECORD_REJECTED):
                    raise
                workflow.logger.error(
                    "projection write refused by the database; case marked",
                    extra={"case_id": header.case_id, "revision": self.revision, "error": cause.message},
                )
                self._full_next = True
                await workflow.execute_activity(
                    "mark_record_failed",
                    RecordFailure(header.case_id, header.workflow_id, self.revision, cause.message),
                    **RECORD_OPTIONS,
                )
                self.recorded = written


def case_header(
    start: CaseStart,
    *,
    case_type: str,
    workflow_id: str,
    workflow_type: str,
    subject: tuple[str, str],
    attributes: dict[str, Any] | None,
    summary: dict[str, str] | None,
) -> CaseHeader:
    """What a case is, as its first write records it: the pinned start, and what its case type gave."""
    return CaseHeader(
        case_id=start.case_id,
        case_type=case_type,
        workflow_id=workflow_id,
        workflow_type=workflow_type,
        profile_id=start.profile_id,
        profile_version=start.profile_version,
        profile_digest=start.profile_digest,
        profile_name_zh=start.profile_name_zh,
        submitted_at=start.submitted_at,
        submitted_by=start.submitted_by,
        subject_zh=subject[0],
        subject_en=subject[1],
        attributes=dict(attributes or {}),
        summary=dict(summary or {}),
        counts_from=start.counts_from,
        links=list(start.links),
    )


def answer_of(header: CaseHeader, tasks: list[Task], revision: int) -> CaseAnswer:
    """The case as an Update answers it: status, result, revision and the open tasks in brief."""
    return CaseAnswer(
        case_id=header.case_id,
        status=header.status,
        result=header.result,
        revision=revision,
        open_tasks=[
            TaskBrief(
                task_id=t.task_id,
                step=t.step,
                name_zh=t.name_zh,
                name_en=t.name_en,
                assignee=t.assignee,
                status=t.status,
                due_at=t.deadline.due_at if t.deadline and t.suspended_at is None else None,
                working_days=t.deadline.working_days if t.deadline else None,
                article=t.clock[-1].article if t.clock else t.article,
                suspended=t.suspended_at is not None,
            )
            for t in tasks
            if t.status == "open"
        ],
    )


def notice_params(
    header: CaseHeader, start: CaseStart, speaker: Speaker, task: Task | None, extra: dict[str, Any]
) -> dict[str, Any]:
    """What a notice says, as plain data the notify step renders (activities/messages.py): the case,
    its labels as its case type gives them, the case type's own ``extra``, and the task it is about."""
    params: dict[str, Any] = {
        "case_id": header.case_id,
        "case_type": header.case_type,
        "profile_name_zh": start.profile_name_zh,
        "annex_titles_zh": start.annex_titles_zh,
        "status": header.status,
        "result": header.result,
        "result_reason": header.result_reason,
        "result_article": header.result_article,
        "subject_zh": header.subject_zh,
        "subject_en": header.subject_en,
        # Labels the case type gives (the messages need no table of every case type's words).
        "case_type_zh": start.rules.name_zh,
        "case_type_en": start.rules.name_en,
        "result_zh": speaker.status_zh(header.result or header.status),
        "result_en": speaker.status_en(header.result or header.status),
        **extra,
    }
    if task is not None:
        params.update(_task_params(task))
    return params


def _task_params(task: Task) -> dict[str, Any]:
    """What a notice about a task says: the step, its article and basis, the deadline, the decision."""
    deadline = task.deadline
    clock_entry = task.clock[-1] if task.clock else None
    return {
        "task_id": task.task_id,
        "step": task.step,
        "step_zh": task.name_zh,
        "step_en": task.name_en,
        "article": clock_entry.article if clock_entry else task.article,
        "limit_basis": task.limit_basis,
        "due_at": deadline.due_at.isoformat() if deadline else "",
        "working_days": deadline.working_days if deadline else None,
        "provisional": deadline.provisional if deadline else False,
        "suspended": task.suspended_at is not None,
        "working_days_left": (
            clock_entry.working_days if clock_entry and clock_entry.kind in ("suspension", "resume") else None
        ),
        "action": task.decision.action if task.decision else "",
        "reason": task.decision.reason if task.decision else "",
    }
