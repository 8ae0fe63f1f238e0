"""What writing a case's steps to the projection costs in the worker (the ``record_delta`` activity).

    .venv/bin/python bench/record_bench.py [--cases 300] [--history tests/histories/…json] [--pg]

Takes the ``record_delta`` inputs of a kept history (default: a Hubei case with its breach and
escalation, 7 deltas), and writes them, in order, for N copies of the case (each under its own case
id) through ``RecordActivities`` on a fresh SQLite database (``--pg``: a throwaway PostgreSQL from
``tests/pg.py``), single-threaded, as the worker's activity does. Prints the time per delta (median,
p90) and the CPU time per delta, and the rows written. No pass/fail.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from activities.records import _DELTA_JSON, RecordActivities  # noqa: E402
from govshare.core import models  # noqa: E402
from govshare.core.db import init_schema, make_engine  # noqa: E402
from govshare.core.logs import configure_logging  # noqa: E402

DEFAULT_HISTORY = ROOT / "tests" / "histories" / "SharingApplication__SA-SAMPLE-E3-HUBEI-LATE.json"


def deltas_of(history: Path) -> tuple[str, list[dict]]:
    """The case id and the record_delta inputs (as plain JSON) of a kept history, in order."""
    events = json.loads(history.read_text())["events"]
    inputs = []
    for event in events:
        attrs = event.get("activityTaskScheduledEventAttributes")
        if not attrs or attrs["activityType"]["name"] != "record_delta":
            continue
        payload = attrs["input"]["payloads"][0]
        inputs.append(json.loads(base64.b64decode(payload["data"])))
    if not inputs:
        raise SystemExit(f"{history}: no record_delta in this history")
    return inputs[0]["case_id"], inputs


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(url: str, case_id: str, inputs: list[dict], cases: int) -> dict:
    engine = make_engine(url)
    init_schema(engine)
    records = RecordActivities(engine)
    texts = [json.dumps(i, ensure_ascii=False) for i in inputs]
    wall: list[float] = []
    cpu0 = time.process_time()
    for n in range(cases):
        new_id = f"{case_id}-{n:06d}"
        for text in texts:
            delta = _DELTA_JSON.validate_python(json.loads(text.replace(case_id, new_id)))
            t0 = time.perf_counter()
            records._record_delta(delta, record_error="")
            wall.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    with Session(engine) as session:
        rows = {
            table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in (models.Case, models.Task, models.AuditEvent, models.Notification)
        }
    engine.dispose()
    return {"wall": wall, "cpu": cpu, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--history", type=Path, default=DEFAULT_HISTORY)
    parser.add_argument("--pg", action="store_true", help="a throwaway PostgreSQL instead of SQLite")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON last")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="the worker's log level here (INFO: as the worker logs, in JSON)",
    )
    args = parser.parse_args()
    configure_logging(args.log_level, "json")
    case_id, inputs = deltas_of(args.history)
    with contextlib.ExitStack() as stack:
        if args.pg:
            from pg import PostgresServer

            url = stack.enter_context(PostgresServer.start()).create_database("govshare_bench")
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="govshare-record-"))
            url = f"sqlite:///{Path(tmp) / 'govshare.db'}"
        result = run(url, case_id, inputs, args.cases)
    wall = result["wall"]
    per_delta_cpu = result["cpu"] / len(wall)
    database = "PostgreSQL" if args.pg else "SQLite"
    print(f"{args.history.name}: {len(inputs)} deltas per case, {args.cases} cases, {database}")
    print(
        f"record_delta: median {1000 * statistics.median(wall):.2f} ms, "
        f"p90 {1000 * quantile(wall, 0.9):.2f} ms, "
        f"CPU {1000 * per_delta_cpu:.2f} ms per delta (incl. decoding the input)"
    )
    print("rows: " + ", ".join(f"{name} {count}" for name, count in result["rows"].items()))
    if args.json:
        print(
            json.dumps(
                {
                    "bench": "record_bench",
                    "median_ms": 1000 * statistics.median(wall),
                    "p90_ms": 1000 * quantile(wall, 0.9),
                    "cpu_ms": 1000 * per_delta_cpu,
                    "rows": result["rows"],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
