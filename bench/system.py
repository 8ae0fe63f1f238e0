"""What the whole-system benchmarks share (``bench/reads_under_load.py``, ``bench/scale_out.py``).

:func:`running` starts the system as ``govshare run`` does (``govshare.ops.launcher.Launcher``: the
Temporal dev server on a temp file, the app DB with the demo seed, one worker, one API) on free
ports in a temp directory, optionally with the app DB in a throwaway PostgreSQL (``tests/pg.py``),
and stops it all afterwards. :meth:`System.add_worker` / :meth:`System.add_api` start more
``--worker-only`` / ``--api-only`` children with the launcher's own environment (the API on its own
port); they are the launcher's children, so ``stop_all`` stops them and the CPU accounting sees
them. Plus: latency summaries, per-process CPU from /proc (PostgreSQL's backends included), a
loop of Hubei cases (``bench/case_over_http.one_case``) that counts failures instead of stopping,
and the ``--json`` row format. No pass/fail.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from case_over_http import CALLS, cpu_seconds, free_port, one_case, quantile  # noqa: E402

from govshare.core.settings import Settings  # noqa: E402
from govshare.ops.launcher import Child, Launcher  # noqa: E402

START_TIMEOUT_S = 90.0


# --------------------------------------------------------------------------------------------------
# The system
# --------------------------------------------------------------------------------------------------


@dataclass
class System:
    launcher: Launcher
    settings: Settings
    pg: object | None = None  # tests/pg.PostgresServer
    api_urls: list[str] = field(default_factory=list)

    @property
    def platform(self) -> str:
        return f"demo-{self.settings.platform_department}-platform"

    @property
    def workers(self) -> int:
        return sum(1 for c in self.launcher.children if c.name.startswith("worker"))

    @property
    def database(self) -> str:
        return "sqlite" if self.settings.is_sqlite else "postgresql"

    def add_worker(self) -> Child:
        """One more ``--worker-only`` child on the same task queue; returns once it polls."""
        name = f"worker{self.workers + 1}"
        child = self.launcher._spawn(name, [sys.executable, "-m", "govshare.ops.launcher", "--worker-only"])
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"worker started" not in child.log_path.read_bytes():
            if child.process.poll() is not None:
                raise RuntimeError(f"{name} exited ({child.process.returncode}); see {child.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see {child.log_path}")
            time.sleep(0.2)
        return child

    def add_api(self) -> str:
        """One more ``--api-only`` child on a free port; returns its URL once /healthz answers 200."""
        name = f"api{len(self.api_urls) + 1}"
        port = free_port()
        command = [sys.executable, "-m", "govshare.ops.launcher", "--api-only", "--port", str(port)]
        child = self.launcher._spawn(name, command)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if child.process.poll() is not None:
                raise RuntimeError(f"{name} exited ({child.process.returncode}); see {child.log_path}")
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"{url}/healthz", timeout=2) as response,
            ):
                if response.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer /healthz; see {child.log_path}")
            time.sleep(0.3)
        self.api_urls.append(url)
        return url

    def scale_to(self, k: int) -> None:
        """Start workers and APIs until there are ``k`` of each (never fewer)."""
        while self.workers < k:
            self.add_worker()
        while len(self.api_urls) < k:
            self.add_api()

    def issue_token(self, username: str, role: str) -> str:
        """A user's bearer token (``govshare tokens issue``, run with the children's environment)."""
        result = subprocess.run(
            [sys.executable, "-m", "govshare", "tokens", "issue", username, "--role", role, "--json"],
            env=self.launcher._child_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
        if result.returncode != 0:
            raise RuntimeError(f"tokens issue {username}: {result.stderr.strip() or result.stdout.strip()}")
        return json.loads(result.stdout)["token"]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far per child (temporal, worker, worker2 …, api, api2 …), of this process
        (``clients``) and of PostgreSQL (``postgres``: the postmaster, its live backends and the ones
        that have exited)."""
        seconds = cpu_seconds(self.launcher)
        if self.pg is not None:
            seconds["postgres"] = postgres_cpu_seconds(self.pg.data_dir)  # type: ignore[attr-defined]
        return seconds

    def log_marks(self) -> dict[str, int]:
        """Where each child's log ends now (bytes): :meth:`log_problems` reads what comes after."""
        marks = {}
        for child in self.launcher.children:
            with contextlib.suppress(OSError):
                marks[child.name] = child.log_path.stat().st_size
        return marks

    def log_problems(self, marks: dict[str, int]) -> collections.Counter[str]:
        """The warnings and errors the children logged since ``marks``: ``"<child> <level> <event>"``
        → count (JSON lines by their event; other lines only if they say Traceback, locked or
        error, by their first words)."""
        found: collections.Counter[str] = collections.Counter()
        for child in self.launcher.children:
            if child.name == "temporal":
                continue
            try:
                with child.log_path.open("rb") as log:
                    log.seek(marks.get(child.name, 0))
                    text = log.read().decode(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        record = json.loads(line)
                        level = str(record.get("level", ""))
                        if level in ("warning", "error", "critical", "exception"):
                            event = " ".join(str(record.get("event", "")).split())[:90]
                            found[f"{child.name} {level} {event}"] += 1
                        continue
                if any(word in line for word in ("Traceback", "locked", "Error")):
                    found[f"{child.name} text {' '.join(line.split())[:90]}"] += 1
        return found


@contextlib.contextmanager
def running(*, postgres: bool = False, rate_limits: bool = False) -> Iterator[System]:
    """The system up (Temporal, app DB + seed, one worker, one API), stopped on exit.

    ``postgres``: the app DB in a throwaway PostgreSQL (tests/pg.py) instead of SQLite in the temp
    dir. ``rate_limits``: keep the API's per-caller limits (off by default: every client here shares
    the demo departments' few credentials)."""
    if not rate_limits:
        # The children read their settings from the environment the launcher hands them.
        os.environ["RATE_LIMIT_WRITES"] = "0"
        os.environ["RATE_LIMIT_READS"] = "0"
    pg = None
    with tempfile.TemporaryDirectory(prefix="govshare-bench-") as tmp:
        try:
            if postgres:
                PostgresServer = _tests_pg().PostgresServer

                t0 = time.perf_counter()
                pg = PostgresServer.start()
                database_url = pg.create_database("govshare_bench")
                print(f"PostgreSQL up in {time.perf_counter() - t0:.1f} s (port {pg.port})", flush=True)
            else:
                database_url = f"sqlite:///{Path(tmp) / 'govshare.db'}"
            settings = Settings(
                var_dir=Path(tmp),
                database_url=database_url,
                temporal_address=f"127.0.0.1:{free_port()}",
                temporal_ui_port=free_port(),
                api_host="127.0.0.1",
                api_port=free_port(),
                task_queue="bench",
                seed_demo=True,
            )
            launcher = Launcher(settings)
            system = System(launcher, settings, pg)
            try:
                t0 = time.perf_counter()
                launcher.start()
                system.api_urls.append(launcher.api_url)
                print(
                    f"system up in {time.perf_counter() - t0:.1f} s ({system.database}; logs in "
                    f"{launcher.log_dir})",
                    flush=True,
                )
                yield system
            finally:
                launcher.stop_all()
        finally:
            if pg is not None:
                pg.stop()


def _tests_pg():
    """tests/pg.py (the throwaway PostgreSQL of the tests), loaded by path: ``tests`` is no package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("govshare_tests_pg", ROOT / "tests" / "pg.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while building the class
    spec.loader.exec_module(module)
    return module


def postgres_cpu_seconds(data_dir: Path) -> float:
    """The postmaster's CPU, its reaped children's (cutime + cstime) and its live children's."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def machine_cpu() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine so far (/proc/stat), every core, everyone's."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is counted in user already
    return (total - idle) / ticks, total / ticks


def machine_line(before: tuple[float, float], after: tuple[float, float], ours: float) -> str:
    """How busy the machine was, and how much of that was not this benchmark's processes."""
    busy, total = after[0] - before[0], after[1] - before[1]
    cores = os.cpu_count() or 1
    if total <= 0:
        return "machine: no figures"
    wall = total / cores
    return (
        f"machine: {100 * busy / total:.0f} % of {cores} cores busy over {wall:.1f} s; this benchmark's "
        f"processes {ours:.1f} CPU-s, everything else {max(busy - ours, 0.0):.1f} CPU-s"
    )


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def cpu_line(cpu: dict[str, float], wall: float) -> str:
    """``name 12.3 s (41 %)`` per process, % of one core over the wall time."""
    return "  ".join(
        f"{name} {seconds:.1f} s ({100 * seconds / wall:.0f} %)" for name, seconds in sorted(cpu.items())
    )


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


@dataclass
class CaseRun:
    """Cases run by a pool of clients: their durations, the per-call timings and what failed."""

    durations: list[float] = field(default_factory=list)
    timings: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in CALLS})
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    wall: float = 0.0

    @property
    def cases(self) -> int:
        return len(self.durations)

    @property
    def rate(self) -> float:
        return self.cases / self.wall if self.wall else 0.0

    async def one(self, http: httpx.AsyncClient, platform: str) -> None:
        """One Hubei case (apply → accept → grant → inform), its failure counted, not raised."""
        try:
            self.durations.append(await one_case(http, platform, self.timings))
        except Exception as err:  # a refused or pending call, a timeout: counted by its first words
            self.errors[error_kind(err)] += 1


def error_kind(err: BaseException) -> str:
    """``apply: 503 …`` → ``apply: 503``; a transport error by its class."""
    text = str(err)
    if isinstance(err, RuntimeError) and ":" in text:
        name, _, rest = text.partition(":")
        status = rest.split()[0] if rest.split() else ""
        if "ended" not in text:
            return f"{name}: {status}"
        return "ended not granted"
    return type(err).__name__


#: Seconds an idle pooled connection is kept: under uvicorn's keep-alive (API_TIMEOUT_KEEP_ALIVE_S,
#: 5 s), or a request sent on a connection the server is closing at that instant fails (ReadError).
KEEPALIVE_EXPIRY_S = 2.0


def limits(connections: int) -> httpx.Limits:
    connections = max(connections, 1)
    return httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )


def clients_for(urls: list[str], concurrency: int) -> list[httpx.AsyncClient]:
    """One httpx client per API URL, sized for the clients that use it."""
    per_url = -(-concurrency // len(urls))
    return [httpx.AsyncClient(base_url=url, timeout=60, limits=limits(per_url * 2)) for url in urls]


async def run_cases(urls: list[str], platform: str, n: int, concurrency: int) -> CaseRun:
    """``n`` cases by ``concurrency`` clients, client ``i`` on ``urls[i % len(urls)]``; one warm-up
    case per URL first (not counted)."""
    run = CaseRun()
    https = clients_for(urls, concurrency)
    try:
        warm = CaseRun()
        await asyncio.gather(*(warm.one(http, platform) for http in https))
        queue = iter(range(n))

        async def client(index: int) -> None:
            http = https[index % len(https)]
            for _ in queue:
                await run.one(http, platform)

        wall = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(max(concurrency, 1))))
        run.wall = time.perf_counter() - wall
    finally:
        for http in https:
            await http.aclose()
    return run


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"


def latency(values: list[float]) -> dict[str, float]:
    """p50 / p95 / p99 / max in seconds (nan when there is nothing)."""
    if not values:
        nan = float("nan")
        return {"n": 0, "p50": nan, "p95": nan, "p99": nan, "max": nan}
    return {
        "n": len(values),
        "p50": quantile(values, 0.50),
        "p95": quantile(values, 0.95),
        "p99": quantile(values, 0.99),
        "max": max(values),
    }


@dataclass
class Rows:
    """The ``--json`` rows: {"section", "what", "figure", "target", "met"}."""

    bench: str
    section: str
    rows: list[dict] = field(default_factory=list)

    def add(self, what: str, figure: str, target: str | None = None, met: bool | None = None) -> None:
        self.rows.append(
            {"section": self.section, "what": what, "figure": figure, "target": target, "met": met}
        )

    def json_line(self) -> str:
        return json.dumps({"bench": self.bench, "rows": self.rows}, ensure_ascii=False)
