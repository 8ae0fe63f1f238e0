"""The rectification order (整改通知), one workflow per order (REGULATIONS.md §7).

Started by a rung of the escalation ladder (linked to the escalation and the case that breached), by
a decision on a complaint, or opened by hand by the leading group office (Hubei 26; Luzhou 42;
Jiangsu 25) or, under Hubei 31, the same-level functional department. Its steps are the profile's:
the issuer issues it with a rectification period in working days (the seeds set none: the issuer's
limit, labelled as such, ``limit_from = "decision"``) or dismisses it with a reason; the respondent
department reports its rectification; the issuer accepts it, or returns it with reasons and the
department reports again on the same deadline. Not rectified in time: the ladder it carries (or its
case type's own) climbs on.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.case import CaseAnswer, Party
    from workflows.contracts import CaseInput
    from workflows.engine import CaseEngine

WORKFLOW_TYPE = "RectificationOrder"

RESULTS = {
    "rectified": ("整改完成", "rectified"),
    "dismissed": ("不予整改", "dismissed"),
}


def parties_of(inp: CaseInput) -> list[Party]:
    """The issuer and the department ordered to rectify (as the order names them)."""
    facts = inp.facts
    found = []
    if facts.get("issuer"):
        found.append(Party(role="issuer", department=facts["issuer"]))
    if facts.get("respondent"):
        found.append(Party(role="respondent", department=facts["respondent"]))
    found.append(Party(role="platform", department=inp.case.platform_department))
    return found


def summary_of(inp: CaseInput) -> dict[str, str]:
    facts = inp.facts
    issuer = facts.get("issuer") or next((p.department for p in inp.case.parties if p.role == "issuer"), "")
    return {
        "issuer_department": issuer,
        "respondent_department": facts.get("respondent", ""),
        "grounds": ",".join(facts.get("grounds") or []),
        "concerns": ",".join(facts.get("concerns") or []),
    }


def subject_of(inp: CaseInput) -> tuple[str, str]:
    respondent = inp.facts.get("respondent", "")
    name = inp.case.department_names.get(respondent, respondent)
    return f"责令{name}整改", f"Rectification by {respondent}"


def start_summary(inp: CaseInput) -> str:
    return f"{subject_of(inp)[0]}({inp.case.profile_id})"


@workflow.defn(name=WORKFLOW_TYPE)
class RectificationOrderWorkflow(CaseEngine):
    CASE_TYPE = "rectification_order"
    RESULTS = RESULTS

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        zh, en = subject_of(inp)
        grounds = list(inp.facts.get("grounds") or [])
        rules = inp.case.rules
        self._init_case(
            inp.case,
            parties=parties_of(inp),
            summary=summary_of(inp),
            attributes={
                "grounds": [
                    {"id": g, "article": rules.grounds[g].article, "name_zh": rules.grounds[g].name_zh}
                    for g in grounds
                    if g in rules.grounds
                ],
                "concerns": list(inp.facts.get("concerns") or []),
                "description": inp.facts.get("description", ""),
            },
            subject_zh=zh,
            subject_en=en,
        )

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._run_case()

    def notice_params(self) -> dict[str, Any]:
        return {"resource_zh": self.header.subject_zh, "resource_en": self.header.subject_en}
