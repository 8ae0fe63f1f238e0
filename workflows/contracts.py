"""Inputs of the case workflows (one dataclass each; new fields only with defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from regulations.schema import CaseType, Rung
from workflows.case import Actor, CaseLink, Party, ResourceSnapshot


@dataclass
class CaseStart:
    """What every case pins when it starts (DESIGN.md, Rules as data).

    The rules of its case type are copied into the input, so the history holds them: changing a
    profile file never changes a running case, and replay needs nothing but the history.
    """

    case_id: str
    profile_id: str
    profile_version: str
    profile_digest: str
    profile_name_zh: str
    deadline_cutoff: str
    rules: CaseType
    #: The platform's record time (Hubei 22: authoritative); the first deadline counts from it.
    submitted_at: datetime
    submitted_by: Actor
    platform_department: str
    #: For citations in messages: titles of documents annexed to the profile's source.
    annex_titles_zh: dict[str, str] = field(default_factory=dict)
    #: Department code → Chinese name, so refusals and notices name departments as people know them.
    department_names: dict[str, str] = field(default_factory=dict)
    #: Person reference → name, for the persons among the parties (a citizen, a principal head).
    #: Never an ID number: that stays in the identity table, shown to its owner alone.
    person_names: dict[str, str] = field(default_factory=dict)
    # -- second-generation engine ---------------------------------------------------------------
    #: Parties beyond those the case type derives (a second provider for a joint verification …).
    parties: list[Party] = field(default_factory=list)
    #: A date steps with ``counts_from = "case"`` count from (Luoyang 14: the law changed on …).
    counts_from: datetime | None = None
    #: Links the case starts with (``started_by`` the case whose breach started it …).
    links: list[CaseLink] = field(default_factory=list)
    #: The case types this case may start (its escalation ladder's), pinned like its own rules.
    linked_types: dict[str, LinkedCaseType] = field(default_factory=dict)
    # -- the ladder (issue 18) --------------------------------------------------------------------
    #: Which department plays each directory role (leading group office, coordinator, platform,
    #: government office) in this deployment, pinned at the start: who acts on a rung, who issues.
    directory: dict[str, str] = field(default_factory=dict)
    #: The ladder this case climbs after a breach: the rest of the ladder of the case whose rung
    #: started it (carried on), or None for its case type's own ``escalation``.
    ladder: list[Rung] | None = None
    #: How this case starts the escalation that climbs its ladder (pinned; None in cases started
    #: before escalations were cases: their breach names the first rung only).
    escalation_type: LinkedCaseType | None = None
    #: The server has the case search attributes registered (checked when the case starts): the
    #: case keeps them up to date (``workflows/engine/attributes.py``). False in histories before.
    search_attributes: bool = False
    #: The API's signature on who submitted the case (``workflows/engine/signing.py``): a case no
    #: workflow started must carry a good one. Empty in histories before.
    signature: str = ""


@dataclass
class LinkedCaseType:
    """A case type a case may start, pinned at its start: its rules and how its workflow is named."""

    #: None for an escalation, whose rules are made from the ladder when a breach starts it.
    rules: CaseType | None
    workflow_type: str
    id_name: str
    prefix: str


@dataclass
class CaseInput:
    """The input of a case type with nothing particular beyond the pinned start and some facts."""

    case: CaseStart
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class SharingApplicationInput:
    """A consumer department's application to use a catalog resource (数据使用申请)."""

    case: CaseStart
    consumer_department: str
    resource: ResourceSnapshot
    #: Hubei 13: the application states its purpose (用途) and reason (理由).
    purpose: str
    reason: str
    requested_fields: list[str] = field(default_factory=list)
    requested_mode: str = ""
    #: The dispute whose settlement (or coordination, or ruling) started it, with the agreed scope.
    settlement: str = ""


# -- what the workflows ask the deadline activities (activities/deadlines.py) ------------------------
@dataclass
class DeadlineRequest:
    start: datetime
    working_days: int
    cutoff: str
    profile: str
    profile_version: str
    step: str
    article: str


@dataclass
class WorkingDaysLeftRequest:
    """How many working days of a period are left when its clock stops at ``at``: the working days
    after ``at``'s date up to and including ``due_date`` (the day it stops on counts as used)."""

    at: datetime
    due_date: date


# -- what a decision's effect activity is asked, and answers (``Action.effect``) ----------------------
@dataclass
class EffectRequest:
    """A decision about to be taken asks its effect activity (check, publish …) with what the case
    pinned and what the case type hands it (``CaseEngine.effect_input``)."""

    effect: str
    case_id: str
    workflow_id: str
    case_type: str
    profile_id: str
    profile_version: str
    task_id: str
    step: str
    action: str
    department: str
    role: str
    user: str
    at: datetime
    input: dict[str, Any] = field(default_factory=dict)


@dataclass
class EffectResult:
    """A refusal (the decision is not taken; people read the reasons) or what was done (kept on the
    decision's payload)."""

    refusal_zh: str = ""
    refusal_en: str = ""
    problems: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


# -- the data-freshness sweep (``workflows/freshness.py``) --------------------------------------------
@dataclass
class FreshnessSweepRequest:
    profile_id: str
    #: How many overdue entries one run handles at most (the next run takes the rest).
    limit: int = 5000


@dataclass
class FreshnessSweepResult:
    overdue: int = 0
    notified: int = 0
