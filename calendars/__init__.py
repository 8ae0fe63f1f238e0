"""Working-day calendar for govshare deadlines (工作日), from the State Council holiday notices.

Public API (others code against exactly these names)::

    from calendars import WorkingDayCalendar, Deadline, CalendarDataRef, SHANGHAI, CalendarDataError

    cal = WorkingDayCalendar.default()
    deadline = cal.add_working_days(recorded_at, 3)          # -> Deadline
    deadline.due_at, deadline.explanation_zh, deadline.provisional

Rules: REGULATIONS.md §3. Data: ``calendars/notices/<year>.toml`` (format in ``calendars/README.md``).
"""

from calendars.deadline import END_OF_DAY, SHANGHAI, CalendarDataRef, Deadline
from calendars.notices import CALENDAR_DIR_ENV, CalendarDataError, HolidayNotice, load_notices
from calendars.reference import NoticeCalendar
from calendars.working_days import WorkingDayCalendar

__all__ = [
    "CALENDAR_DIR_ENV",
    "END_OF_DAY",
    "SHANGHAI",
    "CalendarDataError",
    "CalendarDataRef",
    "Deadline",
    "HolidayNotice",
    "NoticeCalendar",
    "WorkingDayCalendar",
    "load_notices",
]
