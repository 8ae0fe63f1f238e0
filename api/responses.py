"""Response models of the HTTP API: what a case, a task, a list, a notification, a resource, the
health check and a pending write look like on the wire.

Every instant is a :data:`ShanghaiTime` (ISO 8601, +08:00). How a case becomes a :class:`CaseOut` is
``api.views``; the models here only hold and describe the fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from calendars import SHANGHAI as SHANGHAI_TZ
from govshare.core.models import Notification, Resource

SHARE_TYPE_ZH = {"unconditional": "无条件共享", "conditional": "有条件共享", "not_shared": "不予共享"}
KIND_ZH = {"basic": "基础信息资源", "thematic": "主题信息资源", "departmental": "部门信息资源"}
UPDATE_PERIOD_ZH = {
    "realtime": "实时",
    "daily": "每日",
    "weekly": "每周",
    "monthly": "每月",
    "quarterly": "每季度",
    "yearly": "每年",
    "none": "不定期",
}
SHARING_MODE_ZH = {
    "system_docking": "系统对接",
    "front_end_processor": "前置机交换",
    "online_query": "在线查询",
    "batch_download": "批量下载",
    "data_comparison": "数据比对",
}


def in_shanghai(value: datetime) -> str:
    """An instant as ISO 8601 in Asia/Shanghai. Never raises (issue 13, defect 4: one stored
    ``0001-01-01T00:00:00+08:00`` made every read of its case a 500): an instant the conversion
    cannot express — within hours of year 1 or 9999 — is written as stored, with its own offset."""
    if value.tzinfo is None:  # the projection stores UTC; SQLite hands it back naive
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(SHANGHAI_TZ).isoformat()
    except (OverflowError, ValueError):
        return value.isoformat()


#: Every instant in a response reads in Asia/Shanghai (+08:00), the time the regulations count in.
ShanghaiTime = Annotated[
    datetime,
    PlainSerializer(in_shanghai, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def as_aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; the projection writes them in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class DepartmentRef(BaseModel):
    code: str
    name_zh: str = ""
    name_en: str = ""


class PartyOut(DepartmentRef):
    """A department in a role, or one person (a citizen: ``code`` ""; a principal head: its
    department's code). A person is shown by reference and name, never by ID number."""

    role: str
    person: str = Field(
        default="", description="The person's identity reference (P-…), '' for a department / 当事人标识"
    )
    person_name: str = Field(default="", description="The person's name (李明, 某某公司) / 当事人名称")


class ActorOut(BaseModel):
    department: str
    role: str
    user: str = Field(default="", description="The credential's label, or a person's identity reference")
    person: str = Field(default="", description="Set when a person acted: its identity reference (P-…)")
    person_name: str = Field(default="", description="The name of the person who acted / 办理人")


class ActionOut(BaseModel):
    id: str = Field(description="What to send as `action`")
    name_zh: str = ""
    name_en: str = ""
    reason_required: bool = False
    grant: bool = False


class GrantOut(BaseModel):
    scope: str = ""
    fields: list[str] = []
    sharing_mode: str = ""
    conditions: str = ""
    valid_until: ShanghaiTime | None = None
    comparison_results_only: bool = Field(
        default=False, description="Luzhou 25: 数据比对 — data does not land, only comparison results"
    )


class DecisionOut(BaseModel):
    action: str
    name_zh: str = ""
    name_en: str = ""
    actor: ActorOut
    decided_at: ShanghaiTime
    reason: str = ""
    note: str = ""
    grant: GrantOut | None = None
    kind: str = "person"
    article: str = ""


class BreachOut(BaseModel):
    step: str
    due_at: ShanghaiTime
    detected_at: ShanghaiTime
    article: str
    responsible: ActorOut
    next_rung: str = ""
    next_rung_article: str = ""


class ClockEntryOut(BaseModel):
    """One line of a task's clock: what set or changed the deadline, under which article, by whom."""

    kind: str = Field(description="base | limit_set | counts_from | extension | suspension | resume | replan")
    at: ShanghaiTime
    article: str
    citation_zh: str = ""
    basis: str = Field(default="statute", description="statute | local_policy | decision")
    working_days: int | None = None
    starts_at: ShanghaiTime | None = None
    due_at: ShanghaiTime | None = None
    approved_by: ActorOut | None = None
    approver_name: str = ""
    reason: str = ""


class LinkOut(BaseModel):
    """A link to another case, as this case's timeline shows it."""

    case_id: str
    case_type: str
    relation: str = Field(description="started | started_by | linked | linked_from")
    at: ShanghaiTime
    reason_zh: str = ""
    reason_en: str = ""
    wait: bool = False
    status: str = ""
    result: str = ""


class CasePartyOut(DepartmentRef):
    role: str
    person: str = Field(default="", description="The person's identity reference (P-…), '' for a department")
    person_name: str = Field(default="", description="The person's name / 当事人名称 (never the ID number)")


class TaskOut(BaseModel):
    """One step of the timeline (a task), with its deadline and why it falls where it does."""

    task_id: str
    seq: int
    step: str
    name_zh: str
    name_en: str
    assignee: PartyOut
    status: str = Field(description="open | done | cancelled")
    actions: list[ActionOut] = []
    opened_at: ShanghaiTime
    due_at: ShanghaiTime | None = Field(
        default=None, description="End of the period (Asia/Shanghai); none if untimed"
    )
    due_date: str | None = Field(
        default=None, description="Last working day, YYYY-MM-DD (the period ends at its 24:00)"
    )
    working_days: int | None = None
    article: str = ""
    citation_zh: str = Field(default="", description="The article as cited to people, e.g. 《…办法》第20条")
    limit_basis: str = Field(
        default="",
        description="statute | local_policy (not statute) | decision (set by the issuer on its decision, "
        "never statute) | none (untimed)",
    )
    limit_basis_zh: str = Field(
        default="", description="The basis as people read it: 法定时限 / 由下达方设定 / 本地政策规定(非法定)…"
    )
    limit_basis_en: str = Field(default="", description="The same in English, e.g. set by the issuer")
    provisional: bool = Field(default=False, description="Computed without that year's holiday notice")
    explanation_zh: list[str] = []
    explanation_en: list[str] = []
    overdue: bool = False
    remind_at: ShanghaiTime | None = Field(
        default=None, description="When the reminder goes out (start of the last working day)"
    )
    reminded_at: ShanghaiTime | None = None
    breach: BreachOut | None = None
    decision: DecisionOut | None = None
    closed_at: ShanghaiTime | None = None
    working_days_taken: int | None = Field(
        default=None,
        description="Working days from opening to close, counted like deadlines (statistics: 'handled in "
        "7 working days', Hubei 26); none while open",
    )
    step_article: str = Field(
        default="", description="The step's own article (``article`` is the deadline's)"
    )
    group: str = Field(default="", description="The step run: tasks sent to several parties share it")
    suspended: bool = Field(default=False, description="The clock is stopped (no due date while stopped)")
    clock: list[ClockEntryOut] = Field(
        default_factory=list, description="How the deadline came to be: base limit, then each adjustment"
    )
    claimed_by: str = Field(
        default="",
        description="Who claimed the task (签收): a person's identity reference (P-…) or a credential's "
        "label; only they decide it or change its clock. '' while unclaimed",
    )
    claimed_by_name: str = Field(default="", description="The claimer's name / 签收人")
    claimed_at: ShanghaiTime | None = Field(default=None, description="When it was claimed / 签收时间")


class AuditEventOut(BaseModel):
    seq: int
    at: ShanghaiTime
    kind: str = Field(
        description="case_submitted | task_opened | reminder_sent | deadline_breached | decision | "
        "automatic_decision | deadline_recomputed | withdrawn | case_closed"
    )
    actor_department: str = ""
    actor_role: str = Field(default="", description="the acting role, or 'system' for the case's own steps")
    actor_user: str = ""
    summary_zh: str = ""
    summary_en: str = ""
    data: dict[str, Any] = {}


class AuditEventList(BaseModel):
    case_id: str
    items: list[AuditEventOut]


class ResourceSnapshotOut(BaseModel):
    id: str
    version: int
    name_zh: str
    name_en: str
    provider_department: str
    share_type: str
    share_type_zh: str = ""
    controlled_parameters: bool = False
    sharing_modes: list[str] = []
    fields: list[str] = []
    legal_basis: str = ""


class ProfileRef(BaseModel):
    id: str
    version: str
    name_zh: str = ""
    digest: str = ""


class CaseOut(BaseModel):
    """A case (案件) as a department, the platform or an auditor sees it."""

    id: str
    workflow_id: str
    case_type: str
    status: str = Field(description="in_progress | granted | refused | rejected | withdrawn")
    status_zh: str = ""
    result: str = ""
    result_reason: str = ""
    result_article: str = ""
    profile: ProfileRef
    resource: ResourceSnapshotOut | None = None
    parties: dict[str, DepartmentRef] = Field(description="role → department (consumer, provider, platform)")
    purpose: str = ""
    reason: str = ""
    requested_fields: list[str] = []
    requested_mode: str = ""
    submitted_at: ShanghaiTime
    submitted_by: ActorOut
    grant: GrantOut | None = None
    closed_at: ShanghaiTime | None = None
    overdue: bool = False
    open_task: TaskOut | None = Field(default=None, description="The task waiting now, with its due date")
    open_tasks: list[TaskOut] = Field(
        default_factory=list,
        description="Every task waiting now (a step sent to several parties opens several)",
    )
    timeline: list[TaskOut] = Field(default_factory=list, description="Every step so far, oldest first")
    breaches: list[BreachOut] = []
    revision: int = 0
    subject_zh: str = ""
    subject_en: str = ""
    party_list: list[CasePartyOut] = Field(
        default_factory=list, description="Every party: a role may have several"
    )
    links: list[LinkOut] = Field(
        default_factory=list, description="Cases this one started, or was started by"
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="What is particular to the case type"
    )
    engine: int = Field(
        default=2, description="1: a case of the first-generation engine (kept for its history)"
    )
    record_error: str = Field(default="", description="Set when a step could not be recorded as it was")


class CaseSummary(BaseModel):
    """A case in a list. Beside these fields it carries its case type's own summary fields, as the
    type names them (an application: ``resource_id``, ``consumer_department``,
    ``provider_department``)."""

    model_config = ConfigDict(extra="allow")

    id: str
    case_type: str
    status: str
    status_zh: str = ""
    result: str = ""
    profile_id: str
    subject_zh: str = ""
    submitted_at: ShanghaiTime
    closed_at: ShanghaiTime | None = None
    overdue: bool = False
    next_due_at: ShanghaiTime | None = None
    open_step: str | None = None
    open_step_zh: str | None = None
    open_assignee: PartyOut | None = None


class Page(BaseModel):
    total: int = Field(description="Matching items in all pages")
    limit: int
    offset: int


class CaseList(Page):
    items: list[CaseSummary]


class InboxTask(BaseModel):
    """An open task in the caller's inbox (待办), with its case type's summary fields beside these."""

    model_config = ConfigDict(extra="allow")

    case_id: str
    case_type: str = ""
    task_id: str
    step: str
    name_zh: str
    name_en: str
    subject_zh: str = ""
    profile_id: str = ""
    opened_at: ShanghaiTime
    due_at: ShanghaiTime | None = None
    due_date: str | None = None
    working_days: int | None = None
    article: str = ""
    citation_zh: str = ""
    limit_basis: str = ""
    limit_basis_zh: str = ""
    limit_basis_en: str = ""
    provisional: bool = False
    overdue: bool = False
    explanation_zh: list[str] = []
    explanation_en: list[str] = []
    actions: list[ActionOut] = []
    claimed_by: str = Field(default="", description="Who claimed the task (签收), '' while unclaimed")
    claimed_by_name: str = Field(default="", description="The claimer's name / 签收人")


class TaskList(Page):
    items: list[InboxTask]


class NotificationOut(BaseModel):
    id: int
    case_id: str
    kind: str
    recipient_department: str
    recipient_role: str
    recipient_person: str = Field(
        default="", description="The recipient's identity reference, '' for a department"
    )
    text: str = Field(description="In the request's language (zh-CN unless Accept-Language: en)")
    text_zh: str
    text_en: str
    created_at: ShanghaiTime
    read_at: ShanghaiTime | None = None

    @classmethod
    def from_row(cls, row: Notification, *, english: bool) -> NotificationOut:
        return cls(
            id=row.id or 0,
            case_id=row.case_id,
            kind=row.kind,
            recipient_department=row.recipient_department,
            recipient_role=row.recipient_role,
            recipient_person=row.recipient_person or "",
            text=row.text_en if english else row.text_zh,
            text_zh=row.text_zh,
            text_en=row.text_en,
            created_at=as_aware(row.created_at),  # type: ignore[arg-type]
            read_at=as_aware(row.read_at),
        )


class NotificationList(Page):
    items: list[NotificationOut]


class ResourceOut(BaseModel):
    """A catalog entry (政务信息资源目录条目) as currently published (its newest version)."""

    id: str
    version: int = Field(description="The current version (an application pins it) / 当前版本")
    name_zh: str
    name_en: str
    provider: DepartmentRef
    share_type: str = Field(description="unconditional | conditional | not_shared (Hubei 7)")
    share_type_zh: str
    controlled_parameters: bool = Field(description="需要管控参数 (Hubei 11, 12)")
    fields: list[str]
    sharing_modes: list[str]
    sharing_modes_zh: list[str]
    legal_basis: str = Field(description="Required for not_shared (Hubei 8(1)); Luoyang: conditional too")
    description: str = ""
    classification: str = Field(default="", description="资源分类")
    kind: str = Field(default="departmental", description="basic | thematic | departmental (Luzhou 18)")
    kind_zh: str = ""
    format: str = Field(default="", description="资源格式")
    update_period: str = Field(
        default="none", description="realtime | daily | weekly | monthly | quarterly | yearly | none"
    )
    update_period_zh: str = ""
    usage_requirements: str = Field(default="", description="使用要求")
    open_type: str = Field(default="", description="open | conditional_open | not_open | '' (Luoyang 30)")
    basic_items: list[str] = Field(
        default=[], description="基础信息项: shared unconditionally (Hubei 8(2), Luoyang 25(2), Luzhou 22)"
    )
    status: str = Field(default="published", description="published | withdrawn")
    published_at: ShanghaiTime | None = Field(default=None, description="When this version was published")
    updated_at: ShanghaiTime | None = None
    last_refreshed_at: ShanghaiTime | None = Field(
        default=None, description="The provider's last recorded data refresh (Hubei 17, Luzhou 23)"
    )
    next_refresh_due: ShanghaiTime | None = Field(
        default=None, description="When the next refresh is due under the update period (None: no period)"
    )
    refresh_overdue: bool = Field(default=False, description="next_refresh_due has passed / 数据更新超期")

    @classmethod
    def from_row(cls, row: Resource, provider: DepartmentRef) -> ResourceOut:
        due = as_aware(row.next_refresh_due)
        return cls(
            id=row.id,
            version=row.version,
            name_zh=row.name_zh,
            name_en=row.name_en,
            provider=provider,
            share_type=row.share_type,
            share_type_zh=SHARE_TYPE_ZH.get(row.share_type, row.share_type),
            controlled_parameters=row.controlled_parameters,
            fields=list(row.fields),
            sharing_modes=list(row.sharing_modes),
            sharing_modes_zh=[SHARING_MODE_ZH.get(m, m) for m in row.sharing_modes],
            legal_basis=row.legal_basis,
            description=row.description,
            classification=row.classification,
            kind=row.kind,
            kind_zh=KIND_ZH.get(row.kind, row.kind),
            format=row.format,
            update_period=row.update_period,
            update_period_zh=UPDATE_PERIOD_ZH.get(row.update_period, row.update_period),
            usage_requirements=row.usage_requirements,
            open_type=row.open_type,
            basic_items=list(row.basic_items),
            status=row.status,
            published_at=as_aware(row.published_at),
            updated_at=as_aware(row.updated_at),
            last_refreshed_at=as_aware(row.last_refreshed_at),
            next_refresh_due=due,
            refresh_overdue=due is not None and row.status == "published" and due < datetime.now(UTC),
        )


class ResourceList(Page):
    items: list[ResourceOut]


class MeOut(BaseModel):
    """Who the token is: its department (none for a citizen), its role, and for a person its identity.
    The ID number is shown only here, to its owner, and masked."""

    department: str = Field(
        description="部门代码,公民、法人等非部门当事人为空 / department code, '' for a citizen"
    )
    department_name_zh: str = Field(default="", description="部门名称 / the department's Chinese name")
    department_name_en: str = Field(default="", description="the department's English name")
    role: str = Field(description="角色,如 consumer、principal_head、citizen / the role the token acts in")
    label: str = Field(default="", description="令牌说明 / the credential's label")
    party_kind: str = Field(
        default="department",
        description="身份类别 / who calls: department | department_person (部门人员,如主要负责人) | "
        "person (公民) | legal_person (法人) | organisation (其他组织)",
    )
    person: str = Field(
        default="", description="当事人标识(非证件号码) / identity reference (P-…), '' for a department"
    )
    person_name: str = Field(default="", description="当事人名称 / the person's or organisation's name")
    id_type: str = Field(
        default="",
        description="证件类型 / resident_id | unified_social_credit_code | passport | other "
        "('' for a department)",
    )
    id_number_masked: str = Field(
        default="",
        description="证件号码(仅本人可见,已脱敏:保留前3位和后4位)/ the ID number, masked "
        "(first 3 and last 4 kept)",
        examples=["410***********1234"],
    )


class HealthOut(BaseModel):
    status: str = "ok"
    database: str = Field(
        default="ok", description="ok | locked (SQLite write lock held elsewhere) | unavailable"
    )
    temporal: str = Field(default="ok", description="ok | unavailable")
    worker: str = Field(
        default="ok", description="ok | missing (no worker heartbeat on the task queue) | unknown"
    )


class PendingOut(BaseModel):
    """202 Accepted: the request was handed to the case, but its outcome did not come back in time
    (结果待定). Nothing is lost and nothing will be done twice: retry the same request with the
    ``Idempotency-Key`` given here to get the outcome, or read the case at ``location``."""

    status: str = Field(default="pending", examples=["pending"])
    code: str = Field(default="outcome_pending", examples=["outcome_pending"])
    operation: str = Field(description="application | decision | withdrawal")
    case_id: str
    workflow_id: str
    location: str = Field(description="Where to read the case: GET this path / 查询地址")
    idempotency_key: str | None = Field(
        default=None, description="Send it as Idempotency-Key with the same request to get its outcome"
    )
    retry_after_s: int = Field(description="Also the Retry-After header")
    detail: str = Field(description="detail_zh, or detail_en with Accept-Language: en")
    detail_zh: str
    detail_en: str
    request_id: str = ""


# --------------------------------------------------------------------------------------------------
# The leading group's view (/oversight): escalations to decide, rectification orders, counts
# --------------------------------------------------------------------------------------------------


class OversightTask(BaseModel):
    """An open task of an escalation, a rectification order or a complaint (督办事项)."""

    case_id: str = Field(description="The case the task belongs to / 案件编号")
    case_type: str = Field(description="escalation | rectification_order | complaint")
    case_type_zh: str = Field(default="", description="逐级上报 / 整改通知 / 投诉")
    subject_zh: str = ""
    profile_id: str = ""
    task_id: str = Field(description="What to send as `task_id` to POST /cases/{id}/decisions")
    step: str
    name_zh: str
    name_en: str
    assignee: PartyOut = Field(description="The department (and the role it plays) that must decide it")
    opened_at: ShanghaiTime
    due_at: ShanghaiTime | None = Field(default=None, description="End of the period; none if untimed")
    due_date: str | None = Field(default=None, description="Last working day, YYYY-MM-DD")
    working_days: int | None = None
    article: str = Field(default="", description="The article the task (or its deadline) rests on / 依据条款")
    citation_zh: str = Field(default="", description="The article as cited to people, e.g. 《…办法》第26条")
    limit_basis: str = Field(default="", description="statute | local_policy | decision | none")
    limit_basis_zh: str = ""
    overdue: bool = Field(default=False, description="Past its due date and still open / 已超期")
    waits_on_case: str = Field(
        default="", description="A task that waits on a linked case (closed by that case, not decided)"
    )
    respondent_department: str = Field(
        default="", description="The department ordered to rectify, complained about, or that breached"
    )
    concerns: str = Field(default="", description="Case ids the case concerns (comma-separated)")
    actions: list[ActionOut] = []


class OversightTaskList(Page):
    items: list[OversightTask]


class GroundOut(BaseModel):
    """A ground an order is issued on, with its article (Hubei 31(1)–(5) …)."""

    id: str = Field(description="As the profile numbers it, e.g. 31(2)")
    article: str = ""
    name_zh: str = ""


class OrderSummary(BaseModel):
    """A rectification order (整改通知) in the leading group's lists."""

    id: str
    status: str = Field(description="in_progress | rectified | dismissed")
    status_zh: str = ""
    result: str = ""
    profile_id: str
    subject_zh: str = ""
    issuer: DepartmentRef = Field(description="Who issued (or is to issue) the order / 下达方")
    respondent: DepartmentRef = Field(description="The department ordered to rectify / 被责令整改部门")
    grounds: list[GroundOut] = Field(default_factory=list, description="整改事由及其条款")
    concerns: list[str] = Field(default_factory=list, description="Case ids the order concerns")
    started_by: str = Field(
        default="", description="The case that started the order (an escalation, a complaint); empty: by hand"
    )
    submitted_at: ShanghaiTime
    closed_at: ShanghaiTime | None = None
    overdue: bool = Field(default=False, description="An open task past its due date / 已超期")
    open_step: str | None = Field(default=None, description="rectification_issue | rectification | …")
    open_step_zh: str | None = None
    open_assignee: PartyOut | None = None
    next_due_at: ShanghaiTime | None = Field(default=None, description="Due date of the open task")


class OrderList(Page):
    items: list[OrderSummary]


class OrderCount(BaseModel):
    """The orders against one department (按部门统计)."""

    department: DepartmentRef = Field(description="The respondent department / 被责令整改部门")
    total: int = Field(description="All its orders / 整改通知总数")
    open: int = Field(description="Not yet closed (to issue, to rectify, to review) / 办理中")
    overdue: int = Field(description="Open with a task past its due date / 超期未整改")
    rectified: int = Field(description="Closed rectified / 已整改")
    dismissed: int = Field(description="Closed dismissed / 不予整改")


class OrderCounts(BaseModel):
    items: list[OrderCount] = Field(description="One row per respondent department, most orders first")
    total: int = Field(description="All orders counted")


# --------------------------------------------------------------------------------------------------
# The catalog register (api/routes/resources.py)
# --------------------------------------------------------------------------------------------------


class ResourceVersionOut(BaseModel):
    """One published version of a catalog entry; a published version never changes."""

    resource_id: str
    version: int
    change: str = Field(description="new | changed | withdrawn")
    published_at: ShanghaiTime
    published_by: str = Field(description="The department that published it")
    case_id: str = Field(default="", description="The catalog-update case that published it ('' import)")
    data: dict[str, Any] = Field(description="Every field of the entry as this version published it")


class ResourceVersionList(BaseModel):
    resource_id: str
    items: list[ResourceVersionOut] = Field(description="Newest first")
    total: int


class ImportProblemOut(BaseModel):
    """Why one row of an import was rejected: the rule it breaks and the article behind it."""

    row: int = Field(description="1 = the first entry (in CSV the line after the header)")
    id: str = ""
    field: str
    rule: str = Field(examples=["legal_basis_required"])
    article: str = Field(default="", description="As the profile cites it, e.g. 8(1); '' for a check of form")
    citation_zh: str = Field(default="", examples=["《湖北省政务信息资源共享管理办法》第8条第(1)项"])
    message_zh: str
    message_en: str


class ImportRowOut(BaseModel):
    row: int
    id: str
    change: str = Field(description="new | changed | unchanged")
    version: int | None = Field(default=None, description="The version published (or that would be)")


class ImportReport(BaseModel):
    """What an import did (or, dry run or rejected, would do): every row accepted or rejected."""

    profile: str = Field(description="The profile whose rules were checked")
    dry_run: bool
    written: bool = Field(description="True: the accepted rows are published; False: nothing was written")
    rows: int
    accepted: list[ImportRowOut]
    rejected_rows: int
    rejected: list[ImportProblemOut] = Field(description="One item per rule broken, by row")


class ResourceRefreshOut(BaseModel):
    """A provider's record of a data refresh (Hubei 17, Luzhou 23)."""

    id: int
    resource_id: str
    refreshed_at: ShanghaiTime
    department: str
    note: str = ""
    next_refresh_due: ShanghaiTime | None = Field(default=None, description="Under the update period")


# --------------------------------------------------------------------------------------------------
# The responsibility list (责任清单, Luoyang 13–14) and the demand list (需求清单, Luoyang 12)
# --------------------------------------------------------------------------------------------------


class ResponsibilityItemOut(BaseModel):
    """An entry a department must provide and keep fresh, and whether it counts as fulfilled."""

    resource_id: str
    name_zh: str = ""
    name_en: str = ""
    status: str = Field(default="", description="The entry's catalog status: published | withdrawn")
    update_period: str = ""
    next_refresh_due: ShanghaiTime | None = None
    added_at: ShanghaiTime
    case_id: str = Field(default="", description="The catalog-update case that put it on the list")
    fulfilled: bool = Field(description="Published and not overdue for refresh / 已发布且未超期更新")


class FulfilmentOut(BaseModel):
    """A department's responsibility-list figure (Luoyang 13): fulfilled / count."""

    department: str
    count: int = Field(description="Entries on the list / 责任清单条目数")
    fulfilled: int = Field(description="Published and not overdue for refresh / 已履行条目数")
    ratio: float | None = Field(description="fulfilled / count (null for an empty list) / 履行率")


class ResponsibilityListOut(BaseModel):
    department: str
    items: list[ResponsibilityItemOut] = Field(description="By resource id")
    fulfilment: FulfilmentOut


class ResponsibilityOverview(BaseModel):
    items: list[FulfilmentOut] = Field(description="Every department with a list, by code")


class DemandOut(BaseModel):
    """A department's stated need for data (需求清单, Luoyang 12)."""

    id: int
    department: str = Field(description="The department that needs the data / 需求部门")
    title: str
    description: str = ""
    fields_wanted: list[str] = []
    provider_department: str | None = None
    status: str = Field(description="open (unmet) | answered | withdrawn")
    answered_by_resource: str | None = Field(default=None, description="The catalog entry that answers it")
    reviewed_by: str = ""
    created_at: ShanghaiTime
    answered_at: ShanghaiTime | None = Field(default=None, description="When answered or withdrawn")


class DemandList(BaseModel):
    items: list[DemandOut]
    total: int
    limit: int
    offset: int


class DemandCountOut(BaseModel):
    department: str
    open: int = Field(description="Unmet demands / 未满足需求")
    answered: int
    withdrawn: int


class DemandSummary(BaseModel):
    items: list[DemandCountOut] = Field(description="Per demanding department, by code")
    open: int = Field(description="Open (unmet) demands in all / 未满足需求合计")
    answered: int
