"""The audit trail's witness outside the application database (issue 21: a trail cut short at its end).

Each anchor is the head of the chains at one moment (``govshare.core.audit_trail.read_heads``): the
access log's last id and hash, and a digest of every case's last state-change event. The API sends one
every ``ANCHOR_EVERY_EVENTS`` reads it logs and after ``ANCHOR_EVERY_S`` of quiet
(``api/access_log.py``); ``govshare audit anchor`` sends one by hand (cron, before a backup). This
long-running workflow takes them as signals, so they stand in its history — in Temporal's own store,
which whoever can rewrite the application database cannot rewrite. ``govshare audit verify`` reads
them back from that history (no worker needed) and reports a table whose chain ends before an
anchor, or differs from it.

One per deployment (workflow id ``govshare-audit-anchor:<task queue>``), started by the first anchor
(signal-with-start). Deterministic: it only keeps what it is sent, answers the ``anchors`` query, and
continues as new after ``CONTINUE_AFTER`` anchors (or when Temporal suggests it), carrying the last
``CARRY`` so the new run starts from the newest heads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import workflow

WORKFLOW_TYPE = "AuditAnchor"
SIGNAL = "anchor"
QUERY = "anchors"
#: Anchors one run takes before it continues as new (its history stays a few MB).
CONTINUE_AFTER = 2000
#: Anchors the next run starts with.
CARRY = 20


def anchor_workflow_id(task_queue: str) -> str:
    return f"govshare-audit-anchor:{task_queue}"


@dataclass
class Anchor:
    """The chains' heads at ``at`` (fields: ``govshare.core.audit_trail``)."""

    at: datetime
    #: Who sent it: ``api <host>:<pid>``, ``cli``.
    source: str = ""
    #: The access log's last id (0: empty) and its hash.
    access_id: int = 0
    access_hash: str = ""
    #: Every case's last state-change event recorded by ``audit_as_of``: how many cases and events,
    #: and the digest of (case, last seq, hash).
    audit_as_of: datetime | None = None
    audit_cases: int = 0
    audit_events: int = 0
    audit_digest: str = ""


@dataclass
class AnchorLog:
    """The workflow's input: the anchors a previous run carried over, and how many runs came before."""

    carried: list[Anchor] = field(default_factory=list)
    runs_before: int = 0
    #: Anchors a run takes before it continues as new (0: ``CONTINUE_AFTER``).
    continue_after: int = 0


@workflow.defn(name=WORKFLOW_TYPE)
class AuditAnchorWorkflow:
    @workflow.init
    def __init__(self, log: AnchorLog) -> None:
        self._anchors: list[Anchor] = list(log.carried)
        self._received = 0

    @workflow.run
    async def run(self, log: AnchorLog) -> None:
        limit = log.continue_after or CONTINUE_AFTER
        await workflow.wait_condition(
            lambda: self._received >= limit or workflow.info().is_continue_as_new_suggested()
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            AnchorLog(
                carried=self._anchors[-CARRY:],
                runs_before=log.runs_before + 1,
                continue_after=log.continue_after,
            )
        )

    @workflow.signal(name=SIGNAL)
    def anchor(self, anchor: Anchor) -> None:
        self._anchors.append(anchor)
        self._received += 1

    @workflow.query(name=QUERY)
    def anchors(self) -> list[Anchor]:
        return list(self._anchors)


async def send_anchor(client: Any, task_queue: str, anchor: Anchor) -> None:
    """Signal ``anchor`` to the deployment's anchor workflow, starting it if it is not running."""
    await client.start_workflow(
        WORKFLOW_TYPE,
        AnchorLog(),
        id=anchor_workflow_id(task_queue),
        task_queue=task_queue,
        start_signal=SIGNAL,
        start_signal_args=[anchor],
    )
