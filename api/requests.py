"""Request bodies of the HTTP API, and the checks every request string and instant goes through.

Each body is a :class:`RequestModel`: its strings are :data:`Storable` (no NUL, no lone surrogate —
refused with ``invalid_characters``), its instants :data:`RequestTime` (2000-01-01 … 2100-12-31,
Asia/Shanghai). ``api.main`` reuses :func:`unstorable_message` for the path, query and headers.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from calendars import SHANGHAI as SHANGHAI_TZ
from govshare.core.text import has_visible_text

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


def _refuse_unstorable_tree(value: Any) -> Any:
    """Every string in a JSON value (keys included) is checked as a text field is."""
    if isinstance(value, str):
        return _refuse_unstorable(value)
    if isinstance(value, list):
        return [_refuse_unstorable_tree(v) for v in value]
    if isinstance(value, dict):
        return {_refuse_unstorable(str(k)): _refuse_unstorable_tree(v) for k, v in value.items()}
    return value


#: A JSON value whose strings a database can store (a decision's payload).
StorableJSON = Annotated[Any, BeforeValidator(_refuse_unstorable_tree)]

#: A required text that holds nothing a reader can see (issue 23: only spaces, zero-width characters,
#: fillers — ``govshare.core.text.has_visible_text``).
BLANK_TEXT = "blank_text"


def _refuse_invisible(value: str) -> str:
    if not has_visible_text(value):
        raise PydanticCustomError(
            BLANK_TEXT,
            "须填写可见的文字(不能只有空白、零宽或其他不可见字符) / "
            "must hold visible text (not only blanks, zero-width or other invisible characters)",
        )
    return value


def _invisible_as_empty(value: str) -> str:
    return value if has_visible_text(value) else ""


NonBlank = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_refuse_invisible),
    Storable,
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Storable]
#: A text the case's rules require in some cases only (a decision's reason, an extension's approver):
#: invisible-only text is read as empty, so the engine's own rule refuses it with its article.
ReasonText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000),
    AfterValidator(_invisible_as_empty),
    Storable,
]
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


def _text_not_number(value: Any) -> Any:
    """A date or an instant comes as ISO 8601 text, as the schema says: a JSON number (which
    pydantic would read as seconds since 1970: ``"change_date": 0`` was 1970-01-01) is refused."""
    if isinstance(value, int | float):
        raise PydanticCustomError("date_type", "须为 ISO 8601 日期文本 / must be ISO 8601 text (YYYY-MM-DD…)")
    return value


#: A date-time a request may send: in :data:`EARLIEST_INSTANT` … :data:`END_OF_INSTANTS`; without an
#: offset it is read in Asia/Shanghai (the platform's clock).
RequestTime = Annotated[datetime, BeforeValidator(_text_not_number), AfterValidator(_in_range)]
#: A calendar date a request may send (``YYYY-MM-DD``).
RequestDate = Annotated[date, BeforeValidator(_text_not_number)]


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
    reason: ReasonText = Field(default="", description="Reason (理由): required for a refusal or rejection")
    note: ShortText = Field(default="", description="Internal note / 备注")
    grant: GrantIn | None = Field(
        default=None, description="Terms of a grant (a sharing application's grant actions only)"
    )
    payload: dict[str, StorableJSON] | None = Field(
        default=None,
        description="What the decision carries beyond its action, as its case type defines it (the case "
        "type checks it and refuses what it cannot take; a sharing application's is its `grant`) / "
        "决定所附内容",
    )
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
    reason: ReasonText = Field(
        default="", description="Why / 理由 (required for an extension or a suspension)"
    )
    approver_name: ReasonText = Field(
        default="",
        description="Only where the profile says the approval happens off the system "
        '(`approval = "off_system"`): who approved it / 系统外批准的批准人。Where the principal head '
        "approves on the system (Luoyang 19, 32, 33), leave it empty: the request opens the head's "
        "approval task / 主要负责人在系统中审批时不填",
    )


class NoteCreate(RequestModel):
    """A note on a running case (备注记录), of a kind its profile lists: e.g. Hubei 23 / Luoyang 19 —
    a party with valid proof was served while the data is checked."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"kind": "served_with_proof", "text": "申请人持不动产登记证明,已照常办理户籍证明"}]
        },
    )

    kind: Identifier = Field(description="The note's kind, as the case type's profile lists it / 记录类别")
    text: NonBlank = Field(description="What is recorded / 记录内容")
    payload: dict[str, StorableJSON] | None = Field(
        default=None, description="Structured content where the kind takes it (a proposal's terms)"
    )


class ClaimCreate(RequestModel):
    """Claiming a task (签收): nothing to say beyond who calls (the caller's person, or its
    credential's label), so the body is empty (``{}``) or absent."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})


class WithdrawalCreate(RequestModel):
    """The applicant withdraws its application (撤回申请)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "业务调整,不再需要该数据"}]}
    )

    reason: NonBlank = Field(description="Why the application is withdrawn / 撤回理由")


#: A ground id as a profile numbers it: ``31(1)``, ``42(6)`` (an article and its item).
GroundId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:()-]+$"),
    Storable,
]
#: A case id another case concerns (``SA-20261201-7K3Q9X``, ``ES-SA-…-T1``).
CaseRef = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$"),
    Storable,
]


class RectificationOrderCreate(RequestModel):
    """A rectification order opened by hand (整改通知): the leading group office, or under Hubei 31 the
    same-level functional department, orders a department to rectify, on the profile's grounds, within
    the period it sets."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "respondent_department": "gaj",
                    "grounds": ["31(2)"],
                    "concerns": [],
                    "period_working_days": 10,
                    "description": "人口基本信息未按目录规定时限向共享平台提供,请按期整改并报送整改报告",
                    "profile": "hubei",
                }
            ]
        },
    )

    respondent_department: Identifier = Field(
        description="The department ordered to rectify (not the issuer itself) / 被责令整改的部门"
    )
    grounds: list[GroundId] = Field(
        min_length=1,
        max_length=20,
        description="Ground ids from the profile's list, e.g. 31(2) (Hubei 31(1)–(5), Luzhou 42(1)–(7), "
        "Jiangsu 25(1)–(7)) / 整改事由(规范所列情形编号)",
    )
    concerns: list[CaseRef] = Field(
        default_factory=list, max_length=50, description="Case ids the order concerns / 涉及的案件编号"
    )
    period_working_days: int = Field(
        ge=1,
        le=250,
        description="The rectification period the issuer sets, in working days (the regulations set no "
        "number) / 整改期限(工作日,由下达方设定)",
    )
    description: NonBlank = Field(description="What is to be rectified / 整改事项说明")
    profile: Identifier | None = Field(
        default=None, description="Regulation profile (hubei, luzhou, jiangsu); default from settings"
    )


class ComplaintCreate(RequestModel):
    """A department's complaint about another's conduct (投诉, Luzhou 44), addressed to the leading
    group or to the municipal government office, which investigates and reports back."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "respondent_department": "scjgj",
                    "addressed_to": "leading_group",
                    "conduct": "无正当理由拖延办理本局的数据共享申请,超过规定时限仍未授权",
                    "concerns": [],
                    "profile": "luzhou",
                }
            ]
        },
    )

    respondent_department: Identifier = Field(
        description="The department complained about (not the complainant itself) / 被投诉部门"
    )
    addressed_to: Literal["leading_group", "government_office"] = Field(
        description="Who receives and investigates it: the leading group (office) or the municipal "
        "government office / 投诉受理机构:领导小组或市政府办公室"
    )
    conduct: NonBlank = Field(description="The conduct complained of / 投诉事项")
    concerns: list[CaseRef] = Field(
        default_factory=list, max_length=50, description="Case ids the complaint concerns / 涉及的案件编号"
    )
    profile: Identifier | None = Field(
        default=None, description="Regulation profile (luzhou); default from settings"
    )


class CatalogUpdateCreate(RequestModel):
    """A catalog update registered (目录更新): a law revised or functions changed on a date, or the
    department's own update. The department then submits its change set on the case."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "department": "gaj",
                    "reason": "law_revision",
                    "change_date": "2026-11-20",
                    "description": "《户口登记条例》修订,户籍信息项调整",
                    "profile": "luzhou",
                }
            ]
        }
    )

    department: Identifier | None = Field(
        default=None,
        description="The department whose catalog changes (default: the caller's own; the platform names it)",
    )
    reason: Literal["law_revision", "function_change", "own"] = Field(
        description="法律法规修订 / 行政管理职能变化 / 部门自行更新"
    )
    change_date: RequestDate | None = Field(
        default=None,
        description="The date the law or the functions changed (required for those reasons): the "
        "department's period counts from it (Luoyang 14, Luzhou 10, Jiangsu 9)",
    )
    description: NonBlank = Field(description="What changed / 变更情况说明")
    profile: Identifier | None = Field(
        default=None, description="Regulation profile id (default: the deployment's)"
    )

    @model_validator(mode="after")
    def _dated(self) -> CatalogUpdateCreate:
        if self.reason != "own" and self.change_date is None:
            raise PydanticCustomError(
                "change_date_required",
                "法律法规修订或职能变化须填写变更日期 / "
                "a law revision or change of functions needs its change_date",
            )
        if self.change_date is not None and self.change_date > datetime.now(SHANGHAI_TZ).date():
            raise PydanticCustomError(
                "change_date_in_future", "变更日期不能晚于今天 / the change_date cannot be in the future"
            )
        return self


class DataObjectionCreate(RequestModel):
    """A report of doubtful or wrong data in a catalog entry (数据疑义 / 纠错): which records or
    fields, what is wrong, the evidence, and when the problem was found (REGULATIONS.md §6)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resource_id": "RES-POP-001",
                    "records": ["户籍编号 4103020001"],
                    "fields": ["address"],
                    "problem": "住址与不动产登记信息不一致",
                    "evidence": "不动产权证书(洛阳不动产权第0012345号)",
                    "found_on": "2026-11-30",
                    "profile": "luzhou",
                }
            ]
        },
    )

    resource_id: Identifier = Field(description="The catalog entry the data comes from / 目录资源编号")
    records: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable]
    ] = Field(default_factory=list, max_length=200, description="Which records (their keys) / 涉及的记录")
    fields: list[Identifier] = Field(
        default_factory=list, max_length=200, description="Which of the entry's fields / 涉及的数据项"
    )
    problem: NonBlank = Field(description="What is wrong / 疑义或错误情况")
    evidence: ShortText = Field(default="", description="The evidence / 证明材料")
    found_on: RequestDate | None = Field(
        default=None,
        description="When the problem was found (default: today). Luzhou 26 counts the 3 working days "
        "to report from it: a report filed later is taken and marked late / 发现问题的日期",
    )
    other_resource_id: Identifier | None = Field(
        default=None,
        description="Hubei 17: another provider's entry whose data disagrees with this one — one joint "
        "verification with both providers / 数据不一致的另一部门目录资源",
    )
    profile: Identifier | None = Field(
        default=None, description="Regulation profile id (default: the deployment's)"
    )

    @model_validator(mode="after")
    def _found_not_later_than_today(self) -> DataObjectionCreate:
        if self.found_on is not None and self.found_on > datetime.now(SHANGHAI_TZ).date():
            raise PydanticCustomError(
                "found_on_in_future", "发现问题的日期不能晚于今天 / found_on cannot be in the future"
            )
        if self.other_resource_id is not None and self.other_resource_id == self.resource_id:
            raise PydanticCustomError(
                "same_resource", "数据不一致的两个目录资源不能相同 / the two entries must differ"
            )
        return self


class DisputeCreate(RequestModel):
    """A consumer's dispute (共享争议): over a refused or rejected application of its own, or over a
    not-shared entry it needs for its duties (Hubei 25, Luzhou 27, Jiangsu 16)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "application_id": "SA-20261130-7K2QXM",
                    "matter": "提供部门以“无法律依据”为由拒绝,但社保待遇资格核验确需比对住址",
                    "purpose": "社保待遇资格核验",
                    "profile": "luzhou",
                },
                {
                    "resource_id": "RES-TAX-009",
                    "matter": "不予共享类资源,本部门履职确需使用",
                    "duty": "《社会救助暂行办法》第十一条:核对申请人家庭收入",
                    "purpose": "低保家庭收入核对",
                    "profile": "jiangsu",
                },
            ]
        },
    )

    application_id: CaseRef | None = Field(
        default=None, description="The refused or rejected application disputed / 有异议的申请"
    )
    resource_id: Identifier | None = Field(
        default=None, description="A not-shared entry needed for the caller's duties / 履职需要的不予共享资源"
    )
    matter: NonBlank = Field(description="What is disputed / 争议事项")
    duty: ReasonText = Field(
        default="", description="The duty that needs the data (required for a not-shared entry) / 履职依据"
    )
    purpose: ShortText = Field(default="", description="What the data would be used for / 用途")
    provincial: bool = Field(
        default=False,
        description="Provincial departments are involved (Jiangsu 16: the leading group coordinates) "
        "/ 涉及省级部门",
    )
    profile: Identifier | None = Field(
        default=None, description="Regulation profile id (default: the deployment's)"
    )

    @model_validator(mode="after")
    def _one_subject(self) -> DisputeCreate:
        if (self.application_id is None) == (self.resource_id is None):
            raise PydanticCustomError(
                "one_subject",
                "须指明有异议的申请(application_id)或不予共享的资源(resource_id),二者取一 / "
                "name the application or the not-shared entry, one of them",
            )
        if self.resource_id is not None and not self.duty.strip():
            raise PydanticCustomError(
                "duty_required", "不予共享资源须说明履职依据(duty)/ a not-shared entry needs the duty"
            )
        return self


# --------------------------------------------------------------------------------------------------
# The catalog register (api/routes/resources.py)
# --------------------------------------------------------------------------------------------------


class RefreshCreate(RequestModel):
    """A provider records that it refreshed an entry's data (Hubei 17, Luzhou 23)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "已按日同步至共享平台 / synced today"}]}
    )

    note: ShortText = Field(default="", description="What was refreshed / 更新说明")


class CatalogEntryIn(BaseModel):
    """One row of an import (``POST /resources/import``), as JSON; in CSV the same columns, list
    fields joined by ``|``. Documentation only: rows are read one by one so that each bad row is
    reported with its rule instead of refusing the body (``govshare.core.catalog.parse_row``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "gaj-population-basic",
                    "name_zh": "人口基础信息",
                    "name_en": "Population basic information",
                    "provider_department": "gaj",
                    "description": "全市户籍人口和常住人口的基础信息",
                    "classification": "综合政务/人口信息",
                    "kind": "basic",
                    "fields": ["name", "citizen_id", "gender", "birth_date"],
                    "basic_items": ["name", "citizen_id"],
                    "format": "数据库表",
                    "update_period": "daily",
                    "share_type": "unconditional",
                    "controlled_parameters": False,
                    "sharing_modes": ["online_query", "system_docking"],
                    "usage_requirements": "",
                    "open_type": "not_open",
                    "legal_basis": "",
                }
            ]
        },
    )

    id: str = Field(description="资源代码: 1–64 letters, digits, _ . : -")
    name_zh: str = Field(description="资源名称")
    name_en: str = ""
    provider_department: str = Field(description="提供部门 (department code)")
    description: str = ""
    classification: str = Field(default="", description="资源分类")
    kind: Literal["basic", "thematic", "departmental"] = "departmental"
    fields: list[str] = Field(description="信息项 (at least one)")
    basic_items: list[str] = Field(default=[], description="基础信息项 of a basic resource")
    format: str = ""
    update_period: Literal["realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "none"] = "none"
    share_type: Literal["unconditional", "conditional", "not_shared"]
    controlled_parameters: bool = False
    sharing_modes: list[
        Literal["system_docking", "front_end_processor", "online_query", "batch_download", "data_comparison"]
    ] = Field(default=[], description="At least one unless not_shared")
    usage_requirements: str = ""
    open_type: Literal["", "open", "conditional_open", "not_open"] = ""
    legal_basis: str = Field(default="", description="Required for not_shared (Luoyang: conditional too)")


# --------------------------------------------------------------------------------------------------
# The demand list (需求清单, Luoyang 12)
# --------------------------------------------------------------------------------------------------


class DemandCreate(RequestModel):
    """A department states data it needs from others for its duties (Luoyang 12)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "灵活就业人员不动产登记核验",
                    "description": "办理社保补贴时核验申请人名下不动产情况",
                    "fields_wanted": ["citizen_id", "property_count"],
                    "provider_department": "zrzyj",
                }
            ]
        },
    )

    title: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        AfterValidator(_refuse_invisible),
        Storable,
    ] = Field(description="What data is needed / 需求名称")
    description: ShortText = Field(default="", description="For which duty, and why / 需求说明")
    fields_wanted: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Storable]
    ] = Field(default=[], max_length=100, description="Data items wanted / 所需信息项")
    provider_department: Identifier | None = Field(
        default=None, description="The department expected to provide it, if known / 拟提供部门"
    )


class DemandAnswer(RequestModel):
    """The platform answers a demand with a published catalog entry."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"resource_id": "gaj-motor-vehicle"}]}
    )

    resource_id: Identifier = Field(description="A published catalog entry / 已发布的资源代码")
