"""The data objection (数据疑义 / 纠错 / 校核), one workflow per report (REGULATIONS.md §6).

A consumer department — under Luoyang also a citizen, a legal person or another organisation (19) —
reports doubtful or wrong data in a catalog entry: which records or fields, what is wrong, the
evidence, and when the problem was found. Under Hubei (17) the platform's own quality checks open
the same case, and data inconsistent between two providers opens one joint verification with both.
The provider checks it and corrects the data (saying what changed) or confirms it (saying why); the
reporter is told. The steps, the limits (Luzhou 26: report within 3 WD of finding the problem,
reply within 5; Luoyang 19: check within 10, once extended by ≤ 10 with the head's approval; Hubei
23: promptly, no number) and the ladder come from the profile.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.case import CaseAnswer, Party
    from workflows.contracts import CaseInput
    from workflows.engine import CaseEngine

WORKFLOW_TYPE = "DataObjection"

RESULTS = {
    "corrected": ("数据已更正", "corrected"),
    "confirmed": ("经校核数据无误", "confirmed correct"),
}


def reporter_party(facts: dict[str, Any]) -> Party:
    """Who reported: a consumer department, the platform (a quality check), or a person."""
    reporter = facts.get("reporter") or {}
    return Party(
        role=reporter.get("role", "consumer"),
        department=reporter.get("department", ""),
        person=reporter.get("person", ""),
    )


def parties_of(inp: CaseInput) -> list[Party]:
    """The reporter, the provider of the entry (and, for an inconsistency, the provider of the
    other entry), and the platform."""
    facts = inp.facts
    parties = [reporter_party(facts)]
    for provider in facts.get("providers") or []:
        parties.append(Party(role="provider", department=provider))
    platform = Party(role="platform", department=inp.case.platform_department)
    if platform not in parties:
        parties.append(platform)
    return parties


def summary_of(inp: CaseInput) -> dict[str, str]:
    facts = inp.facts
    reporter = facts.get("reporter") or {}
    return {
        "resource_id": facts.get("resource_id", ""),
        "provider_department": (facts.get("providers") or [""])[0],
        "reporter_department": reporter.get("department", ""),
        "found_on": facts.get("found_on", ""),
    }


def subject_of(inp: CaseInput) -> tuple[str, str]:
    facts = inp.facts
    name_zh = facts.get("resource_name_zh") or facts.get("resource_id", "")
    name_en = facts.get("resource_name_en") or facts.get("resource_id", "")
    return f"数据疑义:{name_zh}", f"Data objection: {name_en}"


def start_summary(inp: CaseInput) -> str:
    reporter = reporter_party(inp.facts)
    who = reporter.department or "citizen"
    return f"{who} → {inp.facts.get('resource_id', '')}({inp.case.profile_id})"


@workflow.defn(name=WORKFLOW_TYPE)
class DataObjectionWorkflow(CaseEngine):
    CASE_TYPE = "data_objection"
    RESULTS = RESULTS

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        facts = inp.facts
        zh, en = subject_of(inp)
        self._init_case(
            inp.case,
            parties=parties_of(inp),
            summary=summary_of(inp),
            facts={"inconsistency": bool(facts.get("other_resource_id"))},
            attributes={
                "report": {
                    key: facts.get(key)
                    for key in (
                        "resource_id",
                        "resource_version",
                        "other_resource_id",
                        "records",
                        "fields",
                        "problem",
                        "evidence",
                        "found_on",
                    )
                },
                "source": facts.get("source", "report"),
            },
            subject_zh=zh,
            subject_en=en,
        )

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._run_case()

    def notice_params(self) -> dict[str, Any]:
        return {"resource_zh": self.header.subject_zh, "resource_en": self.header.subject_en}
