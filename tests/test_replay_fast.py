"""Bulk replay's speed options (issue 24) prove what the plain replay proves.

``replay_stream`` (``govshare/cases/replaying.py``) replays in worker processes and, when asked, outside
the sandbox (``fast``). Whatever the mode, every recorded history replays, a history the code no longer
reproduces fails (non-determinism, with the same message), and the outcomes come back one per history
in the order the histories went in.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from engine_cases import EngineJoint  # noqa: F401  (registers the engine's test case types)
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from govshare.cases.replaying import (
        SANDBOX_RUNNER,
        ReplayOutcome,
        load_history_file,
        replay_history,
        replay_stream,
        replay_workflows,
        replayer,
    )
from workflows.contracts import SharingApplicationInput
from workflows.legacy.engine_v1 import SharingApplicationV1

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
GRANTED_V1 = "SharingApplication__SA-SAMPLE-HUBEI-GRANTED.json"


@workflow.defn(name="SharingApplication")
class V1ChangedWithoutPatch(SharingApplicationV1):
    """The first-generation sharing application with an unguarded change: a timer before anything."""

    @workflow.run
    async def run(self, inp: SharingApplicationInput):
        await workflow.sleep(1)
        return await self._run_case()


@workflow.defn(name="SharingApplication")
class V1ReadsTheClock(SharingApplicationV1):
    """The first-generation sharing application reading the wall clock: the same commands, but a call
    the sandbox forbids."""

    @workflow.run
    async def run(self, inp: SharingApplicationInput):
        datetime.datetime.now()
        return await self._run_case()


def changed_workflows() -> list[type]:
    """Every workflow the replay knows, the first generation's swapped for the changed one."""
    return [V1ChangedWithoutPatch] + [c for c in replay_workflows() if c is not SharingApplicationV1]


async def outcomes(paths: list[Path], **kw) -> list[ReplayOutcome]:
    async def source():
        for path in paths:
            yield load_history_file(path)

    return [outcome async for outcome in replay_stream(source(), **kw)]


def test_the_samples_are_there() -> None:
    assert len(HISTORIES) >= 40 and any(p.name == GRANTED_V1 for p in HISTORIES)


@pytest.mark.parametrize("fast", [False, True], ids=["sandboxed", "fast"])
async def test_every_sample_replays_in_one_replayer(fast: bool) -> None:
    found = await outcomes(HISTORIES, fast=fast)
    assert [o.workflow_id for o in found] == [load_history_file(p).workflow_id for p in HISTORIES]
    assert [o for o in found if o.failure is not None] == []


@pytest.mark.parametrize("fast", [False, True], ids=["sandboxed", "fast"])
async def test_a_changed_workflow_fails_in_every_mode(fast: bool) -> None:
    history = load_history_file(next(p for p in HISTORIES if p.name == GRANTED_V1))
    result = await replayer(fast=fast, workflows=[V1ChangedWithoutPatch]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


async def test_worker_processes_give_the_outcomes_of_one_replayer() -> None:
    """Processes, batches and modes change nothing: the same outcome for each history, in order, the
    changed workflow's history failing with the same message (the workers get the classes this
    process replays with, a test's own included)."""
    paths = [p for p in HISTORIES if p.name.startswith("SharingApplication__")][:6]
    paths.insert(2, next(p for p in HISTORIES if p.name == GRANTED_V1))
    paths.append(next(p for p in HISTORIES if p.name.startswith("EngineJoint__")))
    here = await outcomes(paths, workflows=changed_workflows())
    assert [o.workflow_id for o in here] == [load_history_file(p).workflow_id for p in paths]
    failed = [o for o in here if o.failure is not None]
    first_generation = {
        h.workflow_id
        for h in map(load_history_file, paths)
        if h.events[0].workflow_execution_started_event_attributes.workflow_type.name == "SharingApplication"
    }
    assert first_generation and {o.workflow_id for o in failed} == first_generation
    assert all("nondetermin" in (o.failure or "").lower() for o in failed)
    for fast in (False, True):
        there = await outcomes(paths, workflows=changed_workflows(), processes=2, batch_size=2, fast=fast)
        assert there == here, fast


async def test_worker_processes_with_nothing_to_replay() -> None:
    assert await outcomes([], processes=2) == []


async def test_one_history_replays_with_its_own_workflow_type_only() -> None:
    """``replay_history`` (the auditor's route, ``govshare replay FILE``) gives the replayer the
    history's workflow type alone; a history of a type nothing registers still fails."""
    history = load_history_file(next(p for p in HISTORIES if p.name == GRANTED_V1))
    assert await replay_history(history) is None
    events = list(history.events)
    started = events[0].workflow_execution_started_event_attributes
    started.workflow_type.name = "NoSuchWorkflow"
    unknown = type(history)(history.workflow_id, events)
    failure = await replay_history(unknown)
    assert failure is not None


@pytest.mark.filterwarnings("ignore:Module rich:UserWarning")  # the refusal's traceback, logged
async def test_the_sandbox_still_refuses_what_it_refused_and_fast_does_not_check_it() -> None:
    """The sandbox's shortcut (serialization contexts asked of the instance directly) leaves the
    workflow's code in the sandbox: a forbidden call still fails the replay. A fast replay does not
    check it — what ``replayer(fast=True)`` says it gives up."""
    history = load_history_file(next(p for p in HISTORIES if p.name == GRANTED_V1))
    sandboxed = await replayer(workflows=[V1ReadsTheClock]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert sandboxed.replay_failure is not None
    assert "datetime" in str(sandboxed.replay_failure)
    fast = await replayer(fast=True, workflows=[V1ReadsTheClock]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert fast.replay_failure is None


async def test_the_sandbox_shortcut_is_taken() -> None:
    """With this SDK the serialization-context lookups go straight to the instance in the sandbox (an
    SDK release that moves its internals makes this fail: the shortcut is then silently not taken)."""
    from temporalio.api.common.v1 import Payloads
    from temporalio.api.failure.v1 import Failure
    from temporalio.converter import DataConverter
    from temporalio.worker import WorkflowInstanceDetails
    from temporalio.worker.workflow_sandbox import _runner

    instance = SANDBOX_RUNNER.create_instance(
        WorkflowInstanceDetails(
            payload_converter_factory=DataConverter.default._new_payload_converter,
            failure_converter_class=DataConverter.default.failure_converter_class,
            interceptor_classes=[],
            defn=workflow._Definition.must_from_class(SharingApplicationV1),
            info=_runner._fake_info,
            randomness_seed=-1,
            extern_functions={},
            disable_eager_activity_execution=False,
            worker_level_failure_exception_types=[],
            patch_activation_callback=None,
            last_completion_result=Payloads(),
            last_failure=Failure(),
        )
    )
    assert {"get_serialization_context", "get_external_store_context"} <= set(vars(instance))
    context = instance.get_serialization_context(None)
    assert context is not None and context.workflow_id == _runner._fake_info.workflow_id
