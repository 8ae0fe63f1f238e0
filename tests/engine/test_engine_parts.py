"""The engine's pure parts, without a server: decision checks, joins, the clock, links, words.

Each of these once lived inside ``CaseEngine`` and could be reached only through a running workflow;
now a rule is one function call. The rules come from ``tests/profiles/enginetest.toml``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from engine_cases import PROFILE
from temporalio.exceptions import ApplicationError

from calendars import SHANGHAI, WorkingDayCalendar
from workflows.case import (
    ERROR_CONFLICT,
    ERROR_FORBIDDEN,
    ERROR_INVALID,
    Actor,
    CaseHeader,
    ClockEntry,
    ClockRequest,
    Decision,
    DecisionRequest,
    Party,
    Task,
    WithdrawRequest,
)
from workflows.contracts import CaseStart, LinkedCaseType
from workflows.engine import clock, decisions, ladder, links
from workflows.engine.words import Speaker

JOINT = PROFILE.case_types["engine_joint"]
CLOCK = PROFILE.case_types["engine_clock"]
ANY = PROFILE.case_types["engine_any"]
QUORUM = PROFILE.case_types["engine_quorum"]
SPEAKER = Speaker(profile_name_zh="引擎测试规范", department_names={"gaj": "公安局"})
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday
CAL = WorkingDayCalendar.default()


def task(seq: int, step: str, dept: str, *, rules=JOINT, status: str = "open", **kw) -> Task:
    s = rules.steps[step]
    t = Task(
        task_id=f"C/{seq}",
        seq=seq,
        step=step,
        name_zh=s.name_zh,
        name_en=s.name_en,
        assignee=Party(department=dept, role=s.actor),
        actions=list(s.actions),
        opened_at=T0,
        article=s.article,
        limit_basis=s.limit_basis,
        status=status,  # type: ignore[arg-type]
        group=f"{step}#1",
        **kw,
    )
    return t


def decided(t: Task, action: str, minutes: int) -> Task:
    t.status = "done"
    t.decision = Decision(
        action=action,
        actor=Actor(t.assignee.department, t.assignee.role),
        decided_at=T0 + timedelta(minutes=minutes),
    )
    return t


def situation(tasks: list[Task], rules=JOINT, *, closed: bool = False) -> decisions.Situation:
    parties = [t.assignee for t in tasks]
    return decisions.Situation(rules=rules, tasks=tasks, parties=parties, closed=closed, speaker=SPEAKER)


def refused(exc: pytest.ExceptionInfo[ApplicationError]) -> tuple[str, str]:
    return exc.value.type or "", exc.value.details[0]["zh"]


# -- joins ---------------------------------------------------------------------------------------------
def test_join_all_waits_for_every_party_then_agrees_or_takes_the_disagreement_rule() -> None:
    step = JOINT.steps["joint_verification"]
    a, b = task(1, "joint_verification", "gaj"), task(2, "joint_verification", "scjgj")
    assert decisions.join(step, [decided(a, "confirm", 1), b], JOINT, "bdb") is None
    out = decisions.join(step, [a, decided(b, "confirm", 2)], JOINT, "bdb")
    assert out is not None and out.action_id == "confirm" and out.decision.kind == "person"
    decided(b, "correct", 2)
    out = decisions.join(step, [a, b], JOINT, "bdb")
    assert out is not None and out.action_id == step.on_disagreement and out.decision.kind == "rule"
    assert out.decision.reason == "gaj:confirm; scjgj:correct"


def test_join_any_takes_the_first_decision_in_time() -> None:
    step_id = next(iter(ANY.steps))
    step = ANY.steps[step_id]
    a, b, c = (task(i, step_id, d, rules=ANY) for i, d in enumerate(("gaj", "scjgj", "mzj"), 1))
    decided(b, next(iter(step.actions)), 5)
    out = decisions.join(step, [a, b, c], ANY, "bdb")
    assert out is not None and out.decision.actor.department == "scjgj"


def test_join_quorum_needs_enough_alike_and_gives_up_when_it_can_no_longer_be_reached() -> None:
    step_id = next(iter(QUORUM.steps))
    step = QUORUM.steps[step_id]
    assert step.quorum == 2
    yes, no = list(step.actions)[:2]
    a, b, c = (task(i, step_id, d, rules=QUORUM) for i, d in enumerate(("gaj", "scjgj", "mzj"), 1))
    assert decisions.join(step, [decided(a, yes, 1), b, c], QUORUM, "bdb") is None
    out = decisions.join(step, [a, decided(b, yes, 2), c], QUORUM, "bdb")
    assert out is not None and out.action_id == yes and out.decision.actor.department == "scjgj"
    # one yes, one no, one other: no action can reach 2 once all have spoken.
    a2, b2, c2 = (task(i, step_id, d, rules=QUORUM) for i, d in enumerate(("gaj", "scjgj", "mzj"), 1))
    decided(a2, yes, 1), decided(b2, no, 2)
    assert decisions.join(step, [a2, b2, c2], QUORUM, "bdb") is None  # the third can still tip it
    others = [x for x in step.actions if x not in (yes, no)]
    if others:
        decided(c2, others[0], 3)
        out = decisions.join(step, [a2, b2, c2], QUORUM, "bdb")
        assert out is not None and out.decision.kind == "rule"


# -- a decision --------------------------------------------------------------------------------------------
def test_check_decision_refuses_with_the_right_kind() -> None:
    a = task(1, "joint_verification", "gaj")
    case = situation([a])
    gaj = Actor("gaj", "provider", "clerk")
    t, action = decisions.check_decision(DecisionRequest(actor=gaj, action="confirm", task_id="C/1"), case)
    assert t is a and action.result == "confirmed"
    cases = [
        (
            DecisionRequest(actor=Actor("mzj", "provider"), action="confirm", task_id="C/1"),
            case,
            ERROR_FORBIDDEN,
        ),
        (DecisionRequest(actor=gaj, action="nonsense", task_id="C/1"), case, ERROR_INVALID),
        (DecisionRequest(actor=gaj, action="correct", task_id="C/1"), case, ERROR_INVALID),  # no reason
        (DecisionRequest(actor=gaj, action="confirm", task_id="C/9"), case, ERROR_INVALID),
        (
            DecisionRequest(actor=gaj, action="confirm", task_id="C/1"),
            situation([a], closed=True),
            ERROR_CONFLICT,
        ),
    ]
    for req, sit, kind in cases:
        with pytest.raises(ApplicationError) as exc:
            decisions.check_decision(req, sit)
        assert exc.value.type == kind, (req, exc.value)
    decided(a, "confirm", 1)
    with pytest.raises(ApplicationError) as exc:
        decisions.check_decision(DecisionRequest(actor=gaj, action="confirm", task_id="C/1"), case)
    assert refused(exc)[0] == ERROR_CONFLICT and "已办结" in refused(exc)[1]


def test_a_decision_that_sets_a_limit_must_set_one_within_the_next_steps_cap() -> None:
    issue = task(1, "order_issue", "lgo", rules=CLOCK)
    case = situation([issue], CLOCK)
    lg = Actor("lgo", "leading_group")
    for days in (None, 0, 31):
        with pytest.raises(ApplicationError) as exc:
            decisions.check_decision(DecisionRequest(actor=lg, action="issue", limit_working_days=days), case)
        assert exc.value.type == ERROR_INVALID and "1至30" in refused(exc)[1]
    decisions.check_decision(DecisionRequest(actor=lg, action="issue", limit_working_days=30), case)


def test_a_withdrawal_is_refused_once_the_result_is_set() -> None:
    """Issue 17, defect 2: 'withdrawn, yet granted' can no longer happen."""
    consumer = Actor("rsj", "consumer", "clerk")
    ok = {
        "submitted_by": consumer,
        "status": "in_progress",
        "closed": False,
        "speaker": Speaker(results={"granted": ("同意授权", "granted")}),
    }
    decisions.check_withdrawal(WithdrawRequest(actor=consumer), result="", **ok)
    with pytest.raises(ApplicationError) as exc:
        decisions.check_withdrawal(WithdrawRequest(actor=consumer), result="granted", **ok)
    assert exc.value.type == ERROR_CONFLICT and "同意授权" in refused(exc)[1]
    with pytest.raises(ApplicationError) as exc:
        decisions.check_withdrawal(WithdrawRequest(actor=Actor("gaj", "provider")), result="", **ok)
    assert exc.value.type == ERROR_FORBIDDEN


# -- the clock ---------------------------------------------------------------------------------------
def test_first_entry_base_limit_set_and_counts_from() -> None:
    entry, limit = clock.first_entry(
        JOINT.steps["joint_verification"], T0, opened_by=None, opened_by_article="", counts_from=None
    )
    assert (entry.kind, limit, entry.starts_at, entry.basis) == ("base", 5, T0, "statute")
    issued = Decision(
        action="issue", actor=Actor("lgo", "leading_group"), decided_at=T0, limit_working_days=12
    )
    entry, limit = clock.first_entry(
        CLOCK.steps["rectify"], T0, opened_by=issued, opened_by_article="26", counts_from=None
    )
    assert (entry.kind, limit, entry.article, entry.basis, entry.approved_by) == (
        "limit_set",
        12,
        "26",
        "decision",
        issued.actor,
    )
    law = PROFILE.case_types["engine_law"].steps["law_update"]
    changed = T0 - timedelta(days=20)
    entry, limit = clock.first_entry(law, T0, opened_by=None, opened_by_article="", counts_from=changed)
    assert (entry.kind, entry.starts_at, limit) == ("counts_from", changed, 10)


def test_extension_rules_and_what_an_extension_does() -> None:
    step = JOINT.steps["joint_verification"]
    deadline = CAL.add_working_days(T0, 5)
    t = task(1, "joint_verification", "gaj", deadline=deadline)
    parties = [t.assignee]
    gaj = Actor("gaj", "provider", "clerk")
    good = ClockRequest(
        actor=gaj, task_id="C/1", kind="extension", working_days=10, reason="数据量大", approver_name="张局长"
    )
    clock.check_change(good, t, step, parties, SPEAKER)
    for bad, kind in (
        (
            ClockRequest(actor=gaj, task_id="C/1", kind="extension", working_days=10, reason="x"),
            ERROR_INVALID,
        ),  # no approver
        (
            ClockRequest(
                actor=gaj, task_id="C/1", kind="extension", working_days=11, reason="x", approver_name="张"
            ),
            ERROR_INVALID,
        ),
        (
            ClockRequest(
                actor=Actor("mzj", "provider"),
                task_id="C/1",
                kind="extension",
                working_days=1,
                reason="x",
                approver_name="张",
            ),
            ERROR_FORBIDDEN,
        ),
        (
            ClockRequest(actor=gaj, task_id="C/1", kind="suspension", reason="x"),
            ERROR_INVALID,
        ),  # the step allows none
    ):
        with pytest.raises(ApplicationError) as exc:
            clock.check_change(bad, t, step, parties, SPEAKER)
        assert exc.value.type == kind, bad
    plan = clock.plan_extension(t, step, good)
    assert plan.start.date() == deadline.due_date and plan.working_days == 10 and plan.article == "19"
    new = CAL.add_working_days(plan.start, plan.working_days)
    change = clock.extension(good, plan, new, T0, SPEAKER, t)
    clock.apply(t, change)
    assert t.deadline is new and t.extensions_used == 1 and t.clock[-1].kind == "extension"
    assert change.notice == "clock_extended" and "张局长" in change.zh
    with pytest.raises(ApplicationError) as exc:  # once only (max_count = 1)
        clock.check_change(good, t, step, parties, SPEAKER)
    assert exc.value.type == ERROR_CONFLICT
    t.status = "done"  # issue 17, defect 1: nothing changes the clock of a closed task
    with pytest.raises(ApplicationError) as exc:
        clock.check_change(good, t, step, parties, SPEAKER)
    assert exc.value.type == ERROR_CONFLICT


def test_suspension_keeps_the_days_left_and_resume_counts_them_from_the_resume() -> None:
    step = CLOCK.steps["review"]
    deadline = CAL.add_working_days(T0, 5)
    t = task(1, "review", "gaj", rules=CLOCK, deadline=deadline)
    platform = Actor("bdb", "platform", "op")
    parties = [t.assignee, Party(department="bdb", role="platform")]
    stop = ClockRequest(actor=platform, task_id="C/1", kind="suspension", reason="等待补充材料")
    with pytest.raises(ApplicationError) as exc:  # only the platform stops this clock
        clock.check_change(
            ClockRequest(actor=Actor("gaj", "provider"), task_id="C/1", kind="suspension", reason="x"),
            t,
            step,
            parties,
            SPEAKER,
        )
    assert exc.value.type == ERROR_FORBIDDEN
    clock.check_change(stop, t, step, parties, SPEAKER)
    change = clock.suspension(stop, step, 3, T0 + timedelta(days=1), t)
    clock.apply(t, change)
    assert t.suspended_at is not None and t.deadline is deadline and change.notice == "clock_suspended"
    go = ClockRequest(actor=platform, task_id="C/1", kind="resume")
    clock.check_change(go, t, step, parties, SPEAKER)
    resumed_at = T0 + timedelta(days=14)
    plan = clock.plan_resume(t, step, resumed_at)
    assert (plan.start, plan.working_days) == (resumed_at, 3)
    new = CAL.add_working_days(resumed_at, 3)
    change = clock.resume(go, step, plan, new, resumed_at, t)
    clock.apply(t, change)
    assert (
        t.suspended_at is None and t.deadline is new and [e.kind for e in t.clock] == ["suspension", "resume"]
    )
    assert change.notice == "clock_resumed" and "剩余3个工作日" in change.zh


# -- links and words -------------------------------------------------------------------------------
def test_a_child_case_has_a_business_key_id_and_links_both_ways() -> None:
    parent = CaseStart(
        case_id="EJ-1",
        profile_id="enginetest",
        profile_version="1.0",
        profile_digest="d",
        profile_name_zh="引擎测试规范",
        deadline_cutoff="24:00",
        rules=JOINT,
        submitted_at=T0,
        submitted_by=Actor("bdb", "platform"),
        platform_department="bdb",
    )
    header = CaseHeader(
        case_id="EJ-1",
        case_type="engine_joint",
        workflow_id="EngineJoint:EJ-1",
        workflow_type="EngineJoint",
        profile_id="enginetest",
        profile_version="1.0",
        profile_digest="d",
        profile_name_zh="",
        submitted_at=T0,
        submitted_by=Actor("bdb", "platform"),
    )
    linked = LinkedCaseType(
        rules=PROFILE.case_types["engine_order"],
        workflow_type="EngineOrder",
        id_name="EngineOrder",
        prefix="EO",
    )
    child = links.child_case(
        parent,
        header,
        linked,
        "engine_order",
        key="T2",
        reason_zh="超期",
        reason_en="late",
        parties=[],
        now=T0,
        wait=False,
    )
    assert (child.case_id, child.workflow_id) == ("EO-EJ-1-T2", "EngineOrder:EO-EJ-1-T2")
    assert child.start.links[0].relation == "started_by" and child.start.links[0].case_id == "EJ-1"
    assert child.link.relation == "started" and child.start.rules is linked.rules


def test_who_and_labels_read_as_people_read_them() -> None:
    assert SPEAKER.who_zh(Party(department="gaj", role="provider")) == "提供部门(公安局)"
    labels = Speaker(results={"granted": ("同意授权", "granted")})
    assert (labels.status_zh("granted"), labels.status_zh("withdrawn"), labels.status_en("closed")) == (
        "同意授权",
        "已撤回",
        "closed",
    )


# -- the ladder (issue 18) -----------------------------------------------------------------------------
LADDER = PROFILE.case_types["engine_ladder"].escalation


def test_an_escalation_climbs_task_rungs_up_to_the_first_order_and_hands_the_rest_on() -> None:
    own, carried = ladder.climbed(LADDER)
    assert [r.id for r in own] == ["report", "order"] and [r.id for r in carried] == [
        "circular",
        "supervision",
    ]
    rules = ladder.escalation_rules(
        LADDER, name_zh="逐级上报", name_en="Escalation", waited_results=["rectified", "dismissed"]
    )
    assert list(rules.steps) == ["rung_report", "rung_order"] and rules.entry[0].step == "rung_report"
    report, order = rules.steps["rung_report"], rules.steps["rung_order"]
    assert (report.actor, report.article, report.statutory, report.waits_on) == (
        "platform",
        "26",
        "none",
        None,
    )
    assert report.actions["done"].name_zh == "已报请" and report.actions["done"].next[0].step == "rung_order"
    assert (order.actor, order.waits_on) == ("leading_group", "rectification_order")
    ends = {t.when.get("linked_result"): t.result for t in order.actions["closed"].next}
    assert ends == {"rectified": "rectified", "dismissed": "dismissed", None: None}
    # What the order carries: a circular after it is late, then supervision its actor may stop.
    assert ladder.carried_after(LADDER, "rung_order") == carried
    carried_rules = ladder.escalation_rules(carried, name_zh="x", name_en="x", waited_results=[])
    assert set(carried_rules.steps["rung_supervision"].actions) == {"done", "stop"}
    assert carried_rules.steps["rung_supervision"].actions["stop"].reason_required
    assert carried_rules.steps["rung_supervision"].actions["done"].next[0].result == "escalated"


def test_which_ladder_a_breach_or_a_result_climbs() -> None:
    _own, carried = ladder.climbed(LADDER)
    assert ladder.follows_breach(LADDER, carried=False) and ladder.follows_breach(carried, carried=True)
    assert not ladder.follows_breach([], carried=False) and not ladder.follows_breach([], carried=True)
    # A carried ladder whose first rung follows only a refusal is not climbed by a breach.
    refused_only = [carried[0].model_copy(update={"follows": ["result"], "results": ["dismissed"]})]
    assert not ladder.follows_breach(refused_only, carried=True)
    assert ladder.follows_result(refused_only, carried=True, result="dismissed")
    assert not ladder.follows_result(refused_only, carried=True, result="rectified")
    assert not ladder.follows_result(refused_only, carried=False, result="dismissed")


def test_a_task_reopened_on_a_missed_deadline_is_the_same_breach() -> None:
    due = CAL.add_working_days(T0, 5)
    first = task(1, "joint_verification", "gaj", deadline=due)
    again = task(3, "joint_verification", "gaj", deadline=due)
    again.clock = [ClockEntry(kind="limit_kept", at=T0, article="26")]
    other = task(4, "joint_verification", "gaj", deadline=CAL.add_working_days(T0, 6))
    assert ladder.breach_key(again, [first, again]) == 1
    assert ladder.breach_key(other, [first, again, other]) == 4


def test_who_an_escalation_and_an_order_involve() -> None:
    directory = {"platform": "bdb", "leading_group": "lgo"}
    parties = ladder.escalation_parties(LADDER, Party(department="gaj", role="provider"), directory, [])
    assert {(p.role, p.department) for p in parties} == {
        ("platform", "bdb"),
        ("leading_group", "lgo"),
        ("respondent", "gaj"),
    }
    order = ladder.order_parties("leading_group", "gaj", directory, [])
    assert [(p.role, p.department) for p in order] == [
        ("issuer", "lgo"),
        ("respondent", "gaj"),
        ("platform", "bdb"),
    ]
    # Before the directory, a case's own party in the role stands in.
    assert (
        ladder.directory_party("leading_group", {}, [Party(department="x", role="leading_group")]).department
        == "x"
    )
    assert ladder.directory_party("coordinator", {}, []) is None


def test_a_department_answers_for_itself_in_a_role_it_plays_in_one_case_only() -> None:
    respondent = Party(department="gaj", role="respondent")
    assert decisions.is_assignee(Actor("gaj", "provider", "u"), respondent)
    assert decisions.is_assignee(Actor("gaj", "consumer", "u"), respondent)
    assert not decisions.is_assignee(Actor("gaj", "auditor", "u"), respondent)
    assert not decisions.is_assignee(Actor("scjgj", "provider", "u"), respondent)
    assert not decisions.is_assignee(Actor("gaj", "provider", "u"), Party(department="gaj", role="platform"))


def test_the_heads_approval_task_and_who_may_answer_it() -> None:
    """approvals.py: the head of the assignee's own department; untimed unless the profile sets a
    local-policy limit (labelled so); only the head answers, a refusal gives its reason, nothing is
    extended once the task has closed."""
    from regulations.schema import Extension
    from workflows.engine import approvals

    rule = Extension(max_working_days=10, approver="principal_head", article="19")
    t = task(1, "joint_verification", "gaj")
    ask = ClockRequest(Actor("gaj", "provider", "clerk"), t.task_id, "extension", 5, "数据量大")
    approval = approvals.approval_task(t, rule, ask, task_id="C/9", seq=9, now=T0)
    assert (approval.assignee, approval.approves, approval.requested_working_days) == (
        Party("gaj", "principal_head"),
        t.task_id,
        5,
    )
    assert (approval.limit_basis, approval.clock) == ("none", [])
    timed = Extension(
        max_working_days=10, approver="principal_head", article="19", approval_local_policy_working_days=2
    )
    held = approvals.approval_task(t, timed, ask, task_id="C/9", seq=9, now=T0)
    assert held.limit_basis == "local_policy" and held.clock[0].basis == "local_policy"

    def refusal(actor: Actor, action: str, reason: str = "", target: Task = t) -> str:
        req = DecisionRequest(actor, action, task_id="C/9", reason=reason)
        with pytest.raises(ApplicationError) as err:
            approvals.check_approval(req, approval, target, rule, SPEAKER)
        return err.value.type or ""

    assert refusal(Actor("gaj", "provider", "clerk"), "approve") == ERROR_FORBIDDEN
    assert refusal(Actor("scjgj", "principal_head", "P-X"), "approve") == ERROR_FORBIDDEN
    assert refusal(Actor("gaj", "principal_head", "P-H"), "refuse") == ERROR_INVALID
    assert refusal(Actor("gaj", "principal_head", "P-H"), "extend") == ERROR_INVALID
    closed = task(1, "joint_verification", "gaj", status="done")
    assert refusal(Actor("gaj", "principal_head", "P-H"), "approve", target=closed) == ERROR_CONFLICT
    approvals.check_approval(
        DecisionRequest(Actor("gaj", "principal_head", "P-H"), "approve", task_id="C/9"),
        approval,
        t,
        rule,
        SPEAKER,
    )
    on_system = pytest.raises(ValueError, match="principal_head")
    with on_system:
        Extension(max_working_days=10, approver="platform", article="19")
