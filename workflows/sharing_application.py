"""The sharing application (数据使用申请 / 共享申请), one workflow per case.

A consumer department applies to use a catalog resource; the case runs under its pinned profile:
Hubei 18–22 (platform check 3 WD → platform direct authorization 3 WD or provider authorization
10 WD → consumer informed within 1 WD), Luzhou 25 (unconditional taken directly; conditional: provider
accepts within 5 WD, then provides or refuses), Jiangsu 16 (conditional: provider responds within
10 WD), Luoyang annex 3 art. 13 (five stages, no statutory deadline). The flow itself is the profile's
data; this class adds what is particular to an application: the parties, the resource attributes the
profile's transitions test, and the terms a grant records.

Runs on the second-generation engine under the workflow type ``SharingApplicationV2``; cases started
before it run on the frozen first generation (``workflows/legacy/engine_v1.py``, ``SharingApplication``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from regulations.schema import Action, Transition
    from workflows.case import ERROR_INVALID, GRANT_TERMS_JSON, CaseAnswer, DecisionRequest, GrantTerms, Party
    from workflows.contracts import CaseStart, SharingApplicationInput
    from workflows.engine import CaseEngine, Outcome, refuse

#: Luzhou 25: comparison mode — "data does not land"; only comparison results are delivered.
COMPARISON_MODE = "data_comparison"

WORKFLOW_TYPE = "SharingApplicationV2"

#: How an application's results read (Hubei 21, 22; Luzhou 25): zh-CN, English.
RESULTS = {
    "granted": ("同意授权", "granted"),
    "refused": ("不同意授权", "refused"),
    "rejected": ("不予受理", "rejected"),
}


def parties_of(inp: SharingApplicationInput) -> list[Party]:
    """Who plays which role in an application: the applicant (consumer), the resource's provider,
    and the platform that checks it (Hubei 18–22)."""
    return [
        Party(role="consumer", department=inp.consumer_department),
        Party(role="provider", department=inp.resource.provider_department),
        Party(role="platform", department=inp.case.platform_department),
    ]


def summary_of(inp: SharingApplicationInput) -> dict[str, str]:
    """What lists and inboxes show of an application beside its subject."""
    return {
        "resource_id": inp.resource.id,
        "consumer_department": inp.consumer_department,
        "provider_department": inp.resource.provider_department,
    }


def build(start: CaseStart, fields: dict[str, Any]) -> SharingApplicationInput:
    """An application's input from its pinned start and the fields the API checked."""
    return SharingApplicationInput(case=start, **fields)


def start_summary(inp: SharingApplicationInput) -> str:
    """What an operator reads in the Temporal UI's list of cases."""
    return (
        f"{inp.consumer_department} → {inp.resource.provider_department}: "
        f"{inp.resource.name_zh}({inp.case.profile_id})"
    )


@workflow.defn(name=WORKFLOW_TYPE)
class SharingApplicationWorkflow(CaseEngine):
    CASE_TYPE = "sharing_application"
    RESULTS = RESULTS

    @workflow.init
    def __init__(self, inp: SharingApplicationInput) -> None:
        start = inp.case
        resource = inp.resource
        self._input = inp
        self._init_case(
            start,
            parties=parties_of(inp),
            summary=summary_of(inp),
            attributes={
                "resource": asdict(resource),
                "purpose": inp.purpose,
                "reason": inp.reason,
                "requested_fields": list(inp.requested_fields),
                "requested_mode": inp.requested_mode,
                "settlement": inp.settlement,
                "grant": None,
            },
            facts={
                "share_type": resource.share_type,
                "controlled_parameters": resource.controlled_parameters,
                "sharing_mode": inp.requested_mode,
                "settled_by_dispute": bool(inp.settlement),
            },
            subject_zh=resource.name_zh,
            subject_en=resource.name_en,
        )

    @workflow.run
    async def run(self, inp: SharingApplicationInput) -> CaseAnswer:
        return await self._run_case()

    # -- what is particular to an application ----------------------------------------------------
    def decision_payload(self, req: DecisionRequest, action: Action | None) -> dict[str, Any]:
        return GRANT_TERMS_JSON.dump_python(self.grant_terms(req), mode="json")

    def decision_grant(self, payload: dict[str, Any] | None) -> GrantTerms | None:
        return GRANT_TERMS_JSON.validate_python(payload) if payload is not None else None

    def grant_terms(self, req: DecisionRequest) -> GrantTerms:
        """The grant records scope, fields, sharing mode and conditions (Hubei 13, 24).

        Unset terms default to what was applied for; the granted fields and mode must exist on the
        resource, so a grant never promises data the catalog does not have.
        """
        resource = self._input.resource
        asked = self._grant_asked(req)
        fields = asked.fields or list(self._input.requested_fields) or list(resource.fields)
        unknown = [f for f in fields if resource.fields and f not in resource.fields]
        if unknown:
            raise refuse(
                ERROR_INVALID,
                f"授权字段不在目录中:{', '.join(unknown)}",
                f"granted fields not in the catalog entry: {', '.join(unknown)}",
            )
        mode = asked.sharing_mode or self._input.requested_mode or (resource.sharing_modes or [""])[0]
        if mode and resource.sharing_modes and mode not in resource.sharing_modes:
            raise refuse(
                ERROR_INVALID,
                f"共享方式 {mode} 不在目录允许的方式中",
                f"sharing mode {mode} is not offered by the resource",
            )
        return GrantTerms(
            scope=asked.scope or self._input.purpose,
            fields=fields,
            sharing_mode=mode,
            conditions=asked.conditions,
            valid_until=asked.valid_until,
            comparison_results_only=mode == COMPARISON_MODE,
        )

    @staticmethod
    def _grant_asked(req: DecisionRequest) -> GrantTerms:
        if not req.payload:
            return req.grant or GrantTerms()
        try:
            return GRANT_TERMS_JSON.validate_python(req.payload)
        except ValueError as err:  # pydantic's ValidationError is a ValueError
            raise refuse(
                ERROR_INVALID, f"授权条件格式不正确:{err}", f"the grant terms are malformed: {err}"
            ) from None

    def on_result(self, outcome: Outcome) -> None:
        if outcome.decision.grant is not None:
            self._record_grant(outcome.decision.grant)

    def automatic_reason(self, transition: Transition) -> str:
        reason = transition.note_zh or ""
        legal_basis = self._input.resource.legal_basis
        if transition.result == "rejected" and legal_basis:
            # not_shared needs a legal basis (Hubei 8(1), Jiangsu 11(1)); the rejection quotes it.
            reason = f"{reason}。依据:{legal_basis}" if reason else f"依据:{legal_basis}"
        return reason

    def on_automatic_result(self, transition: Transition) -> None:
        if transition.result == "granted":
            # Unconditional resources are taken directly (Luzhou 25, Jiangsu 16): the grant is
            # recorded as applied for, with no approval step.
            submitted = self.header.submitted_by
            self._record_grant(self.grant_terms(DecisionRequest(actor=submitted, action="")))

    def _record_grant(self, grant: GrantTerms) -> None:
        self.set_attribute("grant", GRANT_TERMS_JSON.dump_python(grant, mode="json"))

    def notice_params(self) -> dict[str, Any]:
        resource = self._input.resource
        return {
            "resource_id": resource.id,
            "resource_zh": resource.name_zh,
            "resource_en": resource.name_en,
            "consumer": self._input.consumer_department,
            "provider": resource.provider_department,
        }
