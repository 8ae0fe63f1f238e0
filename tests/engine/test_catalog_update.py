"""Catalog updates on the time-skipping server (issue 19): the department's period counts from the
date of the change — across a holiday, and overdue at once when the change is registered late — and
its change set is checked before it is taken and published, every entry at once, when approved."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from case_client import decide, refused, state, until
from factories import DIRECTORY
from sqlmodel import Session, select

from calendars import SHANGHAI, WorkingDayCalendar
from govshare.cases import service as case_service
from govshare.core.models import Department, Resource, ResourceVersion
from workflows import registry
from workflows.case import Actor, DecisionRequest

CAL = WorkingDayCalendar.default()
GAJ = Actor("gaj", "provider", "clerk")
BDB = Actor("bdb", "platform", "operator")


async def open_update(
    env, client, task_queue, profile: str, change: date | None, reason: str = "law_revision"
):
    case_id = f"CU-T{uuid.uuid4().hex[:8].upper()}"
    inp = case_service.new_case_input(
        registry.CATALOG_UPDATE,
        case_id=case_id,
        profile_id=profile,
        submitted_at=await env.get_current_time(),
        submitted_by=BDB,
        platform_department="bdb",
        fields={
            "department": "gaj",
            "reason": reason,
            "change_date": change.isoformat() if change else "",
            "description": "户口登记条例修订",
        },
        directory=dict(DIRECTORY),
        counts_from=datetime.combine(change, time(0), SHANGHAI) if change else None,
    )
    answer = await case_service.start_case(client, task_queue, registry.CATALOG_UPDATE, inp)
    return case_id, answer


def entry(name: str, **kw) -> dict:
    return {
        "name_zh": name,
        "name_en": "Household registration changes",
        "share_type": kw.pop("share_type", "conditional"),
        "kind": "departmental",
        "fields": ["name", "id_number", "change_date"],
        "sharing_modes": ["online_query"],
        "update_period": "monthly",
        **kw,
    }


async def test_the_period_counts_from_the_change_across_a_holiday(
    time_skipping_env, run_worker, ts_client, task_queue
):
    env, client = time_skipping_env, ts_client
    now = (await env.get_current_time()).astimezone(SHANGHAI).date()
    # A change a few days ago: Luzhou 10, 15 working days from the change, not from today.
    change = now - timedelta(days=3)
    case_id, answer = await open_update(env, client, task_queue, "luzhou", change)
    (task,) = answer.open_tasks
    expected = CAL.add_working_days(datetime.combine(change, time(0), SHANGHAI), 15)
    assert (task.step, task.article, task.working_days) == ("catalog_update", "10", 15)
    assert task.due_at == expected.due_at
    current = await state(client, case_id)
    assert current.tasks[0].clock[0].kind == "counts_from"


async def test_a_change_registered_late_is_overdue_at_once(
    time_skipping_env, run_worker, ts_client, task_queue
):
    env, client = time_skipping_env, ts_client
    now = (await env.get_current_time()).astimezone(SHANGHAI).date()
    case_id, _answer = await open_update(env, client, task_queue, "jiangsu", now - timedelta(days=60))
    current = await until(lambda s: s.tasks[0].overdue and bool(s.header.links), client, case_id)
    assert current.tasks[0].breach.article == "9"
    assert current.header.links and current.header.links[0].case_type == "escalation"


async def test_a_change_set_checked_submitted_returned_and_published(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    env, client = time_skipping_env, ts_client
    with Session(sqlite_engine) as session:  # the register's entries belong to departments it knows
        for code, name in (("gaj", "市公安局"), ("bdb", "市政务服务和大数据管理局")):
            if session.get(Department, code) is None:
                session.add(Department(code=code, name_zh=name, created_at=datetime.now(SHANGHAI)))
        session.commit()
    case_id, answer = await open_update(env, client, task_queue, "hubei", None, reason="own")
    (task,) = answer.open_tasks
    rid = f"gaj-changes-{uuid.uuid4().hex[:6]}"
    # Not shared without its legal basis (Hubei 8(1)): refused, nothing taken, the problem named.
    bad = {
        "items": [
            {"action": "new", "resource_id": rid, "entry": entry("户籍变动信息", share_type="not_shared")}
        ]
    }
    assert (
        await refused(client, case_id, DecisionRequest(GAJ, "submit", task_id=task.task_id, payload=bad))
        == "Invalid"
    )
    assert (await state(client, case_id)).tasks[0].status == "open"
    good = {"items": [{"action": "new", "resource_id": rid, "entry": entry("户籍变动信息")}], "note": "新增"}
    answer = await decide(client, case_id, DecisionRequest(GAJ, "submit", task_id=task.task_id, payload=good))
    (publication,) = answer.open_tasks
    assert (publication.step, publication.assignee.department) == ("catalog_update_publication", "bdb")
    # Returned with reasons, submitted again, published: the entry is in the register, version 1.
    answer = await decide(
        client, case_id, DecisionRequest(BDB, "return", task_id=publication.task_id, reason="缺少字段说明")
    )
    (again,) = answer.open_tasks
    answer = await decide(
        client, case_id, DecisionRequest(GAJ, "submit", task_id=again.task_id, payload=good)
    )
    (publication,) = answer.open_tasks
    answer = await decide(client, case_id, DecisionRequest(BDB, "publish", task_id=publication.task_id))
    assert (answer.status, answer.result) == ("updated", "updated")
    with Session(sqlite_engine) as session:
        row = session.get(Resource, rid)
        assert row is not None and row.version == 1 and row.provider_department == "gaj"
        versions = session.exec(select(ResourceVersion).where(ResourceVersion.resource_id == rid)).all()
        assert [(v.version, v.case_id) for v in versions] == [(1, case_id)]
    current = await state(client, case_id)
    assert current.header.attributes["published"] == [{"resource_id": rid, "version": 1, "change": "new"}]
    assert current.tasks[-1].decision.payload["published"][0]["resource_id"] == rid


async def test_a_change_before_national_day_counts_its_15_days_across_the_holiday(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    """Luzhou 10: 15 WD from the change on Monday 2026-09-28. Without the holiday that would end on
    10-19; National Day (10-01..10-07 off, Saturday 10-10 a make-up working day) moves it to the end
    of Friday 10-23 — counted from the change, so already overdue."""
    env, client = time_skipping_env, ts_client
    case_id, answer = await open_update(env, client, task_queue, "luzhou", date(2026, 9, 28))
    (task,) = answer.open_tasks
    assert task.due_at == datetime(2026, 10, 24, 0, 0, tzinfo=SHANGHAI)
    current = await until(lambda s: s.tasks[0].overdue, client, case_id)
    record = current.tasks[0].deadline
    assert record is not None and record.working_days == 15 and record.article == "10"
    assert record.explanation_zh[:2] == ["10-01..10-07 国庆节放假", "10-10(周六)调休上班"]
