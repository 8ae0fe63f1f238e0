"""The escalation (逐级上报): one workflow per breach of a case's step, for every case type.

A breach starts it (``ES-<case>-E<n>``); its steps are the ladder's rungs, made into a case type by
``workflows/engine/ladder.py``: a task for the department that plays each task rung's role (a report
to the leading group office, a written circular …), then, at a rung that starts a case, a task that
waits on that case (a rectification order) and ends with its result. It reports how it ended to the
case that breached, like every linked case.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import complaint, rectification_order
    from workflows.case import CaseAnswer
    from workflows.contracts import CaseInput
    from workflows.engine import CaseEngine
    from workflows.engine.ladder import ESCALATION, ESCALATION_RESULTS

WORKFLOW_TYPE = "Escalation"

#: Its own results, and those of the cases its last rung may wait on.
RESULTS = {**ESCALATION_RESULTS, **rectification_order.RESULTS, **complaint.RESULTS}


def subject_of(inp: CaseInput) -> tuple[str, str]:
    concerns = next((k.case_id for k in inp.case.links if k.relation == "started_by"), "")
    return f"{concerns} 超期逐级上报", f"Escalation of {concerns}"


def summary_of(inp: CaseInput) -> dict[str, str]:
    concerns = next((k.case_id for k in inp.case.links if k.relation == "started_by"), "")
    return {
        "concerns": concerns,
        "respondent_department": inp.facts.get("responsible_department", ""),
        "breach_step": inp.facts.get("breach_step", ""),
    }


def start_summary(inp: CaseInput) -> str:
    return subject_of(inp)[0]


@workflow.defn(name=WORKFLOW_TYPE)
class EscalationWorkflow(CaseEngine):
    CASE_TYPE = ESCALATION
    RESULTS = RESULTS

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        zh, en = subject_of(inp)
        self._init_case(
            inp.case,
            parties=[],
            summary=summary_of(inp),
            attributes={
                "ladder": [r.id for r in inp.case.ladder or []],
                "breach_task": inp.facts.get("breach_task", ""),
                "breach_article": inp.facts.get("breach_article", ""),
            },
            subject_zh=zh,
            subject_en=en,
        )

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._run_case()
