"""The notice data against two independent sources, day by day.

The notices are the authority (REGULATIONS.md §3); chinese_calendar and workalendar are checks.
Every disagreement must be listed below with its reason — and a listed date that no longer
disagrees fails too, so the lists stay true.
"""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import chinese_calendar
import pytest
from workalendar.asia import China

from calendars import WorkingDayCalendar

FIRST_DAY = date(2018, 1, 1)
LAST_DAY = date(2026, 12, 31)
WORKALENDAR_LAST_DAY = date(2023, 12, 31)  # workalendar 17 knows China for 2018–2023 only

#: Dates where our data and chinese_calendar (chinesecalendar 1.11) disagree, with the reason.
KNOWN_DIFFERENCES_CHINESE_CALENDAR: dict[date, str] = {}

#: Dates where our data and workalendar.asia.China disagree, with the reason.
KNOWN_DIFFERENCES_WORKALENDAR: dict[date, str] = {
    date(2020, 1, 31): (
        "国办发明电〔2020〕1号 extended the 2020 Spring Festival to 02-02; workalendar ignores the "
        "extension and keeps Friday 01-31 a working day"
    ),
    date(2020, 2, 1): (
        "the extension also cancelled the make-up working day Saturday 02-01 of 国办发明电〔2019〕16号; "
        "workalendar still lists it as a shift working day"
    ),
}

#: chinese_calendar's holiday names → the English festival names in our files.
CHINESE_CALENDAR_NAMES = {
    "New Year's Day": "New Year's Day",
    "Spring Festival": "Spring Festival",
    "Tomb-sweeping Day": "Qingming Festival",
    "Labour Day": "Labour Day",
    "Dragon Boat Festival": "Dragon Boat Festival",
    "National Day": "National Day",
    "Mid-autumn Festival": "Mid-Autumn Festival",
}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture(scope="module")
def cal() -> WorkingDayCalendar:
    return WorkingDayCalendar.default()


def test_data_years_cover_2018_to_2026(cal: WorkingDayCalendar) -> None:
    assert cal.data_years == list(range(2018, 2027))


def test_every_day_agrees_with_chinese_calendar(cal: WorkingDayCalendar) -> None:
    differences = {
        day
        for day in _days(FIRST_DAY, LAST_DAY)
        if cal.is_working_day(day) != chinese_calendar.is_workday(day)
    }
    assert differences == set(KNOWN_DIFFERENCES_CHINESE_CALENDAR)


def test_every_day_agrees_with_workalendar_china_2018_2023(cal: WorkingDayCalendar) -> None:
    china = China()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # China warns "Support years 2018-2023" on every call
        differences = {
            day
            for day in _days(FIRST_DAY, WORKALENDAR_LAST_DAY)
            if cal.is_working_day(day) != china.is_working_day(day)
        }
    assert differences == set(KNOWN_DIFFERENCES_WORKALENDAR)


def test_documented_workalendar_differences_follow_the_extension_notice(cal: WorkingDayCalendar) -> None:
    notice = cal.notice(2020)
    assert notice is not None
    assert [a.document_number for a in notice.amendments] == ["国办发明电〔2020〕1号"]
    assert not cal.is_working_day(date(2020, 1, 31))
    assert not cal.is_working_day(date(2020, 2, 1))
    assert cal.is_working_day(date(2020, 2, 3))  # "2月3日(星期一)起正常上班"


def test_every_rule_has_chinese_calendar_festival(cal: WorkingDayCalendar) -> None:
    """get_holiday_detail agrees on each day off / make-up day and on which festival it belongs to."""
    notices = [cal.notice(year) for year in cal.data_years]
    checked = 0
    for notice in notices:
        assert notice is not None
        entries = [(d, f, True) for d, f, _ in notice.days_off()]
        entries += [(d, f, False) for d, f, _ in notice.makeup_days()]
        for day, festival, is_off in entries:
            is_holiday, name = chinese_calendar.get_holiday_detail(day)
            assert is_holiday == is_off, day
            assert name is not None and CHINESE_CALENDAR_NAMES[name] in festival.name_en, (day, name)
            checked += 1
    assert checked > 300


def test_workalendar_reference_calendar_matches_index(cal: WorkingDayCalendar) -> None:
    """The workalendar subclass fed from the same files gives the same answer on every day."""
    reference = cal.reference
    for day in _days(date(2017, 12, 1), date(2027, 1, 31)):
        assert reference.is_working_day(day) == cal.is_working_day(day), day


def test_reference_calendar_avoids_workalendar_traps(cal: WorkingDayCalendar) -> None:
    reference = cal.reference
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning on any call
        # Passing extra working days adds to the notices' make-up days instead of replacing them.
        assert reference.is_working_day(date(2026, 10, 10), extra_working_days=[date(2026, 10, 11)])
        assert reference.is_working_day(date(2026, 10, 11), extra_working_days=[date(2026, 10, 11)])
        assert reference.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
        assert reference.holidays(2027) == []  # a year without data: weekends only, no error
    with pytest.raises(TypeError, match="explicit year"):
        reference.holidays()  # would read today's date in workalendar
