"""Guards on the engine's behaviour, written before its internals are refactored (no behaviour
change intended): a step joined on any party, a quorum reached or made unreachable, a quorum larger
than the parties refused before the case starts, a decision that lands while its task's record is
still being written, and a linked case whose business-key id already exists.

The case types are the test ones (tests/engine_cases.py, tests/profiles/enginetest.toml), on a
time-skipping test server of this module's own (tests/engine/conftest.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from engine_cases import KINDS, case_input
from sqlmodel import Session, select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.deadlines import DeadlineActivities
from activities.records import RecordActivities
from govshare.cases.service import CaseInvalid, check_parties, start_case
from govshare.core import models
from govshare.ops.worker_build import SANDBOX_RUNNER
from workflows import registry
from workflows.case import Actor, CaseAnswer, CaseDelta, CaseFile, DecisionRequest, Party

GAJ = Actor("gaj", "provider", "reviewer")
SCJGJ = Actor("scjgj", "provider", "reviewer")
MZJ = Actor("mzj", "provider", "reviewer")
THREE = [
    Party(role="provider", department="gaj"),
    Party(role="provider", department="scjgj"),
    Party(role="provider", department="mzj"),
]


def new_id(case_type: str) -> str:
    return f"{KINDS[case_type].prefix}-G{uuid.uuid4().hex[:8].upper()}"


async def start_raw(env: WorkflowEnvironment, task_queue: str, case_type: str, case_id: str, parties):
    kind = KINDS[case_type]
    inp = case_input(case_type, case_id, parties, submitted_at=await env.get_current_time())
    return await env.client.start_workflow(
        kind.workflow_type,
        inp,
        id=kind.workflow_id(case_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )


async def start(env, task_queue: str, case_type: str, parties) -> tuple[str, CaseAnswer]:
    case_id = new_id(case_type)
    h = await start_raw(env, task_queue, case_type, case_id, parties)
    return case_id, await h.execute_update("settled", result_type=CaseAnswer)


def handle(client: Client, case_id: str):
    kind = next((k for k in KINDS.values() if case_id.startswith(k.prefix + "-")), None)
    kind = kind or registry.by_case_id(case_id)
    return client.get_workflow_handle(kind.workflow_id(case_id))


async def state(client: Client, case_id: str) -> CaseFile:
    return await handle(client, case_id).query("state", result_type=CaseFile)


async def decide(client: Client, case_id: str, req: DecisionRequest) -> CaseAnswer:
    return await handle(client, case_id).execute_update("decide", req, result_type=CaseAnswer)


async def refused(client: Client, case_id: str, req: DecisionRequest) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await decide(client, case_id, req)
    return err.value.cause.type  # type: ignore[union-attr]


async def until(predicate, client: Client, case_id: str, tries: int = 100) -> CaseFile:
    for _ in range(tries):
        try:
            current = await state(client, case_id)
        except RPCError:  # not started yet
            current = None
        if current is not None and predicate(current):
            return current
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not reached for {case_id}")


def rows(sqlite_engine, model, case_id: str) -> list:
    with Session(sqlite_engine) as session:
        return list(session.exec(select(model).where(model.case_id == case_id)).all())


def db_tasks(sqlite_engine, case_id: str) -> list[tuple[int, str, str]]:
    found = sorted(rows(sqlite_engine, models.Task, case_id), key=lambda t: t.seq)
    return [(t.seq, t.status, t.action) for t in found]


# -- join = "any" ---------------------------------------------------------------------------------
async def test_join_any_the_first_decision_ends_the_step_and_cancels_the_other_tasks(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    client = ts_client
    case_id, answer = await start(time_skipping_env, task_queue, "engine_any", THREE)
    t1, t2, t3 = answer.open_tasks
    assert [t.assignee.department for t in (t1, t2, t3)] == ["gaj", "scjgj", "mzj"]

    answer = await decide(client, case_id, DecisionRequest(SCJGJ, "accept", task_id=t2.task_id))
    assert (answer.status, answer.result, answer.open_tasks) == ("accepted", "accepted", [])
    current = await state(client, case_id)
    assert [t.status for t in current.tasks] == ["cancelled", "done", "cancelled"]
    assert current.tasks[0].decision is None and current.tasks[0].closed_at is not None
    assert current.header.result_reason == ""  # a party's decision, not a rule's
    # The others can no longer act: the case is closed (its workflow completed), the task stays cancelled.
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await decide(client, case_id, DecisionRequest(GAJ, "accept", task_id=t1.task_id))
    assert (await state(client, case_id)).tasks[0].status == "cancelled"

    assert db_tasks(sqlite_engine, case_id) == [
        (1, "cancelled", ""),
        (2, "done", "accept"),
        (3, "cancelled", ""),
    ]
    cancelled = [
        e.data["task_id"]
        for e in rows(sqlite_engine, models.AuditEvent, case_id)
        if e.kind == "task_cancelled"
    ]
    assert sorted(cancelled) == [t1.task_id, t3.task_id]


# -- join = "quorum" ------------------------------------------------------------------------------
async def test_quorum_two_of_three_agreeing_decide_the_step(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    client = ts_client
    case_id, answer = await start(time_skipping_env, task_queue, "engine_quorum", THREE)
    t1, t2, t3 = answer.open_tasks

    answer = await decide(client, case_id, DecisionRequest(GAJ, "approve", task_id=t1.task_id))
    assert answer.status == "in_progress" and [t.task_id for t in answer.open_tasks] == [
        t2.task_id,
        t3.task_id,
    ]
    answer = await decide(client, case_id, DecisionRequest(MZJ, "approve", task_id=t3.task_id))
    assert (answer.status, answer.result, answer.open_tasks) == ("approved", "approved", [])
    current = await state(client, case_id)
    assert [t.status for t in current.tasks] == ["done", "cancelled", "done"]
    assert current.header.result_reason == ""
    assert db_tasks(sqlite_engine, case_id) == [
        (1, "done", "approve"),
        (2, "cancelled", ""),
        (3, "done", "approve"),
    ]
    kinds = [e.kind for e in rows(sqlite_engine, models.AuditEvent, case_id)]
    assert "joint_outcome" not in kinds and kinds.count("task_cancelled") == 1


async def test_quorum_out_of_reach_takes_the_steps_on_disagreement_action(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    client = ts_client
    case_id, answer = await start(time_skipping_env, task_queue, "engine_quorum", THREE)
    t1, t2, t3 = answer.open_tasks

    await decide(client, case_id, DecisionRequest(GAJ, "approve", task_id=t1.task_id))
    # One for, one against: the third can still make either a quorum, so the step waits.
    answer = await decide(client, case_id, DecisionRequest(SCJGJ, "reject", task_id=t2.task_id))
    assert answer.status == "in_progress" and [t.task_id for t in answer.open_tasks] == [t3.task_id]
    # A third opinion: no action can reach two any more → on_disagreement ("return"), by rule.
    answer = await decide(client, case_id, DecisionRequest(MZJ, "return", task_id=t3.task_id))
    assert (answer.status, answer.result, answer.open_tasks) == ("returned", "returned", [])
    current = await state(client, case_id)
    assert current.header.result_reason == "gaj:approve; scjgj:reject; mzj:return"
    assert current.header.result_article == "21"
    events = [e for e in rows(sqlite_engine, models.AuditEvent, case_id) if e.kind == "joint_outcome"]
    assert [(e.data["action"], e.data["article"]) for e in events] == [("return", "21")]
    with Session(sqlite_engine) as session:
        case_row = session.get(models.Case, case_id)
        assert (case_row.status, case_row.result) == ("returned", "returned")


# -- a quorum larger than the parties who can answer --------------------------------------------------
async def test_a_quorum_larger_than_the_parties_is_refused_before_the_case_starts(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    two = [Party(role="provider", department="gaj"), Party(role="provider", department="scjgj")]
    check_parties(
        KINDS["engine_quorum"], case_input("engine_quorum", "EQ-GOK", two)
    )  # quorum 2 of 2: can be reached
    check_parties(
        KINDS["engine_any"], case_input("engine_any", "EA-GOK", two[:1])
    )  # no quorum: one party is enough
    # The same department named twice is one party, not two.
    with pytest.raises(CaseInvalid) as twice:
        check_parties(KINDS["engine_quorum"], case_input("engine_quorum", "EQ-GTWICE", [two[0], two[0]]))
    assert twice.value.status == 422

    case_id = new_id("engine_quorum")
    inp = case_input(
        "engine_quorum", case_id, two[:1], submitted_at=await time_skipping_env.get_current_time()
    )
    with pytest.raises(CaseInvalid) as refused_start:
        await start_case(ts_client, task_queue, KINDS["engine_quorum"], inp)
    err = refused_start.value
    assert err.status == 422 and "quorum of 2" in err.detail_en and "provider" in err.detail_en
    assert "quorum_vote" in err.detail_en and "会商表决" in err.detail_zh
    # Refused before starting: no workflow was created.
    with pytest.raises(RPCError) as missing:
        await handle(ts_client, case_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


# -- the settle race: a decision while its task's record is being written ------------------------------
SLOW_S = 1.0


@pytest.fixture(scope="module")
async def slow_recording(ts_client: Client, sqlite_engine) -> AsyncIterator[tuple[str, set]]:
    """A worker on its own queue whose ``record_delta`` takes SLOW_S seconds (the real write after)."""
    records = RecordActivities(sqlite_engine)
    deadlines = DeadlineActivities()
    in_flight: set[tuple[str, int]] = set()

    @activity.defn(name="record_delta")
    def slow_record_delta(delta: CaseDelta) -> int:
        in_flight.add((delta.case_id, delta.revision))
        try:
            time.sleep(SLOW_S)
            return records.record_delta(delta)
        finally:
            in_flight.discard((delta.case_id, delta.revision))

    queue = f"slow-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        ts_client,
        task_queue=queue,
        workflows=registry.workflows(),
        workflow_runner=SANDBOX_RUNNER,
        activities=[
            deadlines.compute_deadline,
            deadlines.working_days_left,
            slow_record_delta,
            records.record,
            records.mark_record_failed,
            records.record_case,
            records.send_notices,
        ],
        activity_executor=ThreadPoolExecutor(4),
    )
    async with worker:
        yield queue, in_flight


async def test_a_decision_while_its_tasks_record_is_written_returns_once_settled(
    time_skipping_env, ts_client, sqlite_engine, slow_recording
) -> None:
    client = ts_client
    queue, in_flight = slow_recording
    case_id = new_id("engine_clock")
    h = await start_raw(
        time_skipping_env, queue, "engine_clock", case_id, [Party(role="provider", department="gaj")]
    )
    try:
        # The review task exists in the case while its first record is still being written.
        await until(lambda s: bool(s.tasks), client, case_id)
        assert (case_id, 1) in in_flight
        assert rows(sqlite_engine, models.Task, case_id) == []

        answer = await decide(client, case_id, DecisionRequest(GAJ, "pass", task_id=f"{case_id}/1"))
        # Returned only once settled: the next step is open in the answer and already recorded.
        assert [t.step for t in answer.open_tasks] == ["order_issue"]
        assert not {r for c, r in in_flight if c == case_id}
        with Session(sqlite_engine) as session:
            row = session.get(models.Case, case_id)
            assert row is not None and row.revision == answer.revision and row.status == "in_progress"
        assert [(seq, status, action) for seq, status, action in db_tasks(sqlite_engine, case_id)] == [
            (1, "done", "pass"),
            (2, "open", ""),
        ]
        current = await state(client, case_id)
        assert current.revision == answer.revision
        assert [(t.step, t.status) for t in current.tasks] == [("review", "done"), ("order_issue", "open")]
    finally:
        await h.terminate("test done")


async def joint_decisions_during_a_slow_record(env, client, sqlite_engine, slow_recording):
    """Two providers' decisions on a joint step (join = all), the second landing while the first
    one's record is being written. Returns both answers and what the projection held when the first
    answer came back."""
    queue, in_flight = slow_recording
    case_id = new_id("engine_joint")
    two = [Party(role="provider", department="gaj"), Party(role="provider", department="scjgj")]
    h = await start_raw(env, queue, "engine_joint", case_id, two)
    try:
        answer = await h.execute_update("settled", result_type=CaseAnswer)
        t1, t2 = answer.open_tasks
        seen_at_return: list[tuple[int, str]] = []

        def projection_now(_done) -> None:
            with Session(sqlite_engine) as session:
                row = session.get(models.Case, case_id)
                seen_at_return.append((row.revision, row.status))

        first = asyncio.create_task(
            decide(client, case_id, DecisionRequest(GAJ, "confirm", task_id=t1.task_id))
        )
        first.add_done_callback(projection_now)
        for _ in range(100):
            if (case_id, 2) in in_flight and (await state(client, case_id)).tasks[0].status == "done":
                break
            await asyncio.sleep(0.02)
        assert (case_id, 2) in in_flight, "the first decision's record is not being written"
        second = await decide(client, case_id, DecisionRequest(SCJGJ, "confirm", task_id=t2.task_id))
        second_seen = db_tasks(sqlite_engine, case_id)
        with Session(sqlite_engine) as session:
            row = session.get(models.Case, case_id)
            second_row = (row.revision, row.status)
        earlier = await first
        await h.result()
        return case_id, earlier, seen_at_return[0], second, second_row, second_seen
    finally:
        if (await h.describe()).close_time is None:
            await h.terminate("test done")


async def test_the_deciding_answer_of_a_joint_step_during_a_slow_record_is_settled(
    time_skipping_env, ts_client, sqlite_engine, slow_recording
) -> None:
    (
        _case_id,
        earlier,
        _first_row,
        second,
        second_row,
        second_seen,
    ) = await joint_decisions_during_a_slow_record(
        time_skipping_env, ts_client, sqlite_engine, slow_recording
    )
    # The deciding answer comes once the close is recorded, and says what the projection says.
    assert (second.status, second.result, second.open_tasks) == ("confirmed", "confirmed", [])
    assert second_row == (second.revision, "confirmed")
    assert second_seen == [(1, "done", "confirm"), (2, "done", "confirm")]
    # The first decision was recorded before the close (revisions reach the database in order).
    assert earlier.revision <= second.revision


async def test_an_earlier_answer_never_runs_ahead_of_the_projection(
    time_skipping_env, ts_client, sqlite_engine, slow_recording
) -> None:
    _case_id, earlier, first_row, _second, _row, _seen = await joint_decisions_during_a_slow_record(
        time_skipping_env, ts_client, sqlite_engine, slow_recording
    )
    assert earlier.revision <= first_row[0] and (earlier.revision, earlier.status) == first_row


# -- a linked case whose business-key id exists already ----------------------------------------------------
async def test_a_breach_whose_linked_case_exists_links_it_and_starts_no_second_one(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    env, client = time_skipping_env, ts_client
    one = [Party(role="provider", department="gaj")]
    case_id, answer = await start(env, task_queue, "engine_joint", one)
    (task,) = answer.open_tasks
    # The order the escalation of task 1's breach would start, started beforehand under its key.
    escalation_id = f"ES-{case_id}-T1"
    order_id = f"EO-{escalation_id}-O"
    pre = await start_raw(
        env, task_queue, "engine_order", order_id, [Party(role="respondent", department="gaj")]
    )
    await pre.execute_update("settled", result_type=CaseAnswer)

    now = await env.get_current_time()
    await env.sleep(task.due_at + timedelta(minutes=5) - now)
    await until(lambda s: s.tasks[0].overdue and bool(s.header.links), client, case_id)
    # The escalation links the order it found and does not wait on it (that order will not report
    # to it): its waiting rung is done at once and it ends, reporting to the late case.
    esc = await until(lambda s: s.status != "in_progress", client, escalation_id)
    (link,) = [k for k in esc.header.links if k.relation == "started"]
    assert (link.case_id, link.relation, link.workflow_id) == (order_id, "started", f"EngineOrder:{order_id}")
    assert link.reason_en.endswith(" (the case already existed; linked)")
    assert link.reason_zh.endswith("(该案件已存在,仅建立关联)")
    assert not link.reports and esc.status == "closed"

    # No second order: the one running is the one started beforehand, which the case did not start.
    desc = await client.get_workflow_handle(f"EngineOrder:{order_id}").describe()
    assert desc.run_id == pre.result_run_id
    order = await state(client, order_id)
    assert order.header.links == []
    history = await handle(client, escalation_id).fetch_history()
    types = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED in types
    assert EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED not in types
    links = rows(sqlite_engine, models.CaseLink, escalation_id)
    assert sorted((r.linked_case_id, r.relation) for r in links) == sorted(
        [(order_id, "started"), (case_id, "started_by")]
    )
    current = await until(lambda s: all(k.status for k in s.header.links), client, case_id)
    assert [(k.case_id, k.status) for k in current.header.links] == [(escalation_id, "closed")]

    answer = await decide(client, order_id, DecisionRequest(GAJ, "done", "order_response"))
    assert answer.status == "rectified"
    answer = await decide(client, case_id, DecisionRequest(GAJ, "confirm", task_id=task.task_id))
    assert answer.status == "confirmed"
