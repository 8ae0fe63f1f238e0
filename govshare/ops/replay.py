"""Replaying recorded workflow histories with the current code: the functions live with the case
service (``govshare/cases/replaying.py``), where the API's auditor routes reach them too."""

from __future__ import annotations

from govshare.cases.replaying import (
    SANDBOX_RUNNER,
    ReplayOutcome,
    default_processes,
    history_file_name,
    load_history_file,
    replay_history,
    replay_stream,
    replayer,
)

__all__ = [
    "SANDBOX_RUNNER",
    "ReplayOutcome",
    "default_processes",
    "history_file_name",
    "load_history_file",
    "replay_history",
    "replay_stream",
    "replayer",
]
