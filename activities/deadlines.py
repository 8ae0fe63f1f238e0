"""Deadline computation, outside workflow code.

Run as a local activity: the result (the whole Deadline record, with the calendar data it used) is
recorded in the workflow's history, so adding next year's holiday notice never changes what an old
case replays to, and an auditor sees exactly which calendar a date came from.
"""

from __future__ import annotations

import dataclasses

from temporalio import activity

from calendars import SHANGHAI, Deadline, WorkingDayCalendar
from workflows.contracts import DeadlineRequest, WorkingDaysLeftRequest

__all__ = ["DeadlineActivities", "DeadlineRequest", "WorkingDaysLeftRequest"]


class DeadlineActivities:
    def __init__(self, calendar: WorkingDayCalendar | None = None) -> None:
        self._calendar = calendar or WorkingDayCalendar.default()

    @activity.defn(name="compute_deadline")
    def compute_deadline(self, req: DeadlineRequest) -> Deadline:
        deadline = self._calendar.add_working_days(req.start, req.working_days, cutoff=req.cutoff)
        return dataclasses.replace(
            deadline,
            profile=req.profile,
            profile_version=req.profile_version,
            step=req.step,
            article=req.article,
        )

    @activity.defn(name="working_days_left")
    def working_days_left(self, req: WorkingDaysLeftRequest) -> int:
        at = req.at.astimezone(SHANGHAI).date()
        return self._calendar.count_working_days(at, req.due_date)
