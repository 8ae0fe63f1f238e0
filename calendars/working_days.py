"""Working-day arithmetic (工作日) for govshare deadlines.

Rules (REGULATIONS.md §3):

* A working day is Monday–Friday, minus statutory holidays and bridging days off, plus the weekend
  make-up working days (调休上班), as set by each year's State Council General Office notice.
* The day on which a period starts is not counted; day 1 is the first working day after the start
  instant's *date* in Asia/Shanghai (民法典 第201条; Hubei 22: the platform's record time counts).
* The period ends at 24:00 Asia/Shanghai of the N-th working day (民法典 第203条), i.e. at 00:00 of the
  next calendar day; a profile may choose an office-closing cut-off ("17:30") on the N-th day instead.
* A year without notice data is counted on weekends alone and the deadline is *provisional*.

The hot path never walks day by day: each calendar year is indexed once (lazily, then cached) as a
sorted list of the ordinals of its working days, and questions are answered with :mod:`bisect`.
The workalendar-based :class:`~calendars.reference.NoticeCalendar` (``.reference``) is the slow
reference the index is tested against. Nothing here reads the clock.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from bisect import bisect_right
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple

from calendars.deadline import END_OF_DAY, SHANGHAI, CalendarDataRef, Deadline
from calendars.notices import (
    NEW_YEAR_REACH_BACK,
    DayRule,
    HolidayNotice,
    load_notices,
    merge_day_rules,
    notices_dir,
    weekday_en,
    weekday_zh,
)
from calendars.reference import NoticeCalendar

__all__ = ["WorkingDayCalendar"]

_CUTOFF = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
_ONE_DAY = timedelta(days=1)


class _YearIndex(NamedTuple):
    """The working days of one calendar year, as sorted date ordinals."""

    year: int
    ordinals: list[int]
    ordinal_set: frozenset[int]


class WorkingDayCalendar:
    """Working days from the holiday notices, answered from a per-year bisect index.

    Build one with :meth:`default` (cached; the shipped notices or ``$GOVSHARE_CALENDAR_DIR``),
    :meth:`from_directory`, or directly from loaded notices.
    """

    def __init__(self, notices: Mapping[int, HolidayNotice]) -> None:
        self._notices: dict[int, HolidayNotice] = dict(sorted(notices.items()))
        self._rules: dict[date, DayRule] = merge_day_rules(self._notices)
        self._rule_by_ordinal: dict[int, DayRule] = {d.toordinal(): r for d, r in self._rules.items()}
        self._rule_ordinals: list[int] = sorted(self._rule_by_ordinal)
        self._refs: dict[int, CalendarDataRef] = {
            year: CalendarDataRef(year=year, notice=notice.title, sha256=notice.sha256)
            for year, notice in self._notices.items()
        }
        self._index: dict[int, _YearIndex] = {}
        self._reference: NoticeCalendar | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_directory(cls, directory: Path | str) -> WorkingDayCalendar:
        """Load every notice file of ``directory`` (validated; see :mod:`calendars.notices`)."""
        return cls(load_notices(directory))

    @classmethod
    def default(cls) -> WorkingDayCalendar:
        """The calendar in force: ``calendars/notices`` or ``$GOVSHARE_CALENDAR_DIR``, cached per folder."""
        return _default_for(notices_dir())

    @staticmethod
    def clear_default_cache() -> None:
        """Forget cached default calendars (after a notice file was added or edited)."""
        _default_for.cache_clear()

    # ------------------------------------------------------------------ data

    @property
    def data_years(self) -> list[int]:
        """Years with a notice file, ascending."""
        return list(self._notices)

    def has_data(self, year: int) -> bool:
        return year in self._notices

    def missing_years_ahead(self, today: date) -> list[int]:
        """This year and next, if their notice is not loaded: deadlines reaching into them are
        provisional until it is (the State Council publishes next year's notice around November)."""
        return [year for year in (today.year, today.year + 1) if year not in self._notices]

    def notice(self, year: int) -> HolidayNotice | None:
        return self._notices.get(year)

    def data_ref(self, year: int) -> CalendarDataRef | None:
        """Year, notice title and file sha256 — what a deadline records to be recomputable."""
        return self._refs.get(year)

    @property
    def reference(self) -> NoticeCalendar:
        """The same data as a workalendar ``Calendar`` (slow; for checks and comparisons)."""
        if self._reference is None:
            self._reference = NoticeCalendar(self._rules)
        return self._reference

    def warm_up(self, years: range | list[int]) -> None:
        """Build the index of ``years`` now instead of on first use."""
        for year in years:
            self._year(year)

    # ------------------------------------------------------------------ day questions

    def is_working_day(self, d: date) -> bool:
        """True if ``d`` (a calendar date in China) is a working day under the notices."""
        day = _plain_date(d, "is_working_day")
        return day.toordinal() in self._year(day.year).ordinal_set

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d`` — day 1 of a period that starts on ``d``."""
        return self.nth_working_day_after(_plain_date(d, "next_working_day"), 1)

    def nth_working_day_after(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (``d`` not counted); ``d`` itself for ``n == 0``.

        This is the core of :meth:`add_working_days`, on dates only: one bisect in the start
        year, then whole years skipped by their length.
        """
        day = _plain_date(d, "nth_working_day_after")
        _check_count(n)
        if n == 0:
            return day
        year = day.year
        ordinals = self._year(year).ordinals
        position = bisect_right(ordinals, day.toordinal())
        remaining = n
        while remaining > len(ordinals) - position:
            remaining -= len(ordinals) - position
            year += 1
            ordinals = self._year(year).ordinals
            position = 0
        return date.fromordinal(ordinals[position + remaining - 1])

    def count_working_days(self, after: date, through: date) -> int:
        """Working days ``d`` with ``after < d <= through``; 0 if ``through <= after``."""
        first = _plain_date(after, "count_working_days")
        last = _plain_date(through, "count_working_days")
        if last <= first:
            return 0
        first_ordinals = self._year(first.year).ordinals
        if first.year == last.year:
            return bisect_right(first_ordinals, last.toordinal()) - bisect_right(
                first_ordinals, first.toordinal()
            )
        count = len(first_ordinals) - bisect_right(first_ordinals, first.toordinal())
        for year in range(first.year + 1, last.year):
            count += len(self._year(year).ordinals)
        return count + bisect_right(self._year(last.year).ordinals, last.toordinal())

    # ------------------------------------------------------------------ deadlines

    def add_working_days(self, start: datetime, n: int, *, cutoff: str | None = None) -> Deadline:
        """The deadline ``n`` working days after the instant ``start``.

        ``start`` must be timezone-aware; it is converted to Asia/Shanghai and its *date* is the
        day the period starts on (not counted). ``n == 0`` means due at the end (or cut-off) of that
        date itself. ``cutoff`` ``None``/``"24:00"``: due at 24:00 of the N-th working day, i.e.
        00:00 of the following calendar day; ``"HH:MM"``: due at that time on the N-th working day
        (with ``n == 0`` this may be earlier than ``start``: the regulation layer decides).
        """
        start_at = _aware(start, "start").astimezone(SHANGHAI)
        _check_count(n)
        cutoff_label, cutoff_time = _parse_cutoff(cutoff)
        start_date = start_at.date()
        due_date = self.nth_working_day_after(start_date, n)
        if cutoff_time is None:
            due_at = datetime.combine(due_date + _ONE_DAY, time(0), tzinfo=SHANGHAI)
        else:
            due_at = datetime.combine(due_date, cutoff_time, tzinfo=SHANGHAI)
        remind_at = start_at if n == 0 else datetime.combine(due_date, time(0), tzinfo=SHANGHAI)

        calendar_years, provisional_years = self._years_read(start_date, due_date, n)
        explanation_zh, explanation_en = self._explain(
            start_date, due_date, due_at, n, cutoff_label, provisional_years
        )
        return Deadline(
            start_at=start_at,
            start_date=start_date,
            due_at=due_at,
            due_date=due_date,
            remind_at=remind_at,
            working_days=n,
            cutoff=cutoff_label,
            provisional=bool(provisional_years),
            provisional_years=provisional_years,
            calendar_years=calendar_years,
            calendar_data=[self._refs[year] for year in calendar_years if year in self._refs],
            explanation_zh=explanation_zh,
            explanation_en=explanation_en,
        )

    def working_days_between(self, a: datetime, b: datetime) -> int:
        """Working days counted by the deadline rule: ``date(a) < d <= date(b)``, both in Shanghai.

        For statistics such as "handled within 7 working days": an application recorded on
        09-30 and answered on 10-10 (2026) took 3 working days. 0 if ``b``'s date is not after ``a``'s.
        """
        first = _aware(a, "a").astimezone(SHANGHAI).date()
        last = _aware(b, "b").astimezone(SHANGHAI).date()
        return self.count_working_days(first, last)

    def recompute(self, deadline: Deadline) -> Deadline:
        """The same deadline under the data now loaded (e.g. after a provisional year got its notice).

        Start, count and cut-off are taken from ``deadline``; the regulation fields are kept.
        """
        fresh = self.add_working_days(deadline.start_at, deadline.working_days, cutoff=deadline.cutoff)
        return dataclasses.replace(
            fresh,
            profile=deadline.profile,
            profile_version=deadline.profile_version,
            step=deadline.step,
            article=deadline.article,
        )

    # ------------------------------------------------------------------ internals

    def _year(self, year: int) -> _YearIndex:
        index = self._index.get(year)
        if index is None:
            index = self._index.setdefault(year, self._build_year(year))
        return index

    def _build_year(self, year: int) -> _YearIndex:
        """Index one year: Monday–Friday, corrected by every rule the notices set for its dates.

        Runs once per year (365 steps), never per question. A year with no notice gets no rules
        and so comes out as weekends only (REGULATIONS.md §3).
        """
        first = date(year, 1, 1).toordinal()
        last = date(year, 12, 31).toordinal()
        rules = self._rule_by_ordinal
        ordinals = []
        for ordinal in range(first, last + 1):
            rule = rules.get(ordinal)
            # date.fromordinal(1) is a Monday, so (ordinal - 1) % 7 is the weekday (Monday = 0).
            working = (ordinal - 1) % 7 < 5 if rule is None else rule.kind == "makeup"
            if working:
                ordinals.append(ordinal)
        return _YearIndex(year, ordinals, frozenset(ordinals))

    def _years_read(self, start_date: date, due_date: date, n: int) -> tuple[list[int], list[int]]:
        """(calendar_years, provisional_years) of a period from ``start_date`` to ``due_date``.

        calendar_years: the years from the start date to the due date, plus the next year when the
        counted days reach December 29–31 (its notice may set them). provisional_years: those of the
        counted years, and of such next years, that have no notice data.
        """
        year = start_date.year
        if due_date.year == year and (
            n == 0 or due_date < date(year, 12, 31) - NEW_YEAR_REACH_BACK + _ONE_DAY
        ):
            # The common case: one year, clear of the New Year window.
            return [year], ([] if n == 0 or year in self._notices else [year])
        counted = range((start_date + _ONE_DAY).year, due_date.year + 1) if n else range(0)
        reach_back = self._reach_back_years(start_date, due_date) if n else []
        calendar_years = sorted({*range(year, due_date.year + 1), *reach_back})
        missing = {y for y in counted if y not in self._notices} | {
            y for y in reach_back if y not in self._notices
        }
        return calendar_years, sorted(missing)

    def _reach_back_years(self, start_date: date, due_date: date) -> list[int]:
        """Next years whose New Year arrangement can reach the last days of December counted here."""
        years = []
        for year in range(start_date.year, due_date.year + 1):
            window_first = date(year, 12, 31) - NEW_YEAR_REACH_BACK + _ONE_DAY
            if start_date < date(year, 12, 31) and due_date >= window_first:
                years.append(year + 1)
        return years

    def _explain(
        self,
        start_date: date,
        due_date: date,
        due_at: datetime,
        n: int,
        cutoff: str,
        provisional_years: list[int],
    ) -> tuple[list[str], list[str]]:
        """Plain lines of what the period crossed, in Chinese and English (DESIGN.md, "Deadlines")."""
        one_year = start_date.year == due_date.year

        def show(day: date) -> str:
            if one_year and day.year == start_date.year:
                return f"{day.month:02d}-{day.day:02d}"
            return day.isoformat()

        zh: list[str] = []
        en: list[str] = []
        lo = bisect_right(self._rule_ordinals, start_date.toordinal())
        hi = bisect_right(self._rule_ordinals, due_date.toordinal())
        seen_ranges: set[int] = set()
        for ordinal in self._rule_ordinals[lo:hi]:
            rule = self._rule_by_ordinal[ordinal]
            if rule.kind == "off" and rule.day_range is not None:
                if id(rule.day_range) in seen_ranges:
                    continue
                seen_ranges.add(id(rule.day_range))
                span = rule.day_range
                days = show(span.first)
                if span.last != span.first:
                    days += f"..{show(span.last)}"
                zh.append(f"{days} {rule.festival.name_zh}放假" + (f"(依{rule.by})" if rule.by else ""))
                en.append(f"{days} {rule.festival.name_en} off" + (f" (set by {rule.by})" if rule.by else ""))
            elif rule.kind == "makeup":
                day = date.fromordinal(ordinal)
                zh.append(f"{show(day)}({weekday_zh(day)})调休上班")
                en.append(f"{weekday_en(day)} {show(day)} is a make-up working day")

        for year in provisional_years:
            if year in range((start_date + _ONE_DAY).year, due_date.year + 1):
                zh.append(f"{year} 年节假日安排尚未公布,按周末计算,期限为暂定")
                en.append(
                    f"The {year} holiday notice is not yet published: {year} is counted on weekends only; "
                    "the deadline is provisional"
                )
            else:
                zh.append(
                    f"{year} 年节假日安排尚未公布,{year - 1}-12-29..12-31 可能因元旦调休变化,期限为暂定"
                )
                en.append(
                    f"The {year} holiday notice is not yet published and may change "
                    f"{year - 1}-12-29..12-31 (New Year's Day); the deadline is provisional"
                )

        due_text = f"{due_at.date().isoformat()} {due_at.hour:02d}:{due_at.minute:02d}"
        start_text, due_day_text = start_date.isoformat(), due_date.isoformat()
        if n == 0:
            zh.append(f"期限为 0 个工作日:{start_text} 当日截止,截止 {due_text}")
            en.append(f"0 working days: due by the end of {start_text}, {due_text} (Asia/Shanghai)")
        else:
            office = "" if cutoff == END_OF_DAY else "(下班时间)"
            zh.append(f"自 {start_text} 起算第{n}个工作日为 {due_day_text},截止 {due_text}{office}")
            closing = "" if cutoff == END_OF_DAY else " office closing"
            en.append(
                f"Working day {n} counted from {start_text} is {due_day_text}; "
                f"due {due_text}{closing} (Asia/Shanghai)"
            )
        return zh, en


@functools.lru_cache(maxsize=8)
def _default_for(directory: Path) -> WorkingDayCalendar:
    return WorkingDayCalendar.from_directory(directory)


def _plain_date(value: date, what: str) -> date:
    """Dates only: a datetime would hide a time-zone conversion (use the instant methods)."""
    if isinstance(value, datetime):
        raise TypeError(f"{what}() takes a date, not a datetime ({value!r}); convert to Asia/Shanghai first")
    if not isinstance(value, date):
        raise TypeError(f"{what}() takes a datetime.date, got {type(value).__name__}")
    return value


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a timezone-aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware (e.g. 2026-09-30T10:00:00+08:00); got naive {value.isoformat()}: "
            "which day a period starts on depends on the time zone (Asia/Shanghai)"
        )
    return value


def _check_count(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"the number of working days must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"the number of working days must be >= 0, got {n}")


def _parse_cutoff(cutoff: str | None) -> tuple[str, time | None]:
    """``None``/``"24:00"`` → end of day; ``"HH:MM"`` (00:00–23:59) → office-closing time."""
    if cutoff is None or cutoff == END_OF_DAY:
        return END_OF_DAY, None
    if not isinstance(cutoff, str) or not _CUTOFF.match(cutoff):
        raise ValueError(f'cutoff must be "24:00" or "HH:MM" (00:00-23:59), got {cutoff!r}')
    return cutoff, time.fromisoformat(cutoff)
