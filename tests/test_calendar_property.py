"""The bisect index against the straightforward day-by-day definition, on many random cases."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import pytest

from calendars import SHANGHAI, WorkingDayCalendar


@pytest.fixture(scope="module")
def cal() -> WorkingDayCalendar:
    return WorkingDayCalendar.default()


def naive_nth_working_day_after(cal: WorkingDayCalendar, start: date, n: int) -> date:
    """REGULATIONS.md §3 read literally: skip the start date, count working days one by one."""
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        if cal.reference.is_working_day(day):  # workalendar, fed from the same files
            counted += 1
    return day


def test_fast_add_working_days_equals_day_by_day_loop(cal: WorkingDayCalendar) -> None:
    rng = random.Random(20260930)
    first, span = date(2017, 11, 1), (date(2027, 12, 31) - date(2017, 11, 1)).days
    for _ in range(1500):
        start_date = first + timedelta(days=rng.randrange(span))
        n = rng.choice([0, 1, 2, 3, 5, 7, 10, 15, 20, 30, 60, rng.randrange(0, 400)])
        start = datetime.combine(start_date, time(rng.randrange(24), rng.randrange(60)), SHANGHAI)
        deadline = cal.add_working_days(start, n)
        expected = naive_nth_working_day_after(cal, start_date, n)
        assert deadline.due_date == expected, (start, n)
        assert deadline.due_at == datetime.combine(expected + timedelta(days=1), time(0), SHANGHAI)
        if n:
            assert cal.working_days_between(start, datetime.combine(expected, time(12), SHANGHAI)) == n


def test_workalendar_add_working_days_agrees(cal: WorkingDayCalendar) -> None:
    """workalendar's own add_working_days on the subclass is the same rule (start date not counted)."""
    rng = random.Random(7)
    for _ in range(200):
        start = date(2018, 1, 1) + timedelta(days=rng.randrange(3300))
        n = rng.randrange(1, 31)
        assert cal.reference.add_working_days(start, n) == cal.nth_working_day_after(start, n)


def test_count_matches_day_by_day(cal: WorkingDayCalendar) -> None:
    rng = random.Random(11)
    for _ in range(300):
        a = date(2017, 12, 1) + timedelta(days=rng.randrange(3400))
        b = a + timedelta(days=rng.randrange(-20, 500))
        expected = sum(
            cal.reference.is_working_day(a + timedelta(days=i)) for i in range(1, (b - a).days + 1)
        )
        assert cal.count_working_days(a, b) == expected, (a, b)
