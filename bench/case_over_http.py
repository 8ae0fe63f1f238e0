"""Full sharing applications over real HTTP, end to end, on the embedded default.

    .venv/bin/python bench/case_over_http.py                  # 40 cases, one after another
    .venv/bin/python bench/case_over_http.py -n 200 --concurrency 20

Starts the system exactly as ``govshare run`` does (``govshare.ops.launcher``): the Temporal dev server
with the settings' SQLite pragmas on a temp file, the worker, the API under uvicorn on a free port,
the app DB (SQLite in the temp dir unless ``--database-url``) with the demo seed. Then runs Hubei
cases: apply → platform accepts → provider grants → platform informs (4 HTTP calls, each returning
once the workflow has settled and the projection is written), and prints the median / p90 / min /
max seconds per case and the per-call medians; with ``--concurrency K``, K clients run cases at
once and the throughput is reported. Everything is stopped afterwards. No pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bare_workflow import cpu_seconds as process_cpu_seconds

from govshare.core.settings import Settings
from govshare.ops.launcher import Launcher

CONSUMER = "demo-rsj-consumer"
PROVIDER = "demo-scjgj-provider"
CALLS = ("apply", "accept", "grant", "inform")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def one_case(http: httpx.AsyncClient, platform: str, timings: dict[str, list[float]]) -> float:
    def headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def call(name: str, url: str, token: str, body: dict) -> dict:
        t0 = time.perf_counter()
        response = await http.post(url, json=body, headers=headers(token))
        timings[name].append(time.perf_counter() - t0)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
        return response.json()

    started = time.perf_counter()
    case = await call(
        "apply",
        "/applications",
        CONSUMER,
        {
            "resource_id": "scjgj-legal-entity-basic",
            "purpose": "社会保险登记时核验用人单位信息",
            "reason": "办理用人单位社会保险登记",
            "fields": ["unified_social_credit_code", "entity_name"],
        },
    )
    url = f"/applications/{case['id']}/decisions"
    await call("accept", url, platform, {"step": "platform_check", "action": "accept"})
    await call("grant", url, PROVIDER, {"step": "provider_authorization", "action": "grant"})
    done = await call("inform", url, platform, {"step": "notify_consumer", "action": "inform"})
    if done["status"] != "granted":
        raise RuntimeError(f"case {case['id']} ended {done['status']}")
    case_ids.append(case["id"])
    return time.perf_counter() - started


#: Ids of the cases run (for the history figures).
case_ids: list[str] = []


async def history_sizes(address: str, ids: list[str]) -> tuple[list[int], list[int]]:
    """Events and bytes (the history as JSON, what `temporal workflow show -o json` writes) per case."""
    from temporalio.client import Client

    client = await Client.connect(address)
    events, sizes = [], []
    for case_id in ids:
        history = await client.get_workflow_handle(f"SharingApplication:{case_id}").fetch_history()
        events.append(len(history.events))
        sizes.append(len(history.to_json().encode()))
    return events, sizes


async def run_cases(base_url: str, platform: str, n: int, concurrency: int) -> dict:
    timings: dict[str, list[float]] = {name: [] for name in CALLS}
    durations: list[float] = []
    limits = httpx.Limits(max_connections=max(concurrency, 1) * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        await one_case(http, platform, {name: [] for name in CALLS})  # warm-up, not counted
        queue = iter(range(n))

        async def client() -> None:
            for _ in queue:
                durations.append(await one_case(http, platform, timings))

        wall = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(max(concurrency, 1))))
        wall = time.perf_counter() - wall
    return {"durations": durations, "timings": timings, "wall": wall}


def cpu_seconds(launcher: Launcher) -> dict[str, float]:
    """User + system CPU seconds so far of each child (temporal, worker, api) and of this process
    (the clients), from /proc (Linux)."""
    pids = {child.name: child.process.pid for child in launcher.children}
    pids["clients"] = os.getpid()
    return process_cpu_seconds(pids)


@contextlib.contextmanager
def profiling(launcher: Launcher, directory: Path | None):
    """py-spy on the worker and the API while the body runs (nothing when ``directory`` is None)."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    recorders = [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(child.process.pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--gil",
                "--nonblocking",
                "--output",
                str(directory / f"{child.name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for child in launcher.children
        if child.name in ("worker", "api")
    ]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            recorder.wait(timeout=60)


def report(result: dict, n: int, concurrency: int, settings: Settings) -> None:
    durations = result["durations"]
    print()
    print(f"cases: {n} (hubei: apply → accept → grant → inform), concurrency {concurrency}")
    print(f"temporal sqlite pragmas: {settings.temporal_sqlite_pragmas or '(server defaults)'}")
    print(f"temporal dynamic config: {settings.temporal_dynamic_config or '(server defaults)'}")
    print(f"app database: {'sqlite' if settings.is_sqlite else 'postgresql'}")
    print(
        "seconds per case: "
        f"median {statistics.median(durations):.3f}  p90 {quantile(durations, 0.9):.3f}  "
        f"min {min(durations):.3f}  max {max(durations):.3f}"
    )
    print(
        "per-call median (s): "
        + "  ".join(f"{name} {statistics.median(result['timings'][name]):.3f}" for name in CALLS)
    )
    print(f"throughput: {n / result['wall']:.1f} cases/s ({result['wall']:.1f} s wall)")
    cpu = result.get("cpu") or {}
    if cpu:
        print(
            "CPU ms per case: "
            + "  ".join(f"{name} {1000 * seconds / n:.0f}" for name, seconds in sorted(cpu.items()))
            + f"  (of {(os.cpu_count() or 1) * 1000 * result['wall'] / n:.0f} ms of "
            f"{os.cpu_count()} cores' time per case)"
        )
    print(
        f"history per case: median {statistics.median(result['events']):.0f} events, "
        f"{statistics.median(result['bytes']) / 1024:.1f} KiB as JSON"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--cases", type=int, default=40, help="number of cases (default 40)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="clients running cases at once (default 1)"
    )
    parser.add_argument("--database-url", help="app DB (default: SQLite in the temp dir)")
    parser.add_argument("--pragmas", help="override TEMPORAL_SQLITE_PRAGMAS ('' for the server defaults)")
    parser.add_argument(
        "--dynamic-config",
        help="override TEMPORAL_DYNAMIC_CONFIG (comma-separated key=value; '' for the server defaults)",
    )
    parser.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the worker and the API with py-spy during the measured run into this directory "
        "(collapsed stacks of the thread holding the GIL, worker.txt / api.txt; "
        "bench/profile_summary.py summarises)",
    )
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="keep the API's per-caller rate limits (default: off, as every client here shares the "
        "demo departments' few credentials, where a province's clerks would each have their own)",
    )
    args = parser.parse_args()
    if not args.rate_limits:
        # The children read their settings from the environment the launcher hands them.
        os.environ["RATE_LIMIT_WRITES"] = "0"
        os.environ["RATE_LIMIT_READS"] = "0"

    with tempfile.TemporaryDirectory(prefix="govshare-bench-") as tmp:
        updates = {
            "var_dir": Path(tmp),
            "database_url": args.database_url or f"sqlite:///{Path(tmp) / 'govshare.db'}",
            "temporal_address": f"127.0.0.1:{free_port()}",
            "temporal_ui_port": free_port(),
            "api_host": "127.0.0.1",
            "api_port": free_port(),
            "task_queue": "bench",
            "seed_demo": True,
        }
        if args.pragmas is not None:
            updates["temporal_sqlite_pragmas"] = args.pragmas
        if args.dynamic_config is not None:
            updates["temporal_dynamic_config"] = args.dynamic_config
        settings = Settings(**updates)
        launcher = Launcher(settings)
        try:
            t0 = time.perf_counter()
            launcher.start()
            print(f"system up in {time.perf_counter() - t0:.1f} s (logs in {launcher.log_dir})", flush=True)
            platform = f"demo-{settings.platform_department}-platform"
            before = cpu_seconds(launcher)
            with profiling(launcher, args.profile):
                result = asyncio.run(run_cases(launcher.api_url, platform, args.cases, args.concurrency))
            after = cpu_seconds(launcher)
            result["cpu"] = {name: after[name] - before.get(name, 0.0) for name in after}
            result["events"], result["bytes"] = asyncio.run(
                history_sizes(settings.temporal_address, case_ids[-args.cases :])
            )
        finally:
            launcher.stop_all()
    report(result, args.cases, args.concurrency, settings)
    if args.json:
        print(
            json.dumps(
                {
                    "durations": result["durations"],
                    "timings": result["timings"],
                    "wall": result["wall"],
                    "cpu": result.get("cpu", {}),
                    "history_events": result["events"],
                    "history_bytes": result["bytes"],
                    "cases": args.cases,
                    "concurrency": args.concurrency,
                    "pragmas": settings.temporal_sqlite_pragmas,
                    "dynamic_config": settings.temporal_dynamic_config,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
