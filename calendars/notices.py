"""The State Council General Office's yearly holiday notices, as data.

Every working-day deadline depends on 国务院办公厅关于××××年部分节假日安排的通知: it sets the
statutory days off, the bridging days off (调休放假) and the weekend make-up working days (调休上班)
of one year (REGULATIONS.md §3). Each notice is one human-editable TOML file in
``calendars/notices/`` (format: ``calendars/README.md``); adding next year's notice is adding a
file, never code.

The files are validated strictly on load, because a wrong date silently moves every deadline that
crosses it: a bad or misplaced date, a make-up working day that is not a weekend day, a day both
off and working, or a file whose ``year`` does not match its dates raises
:class:`CalendarDataError` naming the file.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "CALENDAR_DIR_ENV",
    "DEFAULT_NOTICES_DIR",
    "NEW_YEAR_REACH_BACK",
    "Amendment",
    "CalendarDataError",
    "DayOffRange",
    "DayRule",
    "Festival",
    "HolidayNotice",
    "MakeupWorkingDay",
    "governing_notice_years",
    "load_notices",
    "merge_day_rules",
    "notices_dir",
]

#: Environment variable that points the default calendar at another folder of notice files.
CALENDAR_DIR_ENV = "GOVSHARE_CALENDAR_DIR"

#: The notices shipped with the project.
DEFAULT_NOTICES_DIR = Path(__file__).resolve().parent / "notices"

#: How far a notice may reach back into the previous December. The New Year's Day (元旦)
#: arrangement of year Y can make the last days of December Y-1 days off or make-up working
#: days: the 2012 notice made 2011-12-31 (Sat) a working day, the 2019 notice made 2018-12-29 (Sat)
#: a working day and 2018-12-31 (Mon) a day off, the 2023 notice started on 2022-12-31. Under the
#: holiday rules (at most three days with 01-01, one make-up Saturday) it cannot reach earlier than
#: 12-29, so Dec 29-31 of Y-1 belong to notice Y as well as to notice Y-1.
NEW_YEAR_REACH_BACK = timedelta(days=3)

_WEEKDAY_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_WEEKDAY_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class CalendarDataError(ValueError):
    """Holiday notice data that cannot be trusted; the message names the file and the problem."""


@dataclass(frozen=True)
class DayOffRange:
    """Consecutive days off (inclusive), bridging days (调休放假) included."""

    first: date
    last: date
    #: Document number of an amending notice that set this range, e.g. 国办发明电〔2020〕1号.
    by: str | None = None

    def days(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)


@dataclass(frozen=True)
class MakeupWorkingDay:
    """A Saturday or Sunday that the notice makes a working day (调休上班)."""

    day: date
    by: str | None = None


@dataclass(frozen=True)
class Festival:
    """One item of a notice (元旦, 春节, 国庆节、中秋节 …) with its days off and make-up days."""

    name_zh: str
    name_en: str
    days_off: tuple[DayOffRange, ...]
    makeup_working_days: tuple[MakeupWorkingDay, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Amendment:
    """A later notice that changed the year's arrangement (e.g. the 2020 Spring Festival extension)."""

    title: str
    document_number: str | None = None
    issued: date | None = None
    summary: str | None = None


@dataclass(frozen=True)
class HolidayNotice:
    """One year's notice as loaded from its TOML file, with the hash an auditor recomputes."""

    year: int
    title: str
    document_number: str | None
    issued: date | None
    festivals: tuple[Festival, ...]
    amendments: tuple[Amendment, ...]
    path: Path
    #: sha256 of the file's bytes: identifies the exact data a deadline was computed with.
    sha256: str

    def days_off(self) -> Iterator[tuple[date, Festival, DayOffRange]]:
        for festival in self.festivals:
            for day_range in festival.days_off:
                for day in day_range.days():
                    yield day, festival, day_range

    def makeup_days(self) -> Iterator[tuple[date, Festival, MakeupWorkingDay]]:
        for festival in self.festivals:
            for makeup in festival.makeup_working_days:
                yield makeup.day, festival, makeup


@dataclass(frozen=True)
class DayRule:
    """What the notices say about one calendar date that differs from plain Monday–Friday."""

    kind: Literal["off", "makeup"]
    festival: Festival
    notice_year: int
    day_range: DayOffRange | None = field(default=None)
    by: str | None = None


def notices_dir() -> Path:
    """The folder of notices in force: ``$GOVSHARE_CALENDAR_DIR`` if set, else the shipped one."""
    configured = os.environ.get(CALENDAR_DIR_ENV)
    return Path(configured).expanduser().resolve() if configured else DEFAULT_NOTICES_DIR


def governing_notice_years(day: date) -> tuple[int, ...]:
    """Years whose notice can decide whether ``day`` is a working day.

    Normally the day's own year; the last days of December also belong to the next year's notice
    (see :data:`NEW_YEAR_REACH_BACK`).
    """
    if day >= date(day.year, 12, 31) - NEW_YEAR_REACH_BACK + timedelta(days=1):
        return (day.year, day.year + 1)
    return (day.year,)


def load_notices(directory: Path | str) -> dict[int, HolidayNotice]:
    """Load and validate every ``*.toml`` notice in ``directory``; keyed by year.

    The folder is globbed so that adding a year is adding a file. Files are checked one by one
    and then against each other (one notice per year; no date claimed by two notices).
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise CalendarDataError(f"{folder}: holiday notice folder does not exist")
    notices: dict[int, HolidayNotice] = {}
    for path in sorted(folder.glob("*.toml")):
        notice = _load_notice(path)
        if notice.year in notices:
            raise CalendarDataError(
                f"{path}: year {notice.year} is already given by {notices[notice.year].path}"
            )
        notices[notice.year] = notice
    merge_day_rules(notices)  # cross-file consistency
    return dict(sorted(notices.items()))


def merge_day_rules(notices: Mapping[int, HolidayNotice]) -> dict[date, DayRule]:
    """All dates the notices single out, each with its rule; a date claimed twice is an error."""
    rules: dict[date, DayRule] = {}
    for year, notice in sorted(notices.items()):
        entries: list[tuple[date, DayRule]] = [
            (day, DayRule("off", festival, year, day_range, day_range.by))
            for day, festival, day_range in notice.days_off()
        ]
        entries += [
            (day, DayRule("makeup", festival, year, None, makeup.by))
            for day, festival, makeup in notice.makeup_days()
        ]
        for day, rule in entries:
            if day in rules:
                other = notices[rules[day].notice_year]
                raise CalendarDataError(
                    f"{notice.path}: {day.isoformat()} is also given by {other.path}; "
                    "a date may be set by one notice only"
                )
            rules[day] = rule
    return rules


# --------------------------------------------------------------------------- parsing


def _load_notice(path: Path) -> HolidayNotice:
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CalendarDataError(f"{path}: not valid UTF-8 TOML: {exc}") from exc
    try:
        return _parse_notice(data, path, hashlib.sha256(raw).hexdigest())
    except _Invalid as exc:
        raise CalendarDataError(f"{path}: {exc}") from None


class _Invalid(Exception):
    """A validation problem; turned into CalendarDataError with the file name prepended."""


_TOP_KEYS = {"year", "notice", "amendments", "festivals"}
_NOTICE_KEYS = {"title", "document_number", "issued"}
_AMENDMENT_KEYS = {"title", "document_number", "issued", "summary"}
_FESTIVAL_KEYS = {"name_zh", "name_en", "days_off", "makeup_working_days", "note"}
_RANGE_KEYS = {"from", "to", "by"}
_MAKEUP_KEYS = {"date", "by"}


def _parse_notice(data: dict[str, Any], path: Path, sha256: str) -> HolidayNotice:
    _check_keys(data, _TOP_KEYS, required={"year", "notice", "festivals"}, where="top level")
    year = data["year"]
    if not isinstance(year, int) or isinstance(year, bool) or not 1949 < year < 10000:
        raise _Invalid(f"'year' must be a four-digit integer, got {year!r}")
    if path.stem.isdigit() and int(path.stem) != year:
        raise _Invalid(f"file name says {path.stem} but 'year' is {year}")

    header = _table(data["notice"], "[notice]")
    _check_keys(header, _NOTICE_KEYS, required={"title"}, where="[notice]")
    title = _text(header["title"], "[notice].title")
    if str(year) not in title:
        raise _Invalid(f"[notice].title {title!r} does not name the year {year}")

    amendments = tuple(
        _parse_amendment(_table(item, f"[[amendments]] #{i}"), i)
        for i, item in enumerate(_array(data.get("amendments", []), "amendments"), 1)
    )
    festivals = tuple(
        _parse_festival(_table(item, f"[[festivals]] #{i}"), i, year)
        for i, item in enumerate(_array(data["festivals"], "festivals"), 1)
    )
    if not festivals:
        raise _Invalid("no [[festivals]]")

    seen: dict[date, str] = {}
    for festival in festivals:
        for day_range in festival.days_off:
            for day in day_range.days():
                _claim(seen, day, f"a day off of {festival.name_zh}")
        for makeup in festival.makeup_working_days:
            _claim(seen, makeup.day, f"a make-up working day of {festival.name_zh}")

    return HolidayNotice(
        year=year,
        title=title,
        document_number=_optional_text(header.get("document_number"), "[notice].document_number"),
        issued=_optional_date(header.get("issued"), "[notice].issued"),
        festivals=festivals,
        amendments=amendments,
        path=path,
        sha256=sha256,
    )


def _claim(seen: dict[date, str], day: date, what: str) -> None:
    if day in seen:
        raise _Invalid(f"{day.isoformat()} is {what} and also {seen[day]}")
    seen[day] = what


def _parse_amendment(item: dict[str, Any], index: int) -> Amendment:
    where = f"[[amendments]] #{index}"
    _check_keys(item, _AMENDMENT_KEYS, required={"title"}, where=where)
    return Amendment(
        title=_text(item["title"], f"{where}.title"),
        document_number=_optional_text(item.get("document_number"), f"{where}.document_number"),
        issued=_optional_date(item.get("issued"), f"{where}.issued"),
        summary=_optional_text(item.get("summary"), f"{where}.summary"),
    )


def _parse_festival(item: dict[str, Any], index: int, year: int) -> Festival:
    where = f"[[festivals]] #{index}"
    _check_keys(item, _FESTIVAL_KEYS, required={"name_zh", "name_en", "days_off"}, where=where)
    name_zh = _text(item["name_zh"], f"{where}.name_zh")
    where = f"festival {name_zh}"
    ranges: list[DayOffRange] = []
    for j, raw in enumerate(_array(item["days_off"], f"{where}: days_off"), 1):
        entry = _table(raw, f"{where}: days_off #{j}")
        _check_keys(entry, _RANGE_KEYS, required={"from", "to"}, where=f"{where}: days_off #{j}")
        first = _date(entry["from"], f"{where}: days_off #{j}.from")
        last = _date(entry["to"], f"{where}: days_off #{j}.to")
        if last < first:
            raise _Invalid(f"{where}: days_off #{j} ends ({last}) before it starts ({first})")
        _check_in_year(first, year, where)
        _check_in_year(last, year, where)
        ranges.append(DayOffRange(first, last, _optional_text(entry.get("by"), f"{where}: by")))
    if not ranges:
        raise _Invalid(f"{where}: no days_off")

    makeups: list[MakeupWorkingDay] = []
    for j, raw in enumerate(_array(item.get("makeup_working_days", []), f"{where}: makeup"), 1):
        label = f"{where}: makeup_working_days #{j}"
        if isinstance(raw, dict):
            _check_keys(raw, _MAKEUP_KEYS, required={"date"}, where=label)
            makeup = MakeupWorkingDay(_date(raw["date"], label), _optional_text(raw.get("by"), f"{label}.by"))
        else:
            makeup = MakeupWorkingDay(_date(raw, label))
        _check_in_year(makeup.day, year, where)
        if makeup.day.weekday() < 5:
            raise _Invalid(
                f"{where}: make-up working day {makeup.day.isoformat()} is a "
                f"{_WEEKDAY_EN[makeup.day.weekday()]}; 调休上班 days are Saturdays or Sundays"
            )
        makeups.append(makeup)

    return Festival(
        name_zh=name_zh,
        name_en=_text(item["name_en"], f"{where}.name_en"),
        days_off=tuple(ranges),
        makeup_working_days=tuple(makeups),
        note=_optional_text(item.get("note"), f"{where}.note"),
    )


def _check_in_year(day: date, year: int, where: str) -> None:
    """A notice for ``year`` sets dates in that year, or in the last days of December before it."""
    if day.year == year or (day.year == year - 1 and year in governing_notice_years(day)):
        return
    earliest = date(year, 1, 1) - NEW_YEAR_REACH_BACK
    raise _Invalid(
        f"{where}: {day.isoformat()} is outside the {year} notice "
        f"(dates must fall between {earliest.isoformat()} and {year}-12-31)"
    )


def _check_keys(table: dict[str, Any], allowed: set[str], *, required: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        allowed_keys = ", ".join(sorted(allowed))
        raise _Invalid(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {allowed_keys})")
    missing = sorted(required - set(table))
    if missing:
        raise _Invalid(f"{where}: missing {', '.join(missing)}")


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"{where} must be a table, got {type(value).__name__}")
    return value


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Invalid(f"{where} must be an array, got {type(value).__name__}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"{where} must be a non-empty string, got {value!r}")
    return value.strip()


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _date(value: Any, where: str) -> date:
    """A TOML local date (``2026-10-01``) or an ISO string ``"2026-10-01"``; nothing else."""
    if isinstance(value, datetime):
        raise _Invalid(f"{where} must be a date without time, got {value.isoformat()}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Invalid(f"{where}: {value!r} is not a valid date (YYYY-MM-DD)") from None
    raise _Invalid(f"{where} must be a date (YYYY-MM-DD), got {value!r}")


def _optional_date(value: Any, where: str) -> date | None:
    return None if value is None else _date(value, where)


def weekday_zh(day: date) -> str:
    return _WEEKDAY_ZH[day.weekday()]


def weekday_en(day: date) -> str:
    return _WEEKDAY_EN[day.weekday()]
