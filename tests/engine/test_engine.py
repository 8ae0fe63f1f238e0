"""The second-generation engine on the time-skipping test server, through case types that exist only
for these tests (tests/engine_cases.py + tests/profiles/enginetest.toml): two tasks open side by side
with their own clocks and breaches, an extension that moves one deadline and re-cites its article, a
suspension that resumes with the working days left, a limit set by the issuing decision, a count from
a date in the past that is overdue at once, and a breach that starts a linked case, once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta

import pytest
from engine_cases import KINDS, LEADING_GROUP, PLATFORM, case_input
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from calendars import SHANGHAI, WorkingDayCalendar
from govshare.core import models
from workflows import registry
from workflows.case import Actor, CaseAnswer, CaseFile, ClockRequest, DecisionRequest, Party

CAL = WorkingDayCalendar.default()


GAJ = Actor("gaj", "provider", "reviewer")
SCJGJ = Actor("scjgj", "provider", "reviewer")
PROVIDERS = [Party(role="provider", department="gaj"), Party(role="provider", department="scjgj")]


async def start(env, task_queue: str, case_type: str, **kw) -> tuple[str, CaseAnswer]:
    """Start a test case recorded at the test server's (skipped) time."""
    client = env.client
    kind = KINDS[case_type]
    case_id = f"{kind.prefix}-T{uuid.uuid4().hex[:8].upper()}"
    submitted_at = await env.get_current_time()
    inp = case_input(case_type, case_id, kw.pop("parties", PROVIDERS), submitted_at=submitted_at, **kw)
    handle = await client.start_workflow(
        kind.workflow_type,
        inp,
        id=kind.workflow_id(case_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return case_id, await handle.execute_update("settled", result_type=CaseAnswer)


def handle(client: Client, case_id: str):
    kind = next((k for k in KINDS.values() if case_id.startswith(k.prefix + "-")), None)
    kind = kind or registry.by_case_id(case_id)
    return client.get_workflow_handle(kind.workflow_id(case_id))


async def state(client: Client, case_id: str) -> CaseFile:
    return await handle(client, case_id).query("state", result_type=CaseFile)


async def update(client: Client, case_id: str, name: str, arg) -> CaseAnswer:
    return await handle(client, case_id).execute_update(name, arg, result_type=CaseAnswer)


async def refused(client: Client, case_id: str, name: str, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await update(client, case_id, name, arg)
    return err.value.cause.type  # type: ignore[union-attr]


async def until(predicate, client: Client, case_id: str, tries: int = 50) -> CaseFile:
    for _ in range(tries):
        current = await state(client, case_id)
        if predicate(current):
            return current
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not reached for {case_id}")


def after_due(due_at: datetime) -> datetime:
    return due_at + timedelta(minutes=5)


async def test_two_tasks_side_by_side_with_their_own_clocks_extension_and_breaches(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await start(time_skipping_env, task_queue, "engine_joint")
    t1, t2 = answer.open_tasks
    assert (t1.assignee.department, t2.assignee.department) == ("gaj", "scjgj")
    assert t1.step == t2.step == "joint_verification" and t1.due_at == t2.due_at and t1.article == "17"

    # An extension for 市公安局's task only: approved by its principal head, cited to its own article.
    assert (
        await refused(
            client, case_id, "adjust_clock", ClockRequest(GAJ, t1.task_id, "extension", 3, "数据量大")
        )
        == "Invalid"
    )
    assert (
        await refused(
            client, case_id, "adjust_clock", ClockRequest(SCJGJ, t1.task_id, "extension", 3, "x", "王局长")
        )
        == "Forbidden"
    )
    assert (
        await refused(
            client, case_id, "adjust_clock", ClockRequest(GAJ, t1.task_id, "extension", 11, "x", "王局长")
        )
        == "Invalid"
    )
    answer = await update(
        client,
        case_id,
        "adjust_clock",
        ClockRequest(GAJ, t1.task_id, "extension", 3, "数据量大", "王局长(主要负责人)"),
    )
    moved = next(t for t in answer.open_tasks if t.task_id == t1.task_id)
    base = CAL.add_working_days(
        datetime.combine(t1.due_at.astimezone(SHANGHAI).date() - timedelta(days=1), time(12), SHANGHAI), 0
    )
    assert moved.article == "19" and moved.due_at > t1.due_at
    expected = CAL.add_working_days(datetime.combine(base.due_date, time(12), tzinfo=SHANGHAI), 3).due_at
    assert moved.due_at == expected
    # Only once (Luoyang 19 style: max_count = 1).
    assert (
        await refused(
            client, case_id, "adjust_clock", ClockRequest(GAJ, t1.task_id, "extension", 1, "再延", "王局长")
        )
        == "Conflict"
    )

    # The original due passes: the other task alone is breached, and its breach climbs the ladder:
    # an escalation whose rung starts an order, issued by the leading group office (directory).
    now = await env.get_current_time()
    await env.sleep(after_due(t2.due_at) - now)
    current = await until(lambda s: s.tasks[1].overdue and bool(s.header.links), client, case_id)
    first, second = current.tasks
    assert not first.overdue and second.breach is not None and second.breach.article == "17"
    assert second.breach.next_rung == "order" and [b.step for b in current.header.breaches] == [
        "joint_verification"
    ]
    escalation_id = f"ES-{case_id}-T2"
    assert second.breach.escalation_case_id == escalation_id
    order_id = f"EO-{escalation_id}-O"
    order = await until(lambda s: bool(s.tasks), client, order_id)
    assert [(link.case_id, link.relation) for link in order.header.links] == [(escalation_id, "started_by")]
    assert {(p.role, p.department) for p in order.parties} >= {("respondent", "scjgj"), ("issuer", "lgo")}
    assert [(link.case_id, link.relation) for link in current.header.links] == [(escalation_id, "started")]

    # Then the extended due passes: 市公安局's task is breached under the extension's article.
    now = await env.get_current_time()
    await env.sleep(after_due(moved.due_at) - now)
    current = await until(lambda s: s.tasks[0].overdue and len(s.header.links) == 2, client, case_id)
    assert current.tasks[0].breach.article == "19" and current.tasks[0].breach.due_at == moved.due_at
    second_escalation = f"ES-{case_id}-T1"
    assert [link.case_id for link in current.header.links] == [escalation_id, second_escalation]
    # Each breach climbed once: the ids are business keys started with reject-duplicate.
    assert len({link.case_id for link in current.header.links}) == 2

    # The orders are cases of their own; each closes on its respondent's decision and reports to the
    # escalation that started it, which ends with the order's result and reports to this case.
    for esc in (escalation_id, second_escalation):
        oid = f"EO-{esc}-O"
        provider = SCJGJ if esc.endswith("T2") else GAJ
        await until(lambda s: bool(s.open_tasks), client, oid)
        answer = await update(client, oid, "decide", DecisionRequest(provider, "done", "order_response"))
        assert answer.status == "rectified"
    current = await until(lambda s: all(k.status for k in s.header.links), client, case_id)
    assert [(k.status, k.result) for k in current.header.links] == [("rectified", "rectified")] * 2

    # Late decisions: they differ, so the step takes its on_disagreement action.
    answer = await update(client, case_id, "decide", DecisionRequest(SCJGJ, "confirm", task_id=t2.task_id))
    assert [t.task_id for t in answer.open_tasks] == [t1.task_id] and answer.status == "in_progress"
    assert (
        await refused(client, case_id, "decide", DecisionRequest(SCJGJ, "confirm", task_id=t2.task_id))
        == "Conflict"
    )
    assert (
        await refused(client, case_id, "decide", DecisionRequest(SCJGJ, "confirm", task_id=t1.task_id))
        == "Forbidden"
    )
    answer = await update(
        client, case_id, "decide", DecisionRequest(GAJ, "correct", "joint_verification", "口径不一致")
    )
    assert (answer.status, answer.result, answer.open_tasks) == ("corrected", "corrected", [])

    with Session(sqlite_engine) as session:
        parties = session.exec(select(models.CaseParty).where(models.CaseParty.case_id == case_id)).all()
        assert {(p.role, p.department) for p in parties} == {
            ("platform", "bdb"),
            ("leading_group", "lgo"),
            ("provider", "gaj"),
            ("provider", "scjgj"),
        }
        links = session.exec(select(models.CaseLink).where(models.CaseLink.case_id == case_id)).all()
        assert sorted(link.linked_case_id for link in links) == sorted([escalation_id, second_escalation])
        row = session.get(models.Case, case_id)
        assert (row.status, row.engine, row.workflow_type) == ("corrected", 2, "EngineJoint")
        tasks = session.exec(select(models.Task).where(models.Task.case_id == case_id)).all()
        assert [t.overdue for t in sorted(tasks, key=lambda t: t.seq)] == [True, True]
        assert [e["kind"] for e in sorted(tasks, key=lambda t: t.seq)[0].detail["clock"]] == [
            "base",
            "extension",
        ]


async def test_suspension_resumes_with_the_working_days_left_then_the_issuer_sets_the_period(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await start(
        time_skipping_env, task_queue, "engine_clock", parties=[Party(role="provider", department="gaj")]
    )
    (review,) = answer.open_tasks
    assert review.working_days == 5

    await env.sleep(timedelta(days=1))
    stopped_at = await env.get_current_time()
    left = CAL.count_working_days(
        stopped_at.astimezone(SHANGHAI).date(), review.due_at.astimezone(SHANGHAI).date() - timedelta(days=1)
    )
    assert (
        await refused(
            client, case_id, "adjust_clock", ClockRequest(GAJ, review.task_id, "suspension", reason="x")
        )
        == "Forbidden"
    )
    answer = await update(
        client,
        case_id,
        "adjust_clock",
        ClockRequest(PLATFORM, review.task_id, "suspension", reason="等待补充材料"),
    )
    assert answer.open_tasks[0].suspended and answer.open_tasks[0].due_at is None

    # Stopped for three weeks: no reminder, no breach.
    await env.sleep(timedelta(days=21))
    current = await state(client, case_id)
    assert not current.tasks[0].overdue and current.tasks[0].reminded_at is None
    resumed_at = await env.get_current_time()
    answer = await update(
        client, case_id, "adjust_clock", ClockRequest(PLATFORM, review.task_id, "resume", reason="材料已补齐")
    )
    resumed = answer.open_tasks[0]
    assert resumed.due_at == CAL.add_working_days(resumed_at, left).due_at and resumed.article == "local-1"
    current = await state(client, case_id)
    clock = current.tasks[0].clock
    assert [e.kind for e in clock] == ["base", "suspension", "resume"]
    assert clock[1].working_days == left == clock[2].working_days and clock[1].basis == "local_policy"
    # Each change tells the assignee in words of its own: stopped with the days left (no due date, there
    # is none while it is stopped), resumed with the new one; never the re-plan's "new holiday notice".
    with Session(sqlite_engine) as session:
        query = select(models.Notification).where(models.Notification.case_id == case_id)
        notes = {n.kind: n for n in session.exec(query)}
    assert f"剩余 {left} 个工作日" in notes["clock_suspended"].text_zh
    assert "24:00" not in notes["clock_suspended"].text_zh and "期限" not in notes["clock_suspended"].text_zh
    assert (
        f"剩余 {left} 个工作日" in notes["clock_resumed"].text_zh
        and "24:00" in notes["clock_resumed"].text_zh
    )
    assert "deadline_changed" not in notes

    # The issuer sets the rectification period on its decision (REGULATIONS §7); it is bounded.
    await update(client, case_id, "decide", DecisionRequest(GAJ, "pass", "review"))
    assert (
        await refused(client, case_id, "decide", DecisionRequest(LEADING_GROUP, "issue", "order_issue"))
        == "Invalid"
    )
    over = DecisionRequest(LEADING_GROUP, "issue", "order_issue", limit_working_days=31)
    assert await refused(client, case_id, "decide", over) == "Invalid"
    answer = await update(
        client,
        case_id,
        "decide",
        DecisionRequest(LEADING_GROUP, "issue", "order_issue", limit_working_days=15),
    )
    (rectify,) = answer.open_tasks
    current = await state(client, case_id)
    issued = current.tasks[1].decision
    assert rectify.working_days == 15 and rectify.article == "26"
    assert rectify.due_at == CAL.add_working_days(issued.decided_at, 15).due_at
    entry = current.tasks[2].clock[0]
    assert (entry.kind, entry.basis, entry.approved_by.department) == ("limit_set", "decision", "lgo")
    answer = await update(client, case_id, "decide", DecisionRequest(GAJ, "done", "rectify"))
    assert answer.status == "rectified"


async def test_a_count_from_a_past_date_is_overdue_at_once(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    client = ts_client
    now = await time_skipping_env.get_current_time()
    law_changed = now - timedelta(days=40)
    case_id, answer = await start(
        time_skipping_env,
        task_queue,
        "engine_law",
        parties=[Party(role="provider", department="gaj")],
        counts_from=law_changed,
    )
    (task,) = answer.open_tasks
    assert task.due_at == CAL.add_working_days(law_changed, 10).due_at < now
    current = await until(lambda s: s.tasks[0].overdue, client, case_id)
    entry = current.tasks[0].clock[0]
    assert (entry.kind, entry.starts_at, entry.article) == ("counts_from", law_changed, "14")
    assert current.tasks[0].breach.article == "14" and current.tasks[0].reminded_at is None
    answer = await update(client, case_id, "decide", DecisionRequest(GAJ, "apply", "law_update"))
    assert answer.status == "updated"


async def test_a_step_naming_no_open_task_is_a_conflict_and_a_stranger_is_forbidden(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    client = ts_client
    case_id, _answer = await start(
        time_skipping_env, task_queue, "engine_clock", parties=[Party(role="provider", department="gaj")]
    )
    # The caller's step, not open yet: someone else's turn → 409; a role it never plays → 403.
    assert await refused(client, case_id, "decide", DecisionRequest(GAJ, "done", "rectify")) == "Conflict"
    assert await refused(client, case_id, "decide", DecisionRequest(SCJGJ, "pass", "review")) == "Forbidden"
    assert await refused(client, case_id, "decide", DecisionRequest(GAJ, "pass", "nosuchstep")) == "Invalid"
    assert (
        await refused(client, case_id, "decide", DecisionRequest(GAJ, "pass", task_id="EC-NONE/1"))
        == "Invalid"
    )
    await handle(client, case_id).terminate("test done")


async def test_a_role_nobody_plays_fails_the_case_visibly(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    client = ts_client
    kind = KINDS["engine_clock"]
    case_id = f"EC-T{uuid.uuid4().hex[:8].upper()}"
    now = await time_skipping_env.get_current_time()
    inp = case_input("engine_clock", case_id, [], submitted_at=now)  # no provider at all
    h = await client.start_workflow(
        kind.workflow_type, inp, id=kind.workflow_id(case_id), task_queue=task_queue
    )
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await h.execute_update("settled", result_type=CaseAnswer)
    with pytest.raises(Exception) as failed:
        await h.result()
    assert "no party plays role provider" in str(failed.value.cause)


def test_a_role_nobody_plays_is_refused_before_the_case_starts() -> None:
    from govshare.cases.service import CaseInvalid, check_parties

    check_parties(
        KINDS["engine_clock"],
        case_input("engine_clock", "EC-TPARTIES", [Party(role="provider", department="gaj")]),
    )
    with pytest.raises(CaseInvalid) as refused_start:
        check_parties(KINDS["engine_clock"], case_input("engine_clock", "EC-TPARTIES", []))
    assert "provider" in str(refused_start.value) and refused_start.value.status == 422
