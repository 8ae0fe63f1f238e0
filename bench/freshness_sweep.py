"""What 100,000 catalog entries waiting for their data refresh cost (issue 19, data freshness).

Each entry waits as one indexed column (``resource.next_refresh_due``); the hourly sweep reads the ones
past due in one index range scan. This fills a SQLite file with N entries (1 % of them overdue), then
times the sweep: the first run (tells each overdue provider) and a second (nothing new to tell).

    .venv/bin/python bench/freshness_sweep.py [--entries 100000] [--overdue-share 0.01]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert
from sqlmodel import Session

from activities.catalog import FreshnessActivities
from govshare.core.db import init_schema, make_engine
from govshare.core.models import Department, Resource
from workflows.contracts import FreshnessSweepRequest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--overdue-share", type=float, default=0.01)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "fresh.db"
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    now = datetime.now(UTC)
    every = max(1, round(1 / args.overdue_share)) if args.overdue_share > 0 else 0
    with Session(engine) as session:
        session.add(Department(code="d", name_zh="部门", created_at=now))
        session.commit()
        rows = [
            {
                "id": f"r{i:06d}",
                "version": 1,
                "name_zh": f"资源{i}",
                "provider_department": "d",
                "share_type": "conditional",
                "sharing_modes": ["online_query"],
                "fields": ["a"],
                "created_at": now,
                "update_period": "monthly",
                "next_refresh_due": now - timedelta(days=1)
                if every and i % every == 0
                else now + timedelta(days=1 + i % 28),
            }
            for i in range(args.entries)
        ]
        started = time.perf_counter()
        session.execute(insert(Resource), rows)
        session.commit()
        fill_s = time.perf_counter() - started
    sweep = FreshnessActivities(engine).sweep_freshness
    runs = []
    for _ in range(2):
        started = time.perf_counter()
        result = sweep(FreshnessSweepRequest(profile_id="hubei"))
        runs.append((time.perf_counter() - started, result))
    size_mb = path.stat().st_size / 1e6
    print(
        f"entries {args.entries:,}, overdue {runs[0][1].overdue:,}; "
        f"fill {fill_s:.1f} s; file {size_mb:.0f} MB"
    )
    for label, (seconds, result) in zip(("first sweep", "second sweep"), runs, strict=True):
        print(f"{label}: {seconds * 1000:.0f} ms (overdue {result.overdue:,}, told {result.notified:,})")


if __name__ == "__main__":
    main()
