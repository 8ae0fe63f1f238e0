"""A retried create must not create a second case (Idempotency-Key)."""

from __future__ import annotations

import asyncio

from api_helpers import CONSUMER, CONSUMER2, auth

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
