"""Catalog updates over HTTP (目录更新, issue 19): ``POST /catalog-updates``, then the change set
submitted, checked, returned and published through ``/cases``; who may register one; the period
counted from the change date; a change set that breaks a catalog rule refused with its reasons.

Each test runs on SQLite and on PostgreSQL, against the real Temporal dev server and worker.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta
from typing import Any

from api_helpers import CONSUMER, GAJ, PLATFORM, SCJGJ, auth

from calendars import SHANGHAI, WorkingDayCalendar

CAL = WorkingDayCalendar.default()


def today() -> Any:
    return datetime.now(SHANGHAI).date()


async def register(api, token: str = PLATFORM, expect: int = 201, **body: Any) -> dict[str, Any]:
    payload = {
        "department": "gaj",
        "reason": "law_revision",
        "change_date": (today() - timedelta(days=3)).isoformat(),
        "description": "《户口登记条例》修订,户籍信息项调整",
        "profile": "luzhou",
        **body,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    response = await api.http.post("/catalog-updates", json=payload, headers=auth(token))
    assert response.status_code == expect, response.text
    return response.json()


async def decide(
    api, token: str, case_id: str, step: str, action: str, expect: int = 200, **body: Any
) -> dict[str, Any]:
    response = await api.http.post(
        f"/cases/{case_id}/decisions", json={"step": step, "action": action, **body}, headers=auth(token)
    )
    assert response.status_code == expect, response.text
    return response.json()


def item(rid: str, **entry: Any) -> dict[str, Any]:
    return {
        "action": "new",
        "resource_id": rid,
        "entry": {
            "name_zh": "户籍变动信息",
            "name_en": "Household registration changes",
            "share_type": "conditional",
            "kind": "departmental",
            "fields": ["name", "id_number", "change_date"],
            "sharing_modes": ["online_query"],
            "update_period": "monthly",
            **entry,
        },
    }


async def test_registered_counted_from_the_change_submitted_checked_returned_and_published(api):
    change = today() - timedelta(days=3)
    case = await register(api, change_date=change.isoformat())
    task = case["open_tasks"][0]
    expected = CAL.add_working_days(datetime.combine(change, time(0), SHANGHAI), 15)
    assert (task["step"], task["assignee"]["code"], task["article"]) == ("catalog_update", "gaj", "10")
    assert datetime.fromisoformat(task["due_at"]) == expected.due_at
    case_id = case["id"]
    rid = f"gaj-hh-{uuid.uuid4().hex[:6]}"
    # Not shared without a legal basis (Luzhou 24 as the profile cites it): 422, each problem named.
    bad = {"items": [item(rid, share_type="not_shared")]}
    response = await api.http.post(
        f"/cases/{case_id}/decisions",
        json={"step": "catalog_update", "action": "submit", "payload": bad},
        headers=auth(GAJ),
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"] and problem["errors"][0]["field"] == "legal_basis", problem
    assert problem["errors"][0]["article"]
    # Another department does not even see it (not a party: 404); the platform may not submit it (403).
    await decide(api, SCJGJ, case_id, "catalog_update", "submit", 404, payload={"items": [item(rid)]})
    await decide(api, PLATFORM, case_id, "catalog_update", "submit", 403, payload={"items": [item(rid)]})
    answer = await decide(
        api, GAJ, case_id, "catalog_update", "submit", payload={"items": [item(rid)], "note": "新增"}
    )
    assert answer["open_tasks"][0]["step"] == "catalog_update_publication"
    answer = await decide(
        api, PLATFORM, case_id, "catalog_update_publication", "return", reason="缺少信息项说明"
    )
    assert answer["open_tasks"][0]["step"] == "catalog_update"
    # Returned: the department's period still counts from the change.
    assert datetime.fromisoformat(answer["open_tasks"][0]["due_at"]) == expected.due_at
    await decide(
        api,
        GAJ,
        case_id,
        "catalog_update",
        "submit",
        payload={"items": [item(rid, description="含迁入迁出")]},
    )
    answer = await decide(api, PLATFORM, case_id, "catalog_update_publication", "publish")
    assert (answer["status"], answer["result"]) == ("updated", "updated")
    assert answer["status_zh"] == "目录已更新"
    entry = await api.http.get(f"/resources/{rid}", headers=auth(CONSUMER))
    assert entry.status_code == 200 and entry.json()["version"] == 1
    versions = await api.http.get(f"/resources/{rid}/versions", headers=auth(CONSUMER))
    assert versions.status_code == 200, versions.text
    # Published with the catalog: on 公安局's responsibility list (Luoyang 14: 同步更新责任清单).
    listed = await api.http.get("/responsibility-lists/gaj", headers=auth(GAJ))
    assert listed.status_code == 200, listed.text
    assert rid in {item["resource_id"] for item in listed.json()["items"]}, listed.json()


async def test_who_may_register_and_what_it_needs(api):
    await register(api, token=GAJ, department=None)  # a department for itself
    await register(api, token=GAJ, department="scjgj", expect=403)  # not for another
    await register(api, token=CONSUMER, department="rsj", expect=403)
    await register(api, change_date=None, expect=422)  # a law revision needs its date
    await register(api, change_date=(today() + timedelta(days=2)).isoformat(), expect=422)
    await register(api, department="nobody", expect=422)
    await register(api, reason="own", change_date=None, profile="hubei")  # its own update: no date


async def test_a_change_registered_late_is_overdue_at_once(api):
    case = await register(api, change_date=(today() - timedelta(days=60)).isoformat(), profile="jiangsu")
    task = case["open_tasks"][0]
    assert datetime.fromisoformat(task["due_at"]) < datetime.now(SHANGHAI)
    for _ in range(50):
        shown = (await api.http.get(f"/cases/{case['id']}", headers=auth(PLATFORM))).json()
        if shown["overdue"] and shown["breaches"]:
            break
        await asyncio.sleep(0.1)
    assert shown["overdue"] and shown["breaches"][0]["article"] == "9"


async def test_a_withdrawn_entry_can_no_longer_be_applied_for(api):
    rid = f"gaj-wd-{uuid.uuid4().hex[:6]}"
    case = await register(api, reason="own", change_date=None, profile="hubei")
    await decide(api, GAJ, case["id"], "catalog_update", "submit", payload={"items": [item(rid)]})
    await decide(api, PLATFORM, case["id"], "catalog_update_publication", "publish")
    await api.apply(resource_id=rid, fields=["name"])  # published: an application may be made
    case = await register(api, reason="own", change_date=None, profile="hubei")
    await decide(
        api,
        GAJ,
        case["id"],
        "catalog_update",
        "submit",
        payload={"items": [{"action": "withdraw", "resource_id": rid}]},
    )
    answer = await decide(api, PLATFORM, case["id"], "catalog_update_publication", "publish")
    assert answer["status"] == "updated"
    refused = await api.apply(resource_id=rid, fields=["name"], expect=422)
    assert refused["code"] == "resource_withdrawn"
    versions = (await api.http.get(f"/resources/{rid}/versions", headers=auth(CONSUMER))).json()
    assert [v["change"] for v in versions["items"]] == ["withdrawn", "new"]


async def test_the_freshness_sweep_is_scheduled_once_and_runs(api):
    from govshare.ops.worker_build import ensure_freshness_schedule
    from workflows.contracts import FreshnessSweepRequest, FreshnessSweepResult
    from workflows.freshness import SCHEDULE_ID, FreshnessSweepWorkflow

    client, queue = api.env.client, api.settings.task_queue
    await ensure_freshness_schedule(client, queue, "hubei")
    await ensure_freshness_schedule(client, queue, "hubei")  # a second worker start changes nothing
    handle = client.get_schedule_handle(f"{SCHEDULE_ID}-{queue}")
    try:
        described = await handle.describe()
        assert described.schedule.spec.intervals[0].every == timedelta(hours=1)
        result = await client.execute_workflow(
            FreshnessSweepWorkflow.run,
            FreshnessSweepRequest(profile_id="hubei"),
            id=f"sweep-test-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            result_type=FreshnessSweepResult,
        )
        assert result.overdue >= 0 and result.notified <= result.overdue
    finally:
        await handle.delete()
