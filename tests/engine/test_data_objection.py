"""Data objections on the time-skipping server (issue 20): the principal head's approval of an
extension as an act of the head (granted, refused, asked twice, approved by someone else), the late
report (Luzhou 26), the joint verification of two providers (Hubei 17), the note a party adds while
the data is checked (Hubei 23), and a citizen as the reporter (Luoyang 19)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from case_client import decide, handle, refused, state, until
from factories import DIRECTORY
from temporalio.client import WorkflowUpdateFailedError

from calendars import SHANGHAI, WorkingDayCalendar
from govshare.cases import service as case_service
from workflows import registry
from workflows.case import Actor, CaseAnswer, ClockRequest, DecisionRequest, NoteRequest, Party

CAL = WorkingDayCalendar.default()
RSJ = Actor("rsj", "consumer", "clerk")
GAJ = Actor("gaj", "provider", "reviewer")
SCJGJ = Actor("scjgj", "provider", "reviewer")
BDB = Actor("bdb", "platform", "operator")
GAJ_HEAD = Actor("gaj", "principal_head", "P-DEMO-GAJ-HEAD")
SCJGJ_HEAD = Actor("scjgj", "principal_head", "P-DEMO-SCJGJ-HEAD")
CITIZEN = Actor("", "citizen", "P-DEMO-CITIZEN")
NAMES = {"gaj": "市公安局", "scjgj": "市市场监管局", "rsj": "市人社局", "bdb": "市大数据局"}


async def report(
    env,
    client,
    task_queue,
    profile: str,
    *,
    by: Actor = RSJ,
    found_on: date | None = None,
    other: str = "",
) -> tuple[str, CaseAnswer]:
    case_id = f"DO-T{uuid.uuid4().hex[:8].upper()}"
    reporter = {"role": by.role, "department": by.department, "person": by.user if not by.department else ""}
    inp = case_service.new_case_input(
        registry.DATA_OBJECTION,
        case_id=case_id,
        profile_id=profile,
        submitted_at=await env.get_current_time(),
        submitted_by=by,
        platform_department="bdb",
        department_names=NAMES,
        person_names={"P-DEMO-CITIZEN": "李明", "P-DEMO-GAJ-HEAD": "市公安局主要负责人"},
        fields={
            "reporter": reporter,
            "providers": ["gaj", "scjgj"] if other else ["gaj"],
            "resource_id": "RES-POP-001",
            "resource_name_zh": "人口基础信息",
            "other_resource_id": other,
            "records": ["户籍记录 0001"],
            "fields": ["address"],
            "problem": "住址与实际不符",
            "evidence": "不动产登记证明",
            "found_on": found_on.isoformat() if found_on else "",
        },
        directory=dict(DIRECTORY),
        counts_from=datetime.combine(found_on, time(0), SHANGHAI) if found_on else None,
    )
    answer = await case_service.start_case(client, task_queue, registry.DATA_OBJECTION, inp)
    return case_id, answer


async def clock(client, case_id: str, req: ClockRequest) -> CaseAnswer:
    return await handle(client, case_id).execute_update("adjust_clock", req, result_type=CaseAnswer)


async def clock_refused(client, case_id: str, req: ClockRequest) -> str:
    try:
        await clock(client, case_id, req)
    except WorkflowUpdateFailedError as err:
        return err.cause.type  # type: ignore[union-attr]
    raise AssertionError("the clock change was taken")


async def test_an_extension_approved_by_the_head_moves_the_deadline_once(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await report(env, client, task_queue, "luoyang")
    (task,) = answer.open_tasks
    assert (task.step, task.working_days, task.article) == ("data_verification", 10, "19")
    ask = ClockRequest(GAJ, task.task_id, "extension", 5, "涉及历史档案,需调档核对")
    # A typed approver is the off-system path: refused where the head approves on the system.
    typed = ClockRequest(GAJ, task.task_id, "extension", 5, "x", approver_name="王局长")
    assert await clock_refused(client, case_id, typed) == "Invalid"
    # Longer than the 10 WD of art. 19: refused with the article.
    assert (
        await clock_refused(client, case_id, ClockRequest(GAJ, task.task_id, "extension", 11, "x"))
        == "Invalid"
    )
    # Asked by someone who is not the assignee: refused.
    assert (
        await clock_refused(client, case_id, ClockRequest(SCJGJ, task.task_id, "extension", 5, "x"))
        == "Forbidden"
    )
    answer = await clock(client, case_id, ask)
    current = await state(client, case_id)
    approval = next(t for t in current.tasks if t.approves == task.task_id)
    assert (approval.assignee.department, approval.assignee.role) == ("gaj", "principal_head")
    assert approval.status == "open" and approval.requested_working_days == 5
    # Nothing moved yet: the extension is asked, not granted.
    assert current.tasks[0].deadline.due_at == task.due_at and current.tasks[0].extensions_used == 0
    # A second request, while the first waits: refused with the article.
    assert await clock_refused(client, case_id, ask) == "Conflict"
    # Approved by the assignee itself, or by another department's head: refused.
    for who in (GAJ, SCJGJ_HEAD):
        assert (
            await refused(client, case_id, DecisionRequest(who, "approve", task_id=approval.task_id))
            == "Forbidden"
        )
    answer = await decide(client, case_id, DecisionRequest(GAJ_HEAD, "approve", task_id=approval.task_id))
    current = await state(client, case_id)
    verified = current.tasks[0]
    base = verified.clock[0]  # 10 WD from the report; the extension runs on after its last day
    last_day = CAL.add_working_days(base.starts_at, 10).due_date
    expected = CAL.add_working_days(datetime.combine(last_day, time(12), SHANGHAI), 5)
    assert verified.deadline.due_at == expected.due_at and verified.extensions_used == 1
    entry = verified.clock[-1]
    assert (entry.kind, entry.article, entry.working_days) == ("extension", "19", 5)
    assert entry.approved_by.role == "principal_head" and entry.approver_name == "市公安局主要负责人"
    assert next(t for t in current.tasks if t.task_id == approval.task_id).status == "done"
    # Once extended, no second request (once, art. 19).
    assert await clock_refused(client, case_id, ask) == "Conflict"
    # The provider still decides its own task; the head's approval does not decide it.
    answer = await decide(
        client,
        case_id,
        DecisionRequest(GAJ, "correct", task_id=task.task_id, reason="住址已按不动产登记更正"),
    )
    assert (answer.status, answer.result) == ("corrected", "corrected")


async def test_an_extension_refused_by_the_head_leaves_the_deadline_and_cannot_be_asked_again(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await report(env, client, task_queue, "luoyang")
    (task,) = answer.open_tasks
    await clock(client, case_id, ClockRequest(GAJ, task.task_id, "extension", 10, "数据量大"))
    approval = next(t for t in (await state(client, case_id)).tasks if t.approves)
    # A refusal needs its reason.
    assert (
        await refused(client, case_id, DecisionRequest(GAJ_HEAD, "refuse", task_id=approval.task_id))
        == "Invalid"
    )
    # The head names no task: its one open approval is the one answered.
    await decide(client, case_id, DecisionRequest(GAJ_HEAD, "refuse", reason="应按期完成校核"))
    current = await state(client, case_id)
    assert current.tasks[0].deadline.due_at == task.due_at and current.tasks[0].extensions_used == 0
    assert next(t for t in current.tasks if t.approves).decision.action == "refuse"
    assert (
        await clock_refused(client, case_id, ClockRequest(GAJ, task.task_id, "extension", 3, "再申请"))
        == "Conflict"
    )
    # Then the deadline passes: breached under art. 19, and the ladder starts.
    await env.sleep((task.due_at - await env.get_current_time()) + timedelta(minutes=5))
    current = await until(lambda s: s.tasks[0].overdue, client, case_id)
    assert current.tasks[0].breach.article == "19"


async def test_an_approval_waiting_when_the_task_is_decided_lapses(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await report(env, client, task_queue, "luoyang")
    (task,) = answer.open_tasks
    await clock(client, case_id, ClockRequest(GAJ, task.task_id, "extension", 2, "需调档"))
    approval = next(t for t in (await state(client, case_id)).tasks if t.approves)
    await decide(
        client, case_id, DecisionRequest(GAJ, "confirm", task_id=task.task_id, reason="与户籍档案一致")
    )
    current = await until(lambda s: s.header.status == "confirmed", client, case_id)
    assert next(t for t in current.tasks if t.task_id == approval.task_id).status == "cancelled"


async def test_a_late_report_is_taken_and_marked_late_then_the_provider_replies(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    today = (await env.get_current_time()).astimezone(SHANGHAI).date()
    case_id, answer = await report(env, client, task_queue, "luzhou", found_on=today - timedelta(days=20))
    current = await state(client, case_id)
    filed, reply = current.tasks
    assert (filed.step, filed.status, filed.overdue, filed.decision.action) == (
        "objection_report",
        "done",
        True,
        "report",
    )
    assert filed.breach is None and not current.header.breaches  # accepted late: no ladder for it
    assert current.header.attributes["filed_late"] is True
    assert (reply.step, reply.assignee.department, reply.deadline.working_days) == (
        "objection_reply",
        "gaj",
        5,
    )
    # The reply says what was corrected.
    assert await refused(client, case_id, DecisionRequest(GAJ, "correct", task_id=reply.task_id)) == "Invalid"
    answer = await decide(
        client, case_id, DecisionRequest(GAJ, "correct", task_id=reply.task_id, reason="已更正住址")
    )
    assert answer.result == "corrected"
    # Found yesterday: in time, not marked late.
    case_id, _ = await report(env, client, task_queue, "luzhou", found_on=today - timedelta(days=1))
    current = await state(client, case_id)
    assert current.tasks[0].overdue is False and "filed_late" not in current.header.attributes


async def test_an_inconsistency_between_two_providers_is_verified_jointly(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    # The platform's quality check finds two providers' data disagree: one joint verification.
    case_id, answer = await report(env, client, task_queue, "hubei", by=BDB, other="RES-ENT-001")
    assert sorted(t.assignee.department for t in answer.open_tasks) == ["gaj", "scjgj"]
    assert {t.step for t in answer.open_tasks} == {"joint_verification"}
    by_dept = {t.assignee.department: t for t in answer.open_tasks}
    await decide(
        client, case_id, DecisionRequest(GAJ, "confirm", task_id=by_dept["gaj"].task_id, reason="与户籍一致")
    )
    answer = await decide(
        client,
        case_id,
        DecisionRequest(SCJGJ, "correct", task_id=by_dept["scjgj"].task_id, reason="已更正地址"),
    )
    assert answer.result == "corrected"  # the answers differ: one side's data was wrong (on_disagreement)


async def test_the_provider_brings_in_the_other_provider_and_a_note_records_service_on_proof(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await report(env, client, task_queue, "hubei")
    (task,) = answer.open_tasks
    assert task.due_at is None  # Hubei 23: promptly, no number
    # Hubei 23: a citizen with valid proof is still served while the data is checked — a note.
    served = NoteRequest(GAJ, "served_with_proof", "申请人持不动产登记证明,已照常办理户籍证明")
    await handle(client, case_id).execute_update("note", served, result_type=CaseAnswer)
    for bad, expected in (
        (NoteRequest(SCJGJ, "served_with_proof", "x"), "Forbidden"),  # not a party
        (NoteRequest(GAJ, "remark", "x"), "Invalid"),  # not a kind the profile lists
        (NoteRequest(GAJ, "served_with_proof", "\u200b \u200d"), "Invalid"),  # nothing visible
    ):
        try:
            await handle(client, case_id).execute_update("note", bad, result_type=CaseAnswer)
        except WorkflowUpdateFailedError as err:
            assert err.cause.type == expected  # type: ignore[union-attr]
        else:
            raise AssertionError(f"note taken: {bad}")
    current = await state(client, case_id)
    (note,) = current.header.attributes["notes"]
    assert (note["kind"], note["article"], note["by"]["department"]) == ("served_with_proof", "23", "gaj")
    # The other provider must be named, and known.
    refer = DecisionRequest(GAJ, "refer_joint_verification", task_id=task.task_id)
    assert await refused(client, case_id, refer) == "Invalid"
    refer.payload = {"department": "nowhere"}
    assert await refused(client, case_id, refer) == "Invalid"
    refer.payload = {"department": "scjgj"}
    answer = await decide(client, case_id, refer)
    assert sorted(t.assignee.department for t in answer.open_tasks) == ["gaj", "scjgj"]
    current = await state(client, case_id)
    assert Party("scjgj", "provider") in current.parties


async def test_a_citizen_reports_and_is_told_the_outcome(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    from sqlmodel import Session, select

    from govshare.core.models import CaseParty, Notification

    env, client = time_skipping_env, ts_client
    case_id, answer = await report(env, client, task_queue, "luoyang", by=CITIZEN)
    (task,) = answer.open_tasks
    await decide(
        client, case_id, DecisionRequest(GAJ, "confirm", task_id=task.task_id, reason="经核对户籍档案无误")
    )
    current = await until(lambda s: s.header.status == "confirmed", client, case_id)
    assert Party("", "citizen", "P-DEMO-CITIZEN") in current.parties
    with Session(sqlite_engine) as session:
        rows = session.exec(select(CaseParty).where(CaseParty.case_id == case_id)).all()
        assert ("citizen", "", "P-DEMO-CITIZEN") in {(r.role, r.department, r.person) for r in rows}
        told = session.exec(
            select(Notification).where(
                Notification.case_id == case_id, Notification.recipient_role == "citizen"
            )
        ).all()
    assert told and all(n.recipient_person == "P-DEMO-CITIZEN" for n in told)
    assert any("经校核数据无误" in n.text_zh for n in told)
