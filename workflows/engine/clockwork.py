"""The clocks of a case's tasks as people change them: an approved extension, a suspension and its
resume, and the re-plan after a new holiday notice — each computed (a local activity, so history holds
the deadline record), checked again, applied and recorded, one change at a time.

The rules are the pure functions of ``clock.py``; this component runs them against the case's tasks.
The case engine composes it and does the rest of an Update (notices, settling, the answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from calendars import Deadline
    from regulations.schema import CaseType, Step
    from workflows.case import ERROR_CONFLICT, ERROR_INVALID, ClockRequest, Party, Task
    from workflows.contracts import WorkingDaysLeftRequest
    from workflows.engine import clock, decisions
    from workflows.engine.clock import ClockChange
    from workflows.engine.recorder import Recorder
    from workflows.engine.words import Speaker, refuse

#: A clock change whose task or case closed while its deadline was computed is refused, not applied
#: (issue 17, defect 1); histories written before the check keep the old behaviour.
PATCH_CLOCK_RECHECK = "clock-change-rechecked-after-compute"

_LOCAL: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=10)}

#: The engine's deadline computation: (step, start, working days, article) → the deadline record.
ComputeDeadline = Callable[[str, datetime, int, str], Awaitable[Deadline]]


class Clockwork:
    def __init__(
        self,
        *,
        rules: CaseType,
        tasks: list[Task],
        parties: list[Party],
        speaker: Speaker,
        recorder: Recorder,
        compute: ComputeDeadline,
        notify: Callable[[str, Party, Task], None],
        is_open: Callable[[], bool],
    ) -> None:
        self._rules, self._tasks, self._parties = rules, tasks, parties
        self._speaker, self._recorder, self._compute = speaker, recorder, compute
        self._notify, self._is_open = notify, is_open
        #: Two changes to one case's clocks never interleave.
        self.lock = asyncio.Lock()

    def target(self, req: ClockRequest) -> tuple[Task, Step]:
        """The task a change is for, or a refusal (the validator's check, and the re-check)."""
        if not self._is_open():
            raise refuse(ERROR_CONFLICT, "案件已办结,不能调整期限", "the case is closed")
        task = decisions.task_by_id(self._tasks, req.task_id)
        if task.approves:
            raise refuse(
                ERROR_INVALID,
                f"“{task.name_zh}”是延期审批待办,不能调整其期限",
                f"task {task.task_id} approves an extension; its clock cannot be changed",
            )
        step = self._rules.steps[task.step]
        clock.check_change(req, task, step, self._parties, self._speaker)
        return task, step

    async def adjust(self, req: ClockRequest) -> tuple[Task, ClockChange]:
        """Compute, check again, apply, record and announce one change (call under ``lock``)."""
        task, step = self.target(req)
        now = workflow.now()
        old_due = task.deadline.due_at if task.deadline else None
        if req.kind == "extension":
            plan = clock.plan_extension(task, step, req)
            deadline = await self._compute(task.step, plan.start, plan.working_days, plan.article)
            self._recheck(req)
            change = clock.extension(req, plan, deadline, now, self._speaker, task)
        elif req.kind == "suspension":
            assert task.deadline is not None
            left = await workflow.execute_local_activity(
                "working_days_left",
                WorkingDaysLeftRequest(at=now, due_date=task.deadline.due_date),
                result_type=int,
                **_LOCAL,
            )
            self._recheck(req)
            change = clock.suspension(req, step, left, now, task)
        else:
            plan = clock.plan_resume(task, step, now)
            deadline = await self._compute(task.step, plan.start, plan.working_days, plan.article)
            self._recheck(req)
            change = clock.resume(req, step, plan, deadline, now, task)
        clock.apply(task, change)
        entry = change.entry
        self._recorder.touch(task, *clock.CHANGED_FIELDS)
        self._recorder.event(
            f"clock_{req.kind}",
            req.actor,
            change.zh,
            change.en,
            {
                "task_id": task.task_id,
                "article": entry.article,
                "working_days": entry.working_days,
                "old_due_at": old_due.isoformat() if old_due else None,
                "new_due_at": entry.due_at.isoformat() if entry.due_at else None,
            },
        )
        self._notify(change.notice, task.assignee, task)
        return task, change

    def _recheck(self, req: ClockRequest) -> None:
        """The task (or the case) may have closed while the deadline was being computed (a decision or
        a withdrawal does not wait for the clock's lock): refuse the change then, never apply it."""
        if workflow.patched(PATCH_CLOCK_RECHECK):
            self.target(req)

    async def replan(self) -> list[tuple[Task, ClockChange]]:
        """Recompute open provisional deadlines with the calendar data now in force (REGULATIONS.md
        §3: a year without a holiday notice is provisional until it is added); call under ``lock``.
        Returns the tasks whose deadline changed."""
        changed = []
        for task in list(self._tasks):
            if not clock.needs_replan(task):
                continue
            old = task.deadline
            assert old is not None
            article = old.article or task.article
            new = await self._compute(task.step, old.start_at, old.working_days, article)
            change = clock.replan(task, new, workflow.now())
            if change is None:
                continue
            clock.apply(task, change)
            self._recorder.touch(task, *clock.CHANGED_FIELDS)
            self._recorder.event(
                "deadline_recomputed",
                None,
                change.zh,
                change.en,
                {
                    "task_id": task.task_id,
                    "old_due_at": old.due_at.isoformat(),
                    "new_due_at": new.due_at.isoformat(),
                },
            )
            self._notify(change.notice, task.assignee, task)
            changed.append((task, change))
        return changed
