"""The escalation ladder on the time-skipping server (issue 18): a breach climbs every rung once — a
report, an order the leading group office issues, and, when the order is not rectified in time, the
rungs the order carries on (a circular, then supervision) — and each case learns how the case it
started ended. Case types: tests/profiles/enginetest.toml (``engine_ladder``) with the real
rectification-order and escalation workflows."""

from __future__ import annotations

import uuid
from datetime import timedelta

from case_client import decide, handle, refused, state, until
from engine_cases import KINDS, case_input
from sqlmodel import Session, select
from temporalio.common import WorkflowIDReusePolicy

from govshare.core import models
from workflows.case import Actor, CaseAnswer, DecisionRequest, Party

BDB = Actor("bdb", "platform", "operator")
LGO = Actor("lgo", "leading_group", "director")
GAJ = Actor("gaj", "provider", "clerk")
SCJGJ = Actor("scjgj", "provider", "clerk")


async def start_ladder_case(env, task_queue: str) -> tuple[str, CaseAnswer]:
    kind = KINDS["engine_ladder"]
    case_id = f"{kind.prefix}-T{uuid.uuid4().hex[:8].upper()}"
    inp = case_input(
        "engine_ladder",
        case_id,
        [Party(role="provider", department="gaj")],
        submitted_at=await env.get_current_time(),
    )
    h = await env.client.start_workflow(
        kind.workflow_type,
        inp,
        id=kind.workflow_id(case_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return case_id, await h.execute_update("settled", result_type=CaseAnswer)


async def past(env, due_at) -> None:
    await env.sleep(due_at + timedelta(minutes=5) - await env.get_current_time())


async def test_a_late_rectification_climbs_every_rung_once_and_each_case_learns_how_its_child_ended(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await start_ladder_case(env, task_queue)
    (review,) = answer.open_tasks

    # 1. The review is late: the breach starts one escalation, whose first rung is the platform's report.
    await past(env, review.due_at)
    escalation_id = f"ES-{case_id}-T1"
    current = await until(lambda s: s.tasks[0].overdue and bool(s.header.links), client, case_id)
    breach = current.tasks[0].breach
    assert (breach.next_rung, breach.escalation_case_id) == ("report", escalation_id)
    esc = await until(lambda s: bool(s.open_tasks), client, escalation_id)
    (report,) = esc.open_tasks
    assert (report.step, report.assignee.role, report.assignee.department, report.article) == (
        "rung_report",
        "platform",
        "bdb",
        "26",
    )
    assert {(p.role, p.department) for p in esc.parties} >= {("respondent", "gaj"), ("leading_group", "lgo")}
    assert (
        await refused(client, escalation_id, DecisionRequest(LGO, "done", task_id=report.task_id))
        == "Forbidden"
    )
    answer = await decide(client, escalation_id, DecisionRequest(BDB, "done", task_id=report.task_id))

    # 2. The next rung starts the order; the leading group office's task waits on it.
    (waiting,) = answer.open_tasks
    order_id = f"RO-{escalation_id}-O"
    assert (waiting.step, waiting.assignee.department) == ("rung_order", "lgo")
    assert (
        await refused(client, escalation_id, DecisionRequest(LGO, "closed", task_id=waiting.task_id))
        == "Conflict"
    )
    order = await until(lambda s: bool(s.open_tasks), client, order_id)
    assert {(p.role, p.department) for p in order.parties} >= {("issuer", "lgo"), ("respondent", "gaj")}
    assert order.header.attributes["grounds"][0]["article"] == "31(2)"
    assert order.header.attributes["concerns"] == [case_id]
    (issue,) = order.open_tasks
    assert (
        await refused(
            client, order_id, DecisionRequest(GAJ, "issue", task_id=issue.task_id, limit_working_days=5)
        )
        == "Forbidden"
    )
    answer = await decide(
        client, order_id, DecisionRequest(LGO, "issue", task_id=issue.task_id, limit_working_days=5)
    )
    (rectify,) = answer.open_tasks
    assert (rectify.assignee.role, rectify.working_days) == ("respondent", 5)

    # 3. Not rectified in time: the order climbs the rungs it carries — the circular, then supervision.
    await past(env, rectify.due_at)
    carried_id = f"ES-{order_id}-T2"
    carried = await until(lambda s: bool(s.open_tasks), client, carried_id)
    (circular,) = carried.open_tasks
    assert (circular.step, circular.article) == ("rung_circular", "42")
    answer = await decide(client, carried_id, DecisionRequest(LGO, "done", task_id=circular.task_id))
    (supervision,) = answer.open_tasks
    assert supervision.step == "rung_supervision"
    assert (
        await refused(client, carried_id, DecisionRequest(LGO, "stop", task_id=supervision.task_id))
        == "Invalid"
    )
    answer = await decide(
        client, carried_id, DecisionRequest(LGO, "stop", task_id=supervision.task_id, reason="未造成严重后果")
    )
    assert (answer.status, answer.result) == ("stopped", "stopped")

    # 4. The department reports late; returned, it reports again on the same (missed) deadline:
    #    no second climb.
    answer = await decide(
        client, order_id, DecisionRequest(GAJ, "report", task_id=rectify.task_id, reason="已整改")
    )
    (review_task,) = answer.open_tasks
    answer = await decide(
        client, order_id, DecisionRequest(LGO, "return", task_id=review_task.task_id, reason="不完整")
    )
    (again,) = answer.open_tasks
    assert again.step == "rectification" and again.due_at == rectify.due_at
    again_state = await until(lambda s: s.open_tasks and s.open_tasks[0].overdue, client, order_id)
    assert again_state.open_tasks[0].clock[0].kind == "limit_kept"
    answer = await decide(
        client, order_id, DecisionRequest(GAJ, "report", task_id=again.task_id, reason="已全部整改")
    )
    (review_task,) = answer.open_tasks
    answer = await decide(client, order_id, DecisionRequest(LGO, "accept", task_id=review_task.task_id))
    assert answer.status == "rectified"

    # 5. Each case learns how the case it started ended: the order from its escalation, the
    #    escalation from the order, the late case from its escalation.
    done_order = await until(
        lambda s: all(k.status for k in s.header.links if k.relation == "started"), client, order_id
    )
    assert [(k.case_id, k.status) for k in done_order.header.links if k.relation == "started"] == [
        (carried_id, "stopped")
    ]
    esc = await until(lambda s: s.status != "in_progress", client, escalation_id)
    assert (esc.status, esc.result) == ("rectified", "rectified")
    assert [(k.case_id, k.status) for k in esc.header.links if k.relation == "started"] == [
        (order_id, "rectified")
    ]
    late = await until(lambda s: any(k.status for k in s.header.links), client, case_id)
    assert [(k.case_id, k.status, k.result) for k in late.header.links] == [
        (escalation_id, "rectified", "rectified")
    ]

    # 6. The late review still closes the case as usual; every rung acted once.
    answer = await decide(client, case_id, DecisionRequest(GAJ, "ok", task_id=review.task_id))
    assert answer.status == "done"
    await handle(client, case_id).result()
    rungs = []
    for cid in (escalation_id, carried_id):
        rungs += [t.step for t in (await state(client, cid)).tasks]
    assert sorted(rungs) == ["rung_circular", "rung_order", "rung_report", "rung_supervision"]
    with Session(sqlite_engine) as session:
        started = session.exec(select(models.Case).where(models.Case.case_type == "escalation")).all()
        mine = sorted(c.id for c in started if case_id in c.id)
        assert mine == sorted([escalation_id, carried_id])
        events = session.exec(select(models.AuditEvent).where(models.AuditEvent.case_id == case_id)).all()
        kinds = [e.kind for e in events]
        assert "linked_case_closed" in kinds and kinds.count("case_linked") == 1
        # In the reporting case's own words: the order's result label, not its code.
        closed = next(e for e in events if e.kind == "linked_case_closed")
        assert closed.summary_zh == f"关联案件 {escalation_id} 已办结:整改完成"
        order_events = [
            e.kind
            for e in session.exec(
                select(models.AuditEvent).where(models.AuditEvent.case_id == order_id)
            ).all()
        ]
        assert "result_reported" in order_events and "linked_case_closed" in order_events
