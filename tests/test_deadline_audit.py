"""Deadlines proved as of their calendar (issue 21): the notice archive, ``calendar_as_of``, the proof,
what the projection and a workflow history recorded, and ``govshare audit deadlines``.

The repository has never corrected a notice, so the correction is played on a small notice set of
its own: a deadline computed with one version of a notice recomputes to itself with that version (from
the archive) and to another date under the corrected one, which the proof names.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from pydantic import TypeAdapter
from sqlmodel import Session

from calendars import CALENDAR_DIR_ENV, SHANGHAI, CalendarDataError, CalendarDataRef, WorkingDayCalendar
from calendars.archive import (
    ARCHIVE_DIR,
    UnknownCalendarData,
    archive_name,
    archive_notices,
    archived_versions,
    calendar_as_of,
    find_notice,
    missing_from_archive,
)
from calendars.notices import DEFAULT_NOTICES_DIR, load_notices
from calendars.proof import prove_deadline
from govshare.cases.deadline_audit import audit_history, history_deadlines, task_checks
from govshare.core.db import make_engine, migrate
from govshare.core.models import Case
from govshare.core.models import Task as TaskRow
from govshare.core.settings import get_settings
from govshare.ops.cli import main
from govshare.ops.replay import load_history_file
from workflows.case import ClockEntry, Party, Task

HISTORIES = Path(__file__).parent / "histories"

#: A notice of its own, version 1: National Day 10-01..10-07, Saturday 10-10 a make-up working day.
NOTICE_V1 = """\
year = 2026

[notice]
title = "国务院办公厅关于2026年部分节假日安排的通知"

[[festivals]]
name_zh = "国庆节"
name_en = "National Day"
days_off = [{ from = 2026-10-01, to = 2026-10-07 }]
makeup_working_days = [2026-10-10]
"""
#: Version 2, a correction: 10-08 is a day off too.
NOTICE_V2 = NOTICE_V1.replace("to = 2026-10-07", "to = 2026-10-08")

NEXT_YEAR = """\
year = 2027

[notice]
title = "国务院办公厅关于2027年部分节假日安排的通知"

[[festivals]]
name_zh = "元旦"
name_en = "New Year's Day"
days_off = [{ from = 2027-01-01, to = 2027-01-03 }]
"""

START = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _calendar_in_force(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(CALENDAR_DIR_ENV, raising=False)
    WorkingDayCalendar.clear_default_cache()
    yield
    WorkingDayCalendar.clear_default_cache()


def notices(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name.removeprefix('y')}.toml").write_text(text, encoding="utf-8")
    return folder


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------
# the archive
# --------------------------------------------------------------------------------------------------


def test_every_current_notice_is_archived():
    """The archive rule (calendars/README.md): a notice never changes without its archive copy.

    Failing here means a file in calendars/notices/ was added or edited and its exact bytes are not
    in calendars/notices/archive/: run `python -m calendars.archive`, and never edit the archive."""
    missing = missing_from_archive()
    assert not missing, "not archived: " + ", ".join(
        f"{n.path.name} → archive/{archive_name(n.year, n.sha256)}" for n in missing
    )


def test_every_archive_file_is_the_version_its_name_says():
    versions = archived_versions()
    assert len(versions) >= len(load_notices(DEFAULT_NOTICES_DIR))
    for (year, digest), path in versions.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path.name
        notice = find_notice(CalendarDataRef(year, "", digest), fallback_dirs=())
        assert notice.year == year and notice.path == path
    # and nothing in the folder escapes the naming rule
    assert sorted(p.name for p in ARCHIVE_DIR.glob("*")) == sorted(p.name for p in versions.values())


def test_a_changed_notice_is_reported_until_archived(tmp_path):
    folder = notices(tmp_path / "notices", y2026=NOTICE_V1)
    archive = tmp_path / "archive"
    assert [n.year for n in missing_from_archive(folder, archive)] == [2026]
    assert archive_notices(folder, archive) == [archive / archive_name(2026, sha(NOTICE_V1))]
    assert missing_from_archive(folder, archive) == []
    notices(folder, y2026=NOTICE_V2)  # corrected in place: the rule is broken until archived again
    assert [n.sha256 for n in missing_from_archive(folder, archive)] == [sha(NOTICE_V2)]
    archive_notices(folder, archive)
    assert set(archived_versions(archive)) == {(2026, sha(NOTICE_V1)), (2026, sha(NOTICE_V2))}


def test_calendar_as_of_reads_exactly_the_named_versions(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / archive_name(2026, sha(NOTICE_V1))).write_text(NOTICE_V1, encoding="utf-8")
    (archive / archive_name(2026, sha(NOTICE_V2))).write_text(NOTICE_V2, encoding="utf-8")
    v1 = calendar_as_of([CalendarDataRef(2026, "t", sha(NOTICE_V1))], archive_dir=archive, fallback_dirs=())
    v2 = calendar_as_of([CalendarDataRef(2026, "t", sha(NOTICE_V2))], archive_dir=archive, fallback_dirs=())
    assert v1.is_working_day(datetime(2026, 10, 8).date())
    assert not v2.is_working_day(datetime(2026, 10, 8).date())
    assert v1.data_years == v2.data_years == [2026]  # no other year: weekends only there
    nothing = calendar_as_of([], archive_dir=archive, fallback_dirs=())
    assert nothing.data_years == []


def test_a_hash_not_in_the_archive_is_refused_clearly(tmp_path):
    ref = CalendarDataRef(2026, "国务院办公厅关于2026年部分节假日安排的通知", "ab" * 32)
    with pytest.raises(UnknownCalendarData) as caught:
        calendar_as_of([ref])
    message = str(caught.value)
    assert "2026" in message and "ab" * 32 in message and "archive" in message
    assert caught.value.ref == ref
    # a file under the right name whose bytes are another version is refused, never used
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / archive_name(2026, sha(NOTICE_V1))).write_text(NOTICE_V2, encoding="utf-8")
    with pytest.raises(UnknownCalendarData):
        calendar_as_of([CalendarDataRef(2026, "t", sha(NOTICE_V1))], archive_dir=archive, fallback_dirs=())
    # two versions of one year cannot both have been read
    with pytest.raises(CalendarDataError, match="two versions"):
        calendar_as_of(
            [CalendarDataRef(2026, "t", sha(NOTICE_V1)), CalendarDataRef(2026, "t", sha(NOTICE_V2))]
        )


# --------------------------------------------------------------------------------------------------
# the proof
# --------------------------------------------------------------------------------------------------


def corrected(tmp_path: Path) -> tuple[Path, Path, WorkingDayCalendar, WorkingDayCalendar]:
    """Notices then (v1, archived) and now (v2, in force, archived too): the two calendars."""
    then_dir = notices(tmp_path / "then", y2026=NOTICE_V1)
    now_dir = notices(tmp_path / "now", y2026=NOTICE_V2)
    archive = tmp_path / "archive"
    archive_notices(then_dir, archive)
    archive_notices(now_dir, archive)
    return (
        archive,
        now_dir,
        WorkingDayCalendar.from_directory(then_dir),
        WorkingDayCalendar.from_directory(now_dir),
    )


def test_a_deadline_before_a_correction_recomputes_to_itself_and_differs_now(tmp_path):
    archive, now_dir, then, now = corrected(tmp_path)
    recorded = then.add_working_days(START, 3)  # 10-08, 10-09, Saturday 10-10
    assert str(recorded.due_date) == "2026-10-10"
    # as the projection keeps it: JSON and back
    recorded = type(recorded).from_json_dict(json.loads(json.dumps(recorded.to_json_dict())))

    proof = prove_deadline(recorded, now=now, archive_dir=archive, fallback_dirs=[now_dir])
    assert proof.verdict == "agrees" and proof.ok and proof.differences == ()
    assert proof.recomputed is not None and proof.recomputed.due_at == recorded.due_at
    assert proof.now_verdict == "differs"
    assert proof.now is not None and str(proof.now.due_date) == "2026-10-12"  # 10-09, 10-10, Monday 10-12
    [change] = proof.notice_changes
    assert (change.year, change.then_sha256, change.now_sha256) == (2026, sha(NOTICE_V1), sha(NOTICE_V2))
    assert change.moves_date is True
    zh, en = proof.describe()
    assert zh.index("一致") < zh.index("2026-10-12") and "2026 年通知已更正" in zh
    assert "recomputes to itself" in en and "corrected" in en and sha(NOTICE_V2)[:12] in en
    data = proof.to_json_dict()
    assert data["now"]["due_date"] == "2026-10-12" and data["notice_changes"][0]["moves_date"] is True

    # the same deadline computed after the correction agrees with its data and with the calendar now
    later = prove_deadline(now.add_working_days(START, 3), now=now, archive_dir=archive, fallback_dirs=[])
    assert (later.verdict, later.now_verdict, later.notice_changes) == ("agrees", "same", ())


def test_a_tampered_deadline_does_not_recompute_to_itself(tmp_path):
    archive, now_dir, then, now = corrected(tmp_path)
    recorded = then.add_working_days(START, 3)
    moved = dataclasses.replace(
        recorded,
        due_date=recorded.due_date.replace(day=12),
        due_at=recorded.due_at.replace(day=13),
        remind_at=recorded.remind_at.replace(day=12),
    )
    proof = prove_deadline(moved, now=now, archive_dir=archive, fallback_dirs=[now_dir])
    assert proof.verdict == "mismatch" and not proof.ok
    assert [d.field for d in proof.differences] == ["due_date", "due_at", "remind_at"]
    assert proof.differences[0].recorded == "2026-10-12" and proof.differences[0].recomputed == "2026-10-10"
    flipped = dataclasses.replace(recorded, provisional=True)
    assert [d.field for d in prove_deadline(flipped, now=now, archive_dir=archive).differences] == [
        "provisional"
    ]


def test_data_not_found_cannot_be_proved(tmp_path):
    _, _, then, now = corrected(tmp_path)
    recorded = then.add_working_days(START, 3)
    proof = prove_deadline(recorded, now=now, archive_dir=tmp_path / "empty", fallback_dirs=[])
    assert proof.verdict == "data_missing" and not proof.ok
    assert sha(NOTICE_V1) in proof.error
    assert proof.now_verdict == "differs"  # still compared with the calendar now in force


def test_a_provisional_deadline_and_the_notice_published_since(tmp_path):
    then_dir = notices(tmp_path / "then", y2026=NOTICE_V1)
    now_dir = notices(tmp_path / "now", y2026=NOTICE_V1, y2027=NEXT_YEAR)
    archive = tmp_path / "archive"
    archive_notices(now_dir, archive)
    then = WorkingDayCalendar.from_directory(then_dir)
    now = WorkingDayCalendar.from_directory(now_dir)
    recorded = then.add_working_days(datetime(2026, 12, 28, 9, tzinfo=SHANGHAI), 5)
    assert recorded.provisional and recorded.provisional_years == [2027]
    assert [r.year for r in recorded.calendar_data] == [2026]

    proof = prove_deadline(recorded, now=now, archive_dir=archive, fallback_dirs=[])
    assert proof.verdict == "agrees"  # provisional again: the data it names has no 2027
    assert proof.now_verdict == "differs" and proof.now is not None and not proof.now.provisional
    [change] = proof.notice_changes
    assert (change.year, change.then_sha256, change.now_sha256, change.moves_date) == (
        2027,
        None,
        sha(NEXT_YEAR),
        True,
    )
    assert "2027 年通知此后公布" in proof.describe()[0]


def test_the_shipped_calendar_proves_its_own_deadlines():
    calendar = WorkingDayCalendar.default()
    for start, days in [(START, 3), (datetime(2019, 4, 26, 18, tzinfo=SHANGHAI), 10)]:
        for cutoff in ("24:00", "17:30"):
            proof = prove_deadline(calendar.add_working_days(start, days, cutoff=cutoff))
            assert (proof.verdict, proof.now_verdict) == ("agrees", "same")


# --------------------------------------------------------------------------------------------------
# what a case recorded: the projection's task and clock, a workflow history
# --------------------------------------------------------------------------------------------------


def extended_task(calendar: WorkingDayCalendar, case_id: str = "DO-TEST-1") -> Task:
    """A task with a base limit of 10 WD, then an extension of 5 WD after its last day."""
    opened = datetime(2026, 9, 25, 9, tzinfo=SHANGHAI)
    base = calendar.add_working_days(opened, 10)
    after = datetime.combine(base.due_date, time(12), tzinfo=SHANGHAI)
    extended = dataclasses.replace(
        calendar.add_working_days(after, 5), step="data_verification", article="19"
    )
    return Task(
        task_id=f"{case_id}/1",
        seq=1,
        step="data_verification",
        name_zh="数据核查",
        name_en="Data verification",
        assignee=Party("gaj", "provider"),
        actions=["correct", "confirm"],
        opened_at=opened,
        article="19",
        limit_basis="statute",
        deadline=extended,
        clock=[
            ClockEntry("base", opened, "19", 10, starts_at=opened, due_at=base.due_at),
            ClockEntry("extension", opened, "19", 5, starts_at=after, due_at=extended.due_at),
        ],
    )


def test_a_task_its_deadline_and_its_clock_entries():
    calendar = WorkingDayCalendar.default()
    task = extended_task(calendar)
    checks = task_checks("DO-TEST-1", task, calendar)
    assert [(c.what, c.verdict) for c in checks] == [
        ("deadline", "agrees"),
        ("clock:base#1", "agrees"),
        ("clock:extension#2", "agrees"),
    ]
    # the clock's due date in force must be the task's deadline
    assert task.deadline is not None
    task.clock[-1].due_at = task.deadline.due_at.replace(day=task.deadline.due_at.day + 1)
    assert [c.verdict for c in task_checks("DO-TEST-1", task, calendar)][2] == "mismatch"
    # a superseded entry that does not recompute with the task's data is unproven, not failed
    task = extended_task(calendar)
    task.clock[0].due_at = task.clock[0].due_at.replace(day=task.clock[0].due_at.day + 1)
    checks = task_checks("DO-TEST-1", task, calendar)
    assert [c.verdict for c in checks] == ["agrees", "unproven", "agrees"]
    assert all(c.ok for c in checks) and "--from-history" in checks[1].describe()[1]


def history_file() -> Path:
    """A recorded history whose case computed deadlines (a base limit, an extension, another step)."""
    return next(p for p in sorted(HISTORIES.glob("EngineClock__*.json")))


def test_the_deadline_records_of_recorded_histories_agree():
    seen = 0
    for path in sorted(HISTORIES.glob("*.json")):
        history = load_history_file(path)
        audit = audit_history(history.workflow_id.split(":", 1)[-1], history.workflow_id, history.events)
        assert audit.ok, (path.name, audit.summary())
        seen += len(audit.checks)
    assert seen > 50  # every case type computes deadlines: they were all found and decoded


def tampered_history(tmp_path: Path) -> Path:
    """The first compute_deadline result of a recorded history, its due date moved by a day."""
    data = json.loads(history_file().read_text(encoding="utf-8"))
    for event in data["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if not marker or "result" not in marker.get("details", {}):
            continue
        header = json.loads(base64.b64decode(marker["details"]["data"]["payloads"][0]["data"]))
        if header.get("activity_type") != "compute_deadline":
            continue
        payload = marker["details"]["result"]["payloads"][0]
        record = json.loads(base64.b64decode(payload["data"]))
        due = datetime.fromisoformat(record["due_at"])
        record["due_at"] = due.replace(day=due.day + 1).isoformat()
        payload["data"] = base64.b64encode(json.dumps(record, ensure_ascii=False).encode()).decode()
        break
    else:
        raise AssertionError("no compute_deadline marker")
    path = tmp_path / history_file().name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_tampered_history_is_found(tmp_path):
    history = load_history_file(tampered_history(tmp_path))
    records = history_deadlines(history.events)
    assert records
    audit = audit_history("X", history.workflow_id, history.events)
    assert not audit.ok
    assert audit.checks[0].verdict == "mismatch"
    assert [c.verdict for c in audit.checks[1:]] == ["agrees"] * (len(audit.checks) - 1)
    assert audit.checks[0].what == f"history:event {records[0][0]}"


# --------------------------------------------------------------------------------------------------
# govshare audit deadlines
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'govshare.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def store(engine, task: Task, case_id: str) -> None:
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.add(
            Case(
                id=case_id,
                workflow_id=f"DataObjection:{case_id}",
                case_type="data_objection",
                profile_id="luoyang",
                profile_version="1",
                status="in_progress",
                submitted_at=task.opened_at,
                updated_at=now,
                engine=2,
            )
        )
        session.flush()
        session.add(
            TaskRow(
                id=task.task_id,
                case_id=case_id,
                seq=task.seq,
                step=task.step,
                name_zh=task.name_zh,
                name_en=task.name_en,
                assignee_department=task.assignee.department,
                assignee_role=task.assignee.role,
                status="open",
                opened_at=task.opened_at,
                detail=TypeAdapter(Task).dump_python(task, mode="json"),
            )
        )
        session.commit()


def test_cli_on_the_projection(database, capsys):
    calendar = WorkingDayCalendar.default()
    store(database, extended_task(calendar, "DO-TEST-1"), "DO-TEST-1")
    bad = extended_task(calendar, "DO-TEST-2")
    assert bad.deadline is not None
    bad.deadline = dataclasses.replace(bad.deadline, provisional=True)
    store(database, bad, "DO-TEST-2")

    assert main(["audit", "deadlines", "--case", "DO-TEST-1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("来源 source: 数据库投影")
    rows = [line for line in out if line.startswith("DO-TEST-1 ")]
    assert len(rows) == 3 and all("一致 agrees" in row for row in rows)
    assert "data_verification" in rows[0] and "条款 art. 19" in rows[0]
    assert out[-2].startswith("共 3 个期限") and out[-1].startswith("3 deadline(s)")

    assert main(["audit", "deadlines", "--all", "--json"]) == 1  # DO-TEST-2 does not recompute
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "projection" and data["case_ids"] == ["DO-TEST-1", "DO-TEST-2"]
    assert data["counts"]["mismatch"] == 1 and not data["ok"]
    [wrong] = [d for d in data["deadlines"] if not d["ok"]]
    assert (wrong["case_id"], wrong["what"]) == ("DO-TEST-2", "deadline")
    assert wrong["proof"]["differences"][0]["field"] == "provisional"

    assert main(["audit", "deadlines", "--case", "NOPE-1"]) == 2
    assert "NOPE-1" in capsys.readouterr().err


def test_cli_on_a_history_file(tmp_path, capsys):
    assert main(["audit", "deadlines", "--history-file", str(history_file())]) == 0
    out = capsys.readouterr().out
    assert "Temporal 工作流历史" in out.splitlines()[0] and "history:event" in out
    assert main(["audit", "deadlines", "--history-file", str(tampered_history(tmp_path)), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "history" and data["counts"]["mismatch"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "deadlines"], "--case ID, --all"),
        (["audit", "deadlines", "--all", "--from-history"], "--from-history goes with --case"),
        (["audit", "deadlines", "--all", "--case", "X"], "not allowed with"),
        (["audit", "deadlines", "--history-file", "/nonexistent.json"], "no such file"),
    ],
)
def test_cli_bad_input(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
