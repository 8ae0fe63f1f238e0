"""The computed deadline record (期限): a small, plain, serialisable dataclass.

A deadline travels through Temporal (pydantic data converter) into workflow history and out through
the JSON API, so it holds only plain fields. It carries what a clerk needs to see *why* a date is
what it is (the explanation lines), what an auditor needs to recompute it as of the calendar then
in force (the notices by year and content hash), and what a newly published notice needs to find
the provisional deadlines it affects (``provisional_years``) — DESIGN.md, "Deadlines".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["END_OF_DAY", "SHANGHAI", "CalendarDataRef", "Deadline"]

#: Periods end at 24:00 Asia/Shanghai (民法典 第203条 as applied in REGULATIONS.md §3).
SHANGHAI = ZoneInfo("Asia/Shanghai")

#: The default cut-off: the period runs to the end of the N-th working day.
END_OF_DAY = "24:00"


@dataclass(frozen=True)
class CalendarDataRef:
    """Which notice data a computation read: the year, the notice title, the file's sha256."""

    year: int
    notice: str
    sha256: str


@dataclass(frozen=True)
class Deadline:
    """A working-day deadline and why it falls where it does.

    All datetimes are timezone-aware, in Asia/Shanghai. ``due_at`` is the instant the period
    ends: 00:00 of the day after ``due_date`` for the default cut-off "24:00", or ``cutoff`` on
    ``due_date`` for an office-closing cut-off. The regulation layer fills ``profile`` …
    ``article`` with :func:`dataclasses.replace`.
    """

    start_at: datetime
    start_date: date
    due_at: datetime
    due_date: date
    remind_at: datetime
    working_days: int
    cutoff: str
    provisional: bool
    provisional_years: list[int]
    calendar_years: list[int]
    calendar_data: list[CalendarDataRef]
    explanation_zh: list[str]
    explanation_en: list[str]
    profile: str | None = None
    profile_version: str | None = None
    step: str | None = None
    article: str | None = None

    def affected_by_notice(self, year: int) -> bool:
        """True if publishing ``year``'s notice may move this deadline (it was computed without it)."""
        return year in self.provisional_years

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types; instants as ISO 8601 with their +08:00 offset, dates as YYYY-MM-DD."""
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Deadline:
        """Inverse of :meth:`to_json_dict` (for stores and tests; pydantic does this in Temporal)."""
        values = dict(data)
        for name in ("start_at", "due_at", "remind_at"):
            values[name] = datetime.fromisoformat(values[name]).astimezone(SHANGHAI)
        for name in ("start_date", "due_date"):
            values[name] = date.fromisoformat(values[name])
        values["calendar_data"] = [CalendarDataRef(**ref) for ref in values["calendar_data"]]
        for name in ("provisional_years", "calendar_years", "explanation_zh", "explanation_en"):
            values[name] = list(values[name])
        return cls(**values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
