"""Every recorded history must replay with the current code.

The histories under tests/histories/ are finished cases of every profile and branch (granted,
refused at direct authorization, rejected at check, not_shared, overdue across the 2026 National Day
and decided late, withdrawn, Luzhou direct and comparison mode, Jiangsu, Luoyang). A failure here
means a change would break running or archived cases: put it behind ``workflow.patched``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from govshare.replay import load_history_file, replay_history
from worker import SANDBOX_RUNNER
from workflows.contracts import SharingApplicationInput
from workflows.sharing_application import SharingApplicationWorkflow


@workflow.defn(name="SharingApplication")
class ChangedWithoutPatch(SharingApplicationWorkflow):
    """The sharing application with an unguarded behaviour change: a timer before anything else."""

    @workflow.run
    async def run(self, inp: SharingApplicationInput):
        await workflow.sleep(1)
        return await self._run_case()


HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_samples_exist() -> None:
    assert len(HISTORIES) >= 20  # V1 (two activities per step) and V2 (one local activity)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = load_history_file(path)
    assert history.workflow_id.startswith("SharingApplication:SA-SAMPLE-")
    assert await replay_history(history) is None


async def test_replay_detects_a_changed_workflow() -> None:
    # The guard itself must be able to fail: a workflow that now sets a timer before anything else
    # (an unguarded behaviour change) no longer matches the recorded history.
    source = next(p for p in HISTORIES if "HUBEI-GRANTED" in p.name)
    replayer = Replayer(
        workflows=[ChangedWithoutPatch],
        data_converter=pydantic_data_converter,
        workflow_runner=SANDBOX_RUNNER,
    )
    result = await replayer.replay_workflow(load_history_file(source), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()
