"""One generic path for every case type: ``/cases``, ``/cases/{id}``, ``/cases/{id}/decisions``,
``/cases/{id}/tasks/{seq}/clock``, ``/cases/{id}/events`` and the inbox.

The sharing application goes through it, and so does a case type the API has no route of its own
for (the engine's test case types, tests/engine_cases.py: registered, run by the same worker), on
SQLite and on PostgreSQL, against the real dev server.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from api_helpers import AUDITOR, CONSUMER, GAJ, LEADING_GROUP, PLATFORM, SCJGJ, auth
from engine_cases import KINDS, case_input
from temporalio.common import WorkflowIDReusePolicy

from workflows.case import Party


async def _wait_visible(api, token: str, case_id: str) -> dict:
    for _ in range(100):
        response = await api.http.get(f"/cases/{case_id}", headers=auth(token))
        if response.status_code == 200:
            return response.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id} never appeared: {response.status_code} {response.text}")


async def test_the_sharing_application_reads_and_decides_through_the_generic_path(api):
    case = await api.apply()
    case_id = case["id"]
    assert [t["step"] for t in case["open_tasks"]] == ["platform_check"] == [case["open_task"]["step"]]
    generic = await _wait_visible(api, CONSUMER, case_id)
    assert generic == (await api.get_case(CONSUMER, case_id))
    assert {(p["role"], p["code"]) for p in generic["party_list"]} == {
        ("consumer", "rsj"),
        ("provider", "scjgj"),
        ("platform", "bdb"),
    }
    listed = await api.http.get("/cases", params={"case_type": "sharing_application"}, headers=auth(CONSUMER))
    assert case_id in {c["id"] for c in listed.json()["items"]}

    task_id = case["open_task"]["task_id"]
    response = await api.http.post(
        f"/cases/{case_id}/decisions", json={"task_id": task_id, "action": "accept"}, headers=auth(PLATFORM)
    )
    assert response.status_code == 200, response.text
    decided = response.json()
    assert [t["step"] for t in decided["open_tasks"]] == ["provider_authorization"]
    # The same task again: someone acted first.
    again = await api.http.post(
        f"/cases/{case_id}/decisions", json={"task_id": task_id, "action": "accept"}, headers=auth(PLATFORM)
    )
    assert again.status_code == 409, again.text
    events = await api.http.get(f"/cases/{case_id}/events", headers=auth(AUDITOR))
    assert [e["kind"] for e in events.json()["items"]][:3] == ["case_submitted", "task_opened", "decision"]


async def test_a_decision_retried_with_its_key_gets_the_first_answer(api):
    case = await api.apply()
    body = {"step": "platform_check", "action": "accept"}
    key = {"Idempotency-Key": f"decide-{uuid.uuid4().hex}"}
    first = await api.http.post(f"/cases/{case['id']}/decisions", json=body, headers=auth(PLATFORM, **key))
    second = await api.http.post(f"/cases/{case['id']}/decisions", json=body, headers=auth(PLATFORM, **key))
    assert first.status_code == second.status_code == 200, second.text
    assert second.json()["revision"] == first.json()["revision"]
    assert [t["step"] for t in second.json()["open_tasks"]] == ["provider_authorization"]


async def test_a_case_type_without_routes_of_its_own_is_read_listed_decided_and_in_the_inbox(api):
    kind = KINDS["engine_joint"]
    case_id = f"EJ-API{uuid.uuid4().hex[:8].upper()}"
    providers = [Party(role="provider", department="gaj"), Party(role="provider", department="scjgj")]
    inp = case_input("engine_joint", case_id, providers, submitted_at=datetime.now(UTC))
    await api.env.client.start_workflow(
        kind.workflow_type,
        inp,
        id=kind.workflow_id(case_id),
        task_queue=api.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    case = await _wait_visible(api, GAJ, case_id)
    assert case["case_type"] == "engine_joint" and case["status"] == "in_progress"
    mine, theirs = case["open_tasks"]
    assert (mine["assignee"]["code"], theirs["assignee"]["code"]) == ("gaj", "scjgj")
    assert len(case["party_list"]) == 4 and case["subject_zh"] == "测试 engine_joint"
    # Not a party: the case does not exist for it. A party: it lists it, its inbox holds its task.
    assert (await api.http.get(f"/cases/{case_id}", headers=auth(CONSUMER))).status_code == 404
    listed = await api.http.get("/cases", params={"case_type": "engine_joint"}, headers=auth(SCJGJ))
    assert case_id in {c["id"] for c in listed.json()["items"]}
    assert case_id not in {
        c["id"] for c in (await api.http.get("/cases", headers=auth(CONSUMER))).json()["items"]
    }
    inbox = [i for i in await api.inbox(GAJ) if i["case_id"] == case_id]
    assert [i["task_id"] for i in inbox] == [mine["task_id"]] and inbox[0]["case_type"] == "engine_joint"

    # The other party's task is not this department's to decide; its own is.
    response = await api.http.post(
        f"/cases/{case_id}/decisions",
        json={"task_id": theirs["task_id"], "action": "confirm"},
        headers=auth(GAJ),
    )
    assert response.status_code == 403, response.text
    response = await api.http.post(
        f"/cases/{case_id}/decisions",
        json={"task_id": mine["task_id"], "action": "confirm"},
        headers=auth(GAJ),
    )
    assert response.status_code == 200, response.text
    assert [t["task_id"] for t in response.json()["open_tasks"]] == [theirs["task_id"]]

    # An extension of the other task, approved by its principal head, re-cited to its own article.
    seq = theirs["seq"]
    url = f"/cases/{case_id}/tasks/{seq}/clock"
    missing = await api.http.post(
        url, json={"kind": "extension", "working_days": 3, "reason": "需补充核实"}, headers=auth(SCJGJ)
    )
    assert missing.status_code == 422, missing.text
    response = await api.http.post(
        url,
        json={"kind": "extension", "working_days": 3, "reason": "需补充核实", "approver_name": "李局长"},
        headers=auth(SCJGJ),
    )
    assert response.status_code == 200, response.text
    extended = next(t for t in response.json()["open_tasks"] if t["task_id"] == theirs["task_id"])
    assert extended["due_at"] > theirs["due_at"] and extended["article"] == "19"
    assert [c["kind"] for c in extended["clock"]] == ["base", "extension"]
    assert extended["clock"][1]["approver_name"] == "李局长" and extended["citation_zh"].endswith("第19条")
    assert (
        await api.http.post(url, json={"kind": "suspension", "reason": "x"}, headers=auth(SCJGJ))
    ).status_code == 422

    response = await api.http.post(
        f"/cases/{case_id}/decisions",
        json={"step": "joint_verification", "action": "confirm"},
        headers=auth(SCJGJ),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "confirmed" and response.json()["open_tasks"] == []
    assert (await api.http.get(f"/cases/{case_id}", headers=auth(LEADING_GROUP))).json()[
        "result"
    ] == "confirmed"
