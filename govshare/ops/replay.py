"""Replaying recorded workflow histories with the current code (auditors; CI's guard on determinism).

A history that no longer replays means a code change would break a running or archived case: such a
change must go behind ``workflow.patched`` (or a new workflow type) instead.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer


def replayer() -> Replayer:
    from govshare.ops.worker_build import SANDBOX_RUNNER, WORKFLOWS

    return Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=SANDBOX_RUNNER
    )


def history_file_name(workflow_id: str) -> str:
    return workflow_id.replace(":", "__") + ".json"


def load_history_file(path: Path) -> WorkflowHistory:
    workflow_id = path.name.removesuffix(".json").replace("__", ":")
    return WorkflowHistory.from_json(workflow_id, path.read_text(encoding="utf-8"))


async def replay_history(history: WorkflowHistory) -> Exception | None:
    """Replay one history; return the failure (non-determinism, decode error) or None."""
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure
