"""Replaying recorded workflow histories with the current code (auditors; CI's guard on determinism).

A history that no longer replays means a code change would break a running or archived case: such a
change must go behind ``workflow.patched`` (or a new workflow type) instead. The worker runs its
workflows in the same sandbox configuration (:data:`SANDBOX_RUNNER`), so a replay here is a replay as
the worker would run it.

Bulk replay (issue 24, ``govshare replay --all``) goes through :func:`replay_stream`: one replayer for
every history (not one per history: a replayer's start validates every workflow class in the sandbox,
about 15 ms each), and, with ``processes`` > 1, that many worker processes, each with its own
replayer, fed batches of histories. The replay is CPU-bound Python — the SDK's activation machinery
and the sandbox: about 27 ms of CPU per sharing application (nine workflow tasks) in the sandbox, 15 ms
outside it, of which our workflow code is about a sixth and the pydantic converter a tenth — so
processes are the one lever that scales it with the cores (a worker's start costs about 1.3 s of CPU:
imports, and every workflow class validated in the sandbox). ``fast=True`` replays outside the sandbox
(:func:`replayer`: what it does not check): an explicit option for bulk audits, never the default.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import struct
import sys
import threading
import traceback
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.worker import (
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInstance,
    WorkflowInstanceDetails,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from govshare.core.converter import DATA_CONVERTER
from workflows import registry
from workflows.freshness import FreshnessSweepWorkflow


class _SandboxRunner(SandboxedWorkflowRunner):
    """The SDK's sandbox, with one shortcut that runs no workflow code.

    For every payload of every activation and completion (about a hundred per sharing application)
    the SDK asks the workflow instance which serialization context the payload belongs to (the
    workflow's, or the activity's a command schedules). In the sandbox that question is a round trip
    into it: a string compiled and run, ``sys.modules``, ``__import__`` and the builtins swapped in and
    out — about a third of a sandboxed replay's time, for an answer computed by SDK code
    (``_WorkflowInstanceImpl.get_serialization_context`` / ``get_external_store_context``) from the
    instance's pending commands. Here those two questions go straight to the instance inside the
    sandbox. The workflow's own code (its module's import, ``__init__``, every activation) still runs
    in the sandbox, with the same restrictions. Should an SDK release move these internals, the
    shortcut is not taken and the SDK's path is used as it is.
    """

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        instance = super().create_instance(det)
        inner = getattr(
            getattr(instance, "globals_and_locals", {}).get("__temporal_in_sandbox"), "instance", None
        )
        serialization = getattr(inner, "get_serialization_context", None)
        store = getattr(inner, "get_external_store_context", None)
        if callable(serialization) and callable(store):
            instance.get_serialization_context = serialization  # type: ignore[method-assign]
            instance.get_external_store_context = store  # type: ignore[method-assign]
        return instance


#: Our deterministic, side-effect-free modules are passed through the workflow sandbox whole (with
#: their submodules), so the pydantic converter resolves their dataclasses' type hints against the
#: real modules, and they are imported once per worker rather than once per workflow run. (The
#: workflow's own module is still imported anew for every run: that is the sandbox's isolation.)
SANDBOX_RUNNER = _SandboxRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "calendars", "regulations", "activities", "pydantic", "pydantic_core", "workalendar"
    )
)


def replay_workflows() -> list[type]:
    """Every workflow class a kept history may have run on (read now: test case types too)."""
    return [*registry.workflows(), FreshnessSweepWorkflow]


def replayer(*, fast: bool = False, workflows: Sequence[type] | None = None) -> Replayer:
    """The replayer, as the worker runs workflows (:data:`SANDBOX_RUNNER`).

    ``fast`` (an explicit option for bulk audits, ``replay --all --fast``; never the default): outside
    the sandbox (``UnsandboxedWorkflowRunner``) and with the SDK's ``debug_mode`` (each activation run
    on the event loop's thread instead of handed to a thread pool under a 2-second deadlock timer):
    about 1.6 times the sandboxed rate. Every command the code issues is still checked against the
    history — the non-determinism check is the SDK core's, not the sandbox's — and a failure reads the
    same. What a fast replay does not check: that the current workflow code calls nothing the sandbox
    forbids (``datetime.now``, ``random``, I/O, a non-passthrough import's state), and that no
    activation runs away (a workflow stuck in a loop hangs the replay instead of failing it). The
    sandboxed replay — the default, and CI's ``tests/test_replay.py`` — checks both.
    """
    if fast:
        return Replayer(
            workflows=list(workflows) if workflows is not None else replay_workflows(),
            data_converter=DATA_CONVERTER,
            workflow_runner=UnsandboxedWorkflowRunner(),
            debug_mode=True,
        )
    return Replayer(
        workflows=list(workflows) if workflows is not None else replay_workflows(),
        data_converter=DATA_CONVERTER,
        workflow_runner=SANDBOX_RUNNER,
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
    """Worker processes for a bulk replay: one per core this process may run on (at most 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


async def replay_stream(
    histories: AsyncIterator[WorkflowHistory],
    *,
    processes: int = 1,
    fast: bool = False,
    workflows: Sequence[type] | None = None,
    batch_size: int = 16,
) -> AsyncIterator[ReplayOutcome]:
    """Replay every history of the stream, one outcome per history, in the stream's order.

    ``processes`` <= 1: in this process, one replayer. Otherwise that many worker processes
    (``python -m govshare.cases.replaying``, started afresh: the Temporal runtime's threads do not
    survive a fork), each with one replayer for its whole life, fed batches of ``batch_size``
    histories, two batches ahead per worker. The workers replay with the same workflow classes as this
    process (passed by reference, so a case type a test registered is there too); classes a worker
    could not import (defined in a function or in ``__main__``) keep the replay in this process.
    """
    chosen = list(workflows) if workflows is not None else replay_workflows()
    if processes > 1 and not _importable(chosen):
        processes = 1
    if processes <= 1:
        async with replayer(fast=fast, workflows=chosen).workflow_replay_iterator(histories) as results:
            async for result in results:
                failure = result.replay_failure
                yield ReplayOutcome(result.history.workflow_id, None if failure is None else str(failure))
        return
    async for outcome in _replay_in_processes(histories, processes, fast, chosen, batch_size):
        yield outcome


def _importable(classes: list[type]) -> bool:
    if any(cls.__module__ == "__main__" for cls in classes):
        return False
    try:
        pickle.dumps(classes)
    except Exception:
        return False
    return True


# The worker protocol: frames of a 4-byte length and a pickle. To the worker: ("init", fast, workflow
# classes), then batches [(workflow id, serialized History)], then None. From it: ("ok", [(workflow id,
# failure or None)]) per batch, in order, or ("error", traceback) when the worker itself failed.
_Batch = list[tuple[str, bytes]]
_LENGTH = struct.Struct(">I")


def _frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


def _encode(history: WorkflowHistory) -> tuple[str, bytes]:
    return history.workflow_id, History(events=history.events).SerializeToString()


def _decode(item: tuple[str, bytes]) -> WorkflowHistory:
    workflow_id, blob = item
    return WorkflowHistory(workflow_id, list(History.FromString(blob).events))


class ReplayWorkerError(RuntimeError):
    """A replay worker process failed (not a history: the worker itself)."""


class _Worker:
    """One replay process (``python -m govshare.cases.replaying``), and its batches not yet answered."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.waiting: deque[asyncio.Future[list[ReplayOutcome]]] = deque()

    @classmethod
    async def start(cls, fast: bool, workflows: list[type]) -> _Worker:
        env = dict(os.environ)
        # The worker imports what this process imports (a test's case types too): the same path.
        env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        worker = cls(process)
        await worker.send(("init", fast, workflows))
        return worker

    async def send(self, message: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(_frame(message))
        await self.process.stdin.drain()

    async def read(self) -> None:
        """Answer the batches in the order they were sent, until the worker ends."""
        assert self.process.stdout is not None
        while True:
            try:
                (length,) = _LENGTH.unpack(await self.process.stdout.readexactly(_LENGTH.size))
                status, body = pickle.loads(await self.process.stdout.readexactly(length))
            except (asyncio.IncompleteReadError, ConnectionError):
                status, body = "error", f"replay worker {self.process.pid} exited"
            if not self.waiting:
                return
            if status == "ok":
                self.waiting.popleft().set_result([ReplayOutcome(w, f) for w, f in body])
                continue
            while self.waiting:
                self.waiting.popleft().set_exception(ReplayWorkerError(body))
            return

    async def stop(self) -> None:
        try:
            await self.send(None)
            assert self.process.stdin is not None
            self.process.stdin.close()
        except (ConnectionError, RuntimeError):
            pass
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def _replay_in_processes(
    histories: AsyncIterator[WorkflowHistory],
    processes: int,
    fast: bool,
    workflows: list[type],
    batch_size: int,
) -> AsyncIterator[ReplayOutcome]:
    loop = asyncio.get_running_loop()
    workers = list(await asyncio.gather(*(_Worker.start(fast, workflows) for _ in range(processes))))
    readers = [asyncio.create_task(w.read()) for w in workers]
    ahead = asyncio.Semaphore(2 * processes)  # batches sent and not yet yielded
    order: asyncio.Queue[asyncio.Future[list[ReplayOutcome]] | None] = asyncio.Queue()

    async def send(batch: _Batch) -> None:
        await ahead.acquire()
        worker = min(workers, key=lambda w: len(w.waiting))
        answer: asyncio.Future[list[ReplayOutcome]] = loop.create_future()
        worker.waiting.append(answer)
        await order.put(answer)
        await worker.send(batch)

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

    feeder = asyncio.create_task(feed())
    try:
        while (answer := await order.get()) is not None:
            for outcome in await answer:
                yield outcome
            ahead.release()
        await feeder  # its error (a history that could not be fetched), if any
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


# -- the worker process --------------------------------------------------------------------------------
def _worker_main() -> None:
    """``python -m govshare.cases.replaying``: a replay worker on its stdin and stdout."""
    source = sys.stdin.buffer
    # The answers get stdout's file to themselves; anything else printed goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def receive() -> Any:
        header = source.read(_LENGTH.size)
        if len(header) < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack(header)
        return pickle.loads(source.read(length))

    def answer(message: Any) -> None:
        answers.write(_frame(message))
        answers.flush()

    try:
        _, fast, workflows = receive()
        asyncio.run(_worker_serve(receive, answer, fast, workflows))
    except Exception:
        answer(("error", traceback.format_exc()))


async def _worker_serve(receive: Any, answer: Any, fast: bool, workflows: list[type]) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[_Batch | None] = asyncio.Queue()

    def drain() -> None:  # reads batches as they come, so the sender never waits on the replay
        while True:
            try:
                batch = receive()
            except Exception:  # a torn frame: the parent is gone; finish what we have
                batch = None
            loop.call_soon_threadsafe(inbox.put_nowait, batch)
            if batch is None:
                return

    threading.Thread(target=drain, name="replay-inbox", daemon=True).start()
    sizes: deque[int] = deque()

    async def source() -> AsyncIterator[WorkflowHistory]:
        while (batch := await inbox.get()) is not None:
            if batch:
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
                answer(("ok", done))
                done = []


if __name__ == "__main__":
    _worker_main()
