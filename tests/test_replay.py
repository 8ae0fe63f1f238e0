"""Every recorded history must replay with the current code.

The histories under tests/histories/ are finished cases of every profile and branch (granted,
refused at direct authorization, rejected at check, not_shared, overdue across the 2026 National Day
and decided late, withdrawn, Luzhou direct and comparison mode, Jiangsu, Luoyang), written by each
generation: the frozen first-generation engine (``workflows/legacy/engine_v1.py``, workflow type
``SharingApplication``: V1, V2, V3 samples) and the current one (``SharingApplicationV2``: E2, and
E3 from the engine in parts: task patches, payloads, the clock re-check and withdrawal patches),
plus finished cases of the engine's test case types (``tests/engine_cases.py``: a joint step with an
extension and a breach that starts a linked order, and that order; a clock suspended, resumed and
given an issuer-set limit; recorded by ``tests/histories/record_engine_samples.py``). A failure
here means a change would break running or archived cases: put a small change behind
``workflow.patched``; for a redesign, freeze the engine as it is beside the legacy one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_cases import EngineJoint
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

# The workflows below are defined here, so the sandbox re-imports this module: the worker's build
# (structlog, rich: random at import) is passed through, not re-imported inside the sandbox.
with workflow.unsafe.imports_passed_through():
    from govshare.ops.replay import load_history_file, replay_history
    from govshare.ops.worker_build import SANDBOX_RUNNER
from workflows import registry
from workflows.contracts import CaseInput, SharingApplicationInput
from workflows.legacy.engine_v1 import SharingApplicationV1
from workflows.sharing_application import WORKFLOW_TYPE, SharingApplicationWorkflow


@workflow.defn(name="SharingApplication")
class ChangedWithoutPatch(SharingApplicationV1):
    """The sharing application with an unguarded behaviour change: a timer before anything else."""

    @workflow.run
    async def run(self, inp: SharingApplicationInput):
        await workflow.sleep(1)
        return await self._run_case()


@workflow.defn(name=WORKFLOW_TYPE)
class EngineChangedWithoutPatch(SharingApplicationWorkflow):
    """The same unguarded change in the second-generation engine."""

    @workflow.run
    async def run(self, inp: SharingApplicationInput):
        await workflow.sleep(1)
        return await self._run_case()


@workflow.defn(name="EngineJoint")
class EngineJointChangedWithoutPatch(EngineJoint):
    """The same unguarded change in a test case type of the engine."""

    @workflow.run
    async def run(self, inp: CaseInput):
        await workflow.sleep(1)
        return await self._go()


def engine_replayer(*workflows: type) -> Replayer:
    """A replayer that knows the test case types too (registered by importing ``engine_cases``)."""
    return Replayer(
        workflows=list(workflows) or registry.workflows(),
        data_converter=pydantic_data_converter,
        workflow_runner=SANDBOX_RUNNER,
    )


HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_samples_exist() -> None:
    # First generation: V1 (two activities per step), V2 (one local record), V3 (record after commit);
    # second generation: E2.
    assert len(HISTORIES) >= 40
    assert any("-E2-" in p.name for p in HISTORIES) and any("-V3-" in p.name for p in HISTORIES)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = load_history_file(path)
    if path.name.startswith("Engine"):
        # A test case type: replayed with every registered workflow, the test ones included.
        assert "-SAMPLE-" in history.workflow_id.split(":")[1], history.workflow_id
        result = await engine_replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None
        return
    assert "-SAMPLE-" in history.workflow_id.split(":")[1], history.workflow_id
    assert await replay_history(history) is None


def test_order_complaint_and_escalation_samples_exist() -> None:
    """Issue 18: an order and a complaint, every branch, and the escalations they climb."""
    names = {p.name for p in HISTORIES}
    assert {
        "RectificationOrder__RO-SAMPLE-R1-HUBEI-RECTIFIED.json",
        "RectificationOrder__RO-SAMPLE-R1-HUBEI-DISMISSED.json",
        "RectificationOrder__RO-SAMPLE-R1-LUZHOU-LATE.json",
        "Escalation__ES-RO-SAMPLE-R1-LUZHOU-LATE-T2.json",
        "Complaint__CP-SAMPLE-R1-LUZHOU-ORDER.json",
        "RectificationOrder__RO-CP-SAMPLE-R1-LUZHOU-ORDER-T1.json",
        "Complaint__CP-SAMPLE-R1-LUZHOU-OFFICE.json",
        "SharingApplication__SA-SAMPLE-R1-HUBEI-LADDER.json",
        "Escalation__ES-SA-SAMPLE-R1-HUBEI-LADDER-T1.json",
        "RectificationOrder__RO-ES-SA-SAMPLE-R1-HUBEI-LADDER-T1-O.json",
    } <= names


def test_catalog_update_samples_exist() -> None:
    """Issue 19: a change set refused by its check, returned, published; an application rejected."""
    names = {p.name for p in HISTORIES}
    assert {
        "CatalogUpdate__CU-SAMPLE-C1-HUBEI-PUBLISHED.json",
        "CatalogUpdate__CU-SAMPLE-C1-LUOYANG-REJECTED.json",
    } <= names


def test_engine_samples_exist() -> None:
    names = {p.name for p in HISTORIES}
    assert {
        "EngineJoint__EJ-SAMPLE-E2-BREACH.json",
        "EngineOrder__EO-EJ-SAMPLE-E2-BREACH-T2.json",
        "EngineClock__EC-SAMPLE-E2-CLOCK.json",
    } <= names


async def test_replay_detects_a_changed_engine_test_workflow() -> None:
    source = next(p for p in HISTORIES if p.name == "EngineJoint__EJ-SAMPLE-E2-BREACH.json")
    result = await engine_replayer(EngineJointChangedWithoutPatch).replay_workflow(
        load_history_file(source), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


async def test_replay_detects_a_changed_workflow() -> None:
    # The guard itself must be able to fail: a workflow that now sets a timer before anything else
    # (an unguarded behaviour change) no longer matches the recorded history.
    source = next(p for p in HISTORIES if p.name == "SharingApplication__SA-SAMPLE-HUBEI-GRANTED.json")
    replayer = Replayer(
        workflows=[ChangedWithoutPatch],
        data_converter=pydantic_data_converter,
        workflow_runner=SANDBOX_RUNNER,
    )
    result = await replayer.replay_workflow(load_history_file(source), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


async def test_replay_detects_a_changed_second_generation_workflow() -> None:
    source = next(p for p in HISTORIES if p.name == "SharingApplication__SA-SAMPLE-E2-HUBEI-GRANTED.json")
    replayer = Replayer(
        workflows=[EngineChangedWithoutPatch],
        data_converter=pydantic_data_converter,
        workflow_runner=SANDBOX_RUNNER,
    )
    result = await replayer.replay_workflow(load_history_file(source), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


def test_claim_samples_exist() -> None:
    """Issue 22: tasks claimed (签收), refused to another, released, claimed again, decided by the
    claimer (tests/histories/record_issue22_claims.py)."""
    names = {p.name for p in HISTORIES}
    assert {
        "DataObjection__DO-SAMPLE-K1-LUOYANG-CLAIMED.json",
        "SharingApplication__SA-SAMPLE-K1-HUBEI-CLAIMED.json",
    } <= names
