"""Every rung of every shipped profile's ladder, on the time-skipping server (issue 18).

For each profile, a sharing application whose platform check is late climbs the profile's whole
ladder: task rungs are done by the department the directory names for their role; a rung that starts
a rectification order waits on it; the order is issued with a period, is not rectified in time, and
climbs the rungs it carries to the top; then it is rectified late and accepted. Each rung acts once,
and each case learns how the case it started ended. An order opened by hand climbs its own ladder."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import pytest
from case_client import decide, until
from engine_cases import KINDS, case_input
from factories import DIRECTORY, application, resource
from temporalio.client import Client

from govshare.cases import service as case_service
from regulations import load_profile
from regulations.schema import Rung
from workflows import registry
from workflows.case import Actor, CaseFile, DecisionRequest, Party

PROFILES = ["hubei", "luzhou", "jiangsu", "luoyang"]


def actor_for(task) -> Actor:
    """The department a task is for, acting with a credential it holds (for a role it plays in
    one case only — respondent, issuer — any of its own)."""
    role = task.assignee.role
    credential = (
        role if role in ("platform", "leading_group", "coordinator", "government_office") else "provider"
    )
    return Actor(task.assignee.department, credential, "clerk")  # type: ignore[arg-type]


async def past(env, due_at) -> None:
    await env.sleep(due_at + timedelta(minutes=5) - await env.get_current_time())


async def climb(env, client: Client, escalation_id: str, acted: list[str]) -> CaseFile:
    """Do every task rung of an escalation; at a rung that waits on an order, issue it, let it be
    late (climbing what it carries), then rectify it late. The escalation once closed."""
    while True:
        esc = await until(lambda s: bool(s.open_tasks) or s.status != "in_progress", client, escalation_id)
        if esc.status != "in_progress":
            return esc
        (task,) = esc.open_tasks
        rung = task.step.removeprefix("rung_")
        assert rung not in acted, f"rung {rung} acted twice"
        acted.append(rung)
        if not task.waits_on_case:
            await decide(
                client, escalation_id, DecisionRequest(actor_for(task), "done", task_id=task.task_id)
            )
            continue
        await run_order_late(env, client, task.waits_on_case, acted)
        await until(lambda s: s.status != "in_progress", client, escalation_id)


async def run_order_late(env, client: Client, order_id: str, acted: list[str]) -> CaseFile:
    order = await until(lambda s: bool(s.open_tasks), client, order_id)
    (issue,) = order.open_tasks
    answer = await decide(
        client,
        order_id,
        DecisionRequest(actor_for(issue), "issue", task_id=issue.task_id, limit_working_days=5),
    )
    (rectify,) = answer.open_tasks
    assert rectify.working_days == 5
    await past(env, rectify.due_at)
    carried = f"ES-{order_id}-T2"
    current = await until(lambda s: s.tasks[1].overdue, client, order_id)
    if current.tasks[1].breach.escalation_case_id:
        assert current.tasks[1].breach.escalation_case_id == carried
        await climb(env, client, carried, acted)
    answer = await decide(
        client,
        order_id,
        DecisionRequest(actor_for(rectify), "report", task_id=rectify.task_id, reason="已整改到位"),
    )
    (review,) = answer.open_tasks
    answer = await decide(
        client, order_id, DecisionRequest(actor_for(review), "accept", task_id=review.task_id)
    )
    assert answer.status == "rectified"
    return await until(
        lambda s: all(k.status for k in s.header.links if k.relation == "started"), client, order_id
    )


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_late_application_climbs_every_rung_of_the_profiles_ladder(
    profile, time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    ladder: list[Rung] = load_profile(profile).case_types["sharing_application"].escalation
    now = (await env.get_current_time()).astimezone(UTC)
    if profile == "luoyang":
        # Luoyang's application has no timed step (annex 3 art. 13 sets no deadline): its ladder is
        # climbed by the engine's test case with a 2-working-day step, carrying Luoyang's rungs.
        case_id = f"EX-L{uuid.uuid4().hex[:6].upper()}"
        ex = case_input(
            "engine_ladder", case_id, [Party(role="provider", department="gaj")], submitted_at=now
        )
        ex.case.rules = ex.case.rules.model_copy(update={"escalation": ladder})
        kind = KINDS["engine_ladder"]
        await client.start_workflow(
            kind.workflow_type, ex, id=kind.workflow_id(case_id), task_queue=task_queue
        )
    else:
        inp = application(
            profile, resource("conditional"), submitted_at=now, case_id=f"SA-L{uuid.uuid4().hex[:6].upper()}"
        )
        await case_service.start_case(client, task_queue, registry.SHARING_APPLICATION, inp)
        case_id = inp.case.case_id
    first = (await until(lambda s: bool(s.open_tasks), client, case_id)).open_tasks[0]
    assert first.deadline is not None
    await past(env, first.deadline.due_at)
    current = await until(lambda s: bool(s.breaches) and bool(s.header.links), client, case_id)
    escalation_id = f"ES-{case_id}-T1"
    assert current.breaches[0].escalation_case_id == escalation_id
    assert (current.breaches[0].next_rung, current.breaches[0].next_rung_article) == (
        ladder[0].id,
        ladder[0].article,
    )

    acted: list[str] = []
    esc = await climb(env, client, escalation_id, acted)
    # Every rung acted, once each, in the ladder's order (the top rung included).
    assert acted == [r.id for r in ladder]
    waited = [r for r in ladder if r.starts_case]
    assert (esc.status, esc.result) == (("rectified", "rectified") if waited else ("escalated", "escalated"))
    for task in esc.tasks:
        rung = next(r for r in ladder if f"rung_{r.id}" == task.step)
        assert (task.article, task.assignee.department) == (rung.article, DIRECTORY[rung.actor])
    # The late application learns how its escalation ended.
    late = await until(lambda s: all(k.status for k in s.header.links), client, case_id)
    assert [(k.case_id, k.status) for k in late.header.links] == [(escalation_id, esc.status)]


@pytest.mark.parametrize("profile", ["hubei", "luzhou", "jiangsu"])
async def test_an_order_opened_by_hand_climbs_its_own_ladder_when_late(
    profile, time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    rules = load_profile(profile).case_types["rectification_order"]
    ground = next(iter(rules.grounds))
    now = (await env.get_current_time()).astimezone(UTC)
    case_id = f"RO-H{uuid.uuid4().hex[:6].upper()}"
    inp = case_service.new_case_input(
        registry.RECTIFICATION_ORDER,
        case_id=case_id,
        profile_id=profile,
        submitted_at=now,
        submitted_by=Actor("lgo", "leading_group", "director"),
        platform_department="bdb",
        fields={
            "issuer": "lgo",
            "respondent": "gaj",
            "grounds": [ground],
            "concerns": [],
            "description": "未按时提供数据",
        },
        directory=dict(DIRECTORY),
    )
    await case_service.start_case(client, task_queue, registry.RECTIFICATION_ORDER, inp)
    acted: list[str] = []
    order = await run_order_late(env, client, case_id, acted)
    assert acted == [r.id for r in rules.escalation]
    assert order.status == "rectified"
    assert order.header.attributes["grounds"][0]["article"] == rules.grounds[ground].article
