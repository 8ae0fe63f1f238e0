"""A ``workalendar`` calendar fed from the notice files: the slow, obviously-correct reference.

``workalendar.asia.China`` knows 2018–2023 only and has three traps (DESIGN.md, "workalendar"):
passing ``extra_working_days`` *replaces* its built-in make-up days, it ``warnings.warn``s on every
call, and ``holidays()`` without a year reads today's date. :class:`NoticeCalendar` is built on
workalendar's plain :class:`~workalendar.core.Calendar` instead, with every day off and make-up
working day taken from the notices, so workalendar's own ``is_working_day`` /
``add_working_days`` / ``get_working_days_delta`` give the same answers as the fast index in
:mod:`calendars.working_days` and serve to check it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from workalendar.core import SAT, SUN, Calendar, cleaned_date

from calendars.notices import DayRule

__all__ = ["NoticeCalendar"]


class NoticeCalendar(Calendar):
    """China (Mainland) working days as set by 国务院办公厅关于××××年部分节假日安排的通知.

    A year without notice data has no holidays here: weekends only, as REGULATIONS.md §3 asks
    for a year whose notice is not yet known.
    """

    WEEKEND_DAYS = (SAT, SUN)
    # New Year's Day and everything else come from the notices, not from workalendar's rules.
    include_new_years_day = False

    def __init__(self, day_rules: Mapping[date, DayRule]) -> None:
        super().__init__()
        holidays: dict[int, list[tuple[date, str]]] = {}
        makeup: set[date] = set()
        for day, rule in day_rules.items():
            if rule.kind == "off":
                holidays.setdefault(day.year, []).append((day, rule.festival.name_en))
            else:
                makeup.add(day)
        self._holidays_by_year = holidays
        self._makeup_days = frozenset(makeup)
        # Same attribute name as workalendar.asia.China, for callers that look for it.
        self.extra_working_days = tuple(sorted(makeup))

    def get_calendar_holidays(self, year: int) -> list[tuple[date, str]]:
        return list(self._holidays_by_year.get(year, ()))

    def holidays(self, year: int | None = None) -> list[tuple[date, str]]:
        """Days off of ``year``; the year is required (workalendar would read today's date)."""
        if year is None:
            raise TypeError("NoticeCalendar.holidays() needs an explicit year: no reading the clock")
        return super().holidays(year)

    def is_working_day(
        self,
        day: date | datetime,
        extra_working_days: Iterable[date] | None = None,
        extra_holidays: Iterable[date] | None = None,
    ) -> bool:
        """Make-up days (调休上班) are working days first; the caller's extras are *added* to them.

        workalendar gives ``extra_working_days`` priority over holidays and weekends; China's
        subclass lets a caller's list replace its own. Here the notices' make-up days always count.
        """
        if cleaned_date(day) in self._makeup_days:
            return True
        return super().is_working_day(day, extra_working_days, extra_holidays)
