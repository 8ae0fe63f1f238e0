"""A retried create must not create a second case (Idempotency-Key); a key stands for one request,
on every write: the same request again is answered with its first outcome, another request under
the same key is refused (422 ``idempotency_key_reused``) and never taken."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from api_helpers import CONSUMER, CONSUMER2, PLATFORM, auth
from engine_cases import KINDS, case_input
from temporalio.common import WorkflowIDReusePolicy

from api import idempotency
from api.requests import DecisionCreate
from workflows.case import Party

BODY = {
    "resource_id": "gaj-household-members",
    "purpose": "最低生活保障家庭经济状况核对",
    "reason": "核实申请家庭成员关系",
}


async def _count(api, token: str) -> int:
    response = await api.http.get("/applications", headers=auth(token), params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["total"]


async def test_same_key_returns_the_same_case(api):
    before = await _count(api, CONSUMER)
    headers = auth(CONSUMER, **{"Idempotency-Key": "rsj-2026-0001"})
    first = await api.http.post("/applications", json=BODY, headers=headers)
    assert first.status_code == 201, first.text
    again = await api.http.post("/applications", json=BODY, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["open_task"]["due_at"] == first.json()["open_task"]["due_at"]
    assert await _count(api, CONSUMER) == before + 1


async def test_concurrent_retries_create_one_case(api):
    headers = auth(CONSUMER, **{"Idempotency-Key": "rsj-2026-0002"})
    responses = await asyncio.gather(
        *(api.http.post("/applications", json=BODY, headers=headers) for _ in range(4))
    )
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.status_code == 201 for r in responses) >= 1


async def test_same_key_with_another_body_is_refused(api):
    headers = auth(CONSUMER, **{"Idempotency-Key": "rsj-2026-0003"})
    first = await api.http.post("/applications", json=BODY, headers=headers)
    assert first.status_code == 201, first.text
    other = await api.http.post("/applications", json={**BODY, "reason": "另一事由"}, headers=headers)
    assert other.status_code == 422
    problem = other.json()
    assert problem["code"] == "idempotency_key_reused" and "幂等键" in problem["detail"]


async def test_keys_belong_to_a_department(api):
    key = {"Idempotency-Key": "shared-key-1"}
    a = await api.http.post("/applications", json=BODY, headers=auth(CONSUMER, **key))
    b = await api.http.post("/applications", json=BODY, headers=auth(CONSUMER2, **key))
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_a_case_closed_at_entry_is_returned_on_retry(api):
    headers = auth(CONSUMER, **{"Idempotency-Key": "rsj-2026-0004"})
    body = {**BODY, "resource_id": "gaj-criminal-investigation"}
    first = await api.http.post("/applications", json=body, headers=headers)
    assert first.status_code == 201 and first.json()["status"] == "rejected", first.text
    again = await api.http.post("/applications", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "rejected"


async def test_bad_key_is_a_4xx(api):
    response = await api.http.post(
        "/applications", json=BODY, headers=auth(CONSUMER, **{"Idempotency-Key": "x" * 101})
    )
    assert response.status_code == 422 and response.json()["code"]


def assert_key_reused(response) -> None:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "idempotency_key_reused", problem
    assert "幂等键" in problem["detail_zh"] and "Idempotency-Key" in problem["detail_en"]
    assert problem["errors"] == [
        {"loc": ["header", "Idempotency-Key"], "msg": "reused with a different body"}
    ]


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"reuse-{uuid.uuid4().hex[:12]}"}


async def _events(api, case_id: str, kind: str) -> list[dict]:
    response = await api.http.get(f"/cases/{case_id}/events", headers=auth(PLATFORM))
    return [e for e in response.json()["items"] if e["kind"] == kind]


async def test_a_decision_key_reused_for_another_decision_is_refused(api):
    case_id = (await api.apply())["id"]
    url = f"/applications/{case_id}/decisions"
    key = _key()
    accept = {"step": "platform_check", "action": "accept", "note": "材料齐全"}
    first = await api.http.post(url, json=accept, headers=auth(PLATFORM, **key))
    assert first.status_code == 200, first.text
    # Before: another Update id (the body's digest in it), judged on its merits (409: the step moved on).
    reject = {"step": "platform_check", "action": "reject", "reason": "材料不全"}
    assert_key_reused(await api.http.post(url, json=reject, headers=auth(PLATFORM, **key)))
    # The generic path, the same key: the same answer for the same request, 422 for another.
    other = await api.http.post(f"/cases/{case_id}/decisions", json=reject, headers=auth(PLATFORM, **key))
    assert_key_reused(other)
    english = await api.http.post(
        url, json=reject, headers=auth(PLATFORM, **key, **{"Accept-Language": "en"})
    )
    assert_key_reused(english)
    assert english.json()["detail"] == english.json()["detail_en"]
    again = await api.http.post(url, json=accept, headers=auth(PLATFORM, **key))
    assert again.status_code == 200, again.text
    assert again.json()["revision"] == first.json()["revision"]
    assert len(await _events(api, case_id, "decision")) == 1


async def test_a_clock_change_key_reused_for_another_change_is_not_applied(api):
    kind = KINDS["engine_clock"]  # its review step may be suspended by the platform (local policy)
    case_id = f"EC-IDEM{uuid.uuid4().hex[:8].upper()}"
    await api.env.client.start_workflow(
        kind.workflow_type,
        case_input("engine_clock", case_id, [Party(role="provider", department="gaj")]),
        id=kind.workflow_id(case_id),
        task_queue=api.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    for _ in range(200):  # the first write, then visible
        shown = await api.http.get(f"/cases/{case_id}", headers=auth(PLATFORM))
        if shown.status_code == 200 and shown.json()["open_tasks"]:
            break
        await asyncio.sleep(0.1)
    (task,) = shown.json()["open_tasks"]
    url = f"/cases/{case_id}/tasks/{task['seq']}/clock"
    key = _key()
    suspend = {"kind": "suspension", "reason": "等待补充材料"}
    first = await api.http.post(url, json=suspend, headers=auth(PLATFORM, **key))
    assert first.status_code == 200, first.text
    assert first.json()["open_tasks"][0]["suspended"] is True
    # Before: a resume under the suspension's key was taken as a new request, and applied.
    resume = {"kind": "resume", "reason": "材料已补齐"}
    assert_key_reused(await api.http.post(url, json=resume, headers=auth(PLATFORM, **key)))
    shown = (await api.http.get(f"/cases/{case_id}", headers=auth(PLATFORM))).json()
    assert shown["open_tasks"][0]["suspended"] is True and shown["revision"] == first.json()["revision"]
    again = await api.http.post(url, json=suspend, headers=auth(PLATFORM, **key))
    assert again.status_code == 200 and again.json()["revision"] == first.json()["revision"], again.text
    # A new key: a new request.
    resumed = await api.http.post(url, json=resume, headers=auth(PLATFORM, **_key()))
    assert resumed.status_code == 200 and resumed.json()["open_tasks"][0]["suspended"] is False


async def test_a_withdrawal_key_reused_with_another_reason_is_refused(api):
    _code, tokens = api.new_department("consumer")
    case_id = (await api.apply(tokens["consumer"]))["id"]
    url = f"/cases/{case_id}/withdrawal"
    key = _key()
    first = await api.http.post(url, json={"reason": "业务调整"}, headers=auth(tokens["consumer"], **key))
    assert first.status_code == 200 and first.json()["status"] == "withdrawn", first.text
    other = await api.http.post(url, json={"reason": "另行申请"}, headers=auth(tokens["consumer"], **key))
    assert_key_reused(other)
    again = await api.http.post(url, json={"reason": "业务调整"}, headers=auth(tokens["consumer"], **key))
    assert again.status_code == 200 and again.json()["closed_at"] == first.json()["closed_at"], again.text
    assert len(await _events(api, case_id, "withdrawn")) == 1


async def test_a_create_key_reused_for_a_withdrawal_is_refused(api):
    """One key, one request, whatever the operation: the key of a create does not withdraw it."""
    _code, tokens = api.new_department("consumer")
    token, key = tokens["consumer"], _key()
    created = await api.http.post("/applications", json=BODY, headers=auth(token, **key))
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    withdrawal = await api.http.post(
        f"/applications/{case_id}/withdrawal", json={"reason": "业务调整"}, headers=auth(token, **key)
    )
    assert_key_reused(withdrawal)
    shown = await api.http.get(f"/applications/{case_id}", headers=auth(token))
    assert shown.json()["status"] == "in_progress"
    replay = await api.http.post("/applications", json=BODY, headers=auth(token, **key))
    assert replay.status_code == 200 and replay.json()["id"] == case_id, replay.text


async def test_a_key_the_server_made_is_bound_to_its_request(api):
    """The key a 202 gives to a client that sent none carries its request: the same request with it
    is taken (once), another is refused — without the database (it may be what was locked)."""
    case_id = (await api.apply())["id"]
    url = f"/cases/{case_id}/decisions"
    accept = {"step": "platform_check", "action": "accept"}
    digest = idempotency.write_fingerprint("decision", case_id, "platform", DecisionCreate(**accept))
    key = {"Idempotency-Key": idempotency.new_key(digest, datetime.now(UTC))}
    reject = {"step": "platform_check", "action": "reject", "reason": "材料不全"}
    assert_key_reused(await api.http.post(url, json=reject, headers=auth(PLATFORM, **key)))
    first = await api.http.post(url, json=accept, headers=auth(PLATFORM, **key))
    assert first.status_code == 200, first.text
    again = await api.http.post(url, json=accept, headers=auth(PLATFORM, **key))
    assert again.status_code == 200 and again.json()["revision"] == first.json()["revision"]
    assert len(await _events(api, case_id, "decision")) == 1
