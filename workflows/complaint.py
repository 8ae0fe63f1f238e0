"""The complaint (投诉, Luzhou 44), one workflow per complaint.

Any department may complain about another's conduct to the leading group or to the municipal
government office; the body it is addressed to investigates (a task for it), may find that it calls
for a rectification order (a linked case), and feeds the result back to the complainant.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.case import CaseAnswer, Party
    from workflows.contracts import CaseInput
    from workflows.engine import CaseEngine

WORKFLOW_TYPE = "Complaint"

RESULTS = {
    "substantiated": ("情况属实", "substantiated"),
    "unsubstantiated": ("情况不属实", "unsubstantiated"),
}


def parties_of(inp: CaseInput) -> list[Party]:
    """The complainant, the department complained about, and the body that investigates."""
    facts = inp.facts
    return [
        Party(role="complainant", department=facts.get("complainant", "")),
        Party(role="respondent", department=facts.get("respondent", "")),
        Party(role="investigator", department=facts.get("investigator", "")),
        Party(role="platform", department=inp.case.platform_department),
    ]


def summary_of(inp: CaseInput) -> dict[str, str]:
    facts = inp.facts
    return {
        "complainant_department": facts.get("complainant", ""),
        "respondent_department": facts.get("respondent", ""),
        "investigator_department": facts.get("investigator", ""),
        "addressed_to": facts.get("addressed_to", ""),
        "concerns": ",".join(facts.get("concerns") or []),
    }


def subject_of(inp: CaseInput) -> tuple[str, str]:
    names = inp.case.department_names
    respondent = inp.facts.get("respondent", "")
    return f"投诉{names.get(respondent, respondent)}", f"Complaint about {respondent}"


def start_summary(inp: CaseInput) -> str:
    return f"{inp.facts.get('complainant', '')} → {inp.facts.get('respondent', '')}({inp.case.profile_id})"


@workflow.defn(name=WORKFLOW_TYPE)
class ComplaintWorkflow(CaseEngine):
    CASE_TYPE = "complaint"
    RESULTS = RESULTS

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        zh, en = subject_of(inp)
        self._init_case(
            inp.case,
            parties=parties_of(inp),
            summary=summary_of(inp),
            attributes={
                "conduct": inp.facts.get("conduct", ""),
                "addressed_to": inp.facts.get("addressed_to", ""),
                "concerns": list(inp.facts.get("concerns") or []),
            },
            subject_zh=zh,
            subject_en=en,
        )

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._run_case()

    def notice_params(self) -> dict[str, Any]:
        return {"resource_zh": self.header.subject_zh, "resource_en": self.header.subject_en}
