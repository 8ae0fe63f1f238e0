"""Deadline arithmetic under REGULATIONS.md §3: start day not counted, ends 24:00 Shanghai."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, time, timedelta

import pytest

from calendars import SHANGHAI, CalendarDataRef, Deadline, WorkingDayCalendar


@pytest.fixture(scope="module")
def cal() -> WorkingDayCalendar:
    return WorkingDayCalendar.default()


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# --------------------------------------------------------------------------- 2026 National Day


@pytest.mark.parametrize(
    "start",
    [
        sh(2026, 9, 30, 0, 0),
        sh(2026, 9, 30, 9, 15),
        sh(2026, 9, 30, 23, 59, 59),
        datetime(2026, 9, 29, 16, 0, tzinfo=UTC),  # 2026-09-30 00:00 in Shanghai
        datetime(2026, 9, 30, 15, 59, tzinfo=UTC),  # 2026-09-30 23:59 in Shanghai
    ],
)
def test_national_day_2026_three_working_days_from_any_instant_of_09_30(
    cal: WorkingDayCalendar, start: datetime
) -> None:
    deadline = cal.add_working_days(start, 3)
    assert deadline.start_date == date(2026, 9, 30)
    assert deadline.due_date == date(2026, 10, 10)  # Saturday, a make-up working day
    assert deadline.due_at == sh(2026, 10, 11, 0, 0)
    assert deadline.due_at.isoformat() == "2026-10-11T00:00:00+08:00"
    assert deadline.remind_at == sh(2026, 10, 10, 0, 0)
    assert deadline.provisional is False
    assert deadline.provisional_years == []
    assert deadline.calendar_years == [2026]
    # 7 days off (10-01..10-07), as the notice says — not the 8 of an issue text.
    assert "10-01..10-07 国庆节放假" in deadline.explanation_zh
    assert "10-01..10-07 National Day off" in deadline.explanation_en
    assert "10-10(周六)调休上班" in deadline.explanation_zh
    assert "Saturday 10-10 is a make-up working day" in deadline.explanation_en
    assert deadline.explanation_zh[-1] == "自 2026-09-30 起算第3个工作日为 2026-10-10,截止 2026-10-11 00:00"


def test_utc_instant_on_09_30_is_10_01_in_shanghai(cal: WorkingDayCalendar) -> None:
    start = datetime(2026, 9, 30, 17, 30, tzinfo=UTC)  # 2026-10-01 01:30 Shanghai
    deadline = cal.add_working_days(start, 3)
    assert deadline.start_at == sh(2026, 10, 1, 1, 30)
    assert deadline.start_at.utcoffset() == timedelta(hours=8)
    assert deadline.start_date == date(2026, 10, 1)
    # Day 1..3 are 10-08, 10-09, 10-10 either way: the holiday is not counted.
    assert deadline.due_date == date(2026, 10, 10)
    assert deadline.due_at == sh(2026, 10, 11, 0, 0)
    assert cal.add_working_days(start, 1).due_date == date(2026, 10, 8)
    assert cal.add_working_days(sh(2026, 9, 30, 12, 0), 1).due_date == date(2026, 10, 8)


def test_sunday_09_20_2026_is_a_make_up_working_day(cal: WorkingDayCalendar) -> None:
    assert cal.is_working_day(date(2026, 9, 20))
    deadline = cal.add_working_days(sh(2026, 9, 18, 10, 0), 1)  # Friday
    assert deadline.due_date == date(2026, 9, 20)
    assert "09-20(周日)调休上班" in deadline.explanation_zh


# --------------------------------------------------------------------------- 2026 Spring Festival


def test_spring_festival_2026_make_up_saturdays_count(cal: WorkingDayCalendar) -> None:
    assert cal.is_working_day(date(2026, 2, 14))
    assert cal.is_working_day(date(2026, 2, 28))
    assert not any(cal.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    # Friday 02-13 + 1 → Saturday 02-14.
    assert cal.add_working_days(sh(2026, 2, 13, 16, 0), 1).due_date == date(2026, 2, 14)


def test_deadline_across_spring_festival_2026(cal: WorkingDayCalendar) -> None:
    deadline = cal.add_working_days(sh(2026, 2, 12, 10, 0), 5)
    # 02-13 (Fri), 02-14 (Sat, make-up), then 02-15..02-23 off, 02-24, 02-25, 02-26.
    assert deadline.due_date == date(2026, 2, 26)
    assert deadline.due_at == sh(2026, 2, 27, 0, 0)
    assert "02-14(周六)调休上班" in deadline.explanation_zh
    assert "02-15..02-23 春节放假" in deadline.explanation_zh
    assert "02-15..02-23 Spring Festival off" in deadline.explanation_en
    # 02-28 is after the due date: not mentioned.
    assert not any("02-28" in line for line in deadline.explanation_zh)


# --------------------------------------------------------------------------- year ends


def test_2025_12_31_into_2026_new_year(cal: WorkingDayCalendar) -> None:
    start = sh(2025, 12, 31, 15, 0)
    # 01-01..01-03 off, Sunday 01-04 make-up working day, then Monday 01-05.
    assert cal.add_working_days(start, 1).due_date == date(2026, 1, 4)
    deadline = cal.add_working_days(start, 2)
    assert deadline.due_date == date(2026, 1, 5)
    assert deadline.calendar_years == [2025, 2026]
    assert [ref.year for ref in deadline.calendar_data] == [2025, 2026]
    assert deadline.provisional is False
    assert "2026-01-01..2026-01-03 元旦放假" in deadline.explanation_zh
    assert "2026-01-04(周日)调休上班" in deadline.explanation_zh


def test_2026_12_31_into_2027_without_data_is_provisional(cal: WorkingDayCalendar) -> None:
    assert not cal.has_data(2027)
    deadline = cal.add_working_days(sh(2026, 12, 31, 10, 0), 3)
    # Weekends only: Fri 2027-01-01, Mon 01-04, Tue 01-05.
    assert deadline.due_date == date(2027, 1, 5)
    assert deadline.due_at == sh(2027, 1, 6, 0, 0)
    assert deadline.provisional is True
    assert deadline.provisional_years == [2027]
    assert deadline.affected_by_notice(2027)
    assert deadline.calendar_years == [2026, 2027]
    assert [ref.year for ref in deadline.calendar_data] == [2026]
    assert "2027 年节假日安排尚未公布,按周末计算,期限为暂定" in deadline.explanation_zh
    assert any("2027" in line and "provisional" in line for line in deadline.explanation_en)


def test_late_december_waits_for_next_years_new_year_arrangement(cal: WorkingDayCalendar) -> None:
    """Notice Y+1 may reach back to Dec 29–31 of Y (2019 notice: 2018-12-29 working, 12-31 off)."""
    assert cal.is_working_day(date(2018, 12, 29))  # Saturday, set by the 2019 notice
    assert not cal.is_working_day(date(2018, 12, 31))  # Monday, set by the 2019 notice
    reached = cal.add_working_days(sh(2018, 12, 28, 9, 0), 1)
    assert reached.due_date == date(2018, 12, 29)
    assert reached.calendar_years == [2018, 2019]  # read the 2019 notice's New Year item
    # 2026-12-29..31 while the 2027 notice is unknown: provisional.
    late = cal.add_working_days(sh(2026, 12, 25, 9, 0), 2)
    assert late.due_date == date(2026, 12, 29)
    assert late.provisional_years == [2027]
    # Earlier December is not affected.
    assert cal.add_working_days(sh(2026, 12, 21, 9, 0), 2).provisional is False


def test_year_without_data_is_weekends_only(cal: WorkingDayCalendar) -> None:
    assert [cal.is_working_day(date(2027, 10, d)) for d in range(1, 8)] == [
        True,  # Fri: no notice yet, so no National Day
        False,
        False,
        True,
        True,
        True,
        True,
    ]
    assert cal.is_working_day(date(2017, 10, 2))  # before the data: weekends only too


# --------------------------------------------------------------------------- cut-off, n == 0, errors


def test_office_closing_cutoff(cal: WorkingDayCalendar) -> None:
    deadline = cal.add_working_days(sh(2026, 9, 30, 10, 0), 3, cutoff="17:30")
    assert deadline.due_date == date(2026, 10, 10)
    assert deadline.due_at == sh(2026, 10, 10, 17, 30)
    assert deadline.cutoff == "17:30"
    assert deadline.explanation_zh[-1].endswith("截止 2026-10-10 17:30(下班时间)")
    assert cal.add_working_days(sh(2026, 9, 30, 10, 0), 3, cutoff="24:00").due_at == sh(2026, 10, 11, 0, 0)
    assert cal.add_working_days(sh(2026, 9, 30, 10, 0), 3).cutoff == "24:00"


@pytest.mark.parametrize("cutoff", ["17:60", "24:01", "5pm", "1730", "", "25:00"])
def test_bad_cutoff_is_rejected(cal: WorkingDayCalendar, cutoff: str) -> None:
    with pytest.raises(ValueError, match="cutoff"):
        cal.add_working_days(sh(2026, 9, 30, 10, 0), 3, cutoff=cutoff)


def test_zero_working_days_is_end_of_start_date(cal: WorkingDayCalendar) -> None:
    start = sh(2026, 10, 1, 9, 0)  # even on a day off
    deadline = cal.add_working_days(start, 0)
    assert deadline.due_date == date(2026, 10, 1)
    assert deadline.due_at == sh(2026, 10, 2, 0, 0)
    assert deadline.remind_at == start
    assert deadline.provisional is False
    assert cal.add_working_days(start, 0, cutoff="17:30").due_at == sh(2026, 10, 1, 17, 30)
    assert cal.add_working_days(sh(2027, 3, 1, 9, 0), 0).provisional is False  # nothing counted


def test_naive_start_is_rejected(cal: WorkingDayCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_days(datetime(2026, 9, 30, 10, 0), 3)
    with pytest.raises(TypeError):
        cal.add_working_days(date(2026, 9, 30), 3)  # type: ignore[arg-type]


def test_negative_count_is_rejected(cal: WorkingDayCalendar) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        cal.add_working_days(sh(2026, 9, 30, 10, 0), -1)


# --------------------------------------------------------------------------- other questions


def test_working_days_between(cal: WorkingDayCalendar) -> None:
    a = sh(2026, 9, 30, 10, 0)
    assert cal.working_days_between(a, sh(2026, 10, 10, 18, 0)) == 3
    assert cal.working_days_between(a, sh(2026, 10, 7, 23, 0)) == 0
    assert cal.working_days_between(a, sh(2026, 9, 30, 23, 0)) == 0
    assert cal.working_days_between(a, sh(2026, 9, 1, 0, 0)) == 0  # b before a
    assert cal.working_days_between(datetime(2026, 9, 30, 17, 30, tzinfo=UTC), sh(2026, 10, 8, 9)) == 1
    # Across years: every working day of 2025 and 2026, counted by the index year by year.
    whole = cal.working_days_between(sh(2024, 12, 31, 12, 0), sh(2026, 12, 31, 12, 0))
    assert whole == sum(cal.is_working_day(date(2025, 1, 1) + timedelta(days=i)) for i in range(730))
    with pytest.raises(ValueError):
        cal.working_days_between(datetime(2026, 9, 30), sh(2026, 10, 10))


def test_working_days_between_inverts_add_working_days(cal: WorkingDayCalendar) -> None:
    start = sh(2025, 9, 26, 14, 0)
    for n in range(1, 40):
        deadline = cal.add_working_days(start, n)
        assert cal.working_days_between(start, datetime.combine(deadline.due_date, time(12), SHANGHAI)) == n


def test_next_working_day(cal: WorkingDayCalendar) -> None:
    assert cal.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.next_working_day(date(2026, 10, 9)) == date(2026, 10, 10)  # strictly after
    assert cal.next_working_day(date(2026, 9, 18)) == date(2026, 9, 20)
    assert cal.next_working_day(date(2026, 12, 31)) == date(2027, 1, 1)


def test_is_working_day_takes_a_date(cal: WorkingDayCalendar) -> None:
    with pytest.raises(TypeError, match="not a datetime"):
        cal.is_working_day(sh(2026, 10, 10, 0, 0))


# --------------------------------------------------------------------------- the record


def test_calendar_data_hashes_match_the_files(cal: WorkingDayCalendar) -> None:
    import hashlib
    from pathlib import Path

    notices = Path(__file__).resolve().parents[1] / "calendars" / "notices"
    deadline = cal.add_working_days(sh(2025, 12, 20, 10, 0), 30)
    assert [ref.year for ref in deadline.calendar_data] == [2025, 2026]
    for ref in deadline.calendar_data:
        assert isinstance(ref, CalendarDataRef)
        assert ref.sha256 == hashlib.sha256((notices / f"{ref.year}.toml").read_bytes()).hexdigest()
        assert ref.notice == f"国务院办公厅关于{ref.year}年部分节假日安排的通知"


def test_deadline_is_plain_and_serialisable(cal: WorkingDayCalendar) -> None:
    deadline = cal.add_working_days(sh(2026, 9, 30, 10, 0), 3)
    assert dataclasses.is_dataclass(deadline)
    with pytest.raises(dataclasses.FrozenInstanceError):
        deadline.working_days = 4  # type: ignore[misc]
    data = deadline.to_json_dict()
    assert data["due_at"] == "2026-10-11T00:00:00+08:00"
    assert data["start_at"] == "2026-09-30T10:00:00+08:00"
    assert data["due_date"] == "2026-10-10"
    assert json.loads(json.dumps(data)) == data
    assert Deadline.from_json_dict(data) == deadline


def test_deadline_round_trips_through_pydantic(cal: WorkingDayCalendar) -> None:
    """Temporal's pydantic data converter carries the record in workflow history."""
    from pydantic import TypeAdapter

    adapter = TypeAdapter(Deadline)
    deadline = dataclasses.replace(
        cal.add_working_days(sh(2026, 12, 31, 10, 0), 3, cutoff="17:30"),
        profile="luoyang-2020",
        profile_version="1",
        step="provider_review",
        article="第十五条",
    )
    again = adapter.validate_json(adapter.dump_json(deadline))
    assert again == deadline
    assert again.due_at.utcoffset() == timedelta(hours=8)

    from temporalio.contrib.pydantic import pydantic_data_converter

    converter = pydantic_data_converter.payload_converter
    (through_temporal,) = converter.from_payloads(converter.to_payloads([deadline]), [Deadline])
    assert through_temporal == deadline
    assert isinstance(through_temporal.calendar_data[0], CalendarDataRef)


def test_recompute_keeps_regulation_fields(cal: WorkingDayCalendar) -> None:
    deadline = dataclasses.replace(cal.add_working_days(sh(2026, 9, 30, 10, 0), 3), step="s", article="a")
    assert cal.recompute(deadline) == deadline


def test_default_is_cached(cal: WorkingDayCalendar) -> None:
    assert WorkingDayCalendar.default() is cal


def test_missing_years_ahead_tells_the_operator_what_to_add() -> None:
    from datetime import date

    from calendars import WorkingDayCalendar

    calendar = WorkingDayCalendar.default()
    assert calendar.missing_years_ahead(date(2026, 11, 23)) == [2027]
    assert calendar.missing_years_ahead(date(2025, 6, 1)) == []
    assert calendar.missing_years_ahead(date(2030, 1, 1)) == [2030, 2031]
