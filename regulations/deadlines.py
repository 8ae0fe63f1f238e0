"""A step's deadline under a profile: the profile gives N and the article, the calendar counts the days.

The working-day count and its basis come from the step (``Step.limit``: the statute's number, else a
labelled local-policy number); the cut-off comes from the profile (``deadline_cutoff``); the counting
itself is the calendar's (``calendars.WorkingDayCalendar``). The result is the calendar's ``Deadline``
record with the profile, its version, the step and the article filled in, so that whoever reads a task
sees *why* the date is what it is (REGULATIONS.md preamble).

``calendars`` is imported only when a deadline is computed, so ``import regulations`` stays light
(workflow code may import the profile schema without pulling in the calendar data).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

from regulations.schema import Profile, Step

if TYPE_CHECKING:
    from calendars import Deadline, WorkingDayCalendar

__all__ = ["find_step", "step_deadline"]

#: The schema's "end of the N-th working day" cut-off (civil code 201, 203).
END_OF_DAY = "24:00"


def find_step(profile: Profile, step_id: str) -> tuple[str, Step]:
    """``(case_type_id, step)`` of ``step_id``; ``ValueError`` naming the profile's steps if unknown."""
    try:
        return profile.find_step(step_id)
    except KeyError:
        steps = [s for ct in profile.case_types.values() for s in ct.steps]
        known = ", ".join(steps) if steps else "none"
        raise ValueError(f"profile {profile.id} has no step '{step_id}'; its steps: {known}") from None


def step_deadline(
    profile: Profile,
    step_id: str,
    start: datetime,
    *,
    calendar: WorkingDayCalendar | None = None,
    working_days: int | None = None,
) -> Deadline:
    """The deadline of ``step_id`` opened at ``start`` (tz-aware; the platform's record time, Hubei 22).

    ``working_days`` overrides the step's limit (e.g. an approved extension, Luoyang 19: the caller
    adds the extension to the limit); the article stays the step's. A step without any limit
    (``statutory = "none"`` and no local policy) has no deadline: ``ValueError``.
    """
    _, step = find_step(profile, step_id)
    n = working_days if working_days is not None else step.limit
    if n is None:
        raise ValueError(f"step {step_id} of profile {profile.id} has no working-day limit (statutory: none)")
    if calendar is None:
        from calendars import WorkingDayCalendar

        calendar = WorkingDayCalendar.default()
    deadline = calendar.add_working_days(start, n, cutoff=profile.deadline_cutoff)
    return dataclasses.replace(
        deadline,
        profile=profile.id,
        profile_version=profile.version,
        step=step_id,
        article=step.article,
    )
