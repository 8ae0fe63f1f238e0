"""A new case type, exactly as a real one is added: this file (its input, its workflow and what only it
knows), its profile data (``exampletest.toml``) and one registry entry at the bottom. Nothing in
the shared path (engine, case service, projection, API, notices) has a line for it.

A consumer reports a doubtful data item of a provider's resource; the provider verifies it and
confirms it, or corrects it — a correction carries the corrected value, which the case type checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from temporalio import workflow

# Registered at import, like every case type; the registry module is not passed through the workflow
# sandbox, so the sandbox's own copy of this module registers into its own copy of the registry.
from workflows import registry

with workflow.unsafe.imports_passed_through():
    from regulations import load_profile_file
    from regulations.schema import Action
    from workflows.case import ERROR_INVALID, CaseAnswer, DecisionRequest, Party
    from workflows.contracts import CaseStart
    from workflows.engine import CaseEngine, refuse

PROFILE = load_profile_file(Path(__file__).parent / "exampletest.toml")


@dataclass
class DataCheckInput:
    case: CaseStart
    reporter_department: str
    provider_department: str
    data_item: str


def parties_of(inp: DataCheckInput) -> list[Party]:
    return [
        Party(role="consumer", department=inp.reporter_department),
        Party(role="provider", department=inp.provider_department),
    ]


@workflow.defn(name="ExampleDataCheck")
class ExampleDataCheck(CaseEngine):
    CASE_TYPE = "example_check"
    RESULTS: ClassVar[dict[str, tuple[str, str]]] = {
        "confirmed": ("数据无误", "confirmed"),
        "corrected": ("已更正", "corrected"),
    }

    @workflow.init
    def __init__(self, inp: DataCheckInput) -> None:
        self._init_case(
            inp.case,
            parties=parties_of(inp),
            subject_zh=f"数据项“{inp.data_item}”",
            subject_en=f"data item {inp.data_item}",
            summary={"data_item": inp.data_item, "reporter_department": inp.reporter_department},
        )

    @workflow.run
    async def run(self, inp: DataCheckInput) -> CaseAnswer:
        return await self._run_case()

    def decision_payload(self, req: DecisionRequest, action: Action | None) -> dict[str, Any]:
        value = (req.payload or {}).get("corrected_value", "")
        if not isinstance(value, str) or not value.strip():
            raise refuse(ERROR_INVALID, "更正须给出更正后的值", "a correction needs the corrected value")
        return {"corrected_value": value.strip()}

    def on_result(self, outcome) -> None:
        if outcome.decision.payload is not None:
            self.set_attribute("correction", outcome.decision.payload)


EXAMPLE_CHECK = registry.register(
    registry.CaseKind(
        case_type="example_check",
        prefix="XC",
        id_name="ExampleDataCheck",
        workflow=ExampleDataCheck,
        workflow_type="ExampleDataCheck",
        input_type=DataCheckInput,
        name_zh="数据核查(示例)",
        name_en="Data check (example)",
        parties=parties_of,
        build=lambda start, fields: DataCheckInput(case=start, **fields),
        start_summary=lambda inp: f"{inp.reporter_department} → {inp.provider_department}: {inp.data_item}",
    )
)
