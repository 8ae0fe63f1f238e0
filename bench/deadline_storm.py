"""Deadline storm (issue 24, part 4): N cases whose deadlines fall in the same minute, after a holiday.

    .venv/bin/python bench/deadline_storm.py              # 10,000 cases
    .venv/bin/python bench/deadline_storm.py --quick      # 1,000
    .venv/bin/python bench/deadline_storm.py -n 5000 --no-draft --json

**The approach: the time-skipping test server.** The issue asks for the first working day after the
National Day holidays. 2026's (10-01..10-07, 10-10 worked) is past (today is 2026-12-02), and
Temporal's servers only move forward: the time-skipping server (``temporal-test-server``, as
``tests/engine/conftest.py`` starts it) starts at the wall clock and skips ahead, never back. Cases
started back-dated to September 2026 would all be overdue at their start, a storm driven by the start
rate, not a minute. The dev server runs on the wall clock, and a deadline is always 24:00 of a
working day (every profile's cut-off), so "a minute ahead" would mean running the bench just before
midnight, Beijing time. So the bench skips to September 2027 and starts the cases there, on the case
service (``start_case``: no HTTP, concurrent), against a real worker in its own process
(``python -m govshare.ops.launcher --worker-only``) on a SQLite projection.

**Which holiday.** ``calendars/notices`` has no 2027 notice (the State Council's is not in the
data): 2027 is counted on weekends only, provisional, so its National Day cannot be reached from the
data as it is. The nearest equivalent, and the default here: a **draft 2027 notice** in a temporary
folder (``GOVSHARE_CALENDAR_DIR``, the calendar's documented way to try a draft; every real notice
copied beside it) with National Day shaped like 2021's, the last year whose October 1st was also a
Friday: 10-01..10-07 off, 09-26 (Sun) and 10-09 (Sat) worked. Hubei applications submitted on
Tuesday 2027-09-28 have their normative check (3 WD, art. 19) counted over 09-29, 09-30 and 10-08,
the first working day after the holiday: all due at 24:00 of 10-08 (2027-10-09 00:00 +08:00). With
``--no-draft`` the repository's calendar is used as it is, and the nearest equivalent is a weekend:
cases submitted on Friday 2027-10-01 are all due at 24:00 of the following Wednesday.

The run: skip to the submission day; start N cases (all at the platform's check); check that every
due instant is the same minute; skip to 2 s before the reminders (00:00 of the last working day) and
let the clock run at the wall clock's pace (time skipping stays locked: no long skip RPC is held
open while the worker works) until every reminder is recorded; then the same up to the deadline.
Each case's timer fires at the deadline; its workflow records the breach (``deadline_breached`` in
``auditevent``, the task and case ``overdue``) and climbs the Hubei ladder's first rung (art. 26):
an escalation case ``ES-<case>-T1`` (case type ``escalation``, its task "report to the leading group
office" open for the platform) linked from the application (``case_link``, relation ``started``).
The bench polls the app DB until all N are there, and reports the seconds from the deadline to the
last breach recorded and to the last escalation recorded (from the rows' ``recorded_at``, the
worker's wall clock), and the counts that prove none was missed or escalated twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # first: it puts the project root on sys.path
from harness import Report, aware, duration, human_bytes, proc_status
from sqlalchemy import text
from sqlmodel import Session
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.testing import WorkflowEnvironment

from calendars import SHANGHAI, WorkingDayCalendar
from govshare.cases import service as case_service
from govshare.core.converter import DATA_CONVERTER
from govshare.core.db import init_schema, make_engine
from govshare.core.directory import read_directory
from govshare.core.logs import configure_logging
from govshare.core.seed import seed_if_enabled
from govshare.core.settings import Settings
from workflows import registry
from workflows.engine import signing

SECTION = "4. Deadline storm"
#: A draft of the 2027 notice's National Day item, shaped like 2021's (same weekdays). Not data.
DRAFT_2027 = """year = 2027

[notice]
title = "2027年国庆节放假安排(基准测试草案,非正式通知)"

[[festivals]]
name_zh = "国庆节"
name_en = "National Day"
days_off = [{ from = 2027-10-01, to = 2027-10-07 }]
makeup_working_days = [2027-09-26, 2027-10-09]
"""
POLL_S = 1.0


def calendar_folder(tmp: Path, draft: bool) -> Path:
    """The notices the worker counts with: the repository's, plus the 2027 draft when ``draft``."""
    folder = tmp / "notices"
    folder.mkdir()
    for notice in (harness.ROOT / "calendars" / "notices").glob("*.toml"):
        shutil.copy(notice, folder / notice.name)
    if draft:
        (folder / "2027.toml").write_text(DRAFT_2027, encoding="utf-8")
    return folder


async def skip_to(env: WorkflowEnvironment, target: datetime) -> None:
    """Skip the test server's clock to ``target`` (``env.sleep`` with no RPC deadline: the sleep
    lasts as long as the work it crosses, e.g. a storm of reminders)."""
    request = SleepRequest()
    request.duration.FromTimedelta(target - await env.get_current_time())
    await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=timedelta(hours=6))


async def storm(env: WorkflowEnvironment, engine, instant: datetime, done, args) -> tuple[float, dict, float]:
    """Skip to 2 s before ``instant``; from there the clock runs at the wall clock's pace (time
    skipping stays locked), so the timers due at ``instant`` fire in real time. Poll the projection
    until ``done(counts)``: the wall-clock time of ``instant``, the last counts, seconds it took."""
    await skip_to(env, instant - timedelta(seconds=2))
    server_now = await env.get_current_time()
    at_wall = time.time() + (instant - server_now).total_seconds()
    print(f"  server clock {server_now:%Y-%m-%d %H:%M:%S} UTC, 2 s before {instant:%H:%M %z}", flush=True)
    seen: dict[str, int] = {}
    next_print = time.time() + 10
    while time.time() < at_wall + args.timeout:
        await asyncio.sleep(POLL_S)
        seen = counts(engine)
        if done(seen):
            break
        if time.time() >= next_print:
            next_print += 10
            print(f"    +{time.time() - at_wall:.0f} s: {seen}", flush=True)
    return at_wall, seen, time.time() - at_wall


def counts(engine) -> dict[str, int]:
    """What the projection holds of the storm so far."""
    queries = {
        "reminded": "SELECT COUNT(DISTINCT case_id) FROM auditevent WHERE kind = 'reminder_sent' "
        "AND case_id LIKE 'SA-%'",
        "breached": "SELECT COUNT(DISTINCT case_id) FROM auditevent WHERE kind = 'deadline_breached' "
        "AND case_id LIKE 'SA-%'",
        "escalations": "SELECT COUNT(*) FROM \"case\" WHERE case_type = 'escalation'",
        # An application linked to an escalation case whose first rung's task is open.
        "escalated": "SELECT COUNT(DISTINCT l.case_id) FROM case_link l "
        "JOIN \"case\" c ON c.id = l.linked_case_id AND c.case_type = 'escalation' "
        "JOIN task t ON t.case_id = c.id AND t.status = 'open' "
        "WHERE l.relation = 'started' AND l.case_id LIKE 'SA-%'",
    }
    with engine.connect() as conn:
        return {name: conn.execute(text(sql)).scalar_one() for name, sql in queries.items()}


def recorded_span(engine, where: str) -> tuple[datetime | None, datetime | None]:
    """The first and last ``recorded_at`` (the worker's wall clock, UTC) of the audit rows ``where``."""
    with engine.connect() as conn:
        value = conn.execute(
            text(f"SELECT MIN(recorded_at), MAX(recorded_at) FROM auditevent WHERE {where}")
        ).one()
    first, last = value
    return (None if first is None else aware(first)), (None if last is None else aware(last))


def proof(engine, ids: set[str]) -> dict[str, object]:
    """Which started applications have no breach, no escalation; escalations twice or unlinked."""
    with engine.connect() as conn:

        def first_column(sql: str) -> set[str]:
            return {row[0] for row in conn.execute(text(sql))}

        breached = first_column("SELECT case_id FROM auditevent WHERE kind = 'deadline_breached'")
        overdue = first_column('SELECT id FROM "case" WHERE overdue')
        escalations = first_column("SELECT id FROM \"case\" WHERE case_type = 'escalation'")
        open_rungs = first_column(
            "SELECT t.case_id FROM task t WHERE t.status = 'open' "
            "AND t.step = 'rung_report_to_leading_group_office'"
        )
        links = conn.execute(
            text("SELECT case_id, linked_case_id FROM case_link WHERE relation = 'started'")
        ).all()
    linked: dict[str, list[str]] = {}
    for case_id, es in links:
        if es in escalations:
            linked.setdefault(case_id, []).append(es)
    return {
        "no_breach": sorted(ids - breached),
        "not_overdue": len(ids - overdue),
        "no_escalation": sorted(i for i in ids if i not in linked),
        "twice": sorted(i for i, es in linked.items() if len(es) > 1),
        "unlinked_escalations": sorted(escalations - {e for es in linked.values() for e in es}),
        "rung_not_open": sorted(e for es in linked.values() for e in es if e not in open_rungs),
        "escalations": len(escalations),
    }


async def run(args: argparse.Namespace, report: Report) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govshare-storm-", dir=args.tmp))
    key = secrets.token_bytes(32)
    signing.install_key(key)
    folder = calendar_folder(tmp, not args.no_draft)
    calendar = WorkingDayCalendar.from_directory(folder)
    submit_day = (
        datetime(2027, 10, 1, 10, 0, tzinfo=SHANGHAI)
        if args.no_draft
        else datetime(2027, 9, 28, 10, 0, tzinfo=SHANGHAI)
    )
    expected = calendar.add_working_days(submit_day, 3)  # Hubei platform_check, art. 19
    holiday = (
        "a weekend (2027 counted on weekends only)" if args.no_draft else "National Day 2027 (draft notice)"
    )
    report.add(
        "calendar", f"{holiday}; submitted {submit_day:%Y-%m-%d %a}; {'; '.join(expected.explanation_zh)}"
    )
    db_path = tmp / "app.db"
    engine = make_engine(f"sqlite:///{db_path}")
    init_schema(engine)
    # The demo seed (departments, catalog, role directory), as a deployment has them.
    seed_if_enabled(engine, Settings(var_dir=tmp, database_url=f"sqlite:///{db_path}", seed_demo=True))
    with Session(engine) as session:
        directory = read_directory(session)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).with_name("temporal-test-server")),
        data_converter=DATA_CONVERTER,
    )
    server_pid = harness.child_pid("temporal-test-server")
    log = open(tmp / "worker.log", "wb")  # noqa: SIM115 (closed below)
    worker = subprocess.Popen(
        [sys.executable, "-m", "govshare.ops.launcher", "--worker-only"],
        env=harness.worker_env(
            DATABASE_URL=f"sqlite:///{db_path}",
            TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
            TASK_QUEUE="storm",
            ACTOR_SIGNING_KEY=key.hex(),
            VAR_DIR=str(tmp),
            SEED_DEMO="false",
            GOVSHARE_CALENDAR_DIR=str(folder),
        ),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = env.client
    # The test server cannot list search attributes: said once here, not asked at every start.
    where = (client.service_client.config.target_host, client.namespace)
    case_service._ATTRIBUTES_MISSING_SINCE[where] = float("inf")
    try:
        await skip_to(env, submit_day)
        print(
            f"server clock at {await env.get_current_time():%Y-%m-%d %H:%M} UTC; "
            f"starting {args.cases:,} cases",
            flush=True,
        )
        pairs, names = harness.applicants(engine)
        tag = uuid.uuid4().hex[:4].upper()
        ids = [f"SA-STORM-{tag}-{i:06d}" for i in range(args.cases)]

        async def job(i: int) -> None:
            inp = harness.application_input(
                ids[i], pairs[i % len(pairs)], submit_day, directory=directory, names=names
            )
            for attempt in range(3):
                try:
                    await case_service.start_case(
                        client, "storm", registry.SHARING_APPLICATION, inp, settle_timeout_s=120
                    )
                    return
                except (case_service.CasePending, case_service.EngineUnavailable):
                    if attempt == 2:
                        raise

        with env.auto_time_skipping_disabled():
            wall = await harness.run_bounded(
                args.cases, args.clients, job, progress_every=max(500, args.cases // 10)
            )
        report.add(
            "cases started (time-skipping server)",
            f"{args.cases:,} in {duration(wall)} ({args.cases / wall:.1f} cases/s)",
        )
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT due_at, COUNT(*) FROM task WHERE status = 'open' GROUP BY due_at")
            ).all()
        dues = {aware(due).astimezone(SHANGHAI): n for due, n in rows}
        report.add(
            "due instants of the open tasks",
            "; ".join(f"{due:%Y-%m-%d %H:%M %z} × {n:,}" for due, n in dues.items()),
            f"all {args.cases:,} at {expected.due_at:%Y-%m-%d %H:%M %z}",
            dues == {expected.due_at: args.cases},
        )
        n = args.cases
        pids = {"worker": worker.pid, "test server": server_pid}
        remind_wall, seen, _ = await storm(
            env, engine, expected.remind_at, lambda c: c["reminded"] >= n, args
        )
        _first, last = recorded_span(engine, "kind = 'reminder_sent'")
        report.add(
            f"reminder storm ({expected.remind_at:%Y-%m-%d %H:%M}) → every reminder recorded",
            f"{last.timestamp() - remind_wall:.1f} s ({seen['reminded']:,} reminders)" if last else "none",
            "all reminded",
            seen["reminded"] >= n,
        )
        cpu_before = {name: harness.cpu_seconds(pid) for name, pid in pids.items() if pid}
        deadline_wall, seen, observed = await storm(
            env, engine, expected.due_at, lambda c: c["breached"] >= n and c["escalated"] >= n, args
        )
        cpu = {name: harness.cpu_seconds(pids[name]) - before for name, before in cpu_before.items()}
        first_breach, last_breach = recorded_span(engine, "kind = 'deadline_breached'")
        _first_es, last_es = recorded_span(engine, "case_id LIKE 'ES-%'")
        done = seen.get("breached", 0) >= args.cases and seen.get("escalated", 0) >= args.cases
        if first_breach and last_breach:
            report.add(
                "deadline → every breach recorded",
                f"{last_breach.timestamp() - deadline_wall:.1f} s "
                f"(first +{first_breach.timestamp() - deadline_wall:.1f} s; "
                f"{seen['breached'] / max(last_breach.timestamp() - deadline_wall, 0.001):.0f} breaches/s)",
            )
        if last_es:
            report.add(
                "deadline → every escalation recorded (ES case, first rung open, linked)",
                f"{last_es.timestamp() - deadline_wall:.1f} s (all seen by the poll at +{observed:.1f} s)",
            )
        report.add(
            "CPU used from the deadline to the end",
            ", ".join(f"{name} {seconds:.0f} s" for name, seconds in cpu.items())
            + f" (of {observed * (os.cpu_count() or 1):.0f} s on {os.cpu_count()} cores, shared)",
        )
        report.add(
            "worker peak RSS over the run (VmHWM)", human_bytes(proc_status(worker.pid).get("VmHWM", 0))
        )
        found = proof(engine, set(ids))
        report.add(
            "breaches recorded",
            f"{args.cases - len(found['no_breach']):,} of {args.cases:,} ({len(found['no_breach'])} missed; "
            f"{found['not_overdue']} cases not marked overdue)",
            "none missed",
            not found["no_breach"] and not found["not_overdue"],
        )
        report.add(
            "escalated (Hubei 26, first rung)",
            f"{args.cases - len(found['no_escalation']):,} of {args.cases:,} "
            f"({len(found['no_escalation'])} missed; "
            f"{found['escalations']:,} escalation cases, {len(found['twice'])} twice, "
            f"{len(found['unlinked_escalations'])} unlinked, "
            f"{len(found['rung_not_open'])} without the open rung)",
            "none missed, none twice",
            not any(found[k] for k in ("no_escalation", "twice", "unlinked_escalations", "rung_not_open")),
        )
        for name in ("no_breach", "no_escalation", "twice"):
            if found[name]:
                print(f"  {name}: {', '.join(found[name][:10])}{' …' if len(found[name]) > 10 else ''}")
        if not done:
            print(f"  ! not complete within {args.timeout:.0f} s after the deadline: {seen}", flush=True)
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
        log.close()
        await env.shutdown()
        engine.dispose()
        if args.keep:
            print(f"kept {tmp} (app.db, worker.log, notices/)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "-n", "--cases", type=int, default=10_000, help="cases due in the same minute (10,000)"
    )
    parser.add_argument("--quick", action="store_true", help="1,000 cases")
    parser.add_argument("--clients", type=int, default=16, help="concurrent starts (16)")
    parser.add_argument("--no-draft", action="store_true", help="the repository's calendar only: a weekend")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds after the deadline to wait (3600)"
    )
    parser.add_argument("--tmp", help="folder for the temporary files (default: the system's temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the app DB and the worker log")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON, as the last line")
    args = parser.parse_args()
    if args.quick:
        args.cases = 1_000
    configure_logging("WARNING", "console")
    report = Report("deadline_storm", SECTION)
    print(f"{SECTION}: {args.cases:,} cases", flush=True)
    asyncio.run(run(args, report))
    if args.json:
        report.emit_json()
    return 0


if __name__ == "__main__":
    sys.exit(main())
