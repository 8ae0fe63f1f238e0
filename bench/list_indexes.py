"""The list queries' indexes (migration 0011) at scale, with and without them, on synthetic rows.

    .venv/bin/python bench/list_indexes.py [--cases 100000]

Fills a migrated SQLite database with ``--cases`` open cases of 20 departments (one open task each,
two parties, 5 % overdue) by bulk insert, then times, 200 times each, the statements of the inbox
(``GET /tasks``: a department's open tasks in its role, soonest due first, count and first page) and
of the overdue list (``GET /applications?overdue=true``: count and first page, newest first) — first
with the four indexes of 0011, then with them dropped. p50 / p99 in ms. No pass/fail.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import importlib  # noqa: E402

from sqlalchemy import func, insert, text  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from govshare.core import models  # noqa: E402
from govshare.core.db import init_schema, make_engine  # noqa: E402

migration = importlib.import_module("govshare.core.migrations.versions.0011_list_indexes")

DEPARTMENTS = [f"d{i:02d}" for i in range(20)]


def fill(engine, n: int) -> None:
    rng = random.Random(24)
    t0 = datetime(2026, 9, 1, tzinfo=UTC)
    cases, tasks, parties = [], [], []
    for i in range(n):
        cid = f"SA-BENCH-{i:07d}"
        consumer, provider = rng.sample(DEPARTMENTS, 2)
        at = t0 + timedelta(minutes=i)
        overdue = rng.random() < 0.05
        cases.append(
            dict(
                id=cid,
                workflow_id=f"SharingApplication:{cid}",
                case_type="sharing_application",
                profile_id="hubei",
                profile_version="1",
                status="in_progress",
                result="",
                subject_zh="",
                submitted_at=at,
                overdue=overdue,
                revision=1,
                updated_at=at,
                record_error="",
                workflow_type="SharingApplicationV2",
                engine=2,
                subject_en="",
                detail={},
                summary={},
            )
        )
        tasks.append(
            dict(
                id=f"{cid}/1",
                case_id=cid,
                seq=1,
                step="provider_authorization",
                name_zh="",
                name_en="",
                assignee_department=provider,
                assignee_role="provider",
                status="open",
                opened_at=at,
                due_at=at + timedelta(days=14),
                article="20",
                limit_basis="",
                provisional=False,
                overdue=overdue,
                action="",
                group="",
                suspended=False,
                claimed_by="",
                decided_by="",
            )
        )
        parties += [
            dict(case_id=cid, role="consumer", department=consumer, person=""),
            dict(case_id=cid, role="provider", department=provider, person=""),
        ]
    with engine.begin() as conn:
        for table, rows in ((models.Case, cases), (models.Task, tasks), (models.CaseParty, parties)):
            for k in range(0, len(rows), 5000):
                conn.execute(insert(table.__table__), rows[k : k + 5000])
        conn.execute(text("ANALYZE"))


def timed(engine, work, runs: int = 200) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        with Session(engine) as session:
            work(session)
        samples.append(1000 * (time.perf_counter() - t0))
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]


def inbox(session) -> None:
    conditions = [
        models.Task.assignee_department == "d03",
        col(models.Task.assignee_role).in_(["provider"]),
        models.Task.status == "open",
    ]
    session.exec(select(func.count()).select_from(models.Task).where(*conditions)).one()
    session.exec(
        select(models.Task.id)
        .where(*conditions)
        .order_by(
            col(models.Task.due_at).is_(None),
            col(models.Task.due_at),
            col(models.Task.opened_at),
            col(models.Task.id),
        )
        .limit(50)
    ).all()


def overdue_list(session) -> None:
    conditions = [models.Case.case_type == "sharing_application", models.Case.overdue == True]  # noqa: E712
    session.exec(select(func.count()).select_from(models.Case).where(*conditions)).one()
    session.exec(
        select(models.Case.id)
        .where(*conditions)
        .order_by(col(models.Case.submitted_at).desc(), col(models.Case.id).desc())
        .limit(50)
    ).all()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govshare-indexes-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/g.db")
        init_schema(engine)
        t0 = time.perf_counter()
        fill(engine, args.cases)
        print(f"{args.cases:,} open cases filled in {time.perf_counter() - t0:.1f} s")
        for label in ("with 0011's indexes", "without them"):
            for name, work in (("inbox (GET /tasks)", inbox), ("overdue list", overdue_list)):
                p50, p99 = timed(engine, work)
                print(f"{label:<22} {name:<20} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
            with engine.begin() as conn:
                for _table, index, _columns in migration.INDEXES:
                    conn.execute(text(f'DROP INDEX IF EXISTS "{index}"'))
                conn.execute(text("ANALYZE"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
