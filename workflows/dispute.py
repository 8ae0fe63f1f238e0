"""The sharing dispute (共享争议: 异议 → 协商 → 协调 → 裁定), one workflow per dispute (REGULATIONS.md §4).

The consumer opens it over a refused or rejected application, or over a not-shared entry it needs for
its duties (Jiangsu 16). Consumer and provider — under Hubei 25 the platform too — negotiate in one
step played by all of them at once: a thread of messages and proposals (notes), each party agreeing to
the latest proposal or declaring the negotiation failed. Agreement of all settles it. Failing that,
the profile's coordinator decides (Hubei: the same-level functional department; Luzhou: 市经济和信息化
委; Jiangsu: the same-level sharing authority, or the leading group when provincial departments are
involved); under Luzhou 27 the coordinator may refer it to the leading group, which rules finally.

A settlement, coordination or ruling that grants access starts the sharing application with the
agreed scope (``Action.starts_case``: the engine starts it once the step is decided), linked both
ways; the application goes to the provider at once (``settled_by_dispute``). The seeds set no time
limit for any stage: the profiles' limits are local policy, labelled as such.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from regulations.schema import Action
    from workflows.case import ERROR_INVALID, Actor, CaseAnswer, DecisionRequest, Party, Task
    from workflows.contracts import CaseInput
    from workflows.engine import CaseEngine, refuse
    from workflows.engine.links import StartedCase
    from workflows.engine.words import SYSTEM_USER

WORKFLOW_TYPE = "Dispute"

RESULTS = {
    "settled_access": ("协商一致,予以共享", "settled: access"),
    "settled_no_access": ("协商一致,不予共享", "settled: no access"),
    "coordinated_access": ("协调决定予以共享", "coordinated: access"),
    "coordinated_no_access": ("协调决定不予共享", "coordinated: no access"),
    "ruled_access": ("裁定予以共享", "ruled: access"),
    "ruled_no_access": ("裁定不予共享", "ruled: no access"),
}

#: The terms a proposal, a coordination or a ruling that grants access states.
TERM_KEYS = ("scope", "fields", "sharing_mode", "conditions")


def parties_of(inp: CaseInput) -> list[Party]:
    """The consumer that disputes, the provider, the platform, and who coordinates and rules (the
    deployment's directory, pinned at the start)."""
    facts, start = inp.facts, inp.case
    parties = [
        Party(role="consumer", department=facts.get("consumer", "")),
        Party(role="provider", department=facts.get("provider", "")),
        Party(role="platform", department=start.platform_department),
    ]
    for role in ("coordinator", "leading_group"):
        department = start.directory.get(role, "")
        if department:
            parties.append(Party(role=role, department=department))  # type: ignore[arg-type]
    return parties


def summary_of(inp: CaseInput) -> dict[str, str]:
    facts = inp.facts
    return {
        "consumer_department": facts.get("consumer", ""),
        "provider_department": facts.get("provider", ""),
        "resource_id": (facts.get("resource") or {}).get("id", ""),
        "application_id": facts.get("application_id", ""),
    }


def subject_of(inp: CaseInput) -> tuple[str, str]:
    resource = inp.facts.get("resource") or {}
    return (
        f"共享争议:{resource.get('name_zh') or resource.get('id', '')}",
        f"Dispute: {resource.get('name_en') or resource.get('id', '')}",
    )


def start_summary(inp: CaseInput) -> str:
    facts = inp.facts
    return f"{facts.get('consumer', '')} ⇄ {facts.get('provider', '')}({inp.case.profile_id})"


def check_terms(terms: Any, resource: dict[str, Any]) -> dict[str, Any]:
    """Terms that grant access: a scope, and fields and a sharing mode the entry has (422 otherwise)."""
    if not isinstance(terms, dict):
        raise refuse(ERROR_INVALID, "须写明共享条款(scope、fields、sharing_mode)", "state the terms")
    unknown_keys = sorted(set(terms) - set(TERM_KEYS))
    if unknown_keys:
        raise refuse(
            ERROR_INVALID,
            f"共享条款只包括 {', '.join(TERM_KEYS)}:{', '.join(unknown_keys)} 不是条款",
            f"terms are {', '.join(TERM_KEYS)}; not terms: {', '.join(unknown_keys)}",
        )
    if not str(terms.get("scope", "")).strip():
        raise refuse(ERROR_INVALID, "共享条款须写明使用范围(scope)", "the terms need a scope")
    fields = terms.get("fields") or []
    offered = resource.get("fields") or []
    wrong = [f for f in fields if not isinstance(f, str) or (offered and f not in offered)]
    if not isinstance(fields, list) or wrong:
        raise refuse(
            ERROR_INVALID,
            f"共享条款中的数据项不在目录中:{', '.join(map(str, wrong))}",
            f"fields not in the catalog entry: {', '.join(map(str, wrong))}",
        )
    mode = terms.get("sharing_mode", "")
    modes = resource.get("sharing_modes") or []
    if mode and modes and mode not in modes:
        raise refuse(
            ERROR_INVALID,
            f"共享方式 {mode} 不在目录允许的方式({', '.join(modes)})中",
            f"sharing mode {mode} is not offered ({', '.join(modes)})",
        )
    return {key: terms[key] for key in TERM_KEYS if key in terms}


@workflow.defn(name=WORKFLOW_TYPE)
class DisputeWorkflow(CaseEngine):
    CASE_TYPE = "dispute"
    RESULTS = RESULTS

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        facts = inp.facts
        self._facts_in = dict(facts)
        zh, en = subject_of(inp)
        self._init_case(
            inp.case,
            parties=parties_of(inp),
            summary=summary_of(inp),
            facts={"provincial": bool(facts.get("provincial"))},
            attributes={
                "application_id": facts.get("application_id", ""),
                "resource": facts.get("resource") or {},
                "matter": facts.get("matter", ""),
                "duty": facts.get("duty", ""),
                "purpose": facts.get("purpose", ""),
                "provincial": bool(facts.get("provincial")),
                "terms": None,
            },
            subject_zh=zh,
            subject_en=en,
        )

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._run_case()

    # -- what is particular to a dispute -----------------------------------------------------------
    def check_proposal(self, payload: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_terms(payload, self._facts_in.get("resource") or {})

    def decision_payload(self, req: DecisionRequest, action: Action | None) -> dict[str, Any] | None:
        """A coordination or ruling that grants access states its terms (``payload``)."""
        return {"terms": check_terms(req.payload, self._facts_in.get("resource") or {})}

    def on_decided(self, task: Task, payload: dict[str, Any] | None) -> None:
        if payload and payload.get("terms"):
            self.set_attribute("terms", payload["terms"])

    def started_case(self, task: Task, action: Action) -> StartedCase | None:
        """The sharing application a settlement, coordination or ruling granting access starts: for
        the consumer, on the entry in dispute, with the agreed fields and mode."""
        if action.starts_case != "sharing_application" or task.decision is None:
            return None
        terms = (task.decision.payload or {}).get("terms") or {}
        facts = self._facts_in
        consumer = facts.get("consumer", "")
        case_id = self.header.case_id
        return StartedCase(
            fields={
                "consumer_department": consumer,
                "resource": facts.get("resource") or {},
                "purpose": facts.get("purpose") or facts.get("duty") or facts.get("matter", ""),
                "reason": f"依共享争议 {case_id} {self._speaker.status_zh(action.result or '')}:"
                f"{terms.get('scope', '')}",
                "requested_fields": list(terms.get("fields") or []),
                "requested_mode": terms.get("sharing_mode", ""),
                "settlement": case_id,
            },
            submitted_by=Actor(consumer, "consumer", SYSTEM_USER),
        )

    def notice_params(self) -> dict[str, Any]:
        return {"resource_zh": self.header.subject_zh, "resource_en": self.header.subject_en}
