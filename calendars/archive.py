"""Every version the holiday notices ever had, by content hash, and calendars built from them.

A recorded :class:`~calendars.deadline.Deadline` names the notice data it was computed with
(``calendar_data``: year, title, sha256 of the file's bytes). Notices are corrected and new years
are added, so the files in ``calendars/notices/`` are only the data *now* in force. To recompute a
deadline as of its own data, every version is kept in a content-addressed archive::

    calendars/notices/archive/<year>-<sha256>.toml      # byte-identical to the notice as it was

The rule (``calendars/README.md``): a notice is never changed without its new version in the
archive; ``tests/test_deadline_audit.py`` fails when a current notice has no archive copy, and
``python -m calendars.archive`` adds the missing copies. Archive files are never edited or removed.

:func:`calendar_as_of` builds a :class:`~calendars.working_days.WorkingDayCalendar` from exactly the
notice versions a list of refs names (the archive first, then the notices folder in force, each file
checked against its hash) and refuses with :class:`UnknownCalendarData` when a version is not found.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from calendars.deadline import CalendarDataRef
from calendars.notices import (
    DEFAULT_NOTICES_DIR,
    CalendarDataError,
    HolidayNotice,
    _load_notice,
    load_notices,
    notices_dir,
)
from calendars.working_days import WorkingDayCalendar

__all__ = [
    "ARCHIVE_DIR",
    "UnknownCalendarData",
    "archive_name",
    "archive_notices",
    "archived_versions",
    "calendar_as_of",
    "find_notice",
    "missing_from_archive",
]

#: The archive shipped with the package: one file per notice version, never edited or removed.
ARCHIVE_DIR = DEFAULT_NOTICES_DIR / "archive"


class UnknownCalendarData(CalendarDataError):
    """A recorded notice version (year, sha256) is in neither the archive nor the notices in force."""

    def __init__(self, ref: CalendarDataRef, looked_in: Iterable[Path]) -> None:
        self.ref = ref
        places = ", ".join(str(p) for p in looked_in)
        super().__init__(
            f"未找到 {ref.year} 年节假日通知的该版本(sha256 {ref.sha256}),无法按记录的日历数据重算 / "
            f"notice {ref.year} version sha256 {ref.sha256} ({ref.notice}) is not in the archive "
            f"nor in the notices in force (looked in {places}): the deadline cannot be recomputed "
            "as of its own data"
        )


def archive_name(year: int, sha256: str) -> str:
    """The archive file name of a notice version: ``<year>-<sha256>.toml``."""
    return f"{year}-{sha256}.toml"


def archived_versions(archive_dir: Path | str = ARCHIVE_DIR) -> dict[tuple[int, str], Path]:
    """Every archived version, keyed by (year, sha256), as the file names say (not re-hashed)."""
    folder = Path(archive_dir)
    versions: dict[tuple[int, str], Path] = {}
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
        year, _, sha256 = path.stem.partition("-")
        if year.isdigit() and len(sha256) == 64:
            versions[(int(year), sha256)] = path
    return versions


def find_notice(
    ref: CalendarDataRef,
    *,
    archive_dir: Path | str = ARCHIVE_DIR,
    fallback_dirs: Iterable[Path | str] | None = None,
) -> HolidayNotice:
    """The notice version ``ref`` names: ``<archive>/<year>-<sha256>.toml``, else a notice of that
    year in ``fallback_dirs`` (default: the folder in force) whose bytes hash to ``ref.sha256``.

    The file found is loaded and validated like any notice and its hash checked again, so a renamed
    or edited archive file is refused, never used.
    """
    folders = [Path(archive_dir)]
    candidates = [Path(archive_dir) / archive_name(ref.year, ref.sha256)]
    for folder in [notices_dir()] if fallback_dirs is None else fallback_dirs:
        folders.append(Path(folder))
        candidates.append(Path(folder) / f"{ref.year}.toml")
    for path in candidates:
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != ref.sha256:
            continue
        notice = _load_notice(path)
        if notice.year != ref.year:
            raise CalendarDataError(f"{path}: holds the {notice.year} notice, not {ref.year}")
        return notice
    raise UnknownCalendarData(ref, folders)


def calendar_as_of(
    refs: Iterable[CalendarDataRef],
    *,
    archive_dir: Path | str = ARCHIVE_DIR,
    fallback_dirs: Iterable[Path | str] | None = None,
) -> WorkingDayCalendar:
    """A calendar of exactly the notice versions ``refs`` names, and no other year.

    A year the refs do not name has no data here (weekends only), as it had none for the
    computation that recorded them; a deadline reaching into it recomputes provisional again.
    Raises :class:`UnknownCalendarData` when a version is not found, :class:`CalendarDataError`
    when two refs name the same year differently.
    """
    unique: dict[int, CalendarDataRef] = {}
    for ref in refs:
        other = unique.setdefault(ref.year, ref)
        if other.sha256 != ref.sha256:
            raise CalendarDataError(
                f"two versions of the {ref.year} notice named ({other.sha256} and {ref.sha256}): "
                "a computation reads one version per year"
            )
    fallback = tuple(Path(p) for p in ([notices_dir()] if fallback_dirs is None else fallback_dirs))
    key = tuple(sorted((r.year, r.sha256, r.notice) for r in unique.values()))
    return _calendar_for(key, Path(archive_dir), fallback)


@functools.lru_cache(maxsize=64)
def _calendar_for(
    key: tuple[tuple[int, str, str], ...], archive_dir: Path, fallback: tuple[Path, ...]
) -> WorkingDayCalendar:
    notices = {
        year: find_notice(
            CalendarDataRef(year=year, notice=title, sha256=sha256),
            archive_dir=archive_dir,
            fallback_dirs=fallback,
        )
        for year, sha256, title in key
    }
    return WorkingDayCalendar(notices)


def missing_from_archive(
    directory: Path | str = DEFAULT_NOTICES_DIR, archive_dir: Path | str = ARCHIVE_DIR
) -> list[HolidayNotice]:
    """The notices of ``directory`` whose exact version has no archive copy (the rule is broken)."""
    archive = Path(archive_dir)
    missing = []
    for notice in load_notices(directory).values():
        copy = archive / archive_name(notice.year, notice.sha256)
        if not copy.is_file() or copy.read_bytes() != notice.path.read_bytes():
            missing.append(notice)
    return missing


def archive_notices(
    directory: Path | str = DEFAULT_NOTICES_DIR, archive_dir: Path | str = ARCHIVE_DIR
) -> list[Path]:
    """Copy every notice of ``directory`` that has no archive copy yet; the copies made."""
    archive = Path(archive_dir)
    archive.mkdir(parents=True, exist_ok=True)
    made = []
    for notice in missing_from_archive(directory, archive):
        copy = archive / archive_name(notice.year, notice.sha256)
        if copy.exists():  # named by its hash but holding other bytes: never overwrite, look at it
            raise CalendarDataError(f"{copy}: does not hash to its name; the archive is damaged")
        shutil.copyfile(notice.path, copy)
        made.append(copy)
    return made


if __name__ == "__main__":  # python -m calendars.archive: archive the notices in force
    for made in archive_notices():
        print(f"archived {made.relative_to(DEFAULT_NOTICES_DIR.parent.parent)}")
    sys.exit(0)
