"""Open data (政务数据开放, Luoyang 32, 33): ``POST /open-data-applications`` and
``POST /open-catalog-corrections``.

A citizen, a legal person or another organisation (a ``citizen`` credential: 公民、法人和其他组织)
applies through the open system for data the open catalog lists as conditionally open (有条件开放,
Luoyang 33) — data listed as open (无条件开放) is taken directly after identity authentication, no
application; data not open (不予开放) is not applied for — or asks the provider to correct an entry
of the open catalog (Luoyang 32: its open type, its listed fields, its description). The provider
answers through the generic path (``POST /cases/{id}/decisions``): a grant with its terms
(``payload``: scope, fields, use_conditions, delivery, valid_until), an agreement to correct (the
platform then changes the open catalog: ``open_catalog_change`` / ``change``), or a refusal with its
reason and its basis (``payload: {"basis": …}``). An extension (≤ 10 WD, once) is asked on
``POST /cases/{id}/tasks/{seq}/clock`` and approved by the provider's principal head on
``POST /cases/{id}/decisions``.

The case names the applicant by its identity reference and name; its ID number stays in the
identity table, never sent to the workflow, a log line or another party.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Body, Request, Response
from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from sqlmodel import Session

from api import acting, reading
from api.deps import ActingCaller, Caller, EngineDep, SettingsDep, run_db
from api.errors import ApiError, pending_responses, problem_responses
from api.requests import Identifier, NonBlank, RequestModel, ShortText
from api.responses import CaseOut
from api.routes import cases
from govshare.core.directory import read_directory
from govshare.core.models import Resource
from regulations.citation import cite_zh
from regulations.schema import Profile
from workflows import registry

log = structlog.get_logger("govshare.api")

router = APIRouter(tags=["open data"])

Delivery = Literal["download", "api", "other"]
OpenTypeIn = Literal["open", "conditional_open", "not_open"]


# --------------------------------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------------------------------


def _unique(fields: list[str] | None) -> None:
    repeated = sorted({f for f in fields or [] if (fields or []).count(f) > 1})
    if repeated:
        raise PydanticCustomError(
            "duplicate_field", "数据项重复 / fields repeated: {fields}", {"fields": ", ".join(repeated)}
        )


class OpenDataApplicationCreate(RequestModel):
    """An application for conditionally open data (有条件开放数据申请, Luoyang 33): which entry of the
    open catalog, which of its fields, for what use, delivered how."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resource_id": "zrzyj-real-estate-transactions",
                    "fields": ["district", "deal_month", "average_price"],
                    "purpose": "高校住房市场研究,成果公开发表时仅使用汇总数据",
                    "delivery": "download",
                    "profile": "luoyang",
                }
            ]
        },
    )

    resource_id: Identifier = Field(description="开放目录中的资源编号 / the open catalog entry applied for")
    fields: list[Identifier] = Field(
        default_factory=list,
        max_length=200,
        description="申请的数据项(须为该资源的数据项;不填为全部)/ the entry's fields applied for "
        "(empty: all)",
    )
    purpose: NonBlank = Field(description="申请用途 / what the data is for")
    delivery: Delivery | None = Field(
        default=None,
        description="希望的获取方式:download 数据下载、api 接口调用、other 其他 / the delivery wished for",
    )
    profile: Identifier | None = Field(
        default=None, description="规范配置 / regulation profile id (default: the deployment's)"
    )

    @model_validator(mode="after")
    def _fields_once(self) -> OpenDataApplicationCreate:
        _unique(self.fields)
        return self


class OpenCatalogCorrectionCreate(RequestModel):
    """A request to correct an entry of the open catalog (开放目录更正申请, Luoyang 32): what it
    should say — its open type, its listed fields, its description (at least one) — and why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resource_id": "zjj-construction-permit",
                    "description": "建筑工程施工许可证核发信息(许可证编号、项目名称、建设单位、施工单位)",
                    "reason": "开放目录中的资源摘要缺失,无法判断所含内容",
                    "profile": "luoyang",
                },
                {
                    "resource_id": "scjgj-food-licence",
                    "open_type": "open",
                    "reason": "食品经营许可信息依法应当公示,应列为无条件开放",
                    "profile": "luoyang",
                },
            ]
        },
    )

    resource_id: Identifier = Field(description="开放目录中的资源编号 / the catalog entry to correct")
    open_type: OpenTypeIn | None = Field(
        default=None,
        description="更正后的开放类型:open 无条件开放、conditional_open 有条件开放、not_open 不予开放 "
        "/ the open type it should have (Luoyang 30)",
    )
    fields: list[Identifier] | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="更正后的数据项列表 / the data items it should list",
    )
    description: ShortText | None = Field(
        default=None, description="更正后的资源摘要 / the description it should have"
    )
    reason: NonBlank = Field(description="疑义及更正理由 / what is wrong and why")
    profile: Identifier | None = Field(
        default=None, description="规范配置 / regulation profile id (default: the deployment's)"
    )

    @model_validator(mode="after")
    def _something_to_correct(self) -> OpenCatalogCorrectionCreate:
        if self.open_type is None and self.fields is None and self.description is None:
            raise PydanticCustomError(
                "nothing_to_correct",
                "请至少指明一项更正内容(open_type、fields、description)/ "
                "name at least one correction (open_type, fields, description)",
            )
        _unique(self.fields)
        return self

    def correction(self) -> dict[str, Any]:
        """What the entry should say, of what the request names."""
        wanted = {"open_type": self.open_type, "fields": self.fields, "description": self.description}
        return {key: value for key, value in wanted.items() if value is not None}


# --------------------------------------------------------------------------------------------------
# Checks before a case starts
# --------------------------------------------------------------------------------------------------


def _cite(profile: Profile, article: str) -> str:
    return cite_zh(article, profile.title_zh or profile.name_zh, profile.annex_titles_zh)


def _entry(session: Session, resource_id: str) -> Resource:
    row = session.get(Resource, resource_id)
    if row is None or row.status != "published":
        raise ApiError(
            422,
            f"目录中没有在用的资源 {resource_id}",
            f"no published catalog entry {resource_id}",
            code="unknown_resource",
            errors=[{"loc": ["body", "resource_id"], "msg": "no published entry"}],
        )
    return row


def _check_fields(entry: Resource, fields: list[str], where: str = "fields") -> None:
    unknown = [f for f in fields if f not in (entry.fields or [])]
    if unknown:
        raise ApiError(
            422,
            f"资源 {entry.id} 没有数据项:{'、'.join(unknown)}",
            f"entry {entry.id} has no field(s): {', '.join(unknown)}",
            code="unknown_field",
            errors=[{"loc": ["body", where], "msg": f"not a field of {entry.id}: {f}"} for f in unknown],
        )


def _opener(session: Session, caller: Caller, kind: registry.CaseKind, profile_id: str) -> dict[str, Any]:
    """The profile has the case type (422, naming it) and the caller's role opens it (403)."""
    profile = acting.profile_with(profile_id, kind.case_type, kind.name_zh)
    directory = read_directory(session)
    acting.check_opener(caller, profile, kind.case_type, directory)
    return {"profile": profile, "directory": directory}


def _check_open_type(profile: Profile, entry: Resource) -> None:
    """Only a conditionally open entry is applied for (Luoyang 33): an open one is taken directly
    after authentication; a not-open one, or one the open catalog does not list, is not opened."""
    if entry.open_type == "conditional_open":
        return
    if entry.open_type == "open":
        raise ApiError(
            422,
            f"资源 {entry.id} 为无条件开放,通过身份认证后在开放系统中直接获取,无需申请"
            f"({_cite(profile, '33')})",
            f"entry {entry.id} is open (无条件开放): it is taken directly after identity authentication, "
            "without an application (art. 33)",
            code="open_data_taken_directly",
            errors=[{"loc": ["body", "resource_id"], "msg": "open: no application needed"}],
        )
    if entry.open_type == "not_open":
        basis = f";依据:{entry.legal_basis}" if entry.legal_basis else ""
        raise ApiError(
            422,
            f"资源 {entry.id} 为不予开放类,不能申请获取"
            f"({_cite(profile, '30')}、{_cite(profile, '31')}){basis}",
            f"entry {entry.id} is not open (不予开放): it cannot be applied for (art. 30, 31)",
            code="not_open",
            errors=[{"loc": ["body", "resource_id"], "msg": "not open"}],
        )
    raise ApiError(
        422,
        f"资源 {entry.id} 未列入政务数据资源开放目录,不能申请获取({_cite(profile, '32')})",
        f"entry {entry.id} is not in the open catalog (no open type): it cannot be applied for (art. 32)",
        code="not_in_open_catalog",
        errors=[{"loc": ["body", "resource_id"], "msg": "not in the open catalog"}],
    )


def _names(session: Session) -> dict[str, str]:
    return {code: ref.name_zh for code, ref in reading.department_names(session).items()}


def _check_application(
    session: Session, caller: Caller, body: OpenDataApplicationCreate, profile_id: str
) -> dict[str, Any]:
    """Everything checked before the case starts, in one short session: the profile and the opener
    (422 / 403), the entry published and conditionally open (422, saying why not), the fields its own
    (422), the ladder's roles played (422)."""
    kind = registry.OPEN_DATA_APPLICATION
    opened = _opener(session, caller, kind, profile_id)
    profile: Profile = opened["profile"]
    entry = _entry(session, body.resource_id)
    _check_open_type(profile, entry)
    _check_fields(entry, body.fields)
    acting.check_directory(profile, kind.case_type, opened["directory"])
    return {**opened, "entry": entry, "names": _names(session)}


def _check_correction(
    session: Session, caller: Caller, body: OpenCatalogCorrectionCreate, profile_id: str
) -> dict[str, Any]:
    """As for an application; and the correction changes something (422 otherwise), and where it
    makes the entry conditionally open or not open without a legal basis, the case knows the
    provider must give one if it agrees (Luoyang 31)."""
    kind = registry.OPEN_CATALOG_CORRECTION
    opened = _opener(session, caller, kind, profile_id)
    profile: Profile = opened["profile"]
    entry = _entry(session, body.resource_id)
    correction = body.correction()
    current = {key: getattr(entry, key) for key in correction}
    if all(current[key] == value for key, value in correction.items()):
        raise ApiError(
            422,
            f"资源 {entry.id} 的开放目录已是所申请的内容,无需更正",
            f"entry {entry.id} already says what the correction asks",
            code="nothing_to_correct",
            errors=[{"loc": ["body", key], "msg": "already so"} for key in correction],
        )
    rule = profile.open_types.get(correction["open_type"]) if "open_type" in correction else None  # type: ignore[arg-type]
    needed = ""
    if rule is not None and rule.legal_basis_required and not entry.legal_basis.strip():
        needed = rule.legal_basis_article or rule.article
    acting.check_directory(profile, kind.case_type, opened["directory"])
    return {
        **opened,
        "entry": entry,
        "names": _names(session),
        "correction": correction,
        "current": current,
        "legal_basis_needed": needed,
    }


def _common_facts(caller: Caller, entry: Resource) -> dict[str, Any]:
    """The applicant (identity reference only) and the entry as it stood."""
    return {
        "applicant": {
            "role": caller.role,
            "department": caller.department,
            "person": "" if caller.department else caller.person,
        },
        "provider_department": entry.provider_department,
        "resource_id": entry.id,
        "resource_version": entry.version,
        "resource_name_zh": entry.name_zh,
        "resource_name_en": entry.name_en,
    }


_IDEMPOTENCY_HELP = (
    "Optional. A retried request with the same key returns the case the first one opened "
    "(200, `Idempotent-Replayed: true`); the same key with a different body is refused (422)."
)


# --------------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------------


@router.post(
    "/open-data-applications",
    status_code=201,
    response_model=CaseOut,
    summary="Apply for conditionally open data",
    description="申请获取有条件开放数据(洛阳办法第三十三条):公民、法人和其他组织通过开放系统,按照开放目录申请获取"
    "有条件开放的政务数据资源,说明申请的数据项、用途和希望的获取方式。无条件开放的资源通过身份认证后直接获取,无需申请"
    "(422 `open_data_taken_directly`);不予开放的资源不能申请(422 `not_open`)。提供部门应在10个工作日内答复,"
    "经主要负责人批准可延长一次、不超过10个工作日:同意的,在 `POST /cases/{id}/decisions` 以 `grant` 给出"
    "开放条件(`payload`:scope 使用范围、fields 开放数据项、use_conditions 使用条件、delivery 获取方式、"
    "valid_until 有效期);不同意的,以 `refuse` 说明理由(`reason`)并提供依据(`payload.basis`)。\n\n"
    "A citizen, a legal person or another organisation applies for data the open catalog lists as "
    "conditionally open, naming the fields, the use and the delivery wished for. Open data is taken "
    "directly after authentication (422); not-open data cannot be applied for (422). The provider "
    "answers within 10 working days (once extended by ≤ 10 with its principal head's approval): "
    "`grant` with its terms as `payload`, or `refuse` with a `reason` and `payload.basis`.",
    responses={**pending_responses(), **problem_responses(401, 403, 422, 503)},
)
async def create_open_data_application(
    request: Request,
    response: Response,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[OpenDataApplicationCreate, Body()],
    idempotency_key: Annotated[str | None, cases.idempotency_header(_IDEMPOTENCY_HELP)] = None,
) -> CaseOut:
    profile_id = body.profile or settings.default_profile
    checked = await run_db(engine, _check_application, caller, body, profile_id)
    entry: Resource = checked["entry"]
    opened, answered = await acting.create_case(
        request,
        response,
        engine,
        settings,
        caller,
        kind=registry.OPEN_DATA_APPLICATION,
        profile_id=profile_id,
        body=body,
        idempotency_key=idempotency_key,
        department_names=checked["names"],
        directory=checked["directory"],
        fields={
            **_common_facts(caller, entry),
            "open_type": entry.open_type,
            "entry_fields": list(entry.fields or []),
            "fields": list(body.fields),
            "purpose": body.purpose,
            "delivery": body.delivery or "",
        },
    )
    log.info(
        "open_data_application_opened",
        resource_id=entry.id,
        provider=entry.provider_department,
        profile=profile_id,
        status=opened.answer.status,
    )
    return answered


@router.post(
    "/open-catalog-corrections",
    status_code=201,
    response_model=CaseOut,
    summary="Ask for a correction of the open catalog",
    description="开放目录更正申请(洛阳办法第三十二条):公民、法人和其他组织对政务数据资源开放目录有疑义的,通过开放系统"
    "向数据提供部门提出更正申请,写明应更正的开放类型(open_type)、数据项(fields)或资源摘要(description)及理由。"
    "提供部门应在10个工作日内答复,经主要负责人批准可延长一次、不超过10个工作日:同意更正的(`agree`;更正为有条件开放"
    "或不予开放而该资源尚无法律依据的,须在 `payload.legal_basis` 写明依据,第三十一条),由市政务服务和大数据"
    "管理局变更开放目录(`open_catalog_change` 环节的 `change`,发布该资源的新版本);不同意的(`refuse`)说明理由"
    "并提供依据(`payload.basis`)。\n\n"
    "A citizen, a legal person or another organisation asks the provider to correct an entry of the "
    "open catalog: its open type, listed fields or description, and why. The provider answers within "
    "10 working days (once extended by ≤ 10 with its principal head's approval): `agree` (with "
    "`payload.legal_basis` where the entry becomes conditionally open or not open and has no basis, "
    "art. 31), after which the platform's `change` publishes a new version of the entry; or `refuse` "
    "with a `reason` and `payload.basis`.",
    responses={**pending_responses(), **problem_responses(401, 403, 422, 503)},
)
async def create_open_catalog_correction(
    request: Request,
    response: Response,
    caller: ActingCaller,
    engine: EngineDep,
    settings: SettingsDep,
    body: Annotated[OpenCatalogCorrectionCreate, Body()],
    idempotency_key: Annotated[str | None, cases.idempotency_header(_IDEMPOTENCY_HELP)] = None,
) -> CaseOut:
    profile_id = body.profile or settings.default_profile
    checked = await run_db(engine, _check_correction, caller, body, profile_id)
    entry: Resource = checked["entry"]
    opened, answered = await acting.create_case(
        request,
        response,
        engine,
        settings,
        caller,
        kind=registry.OPEN_CATALOG_CORRECTION,
        profile_id=profile_id,
        body=body,
        idempotency_key=idempotency_key,
        department_names=checked["names"],
        directory=checked["directory"],
        fields={
            **_common_facts(caller, entry),
            "correction": checked["correction"],
            "current": checked["current"],
            "reason": body.reason,
            "legal_basis_needed": checked["legal_basis_needed"],
        },
    )
    log.info(
        "open_catalog_correction_opened",
        resource_id=entry.id,
        provider=entry.provider_department,
        corrects=sorted(checked["correction"]),
        profile=profile_id,
        status=opened.answer.status,
    )
    return answered
