"""Case types that exist only to test the engine: each one workflow class plus the data in
``tests/profiles/enginetest.toml`` — the shape every real case type takes. Importing this module
registers them (the session worker in ``tests/conftest.py`` runs them)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from temporalio import workflow

from regulations import load_profile_file
from workflows import registry
from workflows.case import Actor, CaseAnswer, CaseLink, Party
from workflows.contracts import CaseInput, CaseStart
from workflows.engine import CaseEngine

PROFILE = load_profile_file(Path(__file__).parent / "profiles" / "enginetest.toml")


class _TestCase(CaseEngine):
    def __init__(self, inp: CaseInput) -> None:
        self._init_case(inp.case, parties=[], facts=inp.facts, subject_zh=inp.facts.get("subject", ""))

    async def _go(self) -> CaseAnswer:
        return await self._run_case()


@workflow.defn(name="EngineJoint")
class EngineJoint(_TestCase):
    CASE_TYPE = "engine_joint"

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._go()


@workflow.defn(name="EngineClock")
class EngineClock(_TestCase):
    CASE_TYPE = "engine_clock"

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._go()


@workflow.defn(name="EngineLaw")
class EngineLaw(_TestCase):
    CASE_TYPE = "engine_law"

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._go()


@workflow.defn(name="EngineOrder")
class EngineOrder(_TestCase):
    CASE_TYPE = "engine_order"

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._go()


@workflow.defn(name="EngineLadder")
class EngineLadder(_TestCase):
    CASE_TYPE = "engine_ladder"

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._go()


@workflow.defn(name="EngineAny")
class EngineAny(_TestCase):
    CASE_TYPE = "engine_any"

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._go()


@workflow.defn(name="EngineQuorum")
class EngineQuorum(_TestCase):
    CASE_TYPE = "engine_quorum"

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._go()


KINDS = {
    cls.CASE_TYPE: registry.register(
        registry.CaseKind(
            case_type=cls.CASE_TYPE,
            prefix=prefix,
            id_name=name,
            workflow=cls,
            workflow_type=name,
            input_type=CaseInput,
            name_zh=PROFILE.case_types[cls.CASE_TYPE].name_zh,
            name_en=PROFILE.case_types[cls.CASE_TYPE].name_en,
        )
    )
    for cls, prefix, name in (
        (EngineJoint, "EJ", "EngineJoint"),
        (EngineClock, "EC", "EngineClock"),
        (EngineLaw, "EL", "EngineLaw"),
        (EngineOrder, "EO", "EngineOrder"),
        (EngineAny, "EA", "EngineAny"),
        (EngineQuorum, "EQ", "EngineQuorum"),
        (EngineLadder, "EX", "EngineLadder"),
    )
}

#: Who plays each directory role in the engine's tests.
DIRECTORY = {"platform": "bdb", "leading_group": "lgo", "coordinator": "jxw"}

PLATFORM = Actor("bdb", "platform", "operator")
LEADING_GROUP = Actor("lgo", "leading_group", "director")


def case_input(
    case_type: str,
    case_id: str,
    parties: list[Party],
    *,
    submitted_at: datetime | None = None,
    counts_from: datetime | None = None,
    links: list[CaseLink] | None = None,
) -> CaseInput:
    # Imported here: this module defines workflows, which the sandbox re-imports without it.
    from govshare.cases import service as case_service

    rules = PROFILE.case_types[case_type]
    return CaseInput(
        case=CaseStart(
            case_id=case_id,
            profile_id=PROFILE.id,
            profile_version=PROFILE.version,
            profile_digest="test",
            profile_name_zh=PROFILE.title_zh,
            deadline_cutoff=PROFILE.deadline_cutoff,
            rules=rules,
            submitted_at=submitted_at or datetime.now(UTC),
            submitted_by=PLATFORM,
            platform_department="bdb",
            parties=[
                Party(role="platform", department="bdb"),
                Party(role="leading_group", department="lgo"),
                *parties,
            ],
            counts_from=counts_from,
            links=list(links or []),
            linked_types=case_service.linked_types(PROFILE, rules),
            directory=dict(DIRECTORY),
            escalation_type=case_service.escalation_type(),
        ),
        facts={"subject": f"测试 {case_type}"},
    )
