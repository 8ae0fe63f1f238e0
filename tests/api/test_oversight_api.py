"""The leading group's view over HTTP (``/oversight``) and the order the escalation ladder starts.

- the lists and counts of rectification orders reflect the orders (by status, by department,
  overdue, paginated), for the leading group office and the auditors only;
- a sharing application whose platform check is long overdue climbs Hubei's ladder: the platform
  reports it to the leading group office (Hubei 26), which issues the order the ladder starts; the
  order rectified, the escalation closes ``rectified`` and the application's timeline shows it.

Each test runs on SQLite and on PostgreSQL (the ``system`` fixture), against the real Temporal dev
server with a real worker writing the projection the API reads.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import AUDITOR, CONSUMER, LEADING_GROUP, PLATFORM, auth
from sqlmodel import Session

from api.reading import department_names
from govshare.cases import service as case_service
from govshare.core.directory import read_directory
from govshare.core.models import Resource
from workflows import registry
from workflows.case import Actor, ResourceSnapshot


async def issue(api, respondent: str, **changes: Any) -> dict[str, Any]:
    body = {
        "respondent_department": respondent,
        "grounds": ["31(1)"],
        "period_working_days": 10,
        "description": "政务信息资源目录未按要求更新",
        "profile": "hubei",
        **changes,
    }
    response = await api.http.post("/rectification-orders", json=body, headers=auth(LEADING_GROUP))
    assert response.status_code == 201, response.text
    return response.json()


async def decide(
    api, token: str, case_id: str, step: str, action: str, expect: int = 200, **body: Any
) -> dict[str, Any]:
    response = await api.http.post(
        f"/cases/{case_id}/decisions", json={"step": step, "action": action, **body}, headers=auth(token)
    )
    assert response.status_code == expect, response.text
    return response.json()


async def get(api, token: str, path: str, **params: Any) -> dict[str, Any]:
    response = await api.http.get(path, params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()


async def eventually(api, token: str, case_id: str, check=lambda case: True) -> dict[str, Any]:
    """The case once it is visible and ``check`` holds (the worker writes it a moment later)."""
    case: dict[str, Any] = {}
    for _ in range(200):
        response = await api.http.get(f"/cases/{case_id}", headers=auth(token))
        if response.status_code == 200:
            case = response.json()
            if check(case):
                return case
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id}: never as expected; last seen {case or response.text}")


def open_steps(case: dict[str, Any]) -> list[str]:
    return [t["step"] for t in case["open_tasks"]]


async def start_order_at_issue_step(api, respondent: str) -> str:
    """An order as the ladder starts one: at its issue step, not issued."""
    with Session(api.engine) as session:
        directory = read_directory(session)
    case_id = f"RO-TEST-{uuid.uuid4().hex[:8].upper()}"
    inp = case_service.new_case_input(
        registry.RECTIFICATION_ORDER,
        case_id=case_id,
        profile_id="hubei",
        submitted_at=datetime.now(UTC),
        submitted_by=Actor(department="lgo", role="leading_group", user="test"),
        platform_department="bdb",
        fields={"issuer": "lgo", "respondent": respondent, "grounds": ["31(2)"], "concerns": []},
        directory=directory,
    )
    await case_service.start_case(api.env.client, api.settings.task_queue, registry.RECTIFICATION_ORDER, inp)
    return case_id


async def test_orders_listed_by_status_and_department_and_counted(api):
    respondent, tokens = api.new_department("provider", "consumer")
    rectified, reported, fresh = [(await issue(api, respondent))["id"] for _ in range(3)]
    dismissed = await start_order_at_issue_step(api, respondent)
    await decide(api, LEADING_GROUP, dismissed, "rectification_issue", "dismiss", reason="情形不成立")
    for order_id in (rectified, reported):
        await decide(api, tokens["consumer"], order_id, "rectification", "report", reason="已整改")
    await decide(api, LEADING_GROUP, rectified, "rectification_review", "accept")

    every = await get(api, LEADING_GROUP, "/oversight/orders", department=respondent)
    assert every["total"] == 4 and {o["id"] for o in every["items"]} == {
        rectified,
        reported,
        fresh,
        dismissed,
    }
    first = every["items"][0]  # newest first
    assert first["id"] == dismissed and first["status"] == "dismissed" and first["status_zh"] == "不予整改"
    by_id = {o["id"]: o for o in every["items"]}
    order = by_id[fresh]
    assert order["respondent"]["code"] == respondent and order["respondent"]["name_zh"].startswith("测试部门")
    assert order["issuer"]["code"] == "lgo" and order["started_by"] == ""
    assert order["grounds"] == [
        {"id": "31(1)", "article": "31(1)", "name_zh": order["grounds"][0]["name_zh"]}
    ]
    assert order["open_step"] == "rectification" and order["open_assignee"]["code"] == respondent
    assert order["next_due_at"] and order["overdue"] is False
    assert by_id[reported]["open_step"] == "rectification_review"
    assert by_id[rectified]["status"] == "rectified" and by_id[rectified]["open_step"] is None

    open_orders = await get(api, AUDITOR, "/oversight/orders", department=respondent, status="in_progress")
    assert {o["id"] for o in open_orders["items"]} == {reported, fresh}
    done = await get(api, LEADING_GROUP, "/oversight/orders", department=respondent, status="rectified")
    assert [o["id"] for o in done["items"]] == [rectified]
    page = await get(api, LEADING_GROUP, "/oversight/orders", department=respondent, limit=3, offset=3)
    assert page["total"] == 4 and len(page["items"]) == 1 and page["items"][0]["id"] == rectified
    assert (await get(api, LEADING_GROUP, "/oversight/orders", department=respondent, overdue=True))[
        "total"
    ] == 0
    assert (await get(api, LEADING_GROUP, "/oversight/orders", department=respondent, overdue=False))[
        "total"
    ] == 4
    # Fresh orders are not overdue.
    late = await get(api, LEADING_GROUP, "/oversight/orders/overdue", department=respondent)
    assert late == {"total": 0, "limit": 20, "offset": 0, "items": []}

    counts = await get(api, LEADING_GROUP, "/oversight/orders/counts")
    row = next(c for c in counts["items"] if c["department"]["code"] == respondent)
    assert {k: row[k] for k in ("total", "open", "overdue", "rectified", "dismissed")} == {
        "total": 4,
        "open": 2,
        "overdue": 0,
        "rectified": 1,
        "dismissed": 1,
    }
    assert counts["total"] == sum(c["total"] for c in counts["items"])
    # Its orders are Hubei's: none under another profile.
    jiangsu = await get(api, AUDITOR, "/oversight/orders/counts", profile="jiangsu")
    assert respondent not in {c["department"]["code"] for c in jiangsu["items"]}

    # What the leading group office must decide: the report under review is its; the rectification
    # the department owes is not (an auditor sees both).
    mine = await get(api, LEADING_GROUP, "/oversight/escalations", limit=100)
    review = next(t for t in mine["items"] if t["case_id"] == reported)
    assert review["case_type"] == "rectification_order" and review["case_type_zh"] == "整改通知"
    assert review["step"] == "rectification_review" and review["assignee"]["code"] == "lgo"
    assert review["assignee"]["role"] == "issuer" and review["article"] == "31"
    assert {a["id"] for a in review["actions"]} == {"accept", "return"}
    assert review["respondent_department"] == respondent and review["overdue"] is False
    assert fresh not in {t["case_id"] for t in mine["items"]}
    every_task = await get(api, AUDITOR, "/oversight/escalations", case_type="rectification_order", limit=100)
    owed = next(t for t in every_task["items"] if t["case_id"] == fresh)
    assert owed["step"] == "rectification" and owed["limit_basis"] == "decision" and owed["due_at"]

    # Only the leading group office and the auditors.
    for token in (CONSUMER, PLATFORM, tokens["provider"]):
        for path in (
            "/oversight/orders",
            "/oversight/orders/overdue",
            "/oversight/orders/counts",
            "/oversight/escalations",
        ):
            refused = await api.http.get(path, headers=auth(token))
            assert refused.status_code == 403 and refused.json()["code"] == "role_not_allowed"
    bad = await api.http.get("/oversight/orders", params={"limit": 0}, headers=auth(LEADING_GROUP))
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"


async def test_a_late_application_climbs_the_ladder_to_an_order_that_is_rectified(api):
    """Hubei 26 and 31: the platform check of an application submitted a month ago is long overdue.
    The breach starts the escalation ``ES-<SA>-T1``: the platform reports it to the leading group
    office (rung 1), the office's order starts (rung 2) against the department that breached; issued,
    reported and accepted, the order closes ``rectified``, and so does the escalation, which reports
    to the application."""
    submitted_at = datetime.now(UTC) - timedelta(days=30)
    kind = registry.SHARING_APPLICATION
    with Session(api.engine) as session:
        directory = read_directory(session)
        names = {code: ref.name_zh for code, ref in department_names(session).items()}
        resource = session.get(Resource, "scjgj-legal-entity-basic")
        assert resource is not None
        snapshot = ResourceSnapshot(
            id=resource.id,
            version=resource.version,
            name_zh=resource.name_zh,
            name_en=resource.name_en,
            provider_department=resource.provider_department,
            share_type=resource.share_type,
            controlled_parameters=resource.controlled_parameters,
            sharing_modes=list(resource.sharing_modes),
            legal_basis=resource.legal_basis,
            fields=list(resource.fields),
        )
    sa_id = f"SA-{submitted_at:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}"
    inp = case_service.new_case_input(
        kind,
        case_id=sa_id,
        profile_id="hubei",
        submitted_at=submitted_at,
        submitted_by=Actor(department="rsj", role="consumer", user="test"),
        platform_department="bdb",
        department_names=names,
        directory=directory,
        fields={
            "consumer_department": "rsj",
            "resource": snapshot,
            "purpose": "社会保险登记时核验用人单位信息",
            "reason": "依据《社会保险法》办理用人单位社会保险登记",
            "requested_fields": ["entity_name"],
            "requested_mode": "",
        },
    )
    await case_service.start_case(api.env.client, api.settings.task_queue, kind, inp, settle_timeout_s=20)

    # The breach, at once: the escalation, its first rung a task for the platform.
    es_id = f"ES-{sa_id}-T1"
    escalation = await eventually(api, AUDITOR, es_id, lambda c: bool(c["open_tasks"]))
    assert escalation["case_type"] == "escalation" and escalation["status"] == "in_progress"
    assert any(k["case_id"] == sa_id and k["relation"] == "started_by" for k in escalation["links"])
    rung = escalation["open_tasks"][0]
    assert rung["step"] == "rung_report_to_leading_group_office" and rung["assignee"]["code"] == "bdb"
    assert rung["article"] == "26"
    application = await eventually(api, CONSUMER, sa_id, lambda c: bool(c["breaches"]))
    assert application["overdue"] is True and application["status"] == "in_progress"
    assert application["breaches"][0]["next_rung"] == "report_to_leading_group_office"
    listed = await get(api, AUDITOR, "/oversight/escalations", case_type="escalation", limit=100)
    seen = next(t for t in listed["items"] if t["case_id"] == es_id)
    assert seen["step"] == rung["step"] and seen["assignee"]["code"] == "bdb"
    assert seen["concerns"] == sa_id and seen["respondent_department"] == "bdb"
    mine = await get(api, LEADING_GROUP, "/oversight/escalations", limit=100)
    assert es_id not in {t["case_id"] for t in mine["items"]}  # the platform's, not the office's

    # Rung 1: the platform reports it; rung 2 starts the order, waiting at its issue step.
    await decide(api, "demo-lgo-leading_group", es_id, rung["step"], "done", expect=403)
    reported = await decide(api, PLATFORM, es_id, rung["step"], "done")
    waiting = reported["open_tasks"][0]
    assert waiting["step"] == "rung_rectification_order"
    order_id = f"RO-{es_id}-O"
    order = await eventually(api, LEADING_GROUP, order_id, lambda c: bool(c["open_tasks"]))
    assert order["parties"]["issuer"]["code"] == "lgo" and order["parties"]["respondent"]["code"] == "bdb"
    assert [g["id"] for g in order["attributes"]["grounds"]] == ["31(5)"]
    assert open_steps(order) == ["rectification_issue"]
    mine = await get(api, LEADING_GROUP, "/oversight/escalations", limit=100)
    to_issue = next(t for t in mine["items"] if t["case_id"] == order_id)
    assert to_issue["step"] == "rectification_issue" and to_issue["concerns"] == sa_id
    assert es_id not in {t["case_id"] for t in mine["items"]}  # its rung waits on the order
    with_waiting = await get(api, LEADING_GROUP, "/oversight/escalations", waiting="true", limit=100)
    assert next(t for t in with_waiting["items"] if t["case_id"] == es_id)["waits_on_case"] == order_id
    listed = await get(api, LEADING_GROUP, "/oversight/orders", department="bdb", limit=100)
    assert next(o for o in listed["items"] if o["id"] == order_id)["started_by"] == es_id

    # The office issues it; the department that breached rectifies; the office accepts.
    await decide(api, PLATFORM, order_id, "rectification_issue", "issue", expect=403, limit_working_days=5)
    issued = await decide(api, LEADING_GROUP, order_id, "rectification_issue", "issue", limit_working_days=5)
    assert open_steps(issued) == ["rectification"] and issued["open_tasks"][0]["working_days"] == 5
    await decide(api, PLATFORM, order_id, "rectification", "report", reason="已完成积压申请的规范性检查")
    done = await decide(api, LEADING_GROUP, order_id, "rectification_review", "accept")
    assert done["status"] == "rectified"

    # The escalation ends with the order's result, and tells the application.
    closed = await eventually(api, AUDITOR, es_id, lambda c: c["status"] != "in_progress")
    assert closed["status"] == "rectified" and closed["open_tasks"] == []
    assert next(k for k in closed["links"] if k["case_id"] == order_id)["result"] == "rectified"
    for _ in range(200):
        events = (await get(api, AUDITOR, f"/cases/{sa_id}/events"))["items"]
        told = [e for e in events if e["kind"] == "linked_case_closed" and e["data"].get("case_id") == es_id]
        if told:
            break
        await asyncio.sleep(0.05)
    assert told and told[0]["data"]["status"] == "rectified"
    application = await eventually(
        api, CONSUMER, sa_id, lambda c: any(k["case_id"] == es_id and k["status"] for k in c["links"])
    )
    link = next(k for k in application["links"] if k["case_id"] == es_id)
    assert (link["relation"], link["status"]) == ("started", "rectified")
