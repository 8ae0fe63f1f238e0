"""The sharing application workflow on the time-skipping test server, every branch, every profile.

Each test runs a real worker (real activities writing a real SQLite DB) against the Temporal
time-skipping test server, so working-day timers of weeks pass in milliseconds.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from factories import (
    CONSUMER,
    PLATFORM,
    PROVIDER,
    application,
    decide,
    grant_of,
    query_state,
    resource,
    start_sharing_application,
    withdraw,
)
from sqlmodel import Session, select

from calendars import SHANGHAI
from govshare.cases.service import (
    CaseConflict,
    CaseForbidden,
    CaseInvalid,
)
from govshare.core import models
from regulations import load_profile
from workflows.case import Actor, DecisionRequest, GrantTerms, WithdrawRequest


async def test_hubei_conditional_granted_by_provider_then_consumer_informed(
    run_worker, ts_client, task_queue, sqlite_engine
):
    inp = application("hubei", resource("conditional"))
    state = await start_sharing_application(ts_client, task_queue, inp)
    task = state.tasks[-1]
    assert (state.status, task.step, task.assignee.department, task.article) == (
        "in_progress",
        "platform_check",
        "bdb",
        "19",
    )
    assert task.deadline is not None and task.deadline.working_days == 3
    assert task.deadline.article == "19" and task.deadline.profile == "hubei"

    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "accept", "platform_check"))
    task = state.tasks[-1]
    assert (task.step, task.assignee.department, task.deadline.working_days, task.article) == (
        "provider_authorization",
        "gaj",
        10,
        "20",
    )
    # Hubei 20: the 10 working days run from the provider's receipt, i.e. the acceptance.
    assert task.opened_at == state.tasks[0].decision.decided_at

    grant = GrantTerms(
        scope="社保资格认证", fields=["name"], sharing_mode="system_docking", conditions="仅限本系统"
    )
    state = await decide(
        ts_client,
        inp.case.case_id,
        DecisionRequest(PROVIDER, "grant", "provider_authorization", grant=grant),
    )
    assert state.result == "granted" and state.status == "in_progress"
    assert state.tasks[-1].step == "notify_consumer" and state.tasks[-1].deadline.working_days == 1

    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "inform", "notify_consumer"))
    assert state.status == "granted" and state.closed_at is not None
    assert grant_of(state).fields == ["name"] and grant_of(state).conditions == "仅限本系统"
    assert not grant_of(state).comparison_results_only

    with Session(sqlite_engine) as s:
        row = s.get(models.Case, inp.case.case_id)
        assert row.status == "granted" and row.revision == state.revision
        tasks = s.exec(
            select(models.Task).where(models.Task.case_id == row.id).order_by(models.Task.seq)
        ).all()
        assert [t.step for t in tasks] == ["platform_check", "provider_authorization", "notify_consumer"]
        assert all(t.status == "done" for t in tasks)
        kinds = [
            e.kind
            for e in s.exec(
                select(models.AuditEvent)
                .where(models.AuditEvent.case_id == row.id)
                .order_by(models.AuditEvent.seq)
            )
        ]
        assert kinds[0] == "case_submitted" and kinds[-1] == "case_closed"
        assert kinds.count("decision") == 3
        notes = s.exec(select(models.Notification).where(models.Notification.case_id == row.id)).all()
        consumer_notes = [n for n in notes if n.recipient_department == "rsj"]
        assert any("同意授权" in n.text_zh for n in consumer_notes)
        assert any(n.kind == "task_assigned" and n.recipient_department == "gaj" for n in notes)


async def test_hubei_unconditional_without_controlled_parameters_platform_authorizes(
    run_worker, ts_client, task_queue, sqlite_engine
):
    inp = application("hubei", resource("unconditional", controlled=False))
    await start_sharing_application(ts_client, task_queue, inp)
    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "accept"))
    task = state.tasks[-1]
    assert (task.step, task.assignee.role, task.deadline.working_days, task.article) == (
        "platform_direct_authorization",
        "platform",
        3,
        "21",
    )
    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "grant"))
    assert state.status == "granted"
    # Defaults: the grant covers what was applied for.
    assert grant_of(state).fields == ["name", "id_number"]
    with Session(sqlite_engine) as s:
        notes = s.exec(
            select(models.Notification).where(models.Notification.case_id == inp.case.case_id)
        ).all()
        # Hubei 21: the result is also sent to the provider.
        assert any(n.recipient_department == "gaj" and n.kind == "decided" for n in notes)


async def test_hubei_unconditional_with_controlled_parameters_goes_to_provider(
    run_worker, ts_client, task_queue
):
    inp = application("hubei", resource("unconditional", controlled=True))
    await start_sharing_application(ts_client, task_queue, inp)
    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "accept"))
    assert state.tasks[-1].step == "provider_authorization"


async def test_hubei_refusal_needs_reason_and_is_relayed(run_worker, ts_client, task_queue):
    inp = application("hubei", resource("conditional"))
    await start_sharing_application(ts_client, task_queue, inp)
    await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "accept"))
    with pytest.raises(CaseInvalid) as err:
        await decide(ts_client, inp.case.case_id, DecisionRequest(PROVIDER, "refuse", reason="  "))
    assert "理由" in err.value.detail_zh
    state = await decide(
        ts_client, inp.case.case_id, DecisionRequest(PROVIDER, "refuse", reason="涉及个人隐私")
    )
    assert state.result == "refused" and state.tasks[-1].step == "notify_consumer"
    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "inform"))
    assert state.status == "refused" and state.result_reason == "涉及个人隐私"


async def test_hubei_rejected_at_check_with_reason(run_worker, ts_client, task_queue):
    inp = application("hubei", resource("conditional"))
    await start_sharing_application(ts_client, task_queue, inp)
    state = await decide(
        ts_client,
        inp.case.case_id,
        DecisionRequest(PLATFORM, "reject", "platform_check", reason="用途不明确"),
    )
    assert state.status == "rejected" and state.result_article == "19"
    assert [t.status for t in state.tasks] == ["done"]


async def test_not_shared_rejected_at_once_quoting_legal_basis(run_worker, ts_client, task_queue):
    res = resource("not_shared", legal_basis="《中华人民共和国保守国家秘密法》第二条")
    for profile in ("hubei", "luzhou", "jiangsu", "luoyang"):
        inp = application(profile, res)
        state = await start_sharing_application(ts_client, task_queue, inp)
        assert state.status == "rejected", profile
        assert state.tasks == []
        assert "保守国家秘密法" in state.result_reason
        assert state.result_article


async def test_wrong_department_and_wrong_step_are_refused(run_worker, ts_client, task_queue):
    inp = application("hubei", resource("conditional"))
    await start_sharing_application(ts_client, task_queue, inp)
    with pytest.raises(CaseForbidden):  # the provider may not do the platform's check
        await decide(ts_client, inp.case.case_id, DecisionRequest(PROVIDER, "accept"))
    with pytest.raises(CaseForbidden):  # another department in the right role neither
        await decide(ts_client, inp.case.case_id, DecisionRequest(Actor("mzj", "platform"), "accept"))
    with pytest.raises(CaseConflict):  # the provider's own step, not yet open: not its turn
        await decide(
            ts_client, inp.case.case_id, DecisionRequest(PROVIDER, "grant", "provider_authorization")
        )
    with pytest.raises(CaseForbidden):  # a step that is never the platform's
        await decide(
            ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "grant", "provider_authorization")
        )
    with pytest.raises(CaseInvalid):  # a step the profile does not have
        await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "accept", "no_such_step"))
    with pytest.raises(CaseInvalid):  # an action the step does not have
        await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "grant", "platform_check"))
    state = await query_state(ts_client, inp.case.case_id)
    assert state.tasks[-1].status == "open" and all(t.decision is None for t in state.tasks)


async def test_withdrawal(run_worker, ts_client, task_queue, sqlite_engine):
    inp = application("hubei", resource("conditional"))
    await start_sharing_application(ts_client, task_queue, inp)
    await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "accept"))
    with pytest.raises(CaseForbidden):
        await withdraw(ts_client, inp.case.case_id, WithdrawRequest(PROVIDER, "not mine"))
    state = await withdraw(ts_client, inp.case.case_id, WithdrawRequest(CONSUMER, "需求已变更"))
    assert state.status == "withdrawn" and state.tasks[-1].status == "cancelled"
    with pytest.raises((CaseConflict, Exception)):
        await withdraw(ts_client, inp.case.case_id, WithdrawRequest(CONSUMER, "again"))
    with Session(sqlite_engine) as s:
        notes = s.exec(
            select(models.Notification).where(models.Notification.case_id == inp.case.case_id)
        ).all()
        assert any(n.kind == "withdrawn" and n.recipient_department == "gaj" for n in notes)


async def test_reminder_then_breach_then_late_decision(
    run_worker, ts_client, task_queue, sqlite_engine, time_skipping_env
):
    inp = application("hubei", resource("conditional"))
    state = await start_sharing_application(ts_client, task_queue, inp)
    deadline = state.tasks[-1].deadline
    now = await time_skipping_env.get_current_time()
    # Just before the reminder moment: nothing yet.
    await time_skipping_env.sleep(deadline.remind_at - now - timedelta(minutes=1))
    state = await query_state(ts_client, inp.case.case_id)
    assert state.tasks[-1].reminded_at is None and not state.breaches
    # Into the last working day: reminded, not yet overdue.
    await time_skipping_env.sleep(timedelta(minutes=2))
    state = await query_state(ts_client, inp.case.case_id)
    assert state.tasks[-1].reminded_at is not None and not state.tasks[-1].overdue
    # Past the due instant: the breach is recorded, the case keeps waiting.
    await time_skipping_env.sleep(deadline.due_at - deadline.remind_at + timedelta(minutes=1))
    state = await query_state(ts_client, inp.case.case_id)
    task = state.tasks[-1]
    assert task.overdue and task.status == "open"
    breach = state.breaches[0]
    assert (breach.step, breach.article, breach.responsible.department) == ("platform_check", "19", "bdb")
    assert breach.due_at == deadline.due_at
    assert breach.next_rung == "report_to_leading_group_office" and breach.next_rung_article == "26"
    # The late decision is still taken, and the record keeps the breach.
    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PLATFORM, "accept"))
    assert state.tasks[0].overdue and state.tasks[0].decision.action == "accept"
    with Session(sqlite_engine) as s:
        row = s.get(models.Case, inp.case.case_id)
        assert not row.overdue  # the overdue task is done; the new one is on time
        kinds = {
            n.kind for n in s.exec(select(models.Notification).where(models.Notification.case_id == row.id))
        }
        assert {"reminder", "breach"} <= kinds
        # The platform itself was late: there is no one above it to alert in this case.
        assert "breach_supervision" not in kinds


async def test_breach_across_2026_national_day(run_worker, ts_client, task_queue):
    # A case recorded on 2026-09-30 (Shanghai): the 3-working-day check skips the National Day
    # holiday 10-01..10-07 and ends at 24:00 of the make-up Saturday 10-10 (2026 notice). The test
    # server's clock is the real one (later), so the breach is detected as soon as the task opens.
    recorded = datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    inp = application("hubei", resource("conditional"), submitted_at=recorded)
    state = await start_sharing_application(ts_client, task_queue, inp)
    task = state.tasks[-1]
    assert task.deadline.due_at == datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI)
    assert task.deadline.due_date.isoformat() == "2026-10-10"
    assert any("10-10" in line for line in task.deadline.explanation_zh)
    state = await query_state(ts_client, inp.case.case_id)
    assert state.tasks[-1].overdue and state.breaches[0].due_at == task.deadline.due_at


async def test_luzhou_unconditional_granted_at_once(run_worker, ts_client, task_queue):
    inp = application("luzhou", resource("unconditional"))
    state = await start_sharing_application(ts_client, task_queue, inp)
    assert state.status == "granted" and state.tasks == [] and state.result_article == "25"
    assert grant_of(state).fields == ["name", "id_number"]


async def test_luzhou_conditional_acceptance_then_comparison_grant(run_worker, ts_client, task_queue):
    inp = application("luzhou", resource("conditional"), mode="data_comparison")
    state = await start_sharing_application(ts_client, task_queue, inp)
    task = state.tasks[-1]
    assert (task.step, task.assignee.department, task.deadline.working_days, task.article) == (
        "provider_acceptance",
        "gaj",
        5,
        "25",
    )
    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PROVIDER, "accept"))
    task = state.tasks[-1]
    assert task.step == "provider_provision" and task.deadline is None and task.limit_basis == "none"
    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PROVIDER, "grant"))
    assert state.status == "granted"
    assert grant_of(state).sharing_mode == "data_comparison" and grant_of(state).comparison_results_only


async def test_luzhou_refusal_at_acceptance(run_worker, ts_client, task_queue):
    inp = application("luzhou", resource("conditional"))
    await start_sharing_application(ts_client, task_queue, inp)
    state = await decide(
        ts_client, inp.case.case_id, DecisionRequest(PROVIDER, "refuse", reason="超出履职需要")
    )
    assert state.status == "refused"


async def test_jiangsu(run_worker, ts_client, task_queue, time_skipping_env, sqlite_engine):
    state = await start_sharing_application(
        ts_client, task_queue, application("jiangsu", resource("unconditional"))
    )
    assert state.status == "granted" and state.result_article == "16"
    inp = application("jiangsu", resource("conditional"))
    state = await start_sharing_application(ts_client, task_queue, inp)
    task = state.tasks[-1]
    assert (task.step, task.deadline.working_days, task.article) == ("provider_response", 10, "16")
    # The provider misses its 10 working days: it is told, and the platform supervises.
    now = await time_skipping_env.get_current_time()
    await time_skipping_env.sleep(task.deadline.due_at - now + timedelta(minutes=1))
    state = await query_state(ts_client, inp.case.case_id)
    assert state.tasks[-1].overdue and state.breaches[0].next_rung == "rectification_order"
    assert state.breaches[0].next_rung_article == "25"
    with Session(sqlite_engine) as s:
        notes = s.exec(
            select(models.Notification).where(models.Notification.case_id == inp.case.case_id)
        ).all()
        assert {(n.kind, n.recipient_department) for n in notes} >= {
            ("breach", "gaj"),
            ("breach_supervision", "bdb"),
        }
    state = await decide(ts_client, inp.case.case_id, DecisionRequest(PROVIDER, "grant"))
    assert state.status == "granted"


async def test_luoyang_five_stages_untimed(run_worker, ts_client, task_queue):
    inp = application("luoyang", resource("conditional"))
    state = await start_sharing_application(ts_client, task_queue, inp)
    steps = []
    for actor, action in ((PLATFORM, "accept"), (PROVIDER, "agree"), (PLATFORM, "inform")):
        task = state.tasks[-1]
        assert task.deadline is None and task.limit_basis == "none"
        steps.append(task.step)
        state = await decide(ts_client, inp.case.case_id, DecisionRequest(actor, action))
    assert steps == ["platform_review", "provider_consultation", "result_feedback"]
    assert state.status == "granted"


async def test_local_policy_limit_is_labelled(run_worker, ts_client, task_queue):
    # Luoyang's seed has no number; a deployment may configure one, labelled as local policy.
    inp = application("luoyang", resource("conditional"))
    rules = load_profile("luoyang").case_types["sharing_application"]
    step = rules.steps["platform_review"].model_copy(update={"local_policy_working_days": 5})
    inp.case.rules = rules.model_copy(update={"steps": {**rules.steps, "platform_review": step}})
    state = await start_sharing_application(ts_client, task_queue, inp)
    task = state.tasks[-1]
    assert task.limit_basis == "local_policy" and task.deadline.working_days == 5


class _SwitchableCalendar:
    """A calendar whose data can be swapped mid-test, as adding a notice file does in production."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def add_working_days(self, *args, **kwargs):
        return self.inner.add_working_days(*args, **kwargs)


async def test_provisional_deadline_is_replanned_when_the_notice_arrives(ts_client, sqlite_engine, tmp_path):
    import shutil
    from pathlib import Path

    import calendars
    from calendars import WorkingDayCalendar
    from govshare.ops.replan import replan_open_deadlines
    from govshare.ops.worker_build import build_worker

    # A calendar as it stood before the 2026 notice was published: 2018–2025 only.
    old = tmp_path / "notices"
    old.mkdir()
    for path in sorted((Path(calendars.__file__).parent / "notices").glob("*.toml")):
        if path.stem != "2026":
            shutil.copy(path, old / path.name)
    calendar = _SwitchableCalendar(WorkingDayCalendar.from_directory(old))
    queue = f"replan-{uuid.uuid4().hex[:6]}"
    async with build_worker(ts_client, task_queue=queue, engine=sqlite_engine, calendar=calendar):
        # Recorded Friday 2026-10-09: on weekends alone, 3 WD end on 10-14 (due 10-15 00:00); the 2026
        # notice makes Saturday 10-10 a working day, so they end on 10-13 (due 10-14 00:00).
        inp = application(
            "hubei", resource("conditional"), submitted_at=datetime(2026, 10, 9, 10, tzinfo=SHANGHAI)
        )
        state = await start_sharing_application(ts_client, queue, inp)
        before = state.tasks[-1].deadline
        assert before.provisional and before.provisional_years == [2026]
        assert before.due_at == datetime(2026, 10, 15, tzinfo=SHANGHAI)

        calendar.inner = WorkingDayCalendar.default()  # the 2026 notice is added
        report = await replan_open_deadlines(ts_client, sqlite_engine)
        assert inp.case.case_id in report.changed
        state = await query_state(ts_client, inp.case.case_id)
        after = state.tasks[-1].deadline
        assert not after.provisional and 2026 in [ref.year for ref in after.calendar_data]
        assert after.due_at == datetime(2026, 10, 14, tzinfo=SHANGHAI)
        with Session(sqlite_engine) as s:
            kinds = [
                e.kind
                for e in s.exec(
                    select(models.AuditEvent).where(models.AuditEvent.case_id == inp.case.case_id)
                )
            ]
            assert "deadline_recomputed" in kinds
            assert not s.get(models.Task, state.tasks[-1].task_id).provisional
        # Close the case: the time-skipping server must not be left with a workflow nobody serves.
        await withdraw(ts_client, inp.case.case_id, WithdrawRequest(CONSUMER, "test done"))


async def test_office_closing_cutoff_from_the_profile(run_worker, ts_client, task_queue):
    # REGULATIONS.md §3: a profile may end periods at an office-closing time instead of 24:00.
    recorded = datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    inp = application("hubei", resource("conditional"), submitted_at=recorded)
    inp.case.deadline_cutoff = "17:30"
    state = await start_sharing_application(ts_client, task_queue, inp)
    deadline = state.tasks[-1].deadline
    assert deadline.cutoff == "17:30"
    assert deadline.due_at == datetime(2026, 10, 10, 17, 30, tzinfo=SHANGHAI)
    await withdraw(ts_client, inp.case.case_id, WithdrawRequest(CONSUMER, "test done"))
