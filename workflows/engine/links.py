"""Pure parts of linked cases and the escalation ladder (DESIGN.md, Links and The ladder).

A case another case starts gets a business-key id (``<prefix>-<that case>-<key>``) and is started with
reject-duplicate, so a retry, a replay or a second breach never starts a second one; both timelines
show the link. The engine calls Temporal; this module only decides what to start and how to say it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.case import Actor, CaseHeader, CaseLink, Party
from workflows.contracts import CaseStart, LinkedCaseType
from workflows.engine.words import SYSTEM_USER

#: How each relation reads on a timeline (zh, en).
RELATION_WORDS = {
    "started": ("启动关联案件", "Started linked case"),
    "started_by": ("由案件启动", "Started by case"),
    "linked": ("关联案件", "Linked to case"),
    "linked_from": ("被案件关联", "Linked from case"),
}


@dataclass
class ChildCase:
    """A case to start: its ids, its pinned start, and the link this case records."""

    case_id: str
    workflow_id: str
    workflow_type: str
    start: CaseStart
    link: CaseLink


@dataclass
class StartedCase:
    """What a decision hands the case of another kind it starts (``Action.starts_case`` without an
    issuer: a settlement's sharing application): the fields of that type's input beside its
    ``case``, its parties beyond those the type derives, and who it is submitted for."""

    fields: dict[str, Any] = field(default_factory=dict)
    parties: list[Party] = field(default_factory=list)
    submitted_by: Actor | None = None


def child_case(
    parent: CaseStart,
    header: CaseHeader,
    linked: LinkedCaseType,
    case_type: str,
    *,
    key: str,
    reason_zh: str,
    reason_en: str,
    parties: list[Party],
    now: datetime,
    wait: bool,
    submitted_by: Actor | None = None,
) -> ChildCase:
    """What starting ``case_type`` from this case means: the child pins this case's profile and the
    rules of its own type (pinned at this case's start), and both record the link."""
    case_id = f"{linked.prefix}-{header.case_id}-{key}"
    workflow_id = f"{linked.id_name}:{case_id}"
    back = CaseLink(
        case_id=header.case_id,
        workflow_id=header.workflow_id,
        case_type=header.case_type,
        relation="started_by",
        at=now,
        reason_zh=reason_zh,
        reason_en=reason_en,
        wait=wait,
    )
    start = CaseStart(
        case_id=case_id,
        profile_id=parent.profile_id,
        profile_version=parent.profile_version,
        profile_digest=parent.profile_digest,
        profile_name_zh=parent.profile_name_zh,
        deadline_cutoff=parent.deadline_cutoff,
        rules=linked.rules,
        submitted_at=now,
        submitted_by=submitted_by or Actor(parent.platform_department, "platform", SYSTEM_USER),
        platform_department=parent.platform_department,
        annex_titles_zh=dict(parent.annex_titles_zh),
        department_names=dict(parent.department_names),
        person_names=dict(parent.person_names),
        parties=parties,
        links=[back],
        # What it may start in its turn, and who plays each role, as this case pinned them.
        linked_types=dict(parent.linked_types),
        directory=dict(parent.directory),
        escalation_type=parent.escalation_type,
        search_attributes=parent.search_attributes,
    )
    link = CaseLink(
        case_id=case_id,
        workflow_id=workflow_id,
        case_type=case_type,
        relation="started",
        at=now,
        reason_zh=reason_zh,
        reason_en=reason_en,
        wait=wait,
    )
    return ChildCase(case_id, workflow_id, linked.workflow_type, start, link)


def link_words(link: CaseLink) -> tuple[str, str]:
    zh, en = RELATION_WORDS[link.relation]
    return f"{zh} {link.case_id}:{link.reason_zh}", f"{en} {link.case_id}: {link.reason_en}"
