"""Every recorded history must replay with the current code.

The histories under tests/histories/ are finished cases of every profile and branch (granted,
refused at direct authorization, rejected at check, not_shared, overdue across the 2026 National Day
and decided late, withdrawn, Luzhou direct and comparison mode, Jiangsu, Luoyang), written by each
generation: the frozen first-generation engine (``workflows/legacy/engine_v1.py``, workflow type
``SharingApplication``: V1, V2, V3 samples) and the current one (``SharingApplicationV2``: E2). A
failure here means a change would break running or archived cases: put a small change behind
``workflow.patched``; for a redesign, freeze the engine as it is beside the legacy one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from govshare.ops.replay import load_history_file, replay_history
from govshare.ops.worker_build import SANDBOX_RUNNER
from workflows.contracts import SharingApplicationInput
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


HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_samples_exist() -> None:
    # First generation: V1 (two activities per step), V2 (one local record), V3 (record after commit);
    # second generation: E2.
    assert len(HISTORIES) >= 40
    assert any("-E2-" in p.name for p in HISTORIES) and any("-V3-" in p.name for p in HISTORIES)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = load_history_file(path)
    assert history.workflow_id.startswith("SharingApplication:SA-SAMPLE-")
    assert await replay_history(history) is None


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
