"""Lists, inboxes, notifications, the catalog, identity and health."""

from __future__ import annotations

import asyncio
import re

from api_helpers import AUDITOR, CONSUMER, GAJ, LEADING_GROUP, PLATFORM, SCJGJ, auth
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

CJK = re.compile(r"[\u4e00-\u9fff]")


async def _list(api, token: str, **params) -> dict:
    response = await api.http.get("/applications", params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()


async def test_list_filters_pagination_and_visibility(api):
    code, tokens = api.new_department("consumer")
    mine = tokens["consumer"]
    first = await api.apply(mine, resource_id="gaj-household-members")
    second = await api.apply(mine, resource_id="gaj-criminal-investigation")  # rejected at once
    third = await api.apply(mine, resource_id="scjgj-administrative-penalty", profile="jiangsu")
    ids_newest_first = [third["id"], second["id"], first["id"]]

    page = await _list(api, mine)
    assert page["total"] == 3 and [c["id"] for c in page["items"]] == ids_newest_first
    page1 = await _list(api, mine, limit=2)
    page2 = await _list(api, mine, limit=2, offset=2)
    assert page1["total"] == page2["total"] == 3
    assert [c["id"] for c in page1["items"] + page2["items"]] == ids_newest_first
    assert (page1["limit"], page1["offset"], page2["offset"]) == (2, 0, 2)

    assert [c["id"] for c in (await _list(api, mine, status="rejected"))["items"]] == [second["id"]]
    in_progress = await _list(api, mine, status="in_progress")
    assert {c["id"] for c in in_progress["items"]} == {first["id"], third["id"]}
    summary = next(c for c in in_progress["items"] if c["id"] == first["id"])
    assert summary["open_step"] == "platform_check" and summary["open_assignee"]["code"] == "bdb"
    assert summary["next_due_at"] and summary["consumer_department"] == code
    assert summary["subject_zh"] == "户籍及家庭成员关系信息"
    assert (await _list(api, mine, profile="jiangsu"))["total"] == 1
    assert (await _list(api, mine, overdue=True))["total"] == 0
    assert (await _list(api, mine, overdue=False))["total"] == 3

    # Oversight roles see every case; filter by department (consumer or provider side).
    for token in (PLATFORM, LEADING_GROUP, AUDITOR):
        assert (await _list(api, token, department=code))["total"] == 3
    by_provider = await _list(api, PLATFORM, department=code, limit=100)
    assert all(code in (c["consumer_department"], c["provider_department"]) for c in by_provider["items"])
    # A provider sees the cases on its own resources, not the others of that consumer.
    seen_by_gaj = await _list(api, GAJ, department=code)
    assert {c["id"] for c in seen_by_gaj["items"]} == {first["id"], second["id"]}
    # Another department filtering on this one sees nothing it is not party to.
    assert (await _list(api, CONSUMER, department=code))["total"] == 0


async def test_inbox_soonest_due_first(api):
    await api.apply()
    every = await api.inbox(PLATFORM)
    due = [i["due_at"] for i in every if i["due_at"] is not None]
    assert due == sorted(due)
    # The platform's application steps (other case types' platform tasks may be open in the shared system).
    items = [i for i in every if i["case_type"] == "sharing_application"]
    assert items and all(
        i["step"] in {"platform_check", "platform_direct_authorization", "notify_consumer"} for i in items
    )
    due = [i["due_at"] for i in items if i["due_at"] is not None]
    assert due == sorted(due)
    timed_then_untimed = [i["due_at"] is None for i in items]
    assert timed_then_untimed == sorted(timed_then_untimed)
    assert all(i["actions"] and i["article"] for i in items)
    assert all(i["citation_zh"].startswith("《") and i["citation_zh"].endswith("条") for i in items)
    # A role's inbox is its own: the consumer role of a department has no provider tasks.
    assert await api.inbox(AUDITOR) == []


async def test_untimed_tasks_come_last(api):
    _code, tokens = api.new_department("consumer")
    # Luzhou: provider acceptance is 5 WD; provision has no statutory limit (statutory none).
    untimed = await api.apply(tokens["consumer"], resource_id="gaj-household-members", profile="luzhou")
    await api.decide(GAJ, untimed["id"], "provider_acceptance", "accept")
    timed = await api.apply(tokens["consumer"], resource_id="gaj-household-members", profile="luzhou")
    items = [i for i in await api.inbox(GAJ) if i["case_id"] in {untimed["id"], timed["id"]}]
    assert [i["case_id"] for i in items] == [timed["id"], untimed["id"]]
    assert items[0]["due_at"] is not None and items[1]["due_at"] is None
    assert items[1]["limit_basis"] == "none"


async def test_notifications_in_chinese_newest_first(api):
    code, tokens = api.new_department("consumer")
    mine = tokens["consumer"]
    case = await api.apply(mine, resource_id="gaj-population-basic")
    await api.decide(PLATFORM, case["id"], "platform_check", "accept")
    await api.decide(PLATFORM, case["id"], "platform_direct_authorization", "grant")

    response = await api.http.get("/notifications", headers=auth(mine))
    body = response.json()
    assert response.status_code == 200 and body["total"] >= 1
    notes = body["items"]
    assert all(n["recipient_department"] == code for n in notes)
    assert all(CJK.search(n["text"]) and n["text"] == n["text_zh"] for n in notes)
    assert any(case["id"] in n["text_zh"] or n["case_id"] == case["id"] for n in notes)
    created = [n["created_at"] for n in notes]
    assert created == sorted(created, reverse=True)

    response = await api.http.get("/notifications", headers=auth(mine, **{"Accept-Language": "en"}))
    assert all(n["text"] == n["text_en"] for n in response.json()["items"])
    response = await api.http.get("/notifications", headers=auth(mine), params={"limit": 1, "offset": 0})
    assert len(response.json()["items"]) == 1 and response.json()["total"] == body["total"]

    # The platform got its tasks as notifications too; a stranger got nothing of this case.
    response = await api.http.get("/notifications", headers=auth(SCJGJ), params={"case_id": case["id"]})
    assert response.json()["total"] == 0


async def test_resources_catalog(api):
    response = await api.http.get("/resources", headers=auth(CONSUMER))
    assert response.status_code == 200
    items = {r["id"]: r for r in response.json()["items"]}
    assert {r["share_type"] for r in items.values()} == {"unconditional", "conditional", "not_shared"}
    direct = items["gaj-population-basic"]
    assert direct["provider"]["name_zh"] == "市公安局" and direct["controlled_parameters"] is False
    assert items["scjgj-legal-entity-basic"]["controlled_parameters"] is True
    assert "data_comparison" in items["gaj-household-members"]["sharing_modes"]
    assert "数据比对" in items["gaj-household-members"]["sharing_modes_zh"]
    assert items["gaj-criminal-investigation"]["legal_basis"] == "《中华人民共和国保守国家秘密法》"
    response = await api.http.get("/resources", params={"provider": "scjgj"}, headers=auth(CONSUMER))
    assert {r["provider"]["code"] for r in response.json()["items"]} == {"scjgj"}


async def test_me_and_health(api):
    response = await api.http.get("/me", headers=auth(SCJGJ))
    assert response.json() == {
        "department": "scjgj",
        "department_name_zh": "市市场监督管理局",
        "department_name_en": "Municipal Market Supervision Administration",
        "role": "provider",
        "label": "demo: 市市场监督管理局 provider",
        # A department's credential names no person (a citizen's, a head's do: test_parties.py).
        "party_kind": "department",
        "person": "",
        "person_name": "",
        "id_type": "",
        "id_number_masked": "",
    }
    # The worker's first heartbeat may precede its start by a moment when this test opens a session:
    # /healthz answers 503 "worker missing" until the next beat (2 s in the tests).
    for _ in range(50):
        response = await api.http.get("/healthz")
        if response.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert response.status_code == 200 and response.json() == {
        "status": "ok",
        "database": "ok",
        "temporal": "ok",
        "worker": "ok",
    }


async def test_openapi_documents_every_endpoint(api):
    spec = (await api.http.get("/openapi.json")).json()
    expected = {
        ("post", "/applications"),
        ("get", "/applications"),
        ("get", "/applications/{case_id}"),
        ("post", "/applications/{case_id}/decisions"),
        ("post", "/applications/{case_id}/withdrawal"),
        ("get", "/tasks"),
        ("get", "/notifications"),
        ("get", "/resources"),
        ("get", "/healthz"),
        ("get", "/me"),
    }
    for method, path in expected:
        operation = spec["paths"][path][method]
        assert operation["summary"] and CJK.search(operation["description"]), (method, path)
    create = spec["paths"]["/applications"]["post"]
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert spec["components"]["schemas"]["ApplicationCreate"]["examples"]
    assert "BearerToken" in spec["components"]["securitySchemes"]
    docs = await api.http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_access_log_carries_request_department_and_case(api):
    case = await api.apply()
    with capture_logs(processors=[merge_contextvars]) as logs:
        response = await api.http.get(
            f"/applications/{case['id']}", headers=auth(PLATFORM, **{"X-Request-ID": "req-test-1"})
        )
    assert response.headers["x-request-id"] == "req-test-1"
    access = [e for e in logs if e.get("event") == "request"]
    assert access, logs
    line = access[-1]
    assert line["request_id"] == "req-test-1"
    assert line["status"] == 200 and line["path"] == f"/applications/{case['id']}"
    assert line["department"] == "bdb" and line["role"] == "platform" and line["case_id"] == case["id"]
    assert line["workflow_id"].endswith(case["id"]) and "duration_ms" in line


async def test_overdue_filter_and_live_overdue_flag(api):
    """The list filters on the projection's flag; a deadline already past shows as overdue at once,
    before the breach timer has recorded it (here forced by moving the projected due date back)."""
    from sqlmodel import Session

    from govshare.core.models import Case, Task

    _code, tokens = api.new_department("consumer")
    mine = tokens["consumer"]
    late = await api.apply(mine, resource_id="gaj-household-members")
    on_time = await api.apply(mine, resource_id="gaj-household-members")
    with Session(api.engine) as session:
        row = session.get(Case, late["id"])
        task_row = session.get(Task, late["open_task"]["task_id"])  # the task's own record
        task = dict(task_row.detail)
        task["deadline"] = {**task["deadline"], "due_at": "2020-01-02T00:00:00+08:00"}
        task_row.detail = task
        row.overdue = True
        session.add_all([row, task_row])
        session.commit()

    overdue = await _list(api, mine, overdue=True)
    assert [c["id"] for c in overdue["items"]] == [late["id"]]
    assert [c["id"] for c in (await _list(api, mine, overdue=False))["items"]] == [on_time["id"]]
    case = await api.get_case(mine, late["id"])
    assert case["open_task"]["overdue"] is True and case["overdue"] is True
    assert (await api.get_case(mine, on_time["id"]))["open_task"]["overdue"] is False
    item = next(i for i in await api.inbox(PLATFORM) if i["case_id"] == late["id"])
    assert item["overdue"] is True


async def test_huge_pagination_offsets_are_a_4xx_not_a_500(api):
    # Found by schemathesis: an offset past 2**63 overflowed the database integer.
    for path in ("/applications", "/tasks", "/notifications"):
        response = await api.http.get(path, params={"offset": str(2**64)}, headers=auth(CONSUMER))
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"][0]["loc"][-1] == "offset"


async def test_marking_notifications_read(api):
    _code, tokens = api.new_department("consumer")
    mine = tokens["consumer"]
    case = await api.apply(mine, resource_id="gaj-population-basic")
    await api.decide(PLATFORM, case["id"], "platform_check", "accept")
    await api.decide(PLATFORM, case["id"], "platform_direct_authorization", "grant")
    unread = (await api.http.get("/notifications", headers=auth(mine), params={"unread": "true"})).json()
    assert unread["total"] >= 1 and all(n["read_at"] is None for n in unread["items"])
    note = unread["items"][0]

    # Someone else's notification does not exist for the caller.
    stranger = await api.http.post(f"/notifications/{note['id']}/read", headers=auth(SCJGJ))
    assert stranger.status_code == 404

    first = await api.http.post(f"/notifications/{note['id']}/read", headers=auth(mine))
    assert first.status_code == 200 and first.json()["read_at"].endswith("+08:00")
    again = await api.http.post(f"/notifications/{note['id']}/read", headers=auth(mine))
    assert again.json()["read_at"] == first.json()["read_at"]  # the first read time is kept
    left = (await api.http.get("/notifications", headers=auth(mine), params={"unread": "true"})).json()
    assert left["total"] == unread["total"] - 1
    read = (await api.http.get("/notifications", headers=auth(mine), params={"unread": "false"})).json()
    assert [n["id"] for n in read["items"]] == [note["id"]]
