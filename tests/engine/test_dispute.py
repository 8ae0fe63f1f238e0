"""Sharing disputes on the time-skipping server (issue 20): a negotiation played by several roles at
once (proposals, agreement of all), a settlement that starts the sharing application with the agreed
scope (linked both ways), a negotiation that fails, coordination, and a ruling by the leading group
(Luzhou 27; Jiangsu 16 when provincial departments are involved) — only the right role at each step."""

from __future__ import annotations

import uuid

from case_client import decide, handle, refused, state, until
from factories import DIRECTORY
from temporalio.client import WorkflowUpdateFailedError

from govshare.cases import service as case_service
from workflows import registry
from workflows.case import Actor, CaseAnswer, DecisionRequest, NoteRequest

RSJ = Actor("rsj", "consumer", "clerk")
GAJ = Actor("gaj", "provider", "reviewer")
BDB = Actor("bdb", "platform", "operator")
JXW = Actor("jxw", "coordinator", "director")
LGO = Actor("lgo", "leading_group", "office")
RESOURCE = {
    "id": "RES-POP-001",
    "version": 1,
    "name_zh": "人口基础信息",
    "name_en": "Population basic data",
    "provider_department": "gaj",
    "share_type": "conditional",
    "sharing_modes": ["system_docking", "data_comparison"],
    "fields": ["name", "id_number", "address"],
}
TERMS = {"scope": "仅用于社保待遇资格核验", "fields": ["name", "address"], "sharing_mode": "data_comparison"}


async def open_dispute(env, client, task_queue, profile: str, *, provincial: bool = False):
    case_id = f"DS-T{uuid.uuid4().hex[:8].upper()}"
    inp = case_service.new_case_input(
        registry.DISPUTE,
        case_id=case_id,
        profile_id=profile,
        submitted_at=await env.get_current_time(),
        submitted_by=RSJ,
        platform_department="bdb",
        fields={
            "consumer": "rsj",
            "provider": "gaj",
            "resource": RESOURCE,
            "application_id": "SA-20261201-ABCDEF",
            "matter": "提供部门以无法律依据为由拒绝共享,但社保资格核验确需使用",
            "purpose": "社保待遇资格核验",
            "provincial": provincial,
        },
        directory=dict(DIRECTORY),
    )
    answer = await case_service.start_case(client, task_queue, registry.DISPUTE, inp)
    return case_id, answer


async def note(client, case_id: str, req: NoteRequest) -> CaseAnswer:
    return await handle(client, case_id).execute_update("note", req, result_type=CaseAnswer)


async def note_refused(client, case_id: str, req: NoteRequest) -> str:
    try:
        await note(client, case_id, req)
    except WorkflowUpdateFailedError as err:
        return err.cause.type  # type: ignore[union-attr]
    raise AssertionError("the note was taken")


def task_of(answer: CaseAnswer, department: str):
    return next(t for t in answer.open_tasks if t.assignee.department == department)


async def test_agreement_of_all_settles_and_starts_the_application(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await open_dispute(env, client, task_queue, "hubei")
    # Hubei 25: provider, platform and consumer negotiate in one step, each with a task.
    assert sorted((t.assignee.role, t.assignee.department) for t in answer.open_tasks) == [
        ("consumer", "rsj"),
        ("platform", "bdb"),
        ("provider", "gaj"),
    ]
    assert {t.step for t in answer.open_tasks} == {"negotiation"}
    agree = {"payload": {"proposal": 2}}  # the proposal is the thread's second note
    # Nothing to agree to yet.
    assert await refused(client, case_id, DecisionRequest(RSJ, "agree_access", **agree)) == "Conflict"
    await note(client, case_id, NoteRequest(RSJ, "message", "社保资格核验确需住址信息"))
    # A proposal states terms the entry has.
    bad = NoteRequest(GAJ, "proposal", "方案一", payload={**TERMS, "fields": ["salary"]})
    assert await note_refused(client, case_id, bad) == "Invalid"
    # The coordinator takes no part in the negotiation's proposals.
    assert (
        await note_refused(client, case_id, NoteRequest(JXW, "proposal", "x", payload=TERMS)) == "Forbidden"
    )
    await note(client, case_id, NoteRequest(GAJ, "proposal", "方案一:仅比对", payload=TERMS))
    # Agreement names the latest proposal.
    assert (
        await refused(client, case_id, DecisionRequest(RSJ, "agree_access", payload={"proposal": 7}))
        == "Invalid"
    )
    await decide(client, case_id, DecisionRequest(RSJ, "agree_access", **agree))
    # Once a party agreed, no new proposal: the others agree to it, or end the negotiation.
    later = NoteRequest(BDB, "proposal", "方案二", payload={**TERMS, "fields": ["name"]})
    assert await note_refused(client, case_id, later) == "Conflict"
    await decide(client, case_id, DecisionRequest(BDB, "agree_access", **agree))
    answer = await decide(client, case_id, DecisionRequest(GAJ, "agree_access", **agree))
    assert answer.result == "settled_access"
    current = await until(lambda s: bool(s.header.links), client, case_id)
    (link,) = [k for k in current.header.links if k.relation == "started"]
    assert link.case_type == "sharing_application" and link.case_id.startswith(f"SA-{case_id}-T")
    assert current.header.attributes["terms"] == TERMS
    # The application: for the consumer, with the agreed scope, at the provider's step at once.
    application = await until(lambda s: bool(s.tasks), client, link.case_id)
    assert application.header.submitted_by.department == "rsj"
    assert application.header.attributes["settlement"] == case_id
    assert application.header.attributes["requested_fields"] == ["name", "address"]
    assert application.header.attributes["requested_mode"] == "data_comparison"
    (first,) = application.tasks
    assert (first.step, first.assignee.department) == ("provider_authorization", "gaj")
    assert any(k.relation == "started_by" and k.case_id == case_id for k in application.header.links)


async def test_a_failed_negotiation_goes_to_coordination_and_then_to_the_leading_group(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await open_dispute(env, client, task_queue, "luzhou")
    # Luzhou 27: consumer and provider negotiate.
    assert sorted(t.assignee.department for t in answer.open_tasks) == ["gaj", "rsj"]
    # One party ends it: the other need not answer.
    assert await refused(client, case_id, DecisionRequest(GAJ, "fail")) == "Invalid"  # a reason is due
    answer = await decide(client, case_id, DecisionRequest(GAJ, "fail", reason="无法律依据,不能共享"))
    (coordination,) = answer.open_tasks
    assert (coordination.step, coordination.assignee.department) == ("coordination", "jxw")
    current = await state(client, case_id)
    assert [t.status for t in current.tasks[:2]].count("cancelled") == 1
    # Only the coordinator coordinates.
    refer = DecisionRequest(JXW, "refer_ruling", reason="涉及法律依据认定,提请最终裁定")
    for who in (GAJ, RSJ, LGO):
        assert await refused(client, case_id, DecisionRequest(who, "refer_ruling", reason="x")) == "Forbidden"
    answer = await decide(client, case_id, refer)
    (ruling,) = answer.open_tasks
    assert (ruling.step, ruling.assignee.role, ruling.assignee.department) == (
        "ruling",
        "leading_group",
        "lgo",
    )
    # The ruling states its terms; only the leading group rules.
    assert (
        await refused(client, case_id, DecisionRequest(JXW, "rule_access", reason="x", payload={"terms": 1}))
        == "Forbidden"
    )
    assert await refused(client, case_id, DecisionRequest(LGO, "rule_access", reason="确需使用")) == "Invalid"
    answer = await decide(
        client, case_id, DecisionRequest(LGO, "rule_access", reason="履职确需,按比对方式共享", payload=TERMS)
    )
    assert answer.result == "ruled_access"
    current = await until(
        lambda s: any(k.case_type == "sharing_application" for k in s.header.links), client, case_id
    )
    link = next(k for k in current.header.links if k.case_type == "sharing_application")
    application = await until(lambda s: bool(s.tasks), client, link.case_id)
    assert application.tasks[0].step == "provider_acceptance"


async def test_provincial_departments_take_the_dispute_to_the_leading_group_at_once(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await open_dispute(env, client, task_queue, "jiangsu", provincial=True)
    await decide(client, case_id, DecisionRequest(RSJ, "fail", reason="提供部门不同意"))
    current = await until(
        lambda s: any(t.status == "open" and t.step != "negotiation" for t in s.tasks), client, case_id
    )
    (task,) = [t for t in current.tasks if t.status == "open"]
    assert (task.step, task.assignee.role) == ("leading_group_coordination", "leading_group")
    answer = await decide(client, case_id, DecisionRequest(LGO, "rule_no_access", reason="不符合共享条件"))
    assert answer.result == "ruled_no_access" and not [
        k for k in (await state(client, case_id)).header.links if k.relation == "started"
    ]
