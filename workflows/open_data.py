"""Open data (政务数据开放), Luoyang 32 and 33: two case types, one workflow each (REGULATIONS.md §8).

- The conditional open-data application (有条件开放数据申请, Luoyang 33): a citizen, a legal person
  or another organisation applies through the open system for data the open catalog lists as
  conditionally open (有条件开放). Data the catalog lists as open (无条件开放) is taken directly after
  identity authentication — no case; data not open (不予开放) is not applied for (the API refuses
  both). The provider answers within 10 working days (once extended by ≤ 10 with its principal
  head's approval): it grants, with terms of its own (:class:`OpenDataTerms`: scope, fields, use
  conditions, delivery, validity), or refuses with a reason and its basis (不同意的应当说明理由,
  并提供依据).
- The request to correct the open catalog (开放目录更正申请, Luoyang 32): the same applicant asks the
  provider to correct an entry of the open catalog (its open type, its listed fields, its
  description). The provider answers within 10 working days (same extension): it refuses with a
  reason and its basis, or agrees, and the bureau (the platform) then changes the open catalog
  (提请市政务服务和大数据管理机构变更政务数据资源开放目录) — the ``change_open_catalog`` effect
  publishes a new version of the entry (``activities/open_catalog.py``).

The applicant is a person party (``Party(department="", role="citizen", person=<identity id>)``):
the case holds its opaque identity reference and its name, never an ID number. The steps, limits,
extension and ladder are the profile's (``regulations/profiles/luoyang.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import TypeAdapter, ValidationError

    from calendars import SHANGHAI
    from regulations.schema import Action
    from workflows.case import ERROR_INVALID, CaseAnswer, DecisionRequest, Party, Task
    from workflows.contracts import CaseInput
    from workflows.engine import CaseEngine, Outcome, refuse

APPLICATION_WORKFLOW_TYPE = "OpenDataApplication"
CORRECTION_WORKFLOW_TYPE = "OpenCatalogCorrection"

APPLICATION_RESULTS = {
    "granted": ("同意开放", "granted"),
    "refused": ("不同意开放", "refused"),
}
CORRECTION_RESULTS = {
    "corrected": ("开放目录已更正", "open catalog corrected"),
    "refused": ("不同意更正", "correction refused"),
}

#: How conditionally open data is delivered: a download (数据下载), an interface (接口调用), another
#: way the terms describe (其他方式).
DELIVERIES = {
    "download": ("数据下载", "download"),
    "api": ("接口调用", "API"),
    "other": ("其他方式", "other"),
}

#: What an open-catalog correction may change of an entry (Luoyang 32: the open catalog as
#: published under 30 — its open type, the data items it lists, its description).
CORRECTABLE = ("open_type", "fields", "description")

#: The action ids the profile gives these case types (``luoyang.toml``), whose payload this module checks.
GRANT, REFUSE, AGREE, CHANGE = "grant", "refuse", "agree", "change"

#: Longest text a term or a basis may hold (as the API's text fields).
MAX_TEXT = 2000


@dataclass
class OpenDataTerms:
    """What a conditional opening grants (Luoyang 30: 需要按照特定条件提供; 33: 同意的应当予以开放).

    Not the sharing application's ``GrantTerms``: opened data goes to a citizen or an organisation
    under conditions of use, delivered by download or an interface, not by a sharing mode."""

    #: What the data may be used for (使用范围); default: the purpose the applicant stated.
    scope: str = ""
    #: The data items opened (开放数据项), of the entry's fields; default: those applied for, else all.
    fields: list[str] = field(default_factory=list)
    #: The conditions of use (使用条件): required — a conditional opening states its conditions.
    use_conditions: str = ""
    #: ``download`` | ``api`` | ``other``; default: the delivery the applicant asked for.
    delivery: str = ""
    #: Until when the opening holds (开放有效期); none: no end set. A naive instant is Beijing time.
    valid_until: datetime | None = None


@dataclass
class RefusalBasis:
    """A refusal's basis (Luoyang 32, 33: 不同意的应当说明理由,并提供依据): the law, rule or document
    it relies on. The reason is the decision's own ``reason``."""

    basis: str = ""


@dataclass
class CorrectionAgreement:
    """What the provider's agreement to a correction may carry: the legal basis an entry needs when
    the correction makes it conditionally open or not open (Luoyang 31), where it has none."""

    legal_basis: str = ""


_TERMS = TypeAdapter(OpenDataTerms)
_BASIS = TypeAdapter(RefusalBasis)
_AGREEMENT = TypeAdapter(CorrectionAgreement)


# --------------------------------------------------------------------------------------------------
# What the case types share: the applicant, the provider, the platform
# --------------------------------------------------------------------------------------------------


def applicant_party(facts: dict[str, Any]) -> Party:
    """Who applied: a person party (a citizen, a legal person, an organisation: its identity
    reference, no department)."""
    applicant = facts.get("applicant") or {}
    return Party(
        role=applicant.get("role", "citizen"),
        department=applicant.get("department", ""),
        person=applicant.get("person", ""),
    )


def parties_of(inp: CaseInput) -> list[Party]:
    """The applicant, the provider of the catalog entry, and the platform (the bureau that runs the
    open system and changes the open catalog)."""
    parties = [
        applicant_party(inp.facts),
        Party(role="provider", department=inp.facts.get("provider_department", "")),
    ]
    platform = Party(role="platform", department=inp.case.platform_department)
    if platform not in parties:
        parties.append(platform)
    return parties


def _applicant_words(inp: CaseInput) -> str:
    applicant = applicant_party(inp.facts)
    return applicant.department or "citizen"


def _known_keys(payload: dict[str, Any], allowed: tuple[str, ...], what_zh: str, what_en: str) -> None:
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise refuse(
            ERROR_INVALID,
            f"{what_zh}含有未知项:{'、'.join(unknown)}(可用:{'、'.join(allowed)})",
            f"the {what_en} hold unknown key(s): {', '.join(unknown)} (allowed: {', '.join(allowed)})",
        )


def _text(value: str, what_zh: str, what_en: str) -> str:
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise refuse(
            ERROR_INVALID,
            f"{what_zh}超过 {MAX_TEXT} 个字符",
            f"the {what_en} exceed(s) {MAX_TEXT} characters",
        )
    return text


def refusal_basis(payload: dict[str, Any] | None, article: str, cited_zh: str) -> dict[str, Any]:
    """A refusal's payload: its basis, required (Luoyang 32, 33), refused (422) when missing.
    ``cited_zh``: the article as people read it (《…》第三十三条)."""
    _known_keys(payload or {}, ("basis",), "不同意的依据", "refusal's payload")
    try:
        basis = _BASIS.validate_python(payload or {})
    except ValidationError as err:
        raise refuse(
            ERROR_INVALID, f"不同意的依据格式不正确:{err}", f"the basis is malformed: {err}"
        ) from None
    text = _text(basis.basis, "不同意的依据", "basis")
    if not text:
        raise refuse(
            ERROR_INVALID,
            f"不同意的,应当说明理由并提供依据:请在 payload.basis 中写明所依据的法律法规或文件(第{article}条)",
            f"a refusal gives its reason and its basis: name the law or rule relied on in payload.basis "
            f"(art. {article})",
        )
    return {"basis": text}


# --------------------------------------------------------------------------------------------------
# The conditional open-data application (Luoyang 33)
# --------------------------------------------------------------------------------------------------


def application_summary(inp: CaseInput) -> dict[str, str]:
    facts = inp.facts
    return {
        "resource_id": facts.get("resource_id", ""),
        "provider_department": facts.get("provider_department", ""),
        "delivery": facts.get("delivery", ""),
    }


def _subject(inp: CaseInput, zh: str, en: str) -> tuple[str, str]:
    facts = inp.facts
    name_zh = facts.get("resource_name_zh") or facts.get("resource_id", "")
    name_en = facts.get("resource_name_en") or facts.get("resource_id", "")
    return f"{zh}:{name_zh}", f"{en}: {name_en}"


def start_summary(inp: CaseInput) -> str:
    """What an operator reads in the Temporal UI's list (both open-data case types)."""
    return f"{_applicant_words(inp)} → {inp.facts.get('resource_id', '')}({inp.case.profile_id})"


def application_subject(inp: CaseInput) -> tuple[str, str]:
    return _subject(inp, "有条件开放数据申请", "Conditional open-data application")


def open_data_terms(
    payload: dict[str, Any] | None, request: dict[str, Any], now: datetime, cited_zh: str = ""
) -> dict[str, Any]:
    """A grant's terms, checked against the application and the entry as it was applied for:
    refused (422) naming what is wrong. Unset scope, fields and delivery default to what was applied
    for; the conditions of use are required; the fields are the entry's, and of those applied for."""
    _known_keys(payload or {}, tuple(OpenDataTerms.__dataclass_fields__), "开放条件", "open-data terms")
    try:
        terms = _TERMS.validate_python(payload or {})
    except ValidationError as err:
        raise refuse(
            ERROR_INVALID, f"开放条件格式不正确:{err}", f"the open-data terms are malformed: {err}"
        ) from None
    entry_fields: list[str] = list(request.get("entry_fields") or [])
    asked: list[str] = list(request.get("fields") or [])
    fields = [f.strip() for f in terms.fields] or asked or entry_fields
    repeated = sorted({f for f in fields if fields.count(f) > 1})
    if repeated:
        raise refuse(
            ERROR_INVALID,
            f"开放数据项重复:{'、'.join(repeated)}",
            f"opened fields repeated: {', '.join(repeated)}",
        )
    unknown = [f for f in fields if f not in entry_fields]
    if unknown:
        raise refuse(
            ERROR_INVALID,
            f"开放数据项不在目录资源中:{'、'.join(unknown)}",
            f"opened fields not in the catalog entry: {', '.join(unknown)}",
        )
    beyond = [f for f in fields if asked and f not in asked]
    if beyond:
        raise refuse(
            ERROR_INVALID,
            f"开放数据项超出申请范围:{'、'.join(beyond)}",
            f"opened fields beyond those applied for: {', '.join(beyond)}",
        )
    conditions = _text(terms.use_conditions, "使用条件", "use conditions")
    if not conditions:
        raise refuse(
            ERROR_INVALID,
            f"有条件开放须写明使用条件(use_conditions)({cited_zh or '第三十条、第三十三条'})",
            "a conditional opening states its conditions of use: use_conditions is required (art. 30, 33)",
        )
    delivery = terms.delivery.strip() or str(request.get("delivery") or "")
    if delivery not in DELIVERIES:
        raise refuse(
            ERROR_INVALID,
            f"开放方式(delivery)应为 {'、'.join(DELIVERIES)} 之一"
            + (f",而不是 {delivery}" if delivery else ",申请未指明,须在开放条件中写明"),
            f"delivery must be one of {', '.join(DELIVERIES)}"
            + (f", not {delivery!r}" if delivery else "; the application named none: the terms must name it"),
        )
    valid_until = terms.valid_until
    if valid_until is not None:
        if valid_until.tzinfo is None:
            valid_until = valid_until.replace(tzinfo=SHANGHAI)  # the platform's clock
        if valid_until <= now:
            raise refuse(
                ERROR_INVALID,
                f"开放有效期(valid_until)已过:{valid_until.isoformat()}",
                f"valid_until is not in the future: {valid_until.isoformat()}",
            )
    checked = OpenDataTerms(
        scope=_text(terms.scope, "使用范围", "scope") or str(request.get("purpose") or ""),
        fields=fields,
        use_conditions=conditions,
        delivery=delivery,
        valid_until=valid_until,
    )
    return _TERMS.dump_python(checked, mode="json")


@workflow.defn(name=APPLICATION_WORKFLOW_TYPE)
class OpenDataApplicationWorkflow(CaseEngine):
    CASE_TYPE = "open_data_application"
    RESULTS = APPLICATION_RESULTS

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        facts = inp.facts
        zh, en = application_subject(inp)
        self._request: dict[str, Any] = {
            key: facts.get(key)
            for key in (
                "resource_id",
                "resource_version",
                "open_type",
                "entry_fields",
                "fields",
                "purpose",
                "delivery",
            )
        }
        self._init_case(
            inp.case,
            parties=parties_of(inp),
            summary=application_summary(inp),
            attributes={"request": dict(self._request), "terms": None, "refusal": None},
            subject_zh=zh,
            subject_en=en,
        )

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._run_case()

    def decision_payload(self, req: DecisionRequest, action: Action | None) -> dict[str, Any] | None:
        if req.action == GRANT:
            cited = self._speaker.cite(self._rules.article)
            return open_data_terms(req.payload, self._request, workflow.now(), cited)
        if req.action == REFUSE:
            return refusal_basis(req.payload, self._rules.article, self._speaker.cite(self._rules.article))
        return None

    def on_decided(self, task: Task, payload: dict[str, Any] | None) -> None:
        decision = task.decision
        if decision is None or payload is None:
            return
        if decision.action == GRANT:
            self.set_attribute("terms", payload)
        elif decision.action == REFUSE:
            self.set_attribute("refusal", {"reason": decision.reason, **payload})

    def on_result(self, outcome: Outcome) -> None:
        _reason_with_basis(self, outcome)

    def notice_params(self) -> dict[str, Any]:
        return {"resource_zh": self.header.subject_zh, "resource_en": self.header.subject_en}


def _reason_with_basis(case: CaseEngine, outcome: Outcome) -> None:
    """A refusal's result reason names its basis too, as the applicant is told (32, 33)."""
    basis = (outcome.decision.payload or {}).get("basis", "")
    if outcome.action_id == REFUSE and basis:
        case.header.result_reason = f"{outcome.decision.reason.strip()}。依据:{basis}"


# --------------------------------------------------------------------------------------------------
# The request to correct the open catalog (Luoyang 32)
# --------------------------------------------------------------------------------------------------


def correction_summary(inp: CaseInput) -> dict[str, str]:
    facts = inp.facts
    return {
        "resource_id": facts.get("resource_id", ""),
        "provider_department": facts.get("provider_department", ""),
        "corrects": ",".join(k for k in CORRECTABLE if k in (facts.get("correction") or {})),
    }


def correction_subject(inp: CaseInput) -> tuple[str, str]:
    return _subject(inp, "开放目录更正申请", "Open catalog correction")


def correction_agreement(
    payload: dict[str, Any] | None, legal_basis_needed: str, cited_zh: str = ""
) -> dict[str, Any] | None:
    """The provider's agreement: nothing more, or the legal basis the corrected entry needs (31).
    Where the correction makes the entry conditionally open or not open and it has no basis
    (``legal_basis_needed``: the article asking it), the agreement must give one (422 otherwise)."""
    _known_keys(payload or {}, ("legal_basis",), "同意更正的内容", "agreement's payload")
    try:
        agreement = _AGREEMENT.validate_python(payload or {})
    except ValidationError as err:
        raise refuse(
            ERROR_INVALID, f"同意更正的内容格式不正确:{err}", f"the agreement is malformed: {err}"
        ) from None
    legal_basis = _text(agreement.legal_basis, "法律依据", "legal basis")
    if legal_basis_needed and not legal_basis:
        raise refuse(
            ERROR_INVALID,
            f"更正后为有条件开放或不予开放,应当有法律法规或者国家有关文件作为依据:请在 payload.legal_basis 中"
            f"写明({cited_zh or legal_basis_needed})",
            f"after the correction the entry is conditionally open or not open, which needs a legal basis: "
            f"give it in payload.legal_basis (art. {legal_basis_needed})",
        )
    return {"legal_basis": legal_basis} if legal_basis else None


@workflow.defn(name=CORRECTION_WORKFLOW_TYPE)
class OpenCatalogCorrectionWorkflow(CaseEngine):
    CASE_TYPE = "open_catalog_correction"
    RESULTS = CORRECTION_RESULTS

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        facts = inp.facts
        zh, en = correction_subject(inp)
        self._resource_id: str = facts.get("resource_id", "")
        self._correction: dict[str, Any] = {
            k: v for k, v in (facts.get("correction") or {}).items() if k in CORRECTABLE
        }
        self._legal_basis_needed: str = facts.get("legal_basis_needed", "")
        self._agreement: dict[str, Any] = {}
        self._init_case(
            inp.case,
            parties=parties_of(inp),
            summary=correction_summary(inp),
            attributes={
                "request": {
                    "resource_id": self._resource_id,
                    "resource_version": facts.get("resource_version"),
                    "correction": dict(self._correction),
                    "current": dict(facts.get("current") or {}),
                    "reason": facts.get("reason", ""),
                },
                "agreement": None,
                "refusal": None,
                "changed": None,
            },
            subject_zh=zh,
            subject_en=en,
        )

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._run_case()

    def decision_payload(self, req: DecisionRequest, action: Action | None) -> dict[str, Any] | None:
        if req.action == REFUSE:
            return refusal_basis(req.payload, self._rules.article, self._speaker.cite(self._rules.article))
        if req.action == AGREE:
            needed = self._legal_basis_needed
            return correction_agreement(req.payload, needed, self._speaker.cite(needed) if needed else "")
        return None

    def effect_input(self, task: Task, action: Action, payload: dict[str, Any] | None) -> dict[str, Any]:
        # The correction applied for, as the provider agreed to it (with the basis it gave).
        return {
            "resource_id": self._resource_id,
            "correction": dict(self._correction),
            "legal_basis": self._agreement.get("legal_basis", ""),
        }

    def on_decided(self, task: Task, payload: dict[str, Any] | None) -> None:
        decision = task.decision
        if decision is None:
            return
        if decision.action == AGREE:
            self._agreement = dict(payload or {})
            self.set_attribute("agreement", {"reason": decision.reason, **self._agreement})
        elif decision.action == REFUSE and payload is not None:
            self.set_attribute("refusal", {"reason": decision.reason, **payload})
        elif decision.action == CHANGE and payload is not None:
            self.set_attribute("changed", payload)

    def on_result(self, outcome: Outcome) -> None:
        _reason_with_basis(self, outcome)

    def notice_params(self) -> dict[str, Any]:
        return {"resource_zh": self.header.subject_zh, "resource_en": self.header.subject_en}
