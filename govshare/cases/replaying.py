"""Replaying recorded workflow histories with the current code (auditors; CI's guard on determinism).

A history that no longer replays means a code change would break a running or archived case: such a
change must go behind ``workflow.patched`` (or a new workflow type) instead. The worker runs its
workflows in the same sandbox configuration (:data:`SANDBOX_RUNNER`), so a replay here is a replay as
the worker would run it.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from govshare.core.converter import DATA_CONVERTER
from workflows import registry
from workflows.freshness import FreshnessSweepWorkflow

#: Our deterministic, side-effect-free modules are passed through the workflow sandbox whole (with
#: their submodules), so the pydantic converter resolves their dataclasses' type hints against the
#: real modules, and they are imported once per worker rather than once per workflow run.
SANDBOX_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "calendars", "regulations", "activities", "pydantic", "pydantic_core", "workalendar"
    )
)


def replayer() -> Replayer:
    return Replayer(
        workflows=[*registry.workflows(), FreshnessSweepWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=SANDBOX_RUNNER,
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
