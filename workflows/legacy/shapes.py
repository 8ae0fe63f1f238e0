"""The first generation's shapes of a case, beside the frozen engine that writes them.

``CaseState`` is everything a first-generation case knows (its ``state`` query, and the ``detail`` of
its projection row); ``CaseRecord`` one projection write of it. The second generation has neither:
its case is a ``CaseFile`` (header, parties, tasks) written as ``CaseDelta``s (``workflows/case.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from workflows.case import Actor, AuditEvent, Breach, CaseStatus, GrantTerms, Notice, ResourceSnapshot, Task

#: How the first generation names statuses and results in its audit events (the current engine
#: takes them from the case type: ``RESULTS`` and ``workflows/engine/words.py``).
STATUS_ZH = {
    "in_progress": "办理中",
    "granted": "同意授权",
    "refused": "不同意授权",
    "rejected": "不予受理",
    "withdrawn": "已撤回",
    "closed": "已办结",
}
STATUS_EN = {
    "in_progress": "in progress",
    "granted": "granted",
    "refused": "refused",
    "rejected": "rejected",
    "withdrawn": "withdrawn",
    "closed": "closed",
}


@dataclass
class CaseState:
    """Everything a case knows: what the detail page, the projection and the auditor read."""

    case_id: str
    case_type: str
    workflow_id: str
    profile_id: str
    profile_version: str
    profile_digest: str
    profile_name_zh: str
    parties: dict[str, str]  # role -> department code
    submitted_at: datetime
    submitted_by: Actor
    status: CaseStatus = "in_progress"
    result: str = ""
    result_reason: str = ""
    result_article: str = ""
    resource: ResourceSnapshot | None = None
    purpose: str = ""
    reason: str = ""
    requested_fields: list[str] = field(default_factory=list)
    requested_mode: str = ""
    grant: GrantTerms | None = None
    closed_at: datetime | None = None
    tasks: list[Task] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    revision: int = 0

    @property
    def open_task(self) -> Task | None:
        return next((t for t in self.tasks if t.status == "open"), None)


@dataclass
class CaseRecord:
    """One projection write: the case as it now stands, the audit events and the notices since the
    last write."""

    state: CaseState
    events: list[AuditEvent] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
