"""Claiming a task (签收) on the time-skipping server, and the pure rules (``workflows/engine/claims.py``).

A task addressed to a department in a role is claimed by one of its people: then only that person
decides it or changes its clock; another clerk of the same department is refused (409, naming who
claimed it), a department that is not the assignee is refused (403); the claimer releases it and
another may claim; the decision records the person. A data objection (Luoyang 19: one task for the
provider, with an extension its head approves) is the case type; the rules hold for every case type
on the engine."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from case_client import decide, handle, refused, state
from factories import DIRECTORY
from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from calendars import SHANGHAI
from govshare.cases import service as case_service
from govshare.core import models
from workflows import registry
from workflows.case import (
    ERROR_CONFLICT,
    ERROR_FORBIDDEN,
    ERROR_INVALID,
    Actor,
    CaseAnswer,
    ClaimRequest,
    ClockRequest,
    DecisionRequest,
    Party,
    Task,
)
from workflows.engine import claims, decisions
from workflows.engine.words import Speaker

CLERK_A = Actor("gaj", "provider", "P-CLERK-A")
CLERK_B = Actor("gaj", "provider", "P-CLERK-B")
SCJGJ = Actor("scjgj", "provider", "reviewer")
GAJ_HEAD = Actor("gaj", "principal_head", "P-DEMO-GAJ-HEAD")
RSJ = Actor("rsj", "consumer", "clerk")
NAMES = {"gaj": "市公安局", "scjgj": "市市场监管局", "rsj": "市人社局", "bdb": "市大数据局"}


async def report(env, client, task_queue) -> tuple[str, CaseAnswer]:
    case_id = f"DO-K{uuid.uuid4().hex[:8].upper()}"
    inp = case_service.new_case_input(
        registry.DATA_OBJECTION,
        case_id=case_id,
        profile_id="luoyang",
        submitted_at=await env.get_current_time(),
        submitted_by=RSJ,
        platform_department="bdb",
        department_names=NAMES,
        fields={
            "reporter": {"role": "consumer", "department": "rsj", "person": ""},
            "providers": ["gaj"],
            "resource_id": "RES-POP-001",
            "resource_name_zh": "人口基础信息",
            "records": ["户籍记录 0001"],
            "fields": ["address"],
            "problem": "住址与实际不符",
            "evidence": "不动产登记证明",
            "found_on": "",
        },
        directory=dict(DIRECTORY),
    )
    return case_id, await case_service.start_case(client, task_queue, registry.DATA_OBJECTION, inp)


async def claim(client, case_id: str, req: ClaimRequest) -> CaseAnswer:
    return await handle(client, case_id).execute_update("claim", req, result_type=CaseAnswer)


async def claim_refused(client, case_id: str, req: ClaimRequest) -> tuple[str, str]:
    """The refusal's type and its Chinese words."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await claim(client, case_id, req)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.type or "", cause.details[0]["zh"]


async def clock_refused(client, case_id: str, req: ClockRequest) -> tuple[str, str]:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle(client, case_id).execute_update("adjust_clock", req, result_type=CaseAnswer)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.type or "", cause.details[0]["zh"]


async def test_a_claimed_task_is_worked_by_its_claimer_alone(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    client = ts_client
    case_id, answer = await report(time_skipping_env, client, task_queue)
    (task,) = answer.open_tasks
    tid = task.task_id

    answer = await claim(client, case_id, ClaimRequest(CLERK_A, tid, name="张伟"))
    assert answer.task_id == tid and [t.task_id for t in answer.open_tasks] == [tid]
    claimed = (await state(client, case_id)).tasks[0]
    assert (claimed.claimed_by, claimed.claimed_by_name) == ("P-CLERK-A", "张伟")
    assert claimed.claimed_at is not None
    revision = (await state(client, case_id)).revision

    # Claimed again by its claimer: nothing changes (no write, same instant).
    await claim(client, case_id, ClaimRequest(CLERK_A, tid, name="张伟"))
    again = await state(client, case_id)
    assert again.revision == revision and again.tasks[0].claimed_at == claimed.claimed_at

    # Another clerk of the same department: refused, naming who claimed it.
    kind, zh = await claim_refused(client, case_id, ClaimRequest(CLERK_B, tid, name="李娜"))
    assert kind == ERROR_CONFLICT and "已由张伟签收" in zh
    # A department that is not the assignee: refused as such.
    assert (await claim_refused(client, case_id, ClaimRequest(SCJGJ, tid, name="王五")))[0] == ERROR_FORBIDDEN
    # An unknown task: refused.
    assert (await claim_refused(client, case_id, ClaimRequest(CLERK_A, f"{case_id}/9")))[0] == ERROR_INVALID

    # The other clerk cannot decide it, nor move its clock, nor release the claim.
    decision_b = DecisionRequest(CLERK_B, "confirm", task_id=tid, reason="与档案一致")
    assert await refused(client, case_id, decision_b) == ERROR_CONFLICT
    kind, zh = await clock_refused(client, case_id, ClockRequest(CLERK_B, tid, "extension", 5, "需调档"))
    assert kind == ERROR_CONFLICT and "张伟" in zh
    kind, zh = await claim_refused(client, case_id, ClaimRequest(CLERK_B, tid, release=True))
    assert kind == ERROR_FORBIDDEN and "张伟" in zh

    # The claimer releases it; releasing twice is refused; then the other clerk claims it.
    await claim(client, case_id, ClaimRequest(CLERK_A, tid, release=True))
    released = (await state(client, case_id)).tasks[0]
    assert (released.claimed_by, released.claimed_by_name, released.claimed_at) == ("", "", None)
    assert (await claim_refused(client, case_id, ClaimRequest(CLERK_A, tid, release=True)))[
        0
    ] == ERROR_CONFLICT
    await claim(client, case_id, ClaimRequest(CLERK_B, tid, name="李娜"))
    assert (await state(client, case_id)).tasks[0].claimed_by == "P-CLERK-B"
    kind, zh = await claim_refused(client, case_id, ClaimRequest(CLERK_A, tid, name="张伟"))
    assert kind == ERROR_CONFLICT and "已由李娜签收" in zh
    # The claimer may ask for an extension: the head's approval task opens (it is not claimed).
    await handle(client, case_id).execute_update(
        "adjust_clock", ClockRequest(CLERK_B, tid, "extension", 5, "需调档"), result_type=CaseAnswer
    )
    approval = next(t for t in (await state(client, case_id)).tasks if t.approves == tid)
    assert (await claim_refused(client, case_id, ClaimRequest(GAJ_HEAD, approval.task_id)))[
        0
    ] == ERROR_INVALID

    # Released and claimed back by the first clerk, who decides: the decision records the person.
    await claim(client, case_id, ClaimRequest(CLERK_B, tid, release=True))
    await claim(client, case_id, ClaimRequest(CLERK_A, tid, name="张伟"))
    assert await refused(client, case_id, decision_b) == ERROR_CONFLICT
    answer = await decide(
        client, case_id, DecisionRequest(CLERK_A, "confirm", task_id=tid, reason="与档案一致")
    )
    assert answer.status != "in_progress" and not answer.open_tasks
    done = (await state(client, case_id)).tasks[0]
    assert done.status == "done" and done.decision is not None
    assert (done.decision.actor.department, done.decision.actor.user) == ("gaj", "P-CLERK-A")
    assert done.claimed_by == "P-CLERK-A"

    # A task no longer open (and a closed case) is not claimed: refused by the case (409), or, once
    # its workflow has completed, not delivered at all (the server answers "update not found").
    try:
        kind, _zh = await claim_refused(client, case_id, ClaimRequest(CLERK_B, tid, name="李娜"))
        assert kind == ERROR_CONFLICT
    except RPCError as err:
        assert "not found" in str(err), err

    # The projection: who claimed, who decided, and the trail.
    with Session(sqlite_engine) as session:
        row = session.get(models.Task, tid)
        assert row is not None and (row.claimed_by, row.decided_by) == ("P-CLERK-A", "P-CLERK-A")
        assert row.detail is not None and row.detail["claimed_by_name"] == "张伟"
        events = session.exec(
            select(models.AuditEvent)
            .where(models.AuditEvent.case_id == case_id)
            .order_by(models.AuditEvent.seq)
        ).all()
    kinds = [e.kind for e in events]
    assert kinds.count("task_claimed") == 3 and kinds.count("task_released") == 2
    first = next(e for e in events if e.kind == "task_claimed")
    assert "张伟" in first.summary_zh and first.data["claimed_by"] == "P-CLERK-A"


async def test_an_unclaimed_task_is_decided_by_any_clerk_of_the_assignee(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    case_id, answer = await report(time_skipping_env, ts_client, task_queue)
    (task,) = answer.open_tasks
    await decide(
        ts_client, case_id, DecisionRequest(CLERK_B, "correct", task_id=task.task_id, reason="已更正")
    )
    done = (await state(ts_client, case_id)).tasks[0]
    assert done.claimed_by == "" and done.decision is not None and done.decision.actor.user == "P-CLERK-B"


async def test_a_first_generation_case_takes_no_claim() -> None:
    with pytest.raises(case_service.CaseInvalid) as err:
        await case_service.claim(
            None,  # type: ignore[arg-type]  # refused before anything is sent
            "SA-OLD",
            ClaimRequest(CLERK_A, "SA-OLD/1"),
            generation=1,
        )
    assert "旧版流程" in err.value.detail_zh and err.value.status == 422


# -- the pure rules ------------------------------------------------------------------------------------
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
SPEAKER = Speaker(department_names={"gaj": "市公安局"})


def a_task(assignee: Party | None = None, **kw) -> Task:
    return Task(
        task_id="C/1",
        seq=1,
        step="data_verification",
        name_zh="核实数据",
        name_en="Verify the data",
        assignee=assignee or Party("gaj", "provider"),
        actions=["confirm", "correct"],
        opened_at=T0,
        article="19",
        limit_basis="statute",
        **kw,
    )


def refusal(call) -> tuple[str, str]:
    with pytest.raises(ApplicationError) as err:
        call()
    return err.value.type or "", err.value.details[0]["zh"]


def check(req: ClaimRequest, task: Task, *, closed: bool = False, busy: bool = False) -> Task:
    return claims.check(req, [task], closed=closed, busy=busy, speaker=SPEAKER)


def test_claim_rules() -> None:
    task = a_task()
    req = ClaimRequest(CLERK_A, "C/1", name=" 张伟 ")
    assert check(req, task) is task
    change = claims.change(req, task, T0)
    assert change is not None and change.kind == "task_claimed"
    claims.apply(task, change)
    assert (task.claimed_by, task.claimed_by_name, task.claimed_at) == ("P-CLERK-A", "张伟", T0)
    assert claims.change(req, task, T0) is None  # the claimer again: nothing changes

    assert refusal(lambda: check(ClaimRequest(CLERK_B, "C/1"), task)) == (
        ERROR_CONFLICT,
        "待办“核实数据”已由张伟签收,不能重复签收",
    )
    assert refusal(lambda: check(ClaimRequest(SCJGJ, "C/1"), task))[0] == ERROR_FORBIDDEN
    assert refusal(lambda: check(ClaimRequest(CLERK_B, "C/1", release=True), task))[0] == ERROR_FORBIDDEN
    assert refusal(lambda: check(req, task, closed=True))[0] == ERROR_CONFLICT
    assert refusal(lambda: check(req, task, busy=True))[0] == ERROR_CONFLICT
    assert refusal(lambda: check(ClaimRequest(CLERK_A, "C/2"), task))[0] == ERROR_INVALID
    # A credential that names no one cannot claim (an empty claim would be no claim).
    assert (
        refusal(lambda: check(ClaimRequest(Actor("gaj", "provider", ""), "C/1"), a_task()))[0]
        == ERROR_INVALID
    )

    release = ClaimRequest(CLERK_A, "C/1", release=True)
    released = claims.change(release, check(release, task), T0)
    assert released is not None and released.kind == "task_released" and "张伟" in released.zh
    claims.apply(task, released)
    assert (task.claimed_by, task.claimed_by_name, task.claimed_at) == ("", "", None)
    assert refusal(lambda: check(release, task))[0] == ERROR_CONFLICT  # not claimed now

    # A task no longer open, a task its linked case decides, an approval task: not claimed.
    assert refusal(lambda: check(req, a_task(status="done")))[0] == ERROR_CONFLICT
    assert refusal(lambda: check(req, a_task(waits_on_case="RO-1")))[0] == ERROR_CONFLICT
    head_task = a_task(approves="C/0", assignee=Party("gaj", "principal_head"))
    assert refusal(lambda: check(ClaimRequest(GAJ_HEAD, "C/1"), head_task))[0] == ERROR_INVALID
    # Without a name the claim names the person by reference.
    unnamed = claims.change(ClaimRequest(CLERK_B, "C/1"), a_task(), T0)
    assert unnamed is not None and unnamed.claimed_by_name == "P-CLERK-B"


def test_a_claim_binds_decisions_and_clock_changes_of_the_assignee_only() -> None:
    task = a_task(claimed_by="P-CLERK-A", claimed_by_name="张伟", claimed_at=T0)
    decisions.require_claimer(CLERK_A, task)
    assert refusal(lambda: decisions.require_claimer(CLERK_B, task)) == (
        ERROR_CONFLICT,
        "待办“核实数据”已由张伟签收,由其办理",
    )
    decisions.require_claimer(CLERK_B, a_task())  # unclaimed: anyone of the assignee

    claims.check_clock(ClockRequest(CLERK_A, "C/1", "extension", 5, "x"), task)
    assert refusal(lambda: claims.check_clock(ClockRequest(CLERK_B, "C/1", "extension", 5, "x"), task))[
        0
    ] == (ERROR_CONFLICT)
    # The platform stopping the clock, and the head's approved extension, are not the claim's business.
    claims.check_clock(ClockRequest(Actor("bdb", "platform", "op"), "C/1", "suspension", reason="x"), task)
    claims.check_clock(ClockRequest(GAJ_HEAD, "C/1", "extension", 5, "x", approval_task="C/2"), task)


def test_a_decision_on_a_claimed_task_is_checked_for_its_claimer() -> None:
    """``check_decision`` refuses another clerk whether the decision names the task or its step."""
    from engine_cases import PROFILE

    rules = PROFILE.case_types["engine_clock"]
    step_id, step = next(iter(rules.steps.items()))
    task = Task(
        task_id="C/1",
        seq=1,
        step=step_id,
        name_zh=step.name_zh,
        name_en=step.name_en,
        assignee=Party("gaj", step.actor),
        actions=list(step.actions),
        opened_at=T0,
        article=step.article,
        limit_basis=step.limit_basis,
        claimed_by="P-CLERK-A",
        claimed_by_name="张伟",
    )
    case = decisions.Situation(
        rules=rules, tasks=[task], parties=[task.assignee], closed=False, speaker=SPEAKER
    )
    action = next(a for a, info in step.actions.items() if not info.reason_required and not info.sets_limit)
    a = Actor("gaj", step.actor, "P-CLERK-A")
    b = Actor("gaj", step.actor, "P-CLERK-B")
    assert decisions.check_decision(DecisionRequest(a, action, task_id="C/1"), case)[0] is task
    for req in (DecisionRequest(b, action, task_id="C/1"), DecisionRequest(b, action, step=step_id)):
        assert refusal(lambda req=req: decisions.check_decision(req, case))[0] == ERROR_CONFLICT
    task.claimed_by = ""
    assert decisions.check_decision(DecisionRequest(b, action, step=step_id), case)[0] is task


def test_a_kept_history_with_claims_rebuilds_and_holds_the_columns() -> None:
    """The record rebuilt from a kept history holds who claimed and who decided; the projection's
    ``claimed_by`` / ``decided_by`` columns are held against it (a row written before migration
    0009 holds "" as who decided, which is not a difference)."""
    from pathlib import Path

    from govshare.cases.history import compare, rebuild, task_lines
    from govshare.cases.replaying import load_history_file

    path = Path(__file__).parents[1] / "histories" / "DataObjection__DO-SAMPLE-K1-LUOYANG-CLAIMED.json"
    rebuilt = rebuild(load_history_file(path))
    tid = "DO-SAMPLE-K1-LUOYANG-CLAIMED/1"
    task = rebuilt.tasks[tid]
    assert (task.claimed_by, task.claimed_by_name) == ("P-SAMPLE-LI", "李娜")
    assert task.decision is not None and task.decision.actor.user == "P-SAMPLE-LI"
    (line,) = [t for t in task_lines(rebuilt) if t["task_id"] == tid]
    assert line["claimed_by_name"] == "李娜" and line["decision"]["by"]["user"] == "P-SAMPLE-LI"
    header = rebuilt.header
    assert header is not None

    def differences(columns: dict[str, tuple[str, str]]) -> list[str]:
        found = compare(
            rebuilt,
            status=header.status,
            result=header.result,
            revision=rebuilt.revision,
            tasks=list(rebuilt.tasks.values()),
            events=[(e.seq, e.kind, e.summary_zh) for e in rebuilt.events],
            columns=columns,
        )
        return [d.what for d in found]

    head_task = "DO-SAMPLE-K1-LUOYANG-CLAIMED/2"
    right = {tid: ("P-SAMPLE-LI", "P-SAMPLE-LI"), head_task: ("", "P-DEMO-GAJ-HEAD")}
    assert differences(right) == []
    assert differences({**right, tid: ("P-SAMPLE-LI", "")}) == []  # written before the column
    assert differences({**right, tid: ("", "P-SAMPLE-LI")}) == [f"task {tid} column claimed_by"]
    assert differences({**right, tid: ("P-SAMPLE-LI", "P-SAMPLE-ZHANG")}) == [f"task {tid} column decided_by"]
