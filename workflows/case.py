"""What every case shares: parties, tasks, deadlines, breaches, decisions, the audit event.

These dataclasses are the contract between the workflows, the activities that project them into the
database, and the API that renders them. They travel through Temporal with the pydantic data
converter, so new fields must always come with defaults (old histories must still deserialize).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import TypeAdapter

from calendars import Deadline

Role = Literal[
    "consumer",
    "provider",
    "platform",
    "leading_group",
    "coordinator",
    "principal_head",
    "auditor",
    "citizen",
    "government_office",
    "issuer",
    "respondent",
    "complainant",
    "investigator",
]

TaskStatus = Literal["open", "done", "cancelled"]

#: A case is ``in_progress`` until it closes with its result (granted / refused / rejected …) or is
#: withdrawn by the applicant.
CaseStatus = str


@dataclass
class Party:
    """A party to a case, and who a task is assigned to: a department in a role (e.g. the provider
    department 提供部门), or one person of it (a citizen, a named official) when ``person`` is set. A
    case may have several parties in one role. (Histories wrote it as ``CaseParty`` too: the same
    fields, so both read as this.)"""

    department: str
    role: Role
    person: str = ""


@dataclass
class Actor:
    """Who did something: the party plus the authenticated user or credential label."""

    department: str
    role: Role
    user: str = ""


@dataclass
class GrantTerms:
    """What a grant of use records (Hubei 13, 24: use only in the granted mode and scope)."""

    scope: str = ""
    fields: list[str] = field(default_factory=list)
    sharing_mode: str = ""
    conditions: str = ""
    valid_until: datetime | None = None
    #: Luzhou 25: in comparison mode (数据比对) data does not land; only comparison results are given.
    comparison_results_only: bool = False


#: Reads and writes a grant's terms. Here, in a module passed through the workflow sandbox, it is built
#: once per process; in the workflow's own module (imported anew for every run) it was built every run.
GRANT_TERMS_JSON: TypeAdapter[GrantTerms] = TypeAdapter(GrantTerms)


@dataclass
class Decision:
    """A decision taken on a task."""

    action: str
    actor: Actor
    decided_at: datetime
    reason: str = ""
    note: str = ""
    grant: GrantTerms | None = None
    #: "person" for a human decision, "rule" for an automatic one taken under ``article``.
    kind: Literal["person", "rule"] = "person"
    article: str = ""
    #: The limit this decision set for the task it opened (an issuer's rectification period), in WD.
    limit_working_days: int | None = None
    #: What the decision carried beyond its action, as its case type checked it (JSON).
    payload: dict[str, Any] | None = None


@dataclass
class Breach:
    """A deadline passed with the task still open. An event, not an error (DESIGN.md, Escalation)."""

    step: str
    due_at: datetime
    detected_at: datetime
    article: str
    responsible: Party
    #: The next rung of the profile's escalation ladder, for the escalation workflow to take up.
    next_rung: str = ""
    next_rung_article: str = ""
    #: The escalation case this breach started (it climbs the ladder; ``ES-…``), if any.
    escalation_case_id: str = ""


@dataclass
class ActionInfo:
    """What a decision on a task means, from the rules the case pinned (for display and checks)."""

    id: str
    name_zh: str
    name_en: str
    reason_required: bool = False
    grant: bool = False


ClockKind = Literal[
    "base", "limit_set", "limit_kept", "counts_from", "extension", "suspension", "resume", "replan"
]


@dataclass
class ClockEntry:
    """One line of a task's clock: what set or changed the deadline, when, under which article, by whom.

    ``base``: the step's limit from the profile, counted from the task's opening; ``limit_set``: a limit
    set by the decision that opened the task (an issuer's rectification period); ``counts_from``: the
    count starts at a date the case gives (Luoyang 14: from the law change); ``extension``: approved
    extra working days after the last one; ``suspension``: the clock stops, ``working_days`` holds
    what was left; ``resume``: counting goes on from the resume date with what was left; ``replan``:
    recomputed with a holiday notice that arrived (REGULATIONS §3).
    """

    kind: ClockKind
    at: datetime
    article: str
    working_days: int | None = None
    starts_at: datetime | None = None
    due_at: datetime | None = None
    approved_by: Actor | None = None
    approver_name: str = ""
    reason: str = ""
    #: "statute" | "local_policy" (labelled, never shown as statute) | "decision" (set by the issuer)
    basis: str = "statute"


@dataclass
class Task:
    """A waiting step: who must act, what they may do, when it is due and why."""

    task_id: str
    seq: int
    step: str
    name_zh: str
    name_en: str
    assignee: Party
    actions: list[str]
    opened_at: datetime
    article: str
    #: "statute", "local_policy" (labelled, never shown as statute) or "none" (untimed step).
    limit_basis: str
    deadline: Deadline | None = None
    status: TaskStatus = "open"
    overdue: bool = False
    reminded_at: datetime | None = None
    breach: Breach | None = None
    decision: Decision | None = None
    closed_at: datetime | None = None
    #: The actions' names and requirements under the pinned rules (same order as ``actions``).
    action_info: list[ActionInfo] = field(default_factory=list)
    # -- second-generation engine (workflows/engine/); first-generation tasks leave the defaults --
    #: The step run this task belongs to (``step#n``): a step sent to several parties opens one task
    #: each, in one group, and joins them (all / any / quorum).
    group: str = ""
    #: How the deadline came to be: the base limit, then every dated adjustment, each with its article.
    clock: list[ClockEntry] = field(default_factory=list)
    #: Set while the clock is stopped (suspension); the working days left are on the last clock entry.
    suspended_at: datetime | None = None
    extensions_used: int = 0
    #: A task of a step that waits on a linked case: that case's id (the task is done when it closes).
    waits_on_case: str = ""
    #: An approval task (the principal head's, beside the running one): the task whose extension
    #: it approves or refuses, and what was asked.
    approves: str = ""
    requested_working_days: int | None = None
    request_reason: str = ""
    #: Extension requests made on this task (approved, refused or pending): at most the rule's count.
    extension_requests: int = 0
    #: Claimed (签收) by one person of the assignee: the claimer's ``Actor.user`` (an identity
    #: reference ``P-…``, or a credential's label), the name the API gave, and when. While it is set,
    #: only the claimer decides the task or changes its clock (``workflows/engine/claims.py``).
    claimed_by: str = ""
    claimed_by_name: str = ""
    claimed_at: datetime | None = None


@dataclass
class AuditEvent:
    """One line of the append-only audit trail: ``seq`` is per case, so a retried write is a no-op."""

    case_id: str
    seq: int
    at: datetime
    kind: str
    actor: Actor | None = None
    summary_zh: str = ""
    summary_en: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Notice:
    """A message to a party. The text is rendered (zh-CN first, English too) by the notify activity."""

    case_id: str
    key: str  # idempotency key: one notice per (case, event, recipient)
    recipient: Party
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DecisionRequest:
    """A decision on an open task, sent as a workflow Update by the API."""

    actor: Actor
    action: str
    #: The step the decider saw open; a decision for another step is refused (409), so two people
    #: acting on a stale page cannot decide the wrong step.
    step: str = ""
    reason: str = ""
    note: str = ""
    #: Kept for the Updates already in histories; new requests send ``payload``.
    grant: GrantTerms | None = None
    #: The task decided (second-generation engine): names one task when a step has several open.
    task_id: str = ""
    #: For a decision that sets the next task's limit (an issuer's rectification period), in WD.
    limit_working_days: int | None = None
    #: What the decision carries beyond its action (a grant's terms …), as JSON; the case type
    #: checks it (``CaseEngine.decision_payload``) and refuses what it cannot take.
    payload: dict[str, Any] | None = None
    #: The API's signature on the actor and the request (``workflows/engine/signing.py``); the
    #: engine refuses a request without a good one. Empty in the requests histories already hold.
    signature: str = ""


@dataclass
class ClockRequest:
    """A dated change to one task's clock: an approved extension, a suspension, a resume."""

    actor: Actor
    task_id: str
    kind: Literal["extension", "suspension", "resume"]
    working_days: int | None = None
    reason: str = ""
    #: Who approved it, as people name them (Luoyang 19: the provider's principal head, 主要负责人).
    approver_name: str = ""
    #: Set by the engine alone: the head's approval task this extension comes from (``actor`` is
    #: then the head). A request from outside that sets it is refused.
    approval_task: str = ""
    #: The API's signature on the actor and the request (``workflows/engine/signing.py``); the
    #: engine refuses a request without a good one. Empty in the requests histories already hold.
    signature: str = ""


@dataclass
class WithdrawRequest:
    actor: Actor
    reason: str = ""
    #: The API's signature on the actor and the request (``workflows/engine/signing.py``); the
    #: engine refuses a request without a good one. Empty in the requests histories already hold.
    signature: str = ""


@dataclass
class NoteRequest:
    """A note a party adds to a running case, of a kind its profile lists (Hubei 23: served on
    valid proof while the data is checked; a dispute's messages and proposals)."""

    actor: Actor
    kind: str
    text: str = ""
    #: What a proposal proposes (its terms), as JSON.
    payload: dict[str, Any] | None = None
    #: The API's signature on the actor and the request (``workflows/engine/signing.py``); the
    #: engine refuses a request without a good one. Empty in the requests histories already hold.
    signature: str = ""


@dataclass
class ClaimRequest:
    """Claiming an open task (签收) for one person of its assignee, or releasing the claim
    (``release``: 退回签收), sent as a workflow Update by the API."""

    actor: Actor
    task_id: str
    #: The claimer's display name (the API gives it: the person's name, or the credential's label).
    name: str = ""
    release: bool = False
    #: The API's signature on the actor and the request (``workflows/engine/signing.py``); the
    #: engine refuses a request without a good one. Empty in the requests histories already hold.
    signature: str = ""


#: ApplicationError type of a projection write the database can never take (not retried).
RECORD_REJECTED = "RecordRejected"


@dataclass
class RecordFailure:
    """A step whose projection write was refused for good: the case row is marked with it."""

    case_id: str
    workflow_id: str
    revision: int
    error: str


#: ApplicationError types raised by update validators; the API maps them to HTTP status codes.
ERROR_FORBIDDEN = "Forbidden"  # 403: not this department's task / case
ERROR_CONFLICT = "Conflict"  # 409: the case is not at that step, or already closed
ERROR_INVALID = "Invalid"  # 422: the decision itself is malformed (missing reason, unknown action)


@dataclass
class ResourceSnapshot:
    """The catalog entry as it stood when the case started (resources are referenced by id + version)."""

    id: str
    version: int
    name_zh: str
    name_en: str
    provider_department: str
    share_type: str  # unconditional | conditional | not_shared
    controlled_parameters: bool = False
    sharing_modes: list[str] = field(default_factory=list)
    legal_basis: str = ""
    fields: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Second-generation engine (workflows/engine/): the case file, links, deltas, brief answers
# --------------------------------------------------------------------------------------------------


LinkRelation = Literal["started", "started_by", "linked", "linked_from"]


@dataclass
class CaseLink:
    """A link between two cases, shown on both timelines (a breach's rectification order …)."""

    case_id: str
    workflow_id: str
    case_type: str
    relation: LinkRelation
    at: datetime
    reason_zh: str = ""
    reason_en: str = ""
    #: The linking case waits for the linked one to close (its step goes on with the result).
    wait: bool = False
    status: str = ""
    result: str = ""
    #: The linked case reports how it ended (a case started under the ladder's engine does; one
    #: that already existed, or was started before, may not).
    reports: bool = False


@dataclass
class LinkedCaseClosed:
    """The inbound message a case sends the case that started it when it closes (as a shipment
    signals its order in orders-go): the ``linked_case_closed`` signal every case handles."""

    case_id: str
    workflow_id: str
    case_type: str
    status: str
    result: str = ""
    result_reason: str = ""
    closed_at: datetime | None = None
    #: The status as people read it, in the reporting case's own words (its case type's labels).
    status_zh: str = ""


@dataclass
class CaseHeader:
    """What a case is, apart from its tasks: the ``case`` row of the projection."""

    case_id: str
    case_type: str
    workflow_id: str
    workflow_type: str
    profile_id: str
    profile_version: str
    profile_digest: str
    profile_name_zh: str
    submitted_at: datetime
    submitted_by: Actor
    status: CaseStatus = "in_progress"
    result: str = ""
    result_reason: str = ""
    result_article: str = ""
    closed_at: datetime | None = None
    #: What the case is about, for lists and notices (e.g. the resource's name).
    subject_zh: str = ""
    subject_en: str = ""
    #: What is particular to the case type (an application's resource, purpose, grant …), as JSON.
    attributes: dict[str, Any] = field(default_factory=dict)
    #: The few fields lists and inboxes show for this case type (an application: its resource and
    #: departments), as the case type names them; the generic path stores and shows them as they are.
    summary: dict[str, str] = field(default_factory=dict)
    #: A date the case counts from (Luoyang 14: the date the law changed), if it gives one.
    counts_from: datetime | None = None
    breaches: list[Breach] = field(default_factory=list)
    links: list[CaseLink] = field(default_factory=list)
    engine: int = 2


@dataclass
class CaseFile:
    """Everything a second-generation case knows (the ``state`` query; auditors read it)."""

    header: CaseHeader
    parties: list[Party]
    tasks: list[Task]
    revision: int = 0

    @property
    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.status == "open"]

    # What a reader of one case asks most, read through from the header (auditors, the CLI, tests).
    @property
    def case_id(self) -> str:
        return self.header.case_id

    @property
    def status(self) -> str:
        return self.header.status

    @property
    def result(self) -> str:
        return self.header.result

    @property
    def result_reason(self) -> str:
        return self.header.result_reason

    @property
    def result_article(self) -> str:
        return self.header.result_article

    @property
    def closed_at(self) -> datetime | None:
        return self.header.closed_at

    @property
    def breaches(self) -> list[Breach]:
        return self.header.breaches

    @property
    def open_task(self) -> Task | None:
        return next(iter(self.open_tasks), None)


@dataclass
class CaseDelta:
    """One projection write of a second-generation case: only what changed since the last one.

    ``header`` and ``parties`` are sent when they changed (always on the first write and after a
    refused write, ``full``); ``tasks`` are the tasks that changed; ``links`` the new links.
    """

    case_id: str
    workflow_id: str
    revision: int
    header: CaseHeader | None = None
    parties: list[Party] | None = None
    tasks: list[Task] = field(default_factory=list)
    links: list[CaseLink] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    #: The whole case (the write before was refused): applied whatever revision the row holds.
    full: bool = False
    #: Tasks of which only some fields changed (a decision, a reminder, a breach, a clock change):
    #: those fields alone, merged into the task the projection holds. ``tasks`` carries a task whole
    #: only when it opens (or on a full write), so its deadline record is sent once, not per step.
    task_patches: list[TaskPatch] = field(default_factory=list)


@dataclass
class TaskPatch:
    """The fields of one task that changed, by their ``Task`` names (values as ``Task`` holds them)."""

    task_id: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskBrief:
    """An open task as a caller needs it after a decision: what, whose, due when, under which article."""

    task_id: str
    step: str
    name_zh: str
    name_en: str
    assignee: Party
    status: str
    due_at: datetime | None = None
    working_days: int | None = None
    article: str = ""
    suspended: bool = False


@dataclass
class CaseAnswer:
    """What an Update of a second-generation case returns: the case's status and its open tasks."""

    case_id: str
    status: str
    result: str
    revision: int
    open_tasks: list[TaskBrief] = field(default_factory=list)
    #: The task the request acted on, if any.
    task_id: str = ""
