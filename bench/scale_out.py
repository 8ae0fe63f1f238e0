"""Scale-out on one machine: K workers and K API processes against one Temporal and one app DB.

    .venv/bin/python bench/scale_out.py                       # K = 1, 2, 4 on PostgreSQL; SQLite K = 2
    .venv/bin/python bench/scale_out.py --quick               # K = 1, 2; fewer cases
    .venv/bin/python bench/scale_out.py --k 1,2 --clients 10 --no-sqlite --json

Starts the system as ``govshare run`` does (``bench/system.py``: the Temporal dev server on a temp
file, the demo seed, one worker, one API), with the app DB in a throwaway PostgreSQL (``tests/pg.py``).
For each K (ascending) it starts ``--worker-only`` and ``--api-only`` children until there are K of
each (same environment as the launcher's, each API on its own port; all workers on one task queue),
then, for each client count, runs Hubei cases (apply → accept → grant → inform,
``bench/case_over_http.one_case``), client ``i`` talking to API ``i mod K``. Reported per run:
cases/s, seconds per case, p50 / p99 per call, failures by kind, and the CPU each process used
(per case and as a share of one core; ``postgres`` is the server with all its backends).

Then the embedded default: the same with the app DB in SQLite (one file shared by every process),
K = 1 and 2 (``--sqlite-k``; K = 1 is what ``govshare run`` starts). Whatever SQLite does — refuse,
lock (503 busy), stall — is reported as it is.

The database keeps the cases of the earlier runs (K grows on the same system). The machine's load
average is printed before and after: other work on it shows in the figures. No pass/fail;
``--json`` prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from system import (
    CALLS,
    CaseRun,
    Rows,
    System,
    cpu_delta,
    latency,
    machine_cpu,
    machine_line,
    ms,
    run_cases,
    running,
)

SECTION = "7. Scale-out: K workers and K API processes"


@dataclass
class Result:
    database: str
    k: int
    clients: int
    run: CaseRun
    cpu: dict[str, float]
    died: list[str] = field(default_factory=list)
    error: str = ""
    machine: str = ""
    problems: collections.Counter[str] = field(default_factory=collections.Counter)


def parse_list(text: str) -> list[int]:
    values = sorted({int(part) for part in text.split(",") if part.strip()})
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"a comma-separated list of positive integers, not {text!r}")
    return values


def dead_children(system: System) -> list[str]:
    return [
        f"{child.name} (exit {child.process.returncode})"
        for child in system.launcher.children
        if child.process.poll() is not None
    ]


def measure(system: System, ks: list[int], clients: list[int], cases_for, results: list[Result]) -> None:
    for k in ks:
        try:
            t0 = time.perf_counter()
            system.scale_to(k)
            took = time.perf_counter() - t0
            print(f"\n[{system.database}] K={k}: {k} workers, {k} APIs ({took:.1f} s to add)")
        except RuntimeError as err:
            print(f"\n[{system.database}] K={k}: could not start the processes: {err}", flush=True)
            results.append(Result(system.database, k, 0, CaseRun(), {}, dead_children(system), str(err)))
            return
        for count in clients:
            n = cases_for(count)
            before, machine, marks = system.cpu_seconds(), machine_cpu(), system.log_marks()
            run = asyncio.run(run_cases(system.api_urls[:k], system.platform, n, count))
            cpu = cpu_delta(before, system.cpu_seconds())
            result = Result(system.database, k, count, run, cpu, dead_children(system))
            result.machine = machine_line(machine, machine_cpu(), sum(cpu.values()))
            result.problems = system.log_problems(marks)
            results.append(result)
            print_result(result, flush=True)
            if result.died:
                print(f"  stopping {system.database}: a process died", flush=True)
                return


def cpu_groups(cpu: dict[str, float]) -> dict[str, float]:
    """Per process, and the workers' and APIs' sums when there are several."""
    groups = dict(cpu)
    for prefix in ("worker", "api"):
        names = [name for name in cpu if name.startswith(prefix)]
        if len(names) > 1:
            groups[f"{prefix}s (sum)"] = sum(cpu[name] for name in names)
    return groups


def print_result(result: Result, flush: bool = False) -> None:
    run = result.run
    failed = sum(run.errors.values())
    head = f"  {result.clients:>3} clients: "
    if not run.durations:
        print(f"{head}no case finished; failures {dict(run.errors)}", flush=flush)
        return
    per_case = latency(run.durations)
    print(
        f"{head}{run.cases} cases in {run.wall:.1f} s = {run.rate:.2f} cases/s; seconds per case p50 "
        f"{per_case['p50']:.2f} p99 {per_case['p99']:.2f}"
        + (f"; {failed} FAILED: {dict(run.errors)}" if failed else ""),
    )
    print(
        "      per call p50/p99: "
        + "  ".join(
            f"{name} {ms(latency(run.timings[name])['p50'])}/{ms(latency(run.timings[name])['p99'])}"
            for name in CALLS
        )
    )
    cases = max(run.cases, 1)
    print(
        "      CPU ms per case (% of one core): "
        + "  ".join(
            f"{name} {1000 * seconds / cases:.0f} ({100 * seconds / run.wall:.0f} %)"
            for name, seconds in sorted(cpu_groups(result.cpu).items())
        ),
        flush=flush,
    )
    print(f"      {result.machine}", flush=flush)
    if result.problems:
        print(f"      warnings / errors logged: {sum(result.problems.values())}", flush=flush)
        for problem, count in result.problems.most_common(8):
            print(f"        {count:>5} × {problem}", flush=flush)
    if result.died:
        print(f"      DIED: {', '.join(result.died)}", flush=flush)


def add_rows(rows: Rows, results: list[Result]) -> None:
    for result in results:
        where = f"K={result.k}, {result.clients} clients ({result.database})"
        if result.error:
            rows.add(f"K={result.k} ({result.database})", f"not run: {result.error[:200]}")
            continue
        run = result.run
        failed = sum(run.errors.values())
        rows.add(
            f"cases/s, {where}",
            f"{run.rate:.2f} cases/s"
            + (f" ({failed} failed: {dict(run.errors)})" if failed else "")
            + (f"; died: {', '.join(result.died)}" if result.died else ""),
        )
        if not run.durations:
            continue
        for name in CALLS:
            figures = latency(run.timings[name])
            rows.add(f"{name} p50 / p99, {where}", f"{ms(figures['p50'])} / {ms(figures['p99'])}")
        cases = max(run.cases, 1)
        rows.add(f"machine, {where}", result.machine.removeprefix("machine: "))
        logged = ", ".join(f"{count} × {problem}" for problem, count in result.problems.most_common(5))
        rows.add(
            f"warnings / errors logged, {where}",
            f"{sum(result.problems.values())}" + (f": {logged}" if logged else ""),
        )
        rows.add(
            f"CPU per case, {where}",
            ", ".join(
                f"{name} {1000 * seconds / cases:.0f} ms"
                for name, seconds in sorted(cpu_groups(result.cpu).items())
            ),
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--k", type=parse_list, help="worker / API counts (default 1,2,4; quick 1,2)")
    parser.add_argument("--clients", type=parse_list, default=[10, 50], help="concurrent clients (10,50)")
    parser.add_argument(
        "--cases", type=int, help="cases per run (default 5 per client; quick 2 per client, at least 20)"
    )
    parser.add_argument("--sqlite-k", type=parse_list, help="K on SQLite (default 1,2; quick 2)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite runs")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL runs")
    parser.add_argument("--quick", action="store_true", help="K = 1,2 and fewer cases")
    parser.add_argument("--rate-limits", action="store_true", help="keep the API's per-caller rate limits")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object, last")
    args = parser.parse_args()
    ks = args.k or ([1, 2] if args.quick else [1, 2, 4])
    sqlite_ks = args.sqlite_k or ([2] if args.quick else [1, 2])

    def cases_for(clients: int) -> int:
        if args.cases:
            return args.cases
        return max(20, 2 * clients) if args.quick else 5 * clients

    load_before = os.getloadavg()
    results: list[Result] = []
    notes: list[str] = []
    wall = time.perf_counter()
    if not args.no_pg:
        try:
            with running(postgres=True, rate_limits=args.rate_limits) as system:
                measure(system, ks, args.clients, cases_for, results)
        except Exception as err:  # PostgreSQL missing, the system not starting: said, not hidden
            notes.append(f"postgresql: not run: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
            print(notes[-1], flush=True)
    if not args.no_sqlite:
        try:
            with running(postgres=False, rate_limits=args.rate_limits) as system:
                measure(system, sqlite_ks, args.clients, cases_for, results)
        except Exception as err:
            notes.append(f"sqlite: not run: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
            print(notes[-1], flush=True)
    load_after = os.getloadavg()

    print(
        f"\nscale-out — {os.cpu_count()} cores; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    print(f"{'database':<11}{'K':>3}{'clients':>9}{'cases':>7}{'cases/s':>9}{'s/case p50':>12}{'failed':>8}")
    for result in results:
        run = result.run
        p50 = statistics.median(run.durations) if run.durations else float("nan")
        print(
            f"{result.database:<11}{result.k:>3}{result.clients:>9}{run.cases:>7}{run.rate:>9.2f}"
            f"{p50:>12.2f}{sum(run.errors.values()):>8}"
            + (f"  died: {', '.join(result.died)}" if result.died else "")
            + (f"  {result.error}" if result.error else "")
        )
    for note in notes:
        print(note)
    print(f"({time.perf_counter() - wall:.0f} s in all)")

    if args.json:
        rows = Rows("scale_out", SECTION)
        add_rows(rows, results)
        for note in notes:
            rows.add(note.split(":")[0], note.partition(": ")[2])
        rows.add(
            "load average (1 min) before / after",
            f"{load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} cores",
        )
        print(rows.json_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
