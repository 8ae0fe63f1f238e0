"""Loading and validating notice files: a bad file fails loudly and names itself."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

from calendars import SHANGHAI, CalendarDataError, WorkingDayCalendar, load_notices
from calendars.notices import CALENDAR_DIR_ENV, DEFAULT_NOTICES_DIR

GOOD_2027 = """
year = 2027

[notice]
title = "国务院办公厅关于2027年部分节假日安排的通知"

[[festivals]]
name_zh = "国庆节"
name_en = "National Day"
days_off = [{ from = 2027-10-01, to = 2027-10-07 }]
makeup_working_days = [2027-09-26, 2027-10-09]
"""


def _notices_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "notices"
    shutil.copytree(DEFAULT_NOTICES_DIR, folder)
    return folder


def test_shipped_notices_load(tmp_path: Path) -> None:
    notices = load_notices(DEFAULT_NOTICES_DIR)
    assert sorted(notices) == list(range(2018, 2027))
    n2026 = notices[2026]
    assert n2026.title == "国务院办公厅关于2026年部分节假日安排的通知"
    assert n2026.document_number is None  # not confirmed: omitted rather than guessed
    assert n2026.issued == date(2025, 11, 4)
    national_day = next(f for f in n2026.festivals if f.name_zh == "国庆节")
    assert (national_day.days_off[0].first, national_day.days_off[0].last) == (
        date(2026, 10, 1),
        date(2026, 10, 7),
    )
    assert [m.day for m in national_day.makeup_working_days] == [date(2026, 9, 20), date(2026, 10, 10)]
    assert notices[2018].document_number == "国办发明电〔2017〕12号"


def test_adding_a_year_is_adding_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _notices_copy(tmp_path)
    (folder / "2027.toml").write_text(GOOD_2027, encoding="utf-8")
    monkeypatch.setenv(CALENDAR_DIR_ENV, str(folder))
    WorkingDayCalendar.clear_default_cache()
    try:
        cal = WorkingDayCalendar.default()
        assert cal.data_years[-1] == 2027
        assert not cal.is_working_day(date(2027, 10, 1))
        assert cal.is_working_day(date(2027, 10, 9))
        deadline = cal.add_working_days(datetime(2026, 12, 31, 10, 0, tzinfo=SHANGHAI), 3)
        assert deadline.provisional is False
        assert [ref.year for ref in deadline.calendar_data] == [2026, 2027]
    finally:
        WorkingDayCalendar.clear_default_cache()


def test_provisional_deadline_is_recomputed_when_the_notice_arrives(tmp_path: Path) -> None:
    before = WorkingDayCalendar.from_directory(DEFAULT_NOTICES_DIR)
    provisional = before.add_working_days(datetime(2027, 9, 29, 10, 0, tzinfo=SHANGHAI), 3)
    assert provisional.provisional_years == [2027]
    assert provisional.due_date == date(2027, 10, 4)  # weekends only
    folder = _notices_copy(tmp_path)
    (folder / "2027.toml").write_text(GOOD_2027, encoding="utf-8")
    after = WorkingDayCalendar.from_directory(folder)
    fresh = after.recompute(provisional)
    assert fresh.provisional is False
    assert fresh.due_date == date(2027, 10, 9)  # 09-30, 10-08, 10-09 (Saturday make-up)


BAD_FILES = {
    "invalid date": (GOOD_2027.replace("2027-10-07", "2027-10-32"), "not valid UTF-8 TOML"),
    "invalid string date": (GOOD_2027.replace("to = 2027-10-07", 'to = "2027-13-07"'), "not a valid date"),
    "make-up day not a weekend": (GOOD_2027.replace("2027-09-26", "2027-09-27"), "is a Monday"),
    "both off and make-up": (GOOD_2027.replace("2027-10-09]", "2027-10-09, 2027-10-03]"), "also"),
    "year mismatch": (GOOD_2027.replace("2027-10-01,", "2026-10-01,"), "outside the 2027 notice"),
    "end before start": (GOOD_2027.replace("from = 2027-10-01", "from = 2027-10-08"), "before it starts"),
    "unknown key": (GOOD_2027.replace("makeup_working_days", "makeup_days"), "unknown key"),
    "missing title": (
        GOOD_2027.replace('title = "国务院办公厅关于2027年部分节假日安排的通知"', ""),
        "missing title",
    ),
    "title for another year": (GOOD_2027.replace("关于2027年", "关于2026年"), "does not name the year"),
    "datetime instead of date": (GOOD_2027.replace("2027-09-26", "2027-09-26T09:00:00"), "without time"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_names_itself(tmp_path: Path, case: str) -> None:
    text, message = BAD_FILES[case]
    folder = _notices_copy(tmp_path)
    bad = folder / "2027.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarDataError, match=message) as excinfo:
        WorkingDayCalendar.from_directory(folder)
    assert str(bad) in str(excinfo.value)


def test_file_name_must_match_year(tmp_path: Path) -> None:
    folder = tmp_path / "notices"
    folder.mkdir()
    (folder / "2028.toml").write_text(GOOD_2027, encoding="utf-8")
    with pytest.raises(CalendarDataError, match=r"2028\.toml: file name says 2028"):
        load_notices(folder)


def test_two_files_for_one_year(tmp_path: Path) -> None:
    folder = tmp_path / "notices"
    folder.mkdir()
    (folder / "2027.toml").write_text(GOOD_2027, encoding="utf-8")
    (folder / "2027-draft.toml").write_text(GOOD_2027, encoding="utf-8")
    with pytest.raises(CalendarDataError, match="already given by"):
        load_notices(folder)


def test_a_date_set_by_two_notices(tmp_path: Path) -> None:
    folder = _notices_copy(tmp_path)
    # The 2019 notice already sets 2018-12-31; a 2018 file claiming it too is ambiguous.
    text = (folder / "2018.toml").read_text(encoding="utf-8")
    text = text.replace(
        "days_off = [{ from = 2018-10-01",
        "days_off = [{ from = 2018-12-31, to = 2018-12-31 }, { from = 2018-10-01",
    )
    (folder / "2018.toml").write_text(text, encoding="utf-8")
    with pytest.raises(CalendarDataError, match=r"2019\.toml"):
        load_notices(folder)


def test_reach_back_limited_to_december_29(tmp_path: Path) -> None:
    folder = tmp_path / "notices"
    folder.mkdir()
    text = GOOD_2027.replace("2027-09-26, 2027-10-09", "2026-12-26, 2027-10-09")
    (folder / "2027.toml").write_text(text, encoding="utf-8")
    with pytest.raises(CalendarDataError, match="between 2026-12-29 and 2027-12-31"):
        load_notices(folder)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CalendarDataError, match="does not exist"):
        WorkingDayCalendar.from_directory(tmp_path / "nowhere")
