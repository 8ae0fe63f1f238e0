"""``make bench``: every benchmark of issue 24, one after another, and one table of what they measured.

    .venv/bin/python bench/run.py                 # about 13 minutes on 2 cores (the first run
                                                  # also fills a 100,000-entry catalog: minutes more)
    .venv/bin/python bench/run.py --quick         # a CI-sized run (a few minutes)
    .venv/bin/python bench/run.py --sections 1,5  # some sections only

Sections (each a script of its own in ``bench/``, run as a subprocess with ``--json``; its last
stdout line is its rows):

1. a whole case over HTTP against a bare Temporal workflow of the same shape, at 1, 10 and 50
   clients (``bare_workflow.py``, ``case_over_http.py``): cases/s, the ratio, p50/p95/p99 per call,
   each decision's p99 against a raw Update's, CPU per process per case;
2. reads under load (``reads_under_load.py``);
3. open cases at scale (``open_cases.py``: 2,000 here; ``--open-levels 10000,30000,100000`` for the
   issue's levels, which take hours on 2 cores);
4. a deadline storm (``deadline_storm.py``: 1,000 here; 10,000 on its own takes about 30 minutes);
5. bulk replay (``bulk_replay.py``);
6. working-day arithmetic against chinesecalendar (``calendar_bench.py``) and catalog search on
   100,000 entries (``catalog_search.py``);
7. K workers and K API processes on PostgreSQL (``scale_out.py``).

Never two at once: each owns the machine while it runs. A section that fails is a row saying so (its
log is kept), and the others still run. The table is printed at the end and written, with every
row as JSON, to ``var/bench/`` (``latest.md``, ``latest.json`` and a dated copy). Timing is never a
pass/fail: "met" compares a figure with the issue's target, for the reader.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
DECISIONS = ("accept", "grant", "inform")
S1 = "1. A case over HTTP vs the bare workflow"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def row(section: str, what: str, figure: str, target: str | None = None, met: bool | None = None) -> dict:
    return {"section": section, "what": what, "figure": figure, "target": target, "met": met}


def run_json(name: str, args: list[str], logs: Path, timeout: float) -> tuple[dict | None, str]:
    """Run ``bench/<script> args`` (a later repeat of an option wins: argparse); its last JSON line
    and "" — or None and why it failed."""
    log_path = logs / f"{name}.log"
    command = [PYTHON, *args]
    print(f"== {name}: {' '.join(args)}", flush=True)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as err:
        log_path.write_text(f"$ {' '.join(command)}\ntimed out after {timeout:g} s\n{err.stdout or ''}")
        print(f"   timed out after {timeout:g} s (log {log_path})", flush=True)
        return None, f"timed out after {timeout:g} s"
    log_path.write_text(f"$ {' '.join(command)}\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    figures = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                figures = json.loads(line)
            break
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or figures is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        print(f"   FAILED (exit {proc.returncode}) after {elapsed:.0f} s: {tail[0][:200]}", flush=True)
        return None, f"failed (exit {proc.returncode}; log {log_path})"
    print(f"   done in {elapsed:.0f} s", flush=True)
    return figures, ""


# -- section 1 -----------------------------------------------------------------------------------


def cases_per_s(figures: dict) -> float:
    return len(figures["durations"]) / figures["wall"]


def section_one(levels: list[int], single: int, per_client: int, logs: Path, timeout: float) -> list[dict]:
    rows: list[dict] = []
    for k in levels:
        n = single if k == 1 else max(k * per_client, single)
        common = ["-n", str(n), "--concurrency", str(k), "--json"]
        bare, bare_error = run_json(f"1-bare-{k}", ["bench/bare_workflow.py", *common], logs, timeout)
        case, case_error = run_json(f"1-case-{k}", ["bench/case_over_http.py", *common], logs, timeout)
        who = f"{k} client{'s' if k > 1 else ''}"
        if bare is None or case is None:
            rows.append(row(S1, f"{who}: {n} cases", bare_error or case_error, None, None))
            continue
        bare_rate, case_rate = cases_per_s(bare), cases_per_s(case)
        ratio = case_rate / bare_rate
        target = "≥ 0.7" if k >= 10 else None
        rows.append(
            row(
                S1,
                f"{who}: cases/s, bare workflow → a case over HTTP ({n} cases each)",
                f"{bare_rate:.1f} → {case_rate:.1f} (ratio {ratio:.2f})",
                target,
                ratio >= 0.7 if target else None,
            )
        )
        if k == 1:
            rows.append(
                row(
                    S1,
                    f"{who}: seconds per case, median (bare → case)",
                    f"{statistics.median(bare['durations']):.3f} → "
                    f"{statistics.median(case['durations']):.3f} s",
                )
            )
        timings = case["timings"]
        calls = "; ".join(
            f"{name} " + "/".join(f"{1000 * quantile(v, q):.0f}" for q in (0.5, 0.95, 0.99))
            for name, v in timings.items()
        )
        rows.append(row(S1, f"{who}: each API call p50/p95/p99 (ms)", calls))
        raw = [t for name in DECISIONS for t in bare["timings"].get(name, [])]
        decided = [t for name in DECISIONS for t in timings.get(name, [])]
        if raw and decided:
            raw_p99, case_p99 = quantile(raw, 0.99), quantile(decided, 0.99)
            rows.append(
                row(
                    S1,
                    f"{who}: a decision's p99 vs a raw Update's p99",
                    f"{1000 * case_p99:.0f} vs {1000 * raw_p99:.0f} ms (×{case_p99 / raw_p99:.2f})",
                    "≤ ×1.25",
                    case_p99 <= 1.25 * raw_p99,
                )
            )
        cpu_case, cpu_bare = case.get("cpu") or {}, bare.get("cpu") or {}
        if cpu_case and cpu_bare:
            per = "; ".join(f"{name} {1000 * s / n:.0f}" for name, s in sorted(cpu_case.items()))
            per_bare = "; ".join(f"{name} {1000 * s / n:.0f}" for name, s in sorted(cpu_bare.items()))
            rows.append(row(S1, f"{who}: CPU ms per case, case (bare)", f"{per} ({per_bare})"))
        if case.get("history_events"):
            rows.append(
                row(
                    S1,
                    f"{who}: history per case, case (bare)",
                    f"{statistics.median(case['history_events']):.0f} events, "
                    f"{statistics.median(case['history_bytes']) / 1024:.0f} KiB "
                    f"({statistics.median(bare['history_events']):.0f} events, "
                    f"{statistics.median(bare['history_bytes']) / 1024:.0f} KiB)",
                )
            )
    return rows


# -- the others ----------------------------------------------------------------------------------

#: Stands for the catalog's arguments, which depend on what ``var/bench`` already holds.
CATALOG = "<catalog>"

#: section → (name, script and arguments for make bench, extra arguments for --quick). make bench is
#: sized to finish in about 10 minutes on 2 cores; the issue's full scales are separate runs of the
#: same scripts (README, Performance): ``open_cases.py`` (10,000 → 100,000, hours),
#: ``deadline_storm.py`` (10,000, about 30 minutes), ``scale_out.py`` (K = 1, 2, 4 at 10 and 50
#: clients), ``bulk_replay.py`` (1,000 histories).
OTHERS: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "2": [("2-reads", ["bench/reads_under_load.py", "--json"], ["--quick"])],
    "3": [("3-open-cases", ["bench/open_cases.py", "--json", "--levels", "2000"], ["--levels", "500"])],
    "4": [("4-deadline-storm", ["bench/deadline_storm.py", "--json", "-n", "1000"], ["-n", "300"])],
    "5": [("5-replay", ["bench/bulk_replay.py", "--json", "--cases", "500"], ["--quick"])],
    "6": [
        ("6-calendar", ["bench/calendar_bench.py", "--json"], ["--pairs", "5000"]),
        ("6-catalog", ["bench/catalog_search.py", "--json", CATALOG], []),
    ],
    "7": [("7-scale-out", ["bench/scale_out.py", "--json", "--k", "1,2", "--clients", "10"], ["--quick"])],
}
TITLES = {
    "2": "2. Reads under load",
    "3": "3. Open cases at scale",
    "4": "4. Deadline storm",
    "5": "5. Replay",
    "6": "6. Working days and catalog search",
    "7": "7. Scale-out: K workers and K API processes",
}


def catalog_args(quick: bool, out: Path) -> list[str]:
    """Catalog search: 5,000 fresh entries with --quick; else 100,000 kept in ``out`` (filling them
    takes minutes, so the first full run fills the file and later runs search it again)."""
    if quick:
        return ["--entries", "5000", "--queries", "300"]
    db = out / "catalog-100k.db"
    args = ["--database-url", f"sqlite:///{db}", "--entries", "100000"]
    return [*args, "--reuse"] if db.exists() and db.stat().st_size > 10_000_000 else args


def other_section(
    key: str, quick: bool, extra: list[str], logs: Path, timeout: float, out: Path
) -> list[dict]:
    rows: list[dict] = []
    for name, args, quick_args in OTHERS[key]:
        if CATALOG in args:
            args = [a for a in args if a != CATALOG] + catalog_args(quick, out)
        figures, error = run_json(name, [*args, *(quick_args if quick else []), *extra], logs, timeout)
        if figures is None:
            rows.append(row(TITLES[key], name, error))
            continue
        rows += figures.get("rows", [])
    return rows


# -- the table -----------------------------------------------------------------------------------


def met_mark(value: bool | None) -> str:
    return {True: "met", False: "**missed**", None: ""}[value]


def markdown(rows: list[dict], header: list[str]) -> str:
    lines = [*header, "", "| section | what | figure | target | met |", "|---|---|---|---|---|"]
    for r in rows:
        cells = [r["section"], r["what"], r["figure"], r.get("target") or "", met_mark(r.get("met"))]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def git_rev() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return (out.stdout.strip() or "?") + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a CI-sized run: fewer cases everywhere")
    parser.add_argument("--sections", default="1,2,3,4,5,6,7", help="which sections (default all)")
    parser.add_argument("--clients", default="1,10,50", help="section 1's client counts (default 1,10,50)")
    parser.add_argument(
        "--open-levels",
        help="section 3's cumulative levels, e.g. 10000,30000,100000 (default: the script's own)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="where the table is written")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one script may take")
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - {"1", *OTHERS}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    logs = args.out / f"logs-{stamp}"
    logs.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    rows: list[dict] = []
    for key in sections:
        if key == "1":
            levels = [int(k) for k in args.clients.split(",") if k.strip()]
            single, per_client = (10, 3) if args.quick else (30, 5)
            rows += section_one(levels, single, per_client, logs, args.timeout)
        else:
            extra = ["--levels", args.open_levels] if key == "3" and args.open_levels else []
            rows += other_section(key, args.quick, extra, logs, args.timeout, args.out)
    elapsed = time.perf_counter() - started
    header = [
        f"## make bench{' --quick' if args.quick else ''} — {datetime.now():%Y-%m-%d %H:%M}, "
        f"commit {git_rev()}",
        "",
        f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}, "
        f"load average {load:.2f} at the start; {elapsed / 60:.1f} min in all; logs in {logs}",
    ]
    table = markdown(rows, header)
    print()
    print(table)
    (args.out / "latest.md").write_text(table)
    (args.out / f"bench-{stamp}.md").write_text(table)
    (args.out / "latest.json").write_text(json.dumps({"rows": rows}, ensure_ascii=False, indent=1))
    print(f"written to {args.out / 'latest.md'} and latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
