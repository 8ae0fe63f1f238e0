"""A recorded deadline proved as of its own calendar data, and compared with the calendar now in force.

Pure: no database, no Temporal, no clock. For a recorded :class:`~calendars.deadline.Deadline`:

1. **as of its data** — recompute it (same start instant, working days and cut-off) with exactly the
   notice versions it names (:func:`calendars.archive.calendar_as_of`). It *agrees* when the due
   date, the due instant, the remind instant, the provisional flag and the data read come out the
   same; a *mismatch* says which of them differ; *data_missing* when a named version is not found
   (the deadline cannot be proved).
2. **now** — recompute it with the calendar in force: the *same* due instant, or *another* one, with
   the notices (year, sha256 then → now) that differ and which of them alone moves the date. A new
   date now is expected after a notice was published or corrected: it is reported, not a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from calendars.archive import ARCHIVE_DIR, calendar_as_of
from calendars.deadline import SHANGHAI, CalendarDataRef, Deadline
from calendars.notices import CalendarDataError, HolidayNotice
from calendars.working_days import WorkingDayCalendar

__all__ = [
    "COMPARED_FIELDS",
    "DeadlineProof",
    "FieldDifference",
    "NoticeChange",
    "prove",
    "prove_deadline",
]

Verdict = Literal["agrees", "mismatch", "data_missing"]
NowVerdict = Literal["same", "differs"]

#: What must come out the same for a deadline to recompute to itself.
COMPARED_FIELDS = ("due_date", "due_at", "remind_at", "provisional", "calendar_data")

_FIELD_ZH = {
    "due_date": "截止日",
    "due_at": "截止时刻",
    "remind_at": "提醒时刻",
    "provisional": "暂定标记",
    "calendar_data": "所用日历数据",
}


@dataclass(frozen=True)
class FieldDifference:
    """One compared field that came out otherwise: as recorded, as recomputed (both as text)."""

    field: str
    recorded: str
    recomputed: str


@dataclass(frozen=True)
class NoticeChange:
    """A notice read by the period whose version then differs from the one in force now.

    ``then_sha256`` / ``now_sha256`` None: no notice of that year then / now. ``moves_date``: this
    change alone (the data then with only this year as now) moves the due instant; None when that
    cannot be told (the data then was not found, or the mixed versions conflict).
    """

    year: int
    then_sha256: str | None
    now_sha256: str | None
    then_notice: str | None = None
    now_notice: str | None = None
    moves_date: bool | None = None


@dataclass(frozen=True)
class DeadlineProof:
    """The verdict on one recorded deadline (see the module docstring)."""

    verdict: Verdict
    differences: tuple[FieldDifference, ...] = ()
    #: The deadline recomputed as of its own data (None: data missing).
    recomputed: Deadline | None = None
    #: Why it could not be recomputed (data_missing), naming the year and the hash.
    error: str = ""
    now_verdict: NowVerdict = "same"
    #: The deadline recomputed with the calendar in force now.
    now: Deadline | None = None
    notice_changes: tuple[NoticeChange, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when the recorded deadline recomputes to itself (a new date now is not a failure)."""
        return self.verdict == "agrees"

    def describe(self) -> tuple[str, str]:
        """(zh, en): the verdict and the comparison with the calendar now in force, one line each."""
        if self.verdict == "agrees":
            zh, en = "按记录的日历数据重算一致", "recomputes to itself with its recorded calendar data"
        elif self.verdict == "mismatch":
            zh = "按记录的日历数据重算不一致:" + ";".join(
                f"{_FIELD_ZH.get(d.field, d.field)} 记录 {d.recorded},重算 {d.recomputed}"
                for d in self.differences
            )
            en = "does NOT recompute to itself: " + "; ".join(
                f"{d.field} recorded {d.recorded}, recomputed {d.recomputed}" for d in self.differences
            )
        else:
            zh, en = "记录的日历数据未找到,无法重算", f"cannot be recomputed: {self.error}"
        now_zh, now_en = self.describe_now()
        return f"{zh};{now_zh}", f"{en}; {now_en}"

    def describe_now(self) -> tuple[str, str]:
        """(zh, en): the same date under the calendar in force, or another and which notice moved it."""
        changes = self.notice_changes
        if self.now_verdict == "same" or self.now is None:
            zh, en = "现行日历下日期相同", "the same date under the calendar now in force"
            if changes:
                zh += "(通知有变化:" + "、".join(_change_zh(c) for c in changes) + ")"
                en += " (notices changed: " + ", ".join(_change_en(c) for c in changes) + ")"
            return zh, en
        when = _instant(self.now.due_at)
        moved = [c for c in changes if c.moves_date] or list(changes)
        zh = f"现行日历下为另一日期 {self.now.due_date}(截止 {when})"
        en = f"another date under the calendar now in force: {self.now.due_date} (due {when})"
        if moved:
            zh += ",因" + "、".join(_change_zh(c) for c in moved)
            en += ", because of " + ", ".join(_change_en(c) for c in moved)
        if self.now.provisional:
            zh += "(仍为暂定)"
            en += " (still provisional)"
        return zh, en

    def to_json_dict(self) -> dict[str, Any]:
        zh, en = self.describe()
        return {
            "verdict": self.verdict,
            "ok": self.ok,
            "differences": [
                {"field": d.field, "recorded": d.recorded, "recomputed": d.recomputed}
                for d in self.differences
            ],
            "recomputed_due_at": _iso(self.recomputed.due_at) if self.recomputed else None,
            "recomputed_due_date": _iso(self.recomputed.due_date) if self.recomputed else None,
            "error": self.error,
            "now": {
                "verdict": self.now_verdict,
                "due_at": _iso(self.now.due_at) if self.now else None,
                "due_date": _iso(self.now.due_date) if self.now else None,
                "provisional": self.now.provisional if self.now else None,
            },
            "notice_changes": [
                {
                    "year": c.year,
                    "then_sha256": c.then_sha256,
                    "now_sha256": c.now_sha256,
                    "then_notice": c.then_notice,
                    "now_notice": c.now_notice,
                    "moves_date": c.moves_date,
                }
                for c in self.notice_changes
            ],
            "summary_zh": zh,
            "summary_en": en,
        }


def prove_deadline(
    recorded: Deadline,
    *,
    now: WorkingDayCalendar | None = None,
    archive_dir: Path | str = ARCHIVE_DIR,
    fallback_dirs: Iterable[Path | str] | None = None,
) -> DeadlineProof:
    """Prove a whole recorded Deadline: every compared field, as of its data and now."""
    values = {
        "due_date": recorded.due_date,
        "due_at": recorded.due_at,
        "remind_at": recorded.remind_at,
        "provisional": recorded.provisional,
        "calendar_data": recorded.calendar_data,
    }
    return prove(
        recorded.start_at,
        recorded.working_days,
        recorded.cutoff,
        recorded.calendar_data,
        values,
        now=now,
        archive_dir=archive_dir,
        fallback_dirs=fallback_dirs,
    )


def prove(
    start_at: datetime,
    working_days: int,
    cutoff: str,
    calendar_data: Iterable[CalendarDataRef],
    recorded: Mapping[str, Any],
    *,
    now: WorkingDayCalendar | None = None,
    archive_dir: Path | str = ARCHIVE_DIR,
    fallback_dirs: Iterable[Path | str] | None = None,
) -> DeadlineProof:
    """Prove what was recorded of a period (``recorded``: some of :data:`COMPARED_FIELDS`, at least
    ``due_at``) from its start, count and cut-off, with the notice versions ``calendar_data`` names.

    A clock entry records only its due instant: it is proved with ``{"due_at": …}``.
    """
    refs = list(calendar_data)
    now_calendar = now if now is not None else WorkingDayCalendar.default()
    fresh = now_calendar.add_working_days(start_at, working_days, cutoff=cutoff)
    recorded_due: datetime = recorded["due_at"]
    now_verdict: NowVerdict = "same" if fresh.due_at == recorded_due else "differs"

    try:
        then_calendar = calendar_as_of(refs, archive_dir=archive_dir, fallback_dirs=fallback_dirs)
    except CalendarDataError as exc:
        changes = _notice_changes(refs, [], fresh, now_calendar, None, recorded_due)
        return DeadlineProof(
            verdict="data_missing",
            error=str(exc),
            now_verdict=now_verdict,
            now=fresh,
            notice_changes=changes,
        )
    again = then_calendar.add_working_days(start_at, working_days, cutoff=cutoff)
    differences = tuple(
        FieldDifference(name, _text(recorded[name]), _text(getattr(again, name)))
        for name in COMPARED_FIELDS
        if name in recorded and not _same(recorded[name], getattr(again, name))
    )
    changes = _notice_changes(refs, again.calendar_years, fresh, now_calendar, then_calendar, again.due_at)
    return DeadlineProof(
        verdict="mismatch" if differences else "agrees",
        differences=differences,
        recomputed=again,
        now_verdict=now_verdict,
        now=fresh,
        notice_changes=changes,
    )


# --------------------------------------------------------------------------------------------------


def _notice_changes(
    refs: list[CalendarDataRef],
    then_years: Iterable[int],
    fresh: Deadline,
    now_calendar: WorkingDayCalendar,
    then_calendar: WorkingDayCalendar | None,
    then_due: datetime,
) -> tuple[NoticeChange, ...]:
    """The notices of the years either computation read whose version then is not the one now."""
    then = {ref.year: ref for ref in refs}
    now = {ref.year: ref for ref in fresh.calendar_data}
    years = sorted({*then, *then_years, *fresh.calendar_years})
    changes = []
    for year in years:
        before, after = then.get(year), now.get(year)
        if (before.sha256 if before else None) == (after.sha256 if after else None):
            continue
        moves = None
        if then_calendar is not None:
            moves = _moves_date(then_calendar, now_calendar, year, fresh, then_due)
        changes.append(
            NoticeChange(
                year=year,
                then_sha256=before.sha256 if before else None,
                now_sha256=after.sha256 if after else None,
                then_notice=before.notice if before else None,
                now_notice=after.notice if after else None,
                moves_date=moves,
            )
        )
    return tuple(changes)


def _moves_date(
    then_calendar: WorkingDayCalendar,
    now_calendar: WorkingDayCalendar,
    year: int,
    fresh: Deadline,
    then_due: datetime,
) -> bool | None:
    """Recompute with the data then, only ``year`` taken as now: does the due instant move?"""
    notices: dict[int, HolidayNotice] = {
        y: n for y in then_calendar.data_years if (n := then_calendar.notice(y)) is not None
    }
    replacement = now_calendar.notice(year)
    if replacement is None:
        notices.pop(year, None)
    else:
        notices[year] = replacement
    try:
        mixed = WorkingDayCalendar(notices)
    except CalendarDataError:  # the two versions of neighbouring years claim the same date
        return None
    again = mixed.add_working_days(fresh.start_at, fresh.working_days, cutoff=fresh.cutoff)
    return again.due_at != then_due


def _same(recorded: Any, recomputed: Any) -> bool:
    if isinstance(recorded, list) and isinstance(recomputed, list):  # calendar data: by year and hash
        return sorted(_ref_key(r) for r in recorded) == sorted(_ref_key(r) for r in recomputed)
    return recorded == recomputed


def _ref_key(ref: Any) -> tuple[int, str]:
    return (ref.year, ref.sha256) if isinstance(ref, CalendarDataRef) else (ref["year"], ref["sha256"])


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(f"{y}:{s[:12]}" for y, s in sorted(_ref_key(r) for r in value)) or "(none)"
    return str(value)


def _instant(value: datetime) -> str:
    return value.astimezone(SHANGHAI).isoformat()


def _iso(value: date | datetime) -> str:
    return _instant(value) if isinstance(value, datetime) else value.isoformat()


def _short(sha256: str | None) -> str:
    return sha256[:12] if sha256 else "无/none"


def _change_zh(change: NoticeChange) -> str:
    if change.then_sha256 is None:
        return f"{change.year} 年通知此后公布(现 {_short(change.now_sha256)})"
    if change.now_sha256 is None:
        return f"{change.year} 年通知现已不在(原 {_short(change.then_sha256)})"
    return f"{change.year} 年通知已更正({_short(change.then_sha256)} → {_short(change.now_sha256)})"


def _change_en(change: NoticeChange) -> str:
    if change.then_sha256 is None:
        return f"the {change.year} notice published since (now {_short(change.now_sha256)})"
    if change.now_sha256 is None:
        return f"the {change.year} notice no longer in force (then {_short(change.then_sha256)})"
    return (
        f"the {change.year} notice corrected (sha256 {_short(change.then_sha256)} → "
        f"{_short(change.now_sha256)})"
    )
