"""Request and response models of the HTTP API, and how a ``CaseState`` becomes a response.

Responses are built from the workflow's ``CaseState`` — either the one an Update returned, or the
projection's ``Case.detail`` (the same state as JSON) — by one function, :func:`case_out`, so the
detail view, the create response and the decision response always have the same shape.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from calendars import SHANGHAI as SHANGHAI_TZ
from calendars import WorkingDayCalendar
from govshare.core.models import Notification, Resource
from regulations import load_profile
from regulations.citation import cite_zh
from workflows.case import STATUS_ZH, CaseState
from workflows.case import Task as CaseTask

#: What no database column can hold: NUL (PostgreSQL refuses it in text; SQLite cuts C strings at it)
#: and lone surrogates (valid in JSON as "\ud800", not encodable in UTF-8). Refused at the door
#: (issue 13, defect 3): in a JSON body by :data:`Storable` on every request string, in the path, the
#: query and the headers we read by ``api.main.RequestContextMiddleware`` — both through this.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
INVALID_CHARACTERS = "invalid_characters"


def unstorable_message(value: str) -> str | None:
    """Why ``value`` cannot be stored (its first offending character, zh and en), or None."""
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    char, at = found.group(), found.start() + 1
    if char == "\x00":
        return (
            f"第 {at} 个字符为空字符 U+0000(NUL),无法保存 / "
            f"character {at} is U+0000 (NUL), which cannot be stored"
        )
    code = f"U+{ord(char):04X}"
    return (
        f"第 {at} 个字符为孤立的代理项 {code},不是合法的 UTF-8 文本 / "
        f"character {at} is a lone surrogate {code}, not valid UTF-8 text"
    )


def _refuse_unstorable(value: Any) -> Any:
    if isinstance(value, str) and (message := unstorable_message(value)) is not None:
        raise PydanticCustomError(INVALID_CHARACTERS, message)
    return value


#: Placed last in a string type, so it runs before the type's own checks (a lone surrogate would
#: otherwise be pydantic's vaguer ``string_unicode`` error, and a NUL would pass).
Storable = BeforeValidator(_refuse_unstorable)

NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), Storable]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Storable]
Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"),
    Storable,
]

#: A task id: ``<case id>/<n>`` (the case id may itself hold a linked case's key).
TaskId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=160, pattern=r"^[A-Za-z0-9_.:-]+/[0-9]+$"
    ),
    Storable,
]

_STATE = TypeAdapter(CaseState)

if TYPE_CHECKING:
    from api.views import CaseView

SHARE_TYPE_ZH = {"unconditional": "无条件共享", "conditional": "有条件共享", "not_shared": "不予共享"}
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


# ---------------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------------

#: The instants a request may name (issue 13, defect 4): from 2000-01-01 00:00 up to, not including,
#: 2101-01-01 00:00, Asia/Shanghai. Nothing this system records lies outside (the regulations date
#: from the 2010s; a grant of data use is for years, not centuries), and every instant inside converts
#: to and from any time zone without overflow.
EARLIEST_INSTANT = datetime(2000, 1, 1, tzinfo=SHANGHAI_TZ)
END_OF_INSTANTS = datetime(2101, 1, 1, tzinfo=SHANGHAI_TZ)
DATE_OUT_OF_RANGE = "date_out_of_range"
DATE_IN_PAST = "date_in_past"


def _in_range(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI_TZ)
    if not EARLIEST_INSTANT <= aware < END_OF_INSTANTS:
        raise PydanticCustomError(
            DATE_OUT_OF_RANGE,
            "须在 2000-01-01 至 2100-12-31 之间(北京时间) / "
            "must lie between 2000-01-01 and 2100-12-31 (Asia/Shanghai)",
        )
    return value


#: A date-time a request may send: in :data:`EARLIEST_INSTANT` … :data:`END_OF_INSTANTS`; without an
#: offset it is read in Asia/Shanghai (the platform's clock).
RequestTime = Annotated[datetime, AfterValidator(_in_range)]


def _in_future(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI_TZ)
    if aware <= datetime.now(UTC):
        raise PydanticCustomError(
            DATE_IN_PAST, "不能早于当前时间 / must be in the future (a grant cannot end before it begins)"
        )
    return value


class RequestModel(BaseModel):
    """Every request body model: its string fields are :data:`Storable` types, and a field *name*
    with unstorable text is refused the same way (pydantic would report it without saying why)."""

    @model_validator(mode="before")
    @classmethod
    def _storable_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if isinstance(key, str) and (message := unstorable_message(key)) is not None:
                    raise PydanticCustomError(INVALID_CHARACTERS, "字段名 / field name: " + message)
        return data


class ApplicationCreate(RequestModel):
    """A consumer department's application to use a catalog resource (数据使用申请, Hubei 13, 18)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resource_id": "scjgj-legal-entity-basic",
                    "purpose": "社会保险登记时核验用人单位信息",
                    "reason": "依据《社会保险法》第五十七条办理用人单位社会保险登记",
                    "fields": ["unified_social_credit_code", "entity_name", "legal_representative"],
                    "sharing_mode": "online_query",
                }
            ]
        },
    )

    resource_id: Identifier = Field(description="Catalog resource id / 目录资源编号")
    purpose: NonBlank = Field(description="Purpose of use (用途), required by Hubei 13")
    reason: NonBlank = Field(description="Reason for the application (理由), required by Hubei 13")
    fields: list[Identifier] = Field(
        default_factory=list, max_length=200, description="Subset of the resource's fields / 申请字段"
    )
    sharing_mode: Identifier | None = Field(
        default=None,
        description="One of the resource's sharing modes / 共享方式 (e.g. data_comparison 数据比对)",
    )
    profile: Identifier | None = Field(
        default=None,
        description="Regulation profile (hubei, luzhou, jiangsu, luoyang); default from settings",
    )


class GrantIn(RequestModel):
    """The terms a grant records (Hubei 13, 24: use only within the granted scope and mode)."""

    model_config = ConfigDict(extra="forbid")

    scope: ShortText = Field(default="", description="Scope of use / 使用范围 (default: the stated purpose)")
    fields: list[Identifier] = Field(default_factory=list, description="Granted fields (default: as applied)")
    sharing_mode: ShortText = Field(default="", description="Granted sharing mode (default: as applied)")
    conditions: ShortText = Field(default="", description="Conditions of use / 使用条件")
    valid_until: Annotated[RequestTime | None, AfterValidator(_in_future)] = Field(
        default=None,
        description="End of the grant: in the future, at most 2100-12-31 (no offset: Asia/Shanghai) / "
        "授权有效期至(须晚于当前时间,不晚于 2100-12-31)",
    )


class DecisionCreate(RequestModel):
    """A decision on the case's open task (办理决定)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"step": "platform_check", "action": "accept"},
                {
                    "step": "provider_authorization",
                    "action": "grant",
                    "grant": {
                        "conditions": "仅限社会保险登记业务使用,不得转交其他部门",
                        "sharing_mode": "online_query",
                    },
                },
                {"step": "provider_authorization", "action": "refuse", "reason": "申请字段超出履职需要"},
            ]
        },
    )

    step: Identifier | None = Field(
        default=None, description="The step the decider saw open (a stale page gets 409) / 环节"
    )
    task_id: TaskId | None = Field(
        default=None,
        description="The task decided (from `open_tasks`); needed when a step has several open tasks "
        "/ 待办编号",
    )
    action: Identifier = Field(description="accept / reject / grant / refuse / inform … (from the profile)")
    reason: ShortText = Field(default="", description="Reason (理由): required for a refusal or rejection")
    note: ShortText = Field(default="", description="Internal note / 备注")
    grant: GrantIn | None = Field(default=None, description="Terms of a grant (grant actions only)")
    limit_working_days: int | None = Field(
        default=None,
        ge=1,
        le=250,
        description="For a decision that sets the next task's period (an order's rectification period), "
        "in working days / 设定的办理期限(工作日)",
    )

    @model_validator(mode="after")
    def _names_its_task(self) -> DecisionCreate:
        if self.step is None and self.task_id is None:
            raise ValueError("name the task: 'task_id' or 'step' / 请指明待办(task_id)或环节(step)")
        return self


class ClockCreate(RequestModel):
    """A dated change to one task's clock (期限调整): an approved extension, a suspension, a resume."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "extension",
                    "working_days": 10,
                    "reason": "核查数据量大",
                    "approver_name": "王局长",
                },
                {"kind": "suspension", "reason": "等待申请部门补充材料"},
                {"kind": "resume", "reason": "材料已补齐"},
            ]
        },
    )

    kind: Literal["extension", "suspension", "resume"] = Field(description="延期 / 中止计时 / 恢复计时")
    working_days: int | None = Field(default=None, ge=1, le=250, description="Extra working days (extension)")
    reason: ShortText = Field(
        default="", description="Why / 理由 (required for an extension or a suspension)"
    )
    approver_name: ShortText = Field(
        default="", description="Who approved it, e.g. the principal head (Luoyang 19) / 批准人"
    )


class WithdrawalCreate(RequestModel):
    """The applicant withdraws its application (撤回申请)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "业务调整,不再需要该数据"}]}
    )

    reason: NonBlank = Field(description="Why the application is withdrawn / 撤回理由")


# ---------------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------------


class DepartmentRef(BaseModel):
    code: str
    name_zh: str = ""
    name_en: str = ""


class PartyOut(DepartmentRef):
    role: str


class ActorOut(BaseModel):
    department: str
    role: str
    user: str = ""


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
    person: str = ""


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
    limit_basis: str = Field(default="", description="statute | local_policy (not statute) | none (untimed)")
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
    id: str
    case_type: str
    status: str
    status_zh: str = ""
    result: str = ""
    profile_id: str
    resource_id: str = ""
    subject_zh: str = ""
    consumer_department: str
    provider_department: str
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
    """An open task in the caller's inbox (待办)."""

    case_id: str
    case_type: str = ""
    task_id: str
    step: str
    name_zh: str
    name_en: str
    resource_id: str = ""
    subject_zh: str = ""
    consumer_department: str = ""
    provider_department: str = ""
    profile_id: str = ""
    opened_at: ShanghaiTime
    due_at: ShanghaiTime | None = None
    due_date: str | None = None
    working_days: int | None = None
    article: str = ""
    citation_zh: str = ""
    limit_basis: str = ""
    provisional: bool = False
    overdue: bool = False
    explanation_zh: list[str] = []
    explanation_en: list[str] = []
    actions: list[ActionOut] = []


class TaskList(Page):
    items: list[InboxTask]


class NotificationOut(BaseModel):
    id: int
    case_id: str
    kind: str
    recipient_department: str
    recipient_role: str
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
            text=row.text_en if english else row.text_zh,
            text_zh=row.text_zh,
            text_en=row.text_en,
            created_at=as_aware(row.created_at),  # type: ignore[arg-type]
            read_at=as_aware(row.read_at),
        )


class NotificationList(Page):
    items: list[NotificationOut]


class ResourceOut(BaseModel):
    """A catalog entry (政务信息资源目录条目), minimal."""

    id: str
    version: int
    name_zh: str
    name_en: str
    provider: DepartmentRef
    share_type: str = Field(description="unconditional | conditional | not_shared (Hubei 7)")
    share_type_zh: str
    controlled_parameters: bool = Field(description="需要管控参数 (Hubei 11, 12)")
    fields: list[str]
    sharing_modes: list[str]
    sharing_modes_zh: list[str]
    legal_basis: str = Field(description="Required for not_shared (Hubei 8(1))")

    @classmethod
    def from_row(cls, row: Resource, provider: DepartmentRef) -> ResourceOut:
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
        )


class ResourceList(BaseModel):
    items: list[ResourceOut]
    total: int


class MeOut(BaseModel):
    department: str
    department_name_zh: str
    department_name_en: str
    role: str
    label: str


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


# ---------------------------------------------------------------------------------------------------
# CaseState → response
# ---------------------------------------------------------------------------------------------------


def state_from_detail(detail: dict[str, Any]) -> CaseState:
    return _STATE.validate_python(detail)


@lru_cache(maxsize=64)
def _step_actions(profile_id: str, profile_version: str, step: str) -> dict[str, tuple[str, str, bool, bool]]:
    """Action names of a step under the profile version the case pinned (empty if unavailable)."""
    try:
        profile = load_profile(profile_id, version=profile_version)
        _case_type, step_rules = profile.find_step(step)
    except (ValueError, KeyError):  # ProfileError is a ValueError; an older version may be gone
        return {}
    return {
        name: (action.name_zh, action.name_en, action.reason_required, action.grant)
        for name, action in step_rules.actions.items()
    }


def actions_out(profile_id: str, profile_version: str, step: str, names: list[str]) -> list[ActionOut]:
    known = _step_actions(profile_id, profile_version, step)
    out = []
    for name in names:
        zh, en, reason_required, grant = known.get(name, ("", "", False, False))
        out.append(ActionOut(id=name, name_zh=zh, name_en=en, reason_required=reason_required, grant=grant))
    return out


def citation_zh(state: CaseState, article: str) -> str:
    """《title》第N条 for the case's profile (annexed documents by their own title)."""
    try:
        annexes = load_profile(state.profile_id).annex_titles_zh
    except ValueError:  # a profile no longer on disk: cite by the pinned title alone
        annexes = {}
    return cite_zh(article, state.profile_name_zh, annexes)


def deadline_fields(state: CaseState, task: CaseTask, now: datetime) -> dict[str, Any]:
    """What a task shows of its deadline and why — the same in the timeline and in the inbox."""
    deadline = task.deadline
    # The article of the deadline in force: an extension or a resumed clock re-cites its own.
    article = task.clock[-1].article if task.clock else task.article
    stopped = task.suspended_at is not None
    return {
        "due_at": deadline.due_at if deadline and not stopped else None,
        "due_date": str(deadline.due_date) if deadline and not stopped else None,
        "working_days": deadline.working_days if deadline else None,
        "article": article,
        "citation_zh": citation_zh(state, article),
        "limit_basis": task.limit_basis,
        "provisional": deadline.provisional if deadline else False,
        "overdue": is_overdue(task, now),
        "explanation_zh": list(deadline.explanation_zh) if deadline else [],
        "explanation_en": list(deadline.explanation_en) if deadline else [],
    }


def task_actions(state: CaseState, task: CaseTask) -> list[ActionOut]:
    """The actions as the case pinned them; records written before tasks carried them fall back to
    the profile file of the pinned version."""
    if task.action_info:
        return [
            ActionOut(
                id=a.id,
                name_zh=a.name_zh,
                name_en=a.name_en,
                reason_required=a.reason_required,
                grant=a.grant,
            )
            for a in task.action_info
        ]
    return actions_out(state.profile_id, state.profile_version, task.step, task.actions)


def is_overdue(task: CaseTask, now: datetime) -> bool:
    """The projection's flag, or a deadline already past that the breach timer has not yet recorded."""
    if task.overdue:
        return True
    if task.suspended_at is not None:
        return False
    return task.status == "open" and task.deadline is not None and task.deadline.due_at <= now


def party_out(code: str, role: str, names: dict[str, DepartmentRef]) -> PartyOut:
    ref = names.get(code) or DepartmentRef(code=code)
    return PartyOut(code=code, name_zh=ref.name_zh, name_en=ref.name_en, role=role)


def task_out(state: CaseState, task: CaseTask, names: dict[str, DepartmentRef], now: datetime) -> TaskOut:
    deadline = task.deadline
    decision = task.decision
    decision_out = None
    if decision is not None:
        zh, en, *_ = _step_actions(state.profile_id, state.profile_version, task.step).get(
            decision.action, ("", "", False, False)
        )
        decision_out = DecisionOut(
            action=decision.action,
            name_zh=zh,
            name_en=en,
            actor=ActorOut(
                department=decision.actor.department, role=decision.actor.role, user=decision.actor.user
            ),
            decided_at=decision.decided_at,
            reason=decision.reason,
            note=decision.note,
            grant=GrantOut(**_grant_dict(decision.grant)) if decision.grant else None,
            kind=decision.kind,
            article=decision.article,
        )
    return TaskOut(
        task_id=task.task_id,
        seq=task.seq,
        step=task.step,
        name_zh=task.name_zh,
        name_en=task.name_en,
        assignee=party_out(task.assignee.department, task.assignee.role, names),
        status=task.status,
        actions=task_actions(state, task) if task.status == "open" else [],
        opened_at=task.opened_at,
        **deadline_fields(state, task, now),
        remind_at=deadline.remind_at if deadline else None,
        reminded_at=task.reminded_at,
        breach=_breach_out(task.breach) if task.breach else None,
        decision=decision_out,
        closed_at=task.closed_at,
        working_days_taken=WorkingDayCalendar.default().working_days_between(task.opened_at, task.closed_at)
        if task.closed_at is not None
        else None,
        step_article=task.article,
        group=task.group,
        suspended=task.suspended_at is not None,
        clock=[
            ClockEntryOut(
                kind=e.kind,
                at=e.at,
                article=e.article,
                citation_zh=citation_zh(state, e.article),
                basis=e.basis,
                working_days=e.working_days,
                starts_at=e.starts_at,
                due_at=e.due_at,
                approved_by=ActorOut(
                    department=e.approved_by.department, role=e.approved_by.role, user=e.approved_by.user
                )
                if e.approved_by
                else None,
                approver_name=e.approver_name,
                reason=e.reason,
            )
            for e in task.clock
        ],
    )


def _grant_dict(grant: Any) -> dict[str, Any]:
    return {
        "scope": grant.scope,
        "fields": list(grant.fields),
        "sharing_mode": grant.sharing_mode,
        "conditions": grant.conditions,
        "valid_until": grant.valid_until,
        "comparison_results_only": grant.comparison_results_only,
    }


def _breach_out(breach: Any) -> BreachOut:
    return BreachOut(
        step=breach.step,
        due_at=breach.due_at,
        detected_at=breach.detected_at,
        article=breach.article,
        responsible=ActorOut(department=breach.responsible.department, role=breach.responsible.role),
        next_rung=breach.next_rung,
        next_rung_article=breach.next_rung_article,
    )


def case_out(view: CaseView, names: dict[str, DepartmentRef], now: datetime | None = None) -> CaseOut:
    """The one shape every route answers a case with, whatever its type and engine generation."""
    now = now or datetime.now(UTC)
    header = view.header
    timeline = [task_out(header, t, names, now) for t in view.tasks]
    open_tasks = [t for t in timeline if t.status == "open"]
    attributes = header.attributes
    resource = None
    r = attributes.get("resource")
    if r:
        resource = ResourceSnapshotOut(
            **{
                k: r.get(k)
                for k in ("id", "version", "name_zh", "name_en", "provider_department", "share_type")
            },
            share_type_zh=SHARE_TYPE_ZH.get(r["share_type"], r["share_type"]),
            controlled_parameters=r.get("controlled_parameters", False),
            sharing_modes=list(r.get("sharing_modes") or []),
            fields=list(r.get("fields") or []),
            legal_basis=r.get("legal_basis", ""),
        )
    roles: dict[str, DepartmentRef] = {}
    for party in view.parties:  # the first party of each role, as the one-per-role map always showed
        roles.setdefault(party.role, _ref(party.department, names))
    grant = attributes.get("grant")
    return CaseOut(
        id=header.case_id,
        workflow_id=header.workflow_id,
        case_type=header.case_type,
        status=header.status,
        status_zh=STATUS_ZH.get(header.status, header.status),
        result=header.result,
        result_reason=header.result_reason,
        result_article=header.result_article,
        profile=ProfileRef(
            id=header.profile_id,
            version=header.profile_version,
            name_zh=header.profile_name_zh,
            digest=header.profile_digest,
        ),
        resource=resource,
        parties=roles,
        purpose=attributes.get("purpose", ""),
        reason=attributes.get("reason", ""),
        requested_fields=list(attributes.get("requested_fields") or []),
        requested_mode=attributes.get("requested_mode", ""),
        submitted_at=header.submitted_at,
        submitted_by=ActorOut(
            department=header.submitted_by.department,
            role=header.submitted_by.role,
            user=header.submitted_by.user,
        ),
        grant=GrantOut(**grant) if grant else None,
        closed_at=header.closed_at,
        overdue=any(t.overdue for t in open_tasks),
        open_task=open_tasks[0] if open_tasks else None,
        open_tasks=open_tasks,
        timeline=timeline,
        breaches=[_breach_out(b) for b in header.breaches],
        revision=view.revision,
        subject_zh=header.subject_zh,
        subject_en=header.subject_en,
        party_list=[
            CasePartyOut(**_ref(p.department, names).model_dump(), role=p.role, person=p.person)
            for p in view.parties
        ],
        links=[
            LinkOut(
                case_id=link.case_id,
                case_type=link.case_type,
                relation=link.relation,
                at=link.at,
                reason_zh=link.reason_zh,
                reason_en=link.reason_en,
                wait=link.wait,
                status=link.status,
                result=link.result,
            )
            for link in view.links
        ],
        attributes={k: v for k, v in attributes.items() if k not in _APPLICATION_FIELDS},
        engine=view.engine,
        record_error=view.record_error,
    )


#: Attributes a sharing application shows as fields of their own (kept where they always were).
_APPLICATION_FIELDS = frozenset(
    {"resource", "purpose", "reason", "requested_fields", "requested_mode", "grant"}
)


def _ref(code: str, names: dict[str, DepartmentRef]) -> DepartmentRef:
    return names.get(code) or DepartmentRef(code=code)
