"""A case over HTTP beside the engine's own limit, in one run, as one markdown table.

    .venv/bin/python bench/side_by_side.py                    # 1, 10 and 50 clients, a few minutes
    .venv/bin/python bench/side_by_side.py --eager on,off     # the bare workflow with eager on, then off
    .venv/bin/python bench/side_by_side.py --root /tmp/before --label before   # and an older checkout

For each number of clients it runs, one after another (never two at once), as subprocesses with
``--json``:

* ``bench/bare_workflow.py`` of this tree: a raw Temporal workflow shaped like a sharing application
  (create, 3 decision Updates, 4 no-op activities), its worker in the same process;
* ``bench/case_over_http.py`` of this tree: the whole system as ``govshare run`` starts it, full Hubei
  cases over HTTP (apply → accept → grant → inform);
* with ``--root DIR``, also ``DIR/bench/case_over_http.py`` (cwd and PYTHONPATH set to DIR, run by
  ``--python``, default ``DIR/.venv/bin/python`` if there is one, else this interpreter).

Both get the same Temporal dev server settings: ``--pragmas`` (WAL + synchronous=normal by default)
on a temp SQLite file. Then it prints one table per checkout:

    | clients | bare workflow (4 activities, 3 updates) | a case over HTTP | ratio |

For 1 client the cells are seconds per case (median, p90) and the ratio is case ÷ bare seconds (how
many times longer a case takes); for more clients they are cases/s and the ratio is case ÷ bare
throughput (the share of the engine's limit the app reaches). ``--eager on,off`` adds bare columns
with eager activity execution forced on / off (``default`` is the server's setting). Each run's
own output is left in the log directory (``--logs``, default a temp dir). No pass/fail.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PRAGMAS = "journal_mode=wal,synchronous=normal"
BARE_TITLE = "bare workflow (4 activities, 3 updates)"
CASE_TITLE = "a case over HTTP"


@dataclass
class Source:
    """A checkout whose bench/case_over_http.py is run."""

    label: str
    root: Path
    python: str
    results: dict[int, dict | None] = field(default_factory=dict)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def git_rev(root: Path) -> str:
    """The checkout's commit (read only; uncommitted edits are not shown)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip() or "not a git checkout"


def temporal_version(python: str) -> str:
    binary = Path(python).parent / "temporal"
    if not binary.exists():
        return "?"
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().removeprefix("temporal version ") or "?"


def env_for(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_json(name: str, command: list[str], root: Path, log_dir: Path, timeout: float) -> dict | None:
    """Run one bench with --json; its figures (the last JSON line), or None if it failed."""
    log_path = log_dir / f"{name}.log"
    print(f"  {name}: {' '.join(command)}  (cwd {root})", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            command,
            cwd=root,
            env=env_for(root),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as err:
        log_path.write_text(f"timed out after {timeout:g} s\n{err.stdout or ''}\n{err.stderr or ''}")
        print(f"    timed out after {timeout:g} s; see {log_path}", flush=True)
        return None
    log_path.write_text(f"$ {' '.join(command)}\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    elapsed = time.perf_counter() - t0
    figures = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                figures = json.loads(line)
            break
    if proc.returncode != 0 or figures is None:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        print(
            f"    FAILED (exit {proc.returncode}) after {elapsed:.0f} s; see {log_path}\n{tail}", flush=True
        )
        return None
    # What the bench says it ran with (case_over_http.py prints it; its JSON does not carry it).
    for line in proc.stdout.splitlines():
        if line.startswith("temporal sqlite pragmas:"):
            figures.setdefault("pragmas", line.split(":", 1)[1].strip())
    durations = figures["durations"]
    print(
        f"    {len(durations)} cases: median {statistics.median(durations):.3f} s/case, "
        f"{len(durations) / figures['wall']:.1f} cases/s ({elapsed:.0f} s in all)",
        flush=True,
    )
    return figures


def per_case(figures: dict | None) -> float | None:
    return statistics.median(figures["durations"]) if figures else None


def throughput(figures: dict | None) -> float | None:
    return len(figures["durations"]) / figures["wall"] if figures else None


def cell(figures: dict | None, clients: int) -> str:
    if figures is None:
        return "failed"
    if clients == 1:
        durations = figures["durations"]
        return f"{statistics.median(durations):.3f} s/case (p90 {quantile(durations, 0.9):.3f})"
    return f"{throughput(figures):.1f} cases/s"


def ratio(case: dict | None, bare: dict | None, clients: int) -> str:
    if case is None or bare is None:
        return "–"
    if clients == 1:
        return f"×{per_case(case) / per_case(bare):.2f} the time"
    return f"{throughput(case) / throughput(bare):.2f} of the throughput"


#: --eager: the bare workflow's variants (its flag, its column's title).
EAGER = {
    "default": ([], BARE_TITLE),
    "on": (["--eager"], f"{BARE_TITLE}, eager activities on"),
    "off": (["--no-eager"], f"{BARE_TITLE}, eager activities off"),
}


def table(source: Source, bare: dict[str, dict[int, dict | None]], levels: list[int]) -> list[str]:
    modes = list(bare)
    head = ["clients", *(EAGER[m][1] for m in modes), CASE_TITLE]
    head += ["ratio" if m == modes[0] else f"ratio vs eager {m}" for m in modes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in levels:
        case = source.results.get(k)
        row = [str(k), *(cell(bare[m].get(k), k) for m in modes), cell(case, k)]
        row += [ratio(case, bare[m].get(k), k) for m in modes]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def cases_for(clients: int, args: argparse.Namespace) -> int:
    return args.single if clients == 1 else max(clients * args.per_client, args.single)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clients", default="1,10,50", help="numbers of clients, comma-separated (default 1,10,50)"
    )
    parser.add_argument(
        "--single", type=int, default=30, help="cases with 1 client (and the least with more; default 30)"
    )
    parser.add_argument(
        "--per-client",
        type=int,
        default=5,
        help="cases per client with more than 1 client (default 5: 50 cases for 10, 250 for 50)",
    )
    parser.add_argument(
        "--eager",
        default="default",
        help="the bare workflow's runs, comma-separated, one column each: default (the server's "
        "setting, the default), on (system.enableActivityEagerExecution=true), off (=false)",
    )
    parser.add_argument(
        "--pragmas",
        default=DEFAULT_PRAGMAS,
        help=f"Temporal dev server SQLite pragmas for every run (default {DEFAULT_PRAGMAS})",
    )
    parser.add_argument(
        "--root", type=Path, help="also run this older checkout's bench/case_over_http.py (cwd, PYTHONPATH)"
    )
    parser.add_argument(
        "--dynamic-config",
        default="history.transferProcessorMaxPollRPS=1000",
        help="the dev server's dynamic config for the bare workflow and this tree's case, comma-separated "
        "key=value (default: the settings' TEMPORAL_DYNAMIC_CONFIG; '' for the server defaults). An older "
        "checkout's case runs with what its own launcher sets.",
    )
    parser.add_argument("--label", help="the name of --root's table (default: its directory name)")
    parser.add_argument(
        "--python", help="the interpreter for --root (default: its .venv/bin/python, else this one)"
    )
    parser.add_argument("--this-label", default="this tree", help="the name of this tree's table")
    parser.add_argument("--logs", type=Path, help="where each run's output is kept (default: a temp dir)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one run may take (default 1800)")
    parser.add_argument("--json", action="store_true", help="also print every run's summary as JSON")
    args = parser.parse_args()
    levels = [int(k) for k in args.clients.split(",") if k.strip()]
    if not levels or min(levels) < 1 or args.single < 1 or args.per_client < 1:
        parser.error("clients and case counts must be at least 1")

    sources = [Source(args.this_label, ROOT, sys.executable)]
    if args.root is not None:
        root = args.root.resolve()
        if not (root / "bench" / "case_over_http.py").exists():
            parser.error(f"{root}/bench/case_over_http.py does not exist")
        venv_python = root / ".venv" / "bin" / "python"
        python = args.python or (str(venv_python) if venv_python.exists() else sys.executable)
        sources.append(Source(args.label or root.name, root, python))
    modes = list(dict.fromkeys(m.strip() for m in args.eager.split(",") if m.strip()))
    if not modes or set(modes) - set(EAGER):
        parser.error(f"--eager takes {', '.join(EAGER)} (comma-separated)")
    bare: dict[str, dict[int, dict | None]] = {m: {} for m in modes}
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="govshare-side-by-side-"))
    log_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"side by side: clients {levels}, logs in {log_dir}", flush=True)
    for k in levels:
        n = cases_for(k, args)
        common = ["-n", str(n), "--concurrency", str(k), "--pragmas", args.pragmas, "--json"]
        print(f"{k} client{'s' if k > 1 else ''}, {n} cases", flush=True)
        for mode in modes:
            dynamic = [
                f for v in filter(None, args.dynamic_config.split(",")) for f in ("--dynamic-config", v)
            ]
            command = [
                sys.executable,
                str(ROOT / "bench" / "bare_workflow.py"),
                *common,
                *EAGER[mode][0],
                *dynamic,
            ]
            name = f"bare{'' if mode == 'default' else '-eager-' + mode}-{k}"
            bare[mode][k] = run_json(name, command, ROOT, log_dir, args.timeout)
        for i, source in enumerate(sources):
            command = [source.python, str(source.root / "bench" / "case_over_http.py"), *common]
            if source.root == ROOT:
                command += ["--dynamic-config", args.dynamic_config]
            source.results[k] = run_json(f"case{i or ''}-{k}", command, source.root, log_dir, args.timeout)

    print()
    pragmas = args.pragmas or "(server defaults)"
    print(
        f"{os.cpu_count()} CPUs (load average {load:.2f} at the start); Temporal dev server "
        f"({temporal_version(sys.executable)}) on a temp SQLite file, pragmas {pragmas}; "
        f"{args.single} cases with 1 client, {args.per_client} per client with more "
        f"(at least {args.single}); {time.perf_counter() - started:.0f} s in all."
    )
    print(
        "Bare workflow: start + Update `settled` (as the app creates a case), then 3 Updates `decide`, "
        "each running one no-op activity; worker in the bench's process."
    )
    runs = [
        *(v for m in bare.values() for v in m.values()),
        *(v for s in sources for v in s.results.values()),
    ]
    said = {str(r.get("pragmas") or "(server defaults)") for r in runs if r is not None}
    other = said - {args.pragmas or "(server defaults)"}
    if other:
        print(f"WARNING: some runs report other pragmas: {', '.join(sorted(map(str, other)))}")
    for source in sources:
        print()
        python = "" if source.python == sys.executable else f", {source.python}"
        print(f"### {source.label} ({source.root}, commit {git_rev(source.root)}{python})")
        print()
        print("\n".join(table(source, bare, levels)))
    print()
    print(
        "1 client: seconds per case, median (p90); ratio = case ÷ bare seconds. "
        "More clients: cases/s; ratio = case ÷ bare throughput."
    )
    if args.json:

        def summary(figures: dict | None) -> dict | None:
            if figures is None:
                return None
            durations = figures["durations"]
            return {
                "cases": len(durations),
                "median_s": statistics.median(durations),
                "p90_s": quantile(durations, 0.9),
                "cases_per_s": throughput(figures),
                "pragmas": figures.get("pragmas"),
                "history_events": statistics.median(figures["history_events"])
                if figures.get("history_events")
                else None,
            }

        print(
            json.dumps(
                {
                    "clients": levels,
                    "pragmas": args.pragmas,
                    "bare": {m: {k: summary(v) for k, v in r.items()} for m, r in bare.items()},
                    "cases": {s.label: {k: summary(v) for k, v in s.results.items()} for s in sources},
                }
            )
        )
    return 1 if any(r is None for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
