"""Reads under load: do the inbox, the lists and a case's page stay fast while cases are decided?

    .venv/bin/python bench/reads_under_load.py                 # 50 readers, 10 deciders, 30 s each phase
    .venv/bin/python bench/reads_under_load.py --quick         # 20 readers, 10 s, fewer cases first
    .venv/bin/python bench/reads_under_load.py --pg --json     # the app DB in a throwaway PostgreSQL

Starts the system as ``govshare run`` does (``bench/system.py``: Temporal dev server, app DB with the
demo seed — SQLite in a temp dir, or PostgreSQL with ``--pg`` —, one worker, one API), fills it
with Hubei cases over HTTP (half granted, half waiting for the provider's authorization, so the
provider's inbox and the lists are not empty), then runs two phases of ``--seconds`` each:

1. **alone** — ``--readers`` clients read: ``GET /tasks`` with a provider clerk's token
   (市市场监督管理局's ``scjgj-clerk``, a user token issued for the run),
   ``GET /applications?overdue=true`` with the platform's token, ``GET /applications/{id}`` of one
   granted case with the consumer's token; each reader takes the three in turn (the readers starting
   at different ones), with ``--think`` seconds between two reads: default 1 s ± 50 %, a person's
   page refreshing about once a second, so 50 readers offer about 50 reads/s. ``--think 0`` is a
   closed loop without pause: it measures how many reads/s one API process answers, and the latency
   then grows with the queue (Little's law), whatever the endpoint costs.
2. **under load** — the same readers while ``--deciders`` clients run whole cases (apply → accept →
   grant → inform, ``bench/case_over_http.one_case``) without pause.

Reported: p50 / p95 / p99 / max per read endpoint in each phase, reads/s, the deciders' cases/s
(cases finished inside the readers' window), failures by status, and the CPU each process used.
Target: p99 ≤ 50 ms per read endpoint under load. No pass/fail; ``--json`` prints one JSON object
as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import case_over_http
from case_over_http import CONSUMER, PROVIDER
from system import (
    CaseRun,
    Rows,
    cpu_delta,
    cpu_line,
    latency,
    limits,
    machine_cpu,
    machine_line,
    ms,
    running,
)

SECTION = "2. Reads under load"
TARGET_S = 0.050
APPLICATION = {
    "resource_id": "scjgj-legal-entity-basic",
    "purpose": "社会保险登记时核验用人单位信息",
    "reason": "办理用人单位社会保险登记",
    "fields": ["unified_social_credit_code", "entity_name"],
}


@dataclass
class Endpoint:
    name: str
    path: str
    token: str


@dataclass
class Reads:
    """One phase's reads: latencies and failures per endpoint, the totals each answer reported."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    failures: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    totals: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    #: (seconds since the phase began, endpoint, seconds taken) of every answered read.
    trace: list[tuple[float, str, float]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())


# --------------------------------------------------------------------------------------------------
# Filling
# --------------------------------------------------------------------------------------------------


async def waiting_case(http: httpx.AsyncClient, platform: str) -> str:
    """A case applied for and accepted: it waits in the provider's inbox."""

    async def post(url: str, token: str, body: dict) -> dict:
        response = await http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
        return response.json()

    case = await post("/applications", CONSUMER, APPLICATION)
    await post(
        f"/applications/{case['id']}/decisions", platform, {"step": "platform_check", "action": "accept"}
    )
    return case["id"]


async def fill(url: str, platform: str, n: int, concurrency: int = 10) -> tuple[int, int, float]:
    """``n`` cases: every other one granted (one_case), the others waiting for the provider."""
    done = CaseRun()
    waiting: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits(concurrency * 2)) as http:
        queue = iter(range(n))

        async def client() -> None:
            for i in queue:
                if i % 2:
                    waiting.append(await waiting_case(http, platform))
                else:
                    await done.one(http, platform)

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
    if done.errors:
        raise RuntimeError(f"filling failed: {dict(done.errors)}")
    return done.cases, len(waiting), time.perf_counter() - t0


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


async def read_for(url: str, endpoints: list[Endpoint], readers: int, seconds: float, think: float) -> Reads:
    """``readers`` clients reading for ``seconds``; reader ``i`` takes the endpoints in turn from ``i``."""
    reads = Reads()
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits(readers)) as http:

        async def reader(index: int) -> None:
            turn = index
            if think:  # spread over the first pause, not 50 reads at the same instant
                await asyncio.sleep(random.uniform(0.0, think))
            while time.perf_counter() < end:
                endpoint = endpoints[turn % len(endpoints)]
                turn += 1
                t0 = time.perf_counter()
                try:
                    response = await http.get(
                        endpoint.path, headers={"Authorization": f"Bearer {endpoint.token}"}
                    )
                except httpx.HTTPError as err:
                    reads.failures[endpoint.name][type(err).__name__] += 1
                    continue
                elapsed = time.perf_counter() - t0
                if response.status_code == 200:
                    reads.latencies[endpoint.name].append(elapsed)
                    reads.trace.append((t0 - start, endpoint.name, elapsed))
                    total = response.json().get("total")
                    if total is not None:
                        reads.totals[endpoint.name] = total
                else:
                    reads.failures[endpoint.name][str(response.status_code)] += 1
                if think:  # never past the end: the window's reads/s stay the window's
                    pause = random.uniform(0.5, 1.5) * think
                    await asyncio.sleep(min(pause, max(0.0, end - time.perf_counter())))

        start = time.perf_counter()
        end = start + seconds
        await asyncio.gather(*(reader(i) for i in range(readers)))
        reads.wall = time.perf_counter() - start
    return reads


async def decide_while(
    url: str, platform: str, deciders: int, window: asyncio.Event, stop: asyncio.Event
) -> tuple[CaseRun, int]:
    """``deciders`` clients running cases until ``stop``; returns the run and how many cases finished
    while ``window`` was set (the readers' window)."""
    run = CaseRun()
    in_window = 0
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits(deciders * 2)) as http:

        async def decider() -> None:
            nonlocal in_window
            while not stop.is_set():
                before = run.cases
                await run.one(http, platform)
                if run.cases > before and window.is_set():
                    in_window += 1

        await asyncio.gather(*(decider() for _ in range(deciders)))
    return run, in_window


async def under_load(
    url: str, platform: str, endpoints: list[Endpoint], args: argparse.Namespace
) -> tuple[Reads, CaseRun, int]:
    window, stop = asyncio.Event(), asyncio.Event()
    deciding = asyncio.create_task(decide_while(url, platform, args.deciders, window, stop))
    await asyncio.sleep(args.ramp)  # the deciders in full swing before the readers start
    window.set()
    reads = await read_for(url, endpoints, args.readers, args.seconds, args.think)
    window.clear()
    stop.set()
    run, in_window = await deciding
    return reads, run, in_window


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def print_reads(title: str, reads: Reads, endpoints: list[Endpoint]) -> None:
    print(f"\n{title}: {reads.count} reads in {reads.wall:.1f} s = {reads.count / reads.wall:.0f} reads/s")
    print(f"  {'endpoint':<34}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}  total  failed")
    for endpoint in endpoints:
        figures = latency(reads.latencies[endpoint.name])
        failed = dict(reads.failures[endpoint.name]) or ""
        print(
            f"  {endpoint.name:<34}{figures['n']:>7}"
            + "".join(f"{1000 * figures[q]:>9.1f}" for q in ("p50", "p95", "p99", "max"))
            + f"  {reads.totals.get(endpoint.name, '-'):>5}  {failed}"
        )


def print_problems(problems: collections.Counter[str]) -> None:
    if problems:
        print(f"  warnings / errors logged: {sum(problems.values())}")
        for problem, count in problems.most_common(8):
            print(f"    {count:>5} × {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, help="measured seconds per phase (default 30; quick 10)")
    parser.add_argument("--readers", type=int, help="reader clients (default 50; quick 20)")
    parser.add_argument("--deciders", type=int, default=10, help="clients deciding cases (default 10)")
    parser.add_argument("--cases", type=int, help="cases made before reading (default 200; quick 60)")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="seconds a reader waits between reads, ±50 %% (default 1: a person's page refreshing "
        "about once a second; 0: each reader sends its next read as soon as the last is answered)",
    )
    parser.add_argument(
        "--ramp", type=float, default=3.0, help="seconds the deciders run before the readers start (3)"
    )
    parser.add_argument("--quick", action="store_true", help="10 s per phase, 20 readers, 60 cases")
    parser.add_argument(
        "--pg", action="store_true", help="the app DB in a throwaway PostgreSQL (tests/pg.py)"
    )
    parser.add_argument("--rate-limits", action="store_true", help="keep the API's per-caller rate limits")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the worker and the API during each phase into DIR/alone and DIR/loaded "
        "(worker.txt, api.txt; summarise with bench/profile_summary.py)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object, last")
    args = parser.parse_args()
    args.seconds = args.seconds or (10.0 if args.quick else 30.0)
    args.readers = args.readers or (20 if args.quick else 50)
    args.cases = args.cases if args.cases is not None else (60 if args.quick else 200)

    load_before = os.getloadavg()
    with running(postgres=args.pg, rate_limits=args.rate_limits) as system:
        url, platform = system.api_urls[0], system.platform
        granted, waiting, took = asyncio.run(fill(url, platform, args.cases))
        print(
            f"filled: {granted} cases granted, {waiting} waiting for the provider ({took:.1f} s)", flush=True
        )
        detail = case_over_http.case_ids[0]
        endpoints = [
            Endpoint("GET /tasks", "/tasks", system.issue_token("scjgj-clerk", "provider")),
            Endpoint("GET /applications?overdue=true", "/applications?overdue=true", platform),
            Endpoint("GET /applications/{id}", f"/applications/{detail}", CONSUMER),
        ]
        asyncio.run(read_for(url, endpoints, min(args.readers, 6), 1.0, 0.0))  # warm-up, not counted

        before, machine, marks = system.cpu_seconds(), machine_cpu(), system.log_marks()
        with case_over_http.profiling(system.launcher, args.profile and args.profile / "alone"):
            alone = asyncio.run(read_for(url, endpoints, args.readers, args.seconds, args.think))
        cpu_alone = cpu_delta(before, system.cpu_seconds())
        machine_alone = machine_line(machine, machine_cpu(), sum(cpu_alone.values()))
        problems_alone = system.log_problems(marks)

        before, machine, marks = system.cpu_seconds(), machine_cpu(), system.log_marks()
        with case_over_http.profiling(system.launcher, args.profile and args.profile / "loaded"):
            loaded, run, in_window = asyncio.run(under_load(url, platform, endpoints, args))
        cpu_loaded = cpu_delta(before, system.cpu_seconds())
        machine_loaded = machine_line(machine, machine_cpu(), sum(cpu_loaded.values()))
        problems_loaded = system.log_problems(marks)
        database = system.database
        logs = system.launcher.log_dir
    load_after = os.getloadavg()

    print(
        f"\nreads under load — {database}; {args.readers} readers"
        + (f" (think {args.think:g} s)" if args.think else " (no pause between reads)")
        + f", {args.deciders} deciders, {args.seconds:g} s per phase; provider token: user scjgj-clerk; "
        f"{PROVIDER} decides; {os.cpu_count()} cores, load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    print_reads("alone (no deciders)", alone, endpoints)
    print(f"  CPU: {cpu_line(cpu_alone, alone.wall)}")
    print(f"  {machine_alone}")
    print_problems(problems_alone)
    print_reads(f"under load ({args.deciders} deciders)", loaded, endpoints)
    deciders_rate = in_window / loaded.wall
    print(
        f"  deciders: {in_window} cases in the readers' window = {deciders_rate:.2f} cases/s "
        f"({run.cases} in all, {sum(run.errors.values())} failed"
        + (f": {dict(run.errors)}" if run.errors else "")
        + ")"
    )
    if run.durations:
        case_figures = latency(run.durations)
        print(
            f"  seconds per case: p50 {case_figures['p50']:.2f}  p99 {case_figures['p99']:.2f}; "
            "per-call p50: "
            + "  ".join(f"{name} {ms(latency(values)['p50'])}" for name, values in run.timings.items())
        )
    print(f"  CPU: {cpu_line(cpu_loaded, loaded.wall + args.ramp)}  (logs were in {logs})")
    print(f"  {machine_loaded}")
    print_problems(problems_loaded)

    rows = Rows("reads_under_load", SECTION)
    load = f"under {args.deciders} deciders"
    readers = f"{args.readers} readers, think {args.think:g} s, {database}"
    for endpoint in endpoints:
        figures = latency(loaded.latencies[endpoint.name])
        for q in ("p50", "p95", "p99"):
            target = q == "p99"
            rows.add(
                f"{endpoint.name} {q} {load} ({readers})",
                ms(figures[q]),
                "≤ 50 ms" if target else None,
                (figures[q] <= TARGET_S) if target and figures["n"] else None,
            )
    for endpoint in endpoints:  # the baseline, against the same target
        figures = latency(alone.latencies[endpoint.name])
        for q in ("p50", "p95", "p99"):
            target = q == "p99"
            rows.add(
                f"{endpoint.name} {q} alone ({readers})",
                ms(figures[q]),
                "≤ 50 ms" if target else None,
                (figures[q] <= TARGET_S) if target and figures["n"] else None,
            )
    failed = sum(sum(c.values()) for c in loaded.failures.values())
    rows.add(f"reads/s {load}", f"{loaded.count / loaded.wall:.0f} reads/s ({failed} failed)")
    rows.add("reads/s alone", f"{alone.count / alone.wall:.0f} reads/s")
    rows.add(
        f"deciders' cases/s under {args.readers} readers ({args.deciders} deciders)",
        f"{deciders_rate:.2f} cases/s ({sum(run.errors.values())} failed)",
    )
    rows.add(f"machine {load}", machine_loaded.removeprefix("machine: "))
    rows.add("machine alone", machine_alone.removeprefix("machine: "))
    rows.add(
        f"warnings / errors logged {load}",
        f"{sum(problems_loaded.values())}"
        + "".join(f"; {count} × {problem}" for problem, count in problems_loaded.most_common(3)),
    )
    rows.add(
        "load average (1 min) before / after",
        f"{load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} cores",
    )
    if args.json:
        print(rows.json_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
