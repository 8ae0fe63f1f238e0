"""Replaying recorded workflow histories with the current code (auditors; CI's guard on determinism).

A history that no longer replays means a code change would break a running or archived case: such a
change must go behind ``workflow.patched`` (or a new workflow type) instead. The worker runs its
workflows in the same sandbox configuration (:data:`SANDBOX_RUNNER`), so a replay here is a replay as
the worker would run it.

Bulk replay (issue 24, ``govshare replay --all``) goes through :func:`replay_stream`: one replayer for
every history (not one per history: a replayer's start validates every workflow class in the sandbox,
about 15 ms each), and, with ``processes`` > 1, that many worker processes, each with its own
replayer, fed batches of histories. The replay is CPU-bound Python (the SDK's activation machinery and
the sandbox, about 35 ms of CPU per sharing application), so processes are the one lever that scales it
with the cores. ``fast=True`` replays outside the sandbox (:func:`replayer`): still the same
determinism check against every command of the history, without the sandbox's guard against a
workflow calling something non-deterministic — an explicit option for bulk audits, never the default.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import pickle
import threading
import traceback
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from govshare.core.converter import DATA_CONVERTER
from workflows import registry
from workflows.freshness import FreshnessSweepWorkflow

#: Our deterministic, side-effect-free modules are passed through the workflow sandbox whole (with
#: their submodules), so the pydantic converter resolves their dataclasses' type hints against the
#: real modules, and they are imported once per worker rather than once per workflow run. (The
#: workflow's own module is still imported anew for every run: that is the sandbox's isolation.)
SANDBOX_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "calendars", "regulations", "activities", "pydantic", "pydantic_core", "workalendar"
    )
)


def replay_workflows() -> list[type]:
    """Every workflow class a kept history may have run on (read now: test case types too)."""
    return [*registry.workflows(), FreshnessSweepWorkflow]


def replayer(*, fast: bool = False, workflows: Sequence[type] | None = None) -> Replayer:
    """The replayer, as the worker runs workflows (:data:`SANDBOX_RUNNER`).

    ``fast``: without the sandbox (``UnsandboxedWorkflowRunner``), for bulk audits that ask for it:
    about twice the rate. Every command the code issues is still checked against the history (the
    non-determinism check is the SDK core's, not the sandbox's); what is not checked is that the
    workflow's own module calls nothing the sandbox forbids (``datetime.now``, ``random``, I/O) — which
    the worker's sandbox refuses when the workflow runs, so such code never reaches a history.
    """
    return Replayer(
        workflows=list(workflows) if workflows is not None else replay_workflows(),
        data_converter=DATA_CONVERTER,
        workflow_runner=UnsandboxedWorkflowRunner() if fast else SANDBOX_RUNNER,
    )


def history_file_name(workflow_id: str) -> str:
    return workflow_id.replace(":", "__") + ".json"


def load_history_file(path: Path) -> WorkflowHistory:
    workflow_id = path.name.removesuffix(".json").replace("__", ":")
    return WorkflowHistory.from_json(workflow_id, path.read_text(encoding="utf-8"))


def _workflow_type(history: WorkflowHistory) -> str | None:
    if not history.events:
        return None
    first = history.events[0]
    if not first.HasField("workflow_execution_started_event_attributes"):
        return None
    return first.workflow_execution_started_event_attributes.workflow_type.name


def _definition_name(cls: type) -> str | None:
    from temporalio.workflow import _Definition

    defn = _Definition.from_class(cls)
    return defn.name if defn else None


async def replay_history(history: WorkflowHistory) -> Exception | None:
    """Replay one history; return the failure (non-determinism, decode error) or None.

    The replayer knows only the history's own workflow type (the others would be validated in the
    sandbox for nothing, about 15 ms each); a type no class is registered for gets them all, and
    fails as it always did."""
    wanted = _workflow_type(history)
    workflows = [cls for cls in replay_workflows() if _definition_name(cls) == wanted] or None
    result = await replayer(workflows=workflows).replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure


# -- bulk replay ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayOutcome:
    """One history replayed: its workflow and, if it did not replay, why (None: it replayed)."""

    workflow_id: str
    failure: str | None = None


def default_processes() -> int:
    """Worker processes for a bulk replay: one per core (at most 8)."""
    return max(1, min(os.cpu_count() or 1, 8))


async def replay_stream(
    histories: AsyncIterator[WorkflowHistory],
    *,
    processes: int = 1,
    fast: bool = False,
    workflows: Sequence[type] | None = None,
    batch_size: int = 16,
) -> AsyncIterator[ReplayOutcome]:
    """Replay every history of the stream, one outcome per history, in the stream's order.

    ``processes`` <= 1: in this process, one replayer. Otherwise that many worker processes (spawned,
    not forked: the Temporal runtime's threads do not survive a fork), each with one replayer for its
    whole life, fed batches of ``batch_size`` histories, two batches ahead. The workers replay with the
    same workflow classes as this process (passed by reference, so a case type a test registered
    is there too); classes that cannot be pickled (defined in a function) keep the replay here.
    """
    chosen = list(workflows) if workflows is not None else replay_workflows()
    if processes > 1:
        try:
            pickle.dumps(chosen)
        except Exception:
            processes = 1
    if processes <= 1:
        async with replayer(fast=fast, workflows=chosen).workflow_replay_iterator(histories) as results:
            async for result in results:
                failure = result.replay_failure
                yield ReplayOutcome(result.history.workflow_id, None if failure is None else str(failure))
        return
    async for outcome in _replay_in_processes(histories, processes, fast, chosen, batch_size):
        yield outcome


# A batch goes to a worker as [(workflow id, serialized History)], and comes back as
# ("ok", [(workflow id, failure or None)]) or ("error", traceback) when the worker itself failed.
_Batch = list[tuple[str, bytes]]


def _encode(history: WorkflowHistory) -> tuple[str, bytes]:
    return history.workflow_id, History(events=history.events).SerializeToString()


def _decode(item: tuple[str, bytes]) -> WorkflowHistory:
    workflow_id, blob = item
    return WorkflowHistory(workflow_id, list(History.FromString(blob).events))


class _Worker:
    """One replay process, and the batches it has been sent and not yet answered."""

    def __init__(self, context: Any, fast: bool, workflows: list[type]) -> None:
        self.conn, theirs = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(theirs, fast, workflows), name="govshare-replay", daemon=True
        )
        self.process.start()
        theirs.close()
        self.waiting: deque[asyncio.Future[list[ReplayOutcome]]] = deque()


async def _replay_in_processes(
    histories: AsyncIterator[WorkflowHistory],
    processes: int,
    fast: bool,
    workflows: list[type],
    batch_size: int,
) -> AsyncIterator[ReplayOutcome]:
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    # Pipes block: a sender and a reader thread per worker, never the event loop.
    io = concurrent.futures.ThreadPoolExecutor(2 * processes, thread_name_prefix="replay-io")
    workers = [_Worker(context, fast, workflows) for _ in range(processes)]
    ahead = asyncio.Semaphore(2 * processes)  # batches sent and not yet yielded
    order: asyncio.Queue[asyncio.Future[list[ReplayOutcome]] | None] = asyncio.Queue()

    async def read(worker: _Worker) -> None:
        while True:
            try:
                status, body = await loop.run_in_executor(io, worker.conn.recv)
            except (EOFError, OSError):
                status, body = "error", f"replay worker {worker.process.pid} exited"
            if not worker.waiting:
                return
            answer = worker.waiting.popleft()
            if status == "ok":
                answer.set_result([ReplayOutcome(w, f) for w, f in body])
            else:
                answer.set_exception(RuntimeError(f"replay worker failed: {body}"))
                while worker.waiting:
                    worker.waiting.popleft().set_exception(RuntimeError("replay worker failed"))
                return

    async def send(batch: _Batch) -> None:
        await ahead.acquire()
        worker = min(workers, key=lambda w: len(w.waiting))
        answer: asyncio.Future[list[ReplayOutcome]] = loop.create_future()
        worker.waiting.append(answer)
        await order.put(answer)
        await loop.run_in_executor(io, worker.conn.send, batch)

    async def feed() -> None:
        try:
            batch: _Batch = []
            async for history in histories:
                batch.append(_encode(history))
                if len(batch) >= batch_size:
                    await send(batch)
                    batch = []
            if batch:
                await send(batch)
        finally:
            await order.put(None)

    readers = [asyncio.create_task(read(w)) for w in workers]
    feeder = asyncio.create_task(feed())
    try:
        while (answer := await order.get()) is not None:
            for outcome in await answer:
                yield outcome
            ahead.release()
        await feeder  # its error (a history that could not be fetched), if any
    finally:
        feeder.cancel()
        for worker in workers:
            try:
                await loop.run_in_executor(io, worker.conn.send, None)
            except (OSError, ValueError):
                pass
        for worker in workers:
            await loop.run_in_executor(io, worker.process.join, 10)
            if worker.process.is_alive():
                worker.process.terminate()
        for task in (feeder, *readers):
            task.cancel()
        await asyncio.gather(feeder, *readers, return_exceptions=True)
        for worker in workers:
            worker.conn.close()
        io.shutdown(wait=False, cancel_futures=True)


def _worker_main(conn: Any, fast: bool, workflows: list[type]) -> None:
    """A replay process: batches in, outcomes out, one replayer for its whole life."""
    try:
        asyncio.run(_worker_serve(conn, fast, workflows))
    except Exception:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        conn.close()


async def _worker_serve(conn: Any, fast: bool, workflows: list[type]) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[_Batch | None] = asyncio.Queue()

    def receive() -> None:  # drains the pipe as batches come, so the sender never waits on us
        while True:
            try:
                batch = conn.recv()
            except (EOFError, OSError):
                batch = None
            loop.call_soon_threadsafe(inbox.put_nowait, batch)
            if batch is None:
                return

    threading.Thread(target=receive, name="replay-inbox", daemon=True).start()
    sizes: deque[int] = deque()

    async def source() -> AsyncIterator[WorkflowHistory]:
        while (batch := await inbox.get()) is not None:
            if not batch:
                continue
            sizes.append(len(batch))
            for item in batch:
                yield _decode(item)

    done: list[tuple[str, str | None]] = []
    async with replayer(fast=fast, workflows=workflows).workflow_replay_iterator(source()) as results:
        async for result in results:
            failure = result.replay_failure
            done.append((result.history.workflow_id, None if failure is None else str(failure)))
            if len(done) == sizes[0]:
                sizes.popleft()
                conn.send(("ok", done))
                done = []
