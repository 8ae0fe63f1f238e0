"""Deadline computation, outside workflow code.

Run as a local activity: the result (the whole Deadline record, with the calendar data it used) is
recorded in the workflow's history, so adding next year's holiday notice never changes what an old
case replays to, and an auditor sees exactly which calendar a date came from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from temporalio import activity

from calendars import Deadline, WorkingDayCalendar


@dataclass
class DeadlineRequest:
    start: datetime
    working_days: int
    cutoff: str
    profile: str
    profile_version: str
    step: str
    article: str


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
