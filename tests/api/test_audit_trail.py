"""The audit trail over HTTP: every step in order, who did it, same visibility as the case."""

from __future__ import annotations

from api_helpers import AUDITOR, CONSUMER, CONSUMER2, GAJ, PLATFORM, SCJGJ, auth


async def test_trail_of_a_granted_case(api):
    created = await api.http.post(
        "/applications",
        json={"resource_id": "scjgj-legal-entity-basic", "purpose": "核验用人单位", "reason": "社会保险登记"},
        headers=auth(CONSUMER),
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    for token, step, action in (
        (PLATFORM, "platform_check", "accept"),
        (SCJGJ, "provider_authorization", "grant"),
        (PLATFORM, "notify_consumer", "inform"),
    ):
        response = await api.http.post(
            f"/applications/{case_id}/decisions", json={"step": step, "action": action}, headers=auth(token)
        )
        assert response.status_code == 200, response.text

    response = await api.http.get(f"/applications/{case_id}/events", headers=auth(AUDITOR))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [e["seq"] for e in items] == list(range(1, len(items) + 1))
    kinds = [e["kind"] for e in items]
    assert kinds[0] == "case_submitted" and kinds[-1] == "case_closed"
    assert kinds.count("task_opened") == 3 and kinds.count("decision") == 3
    decisions = [e for e in items if e["kind"] == "decision"]
    assert [(e["actor_department"], e["actor_role"]) for e in decisions] == [
        ("bdb", "platform"),
        ("scjgj", "provider"),
        ("bdb", "platform"),
    ]
    assert all(e["summary_zh"] and e["summary_en"] for e in items)
    opened = [e for e in items if e["kind"] == "task_opened"]
    assert [e["data"]["article"] for e in opened] == ["19", "20", "20"]

    # A department that is not party to the case does not learn that it exists.
    hidden = await api.http.get(f"/applications/{case_id}/events", headers=auth(CONSUMER2))
    assert hidden.status_code == 404 and hidden.json()["code"] == "case_not_found"


async def test_histories_written_by_the_dev_server_replay(api):
    """Auditors replay what the real server recorded: every case this test makes replays cleanly."""
    from govshare.ops.replay import replay_history

    cases = [
        await api.apply(resource_id="gaj-household-members"),  # platform check → provider …
        await api.apply(resource_id="gaj-criminal-investigation"),  # not_shared: rejected at entry
    ]
    case_id = cases[0]["id"]
    await api.decide(PLATFORM, case_id, "platform_check", "accept")
    await api.decide(GAJ, case_id, "provider_authorization", "refuse", reason="涉及个人隐私")
    await api.decide(PLATFORM, case_id, "notify_consumer", "inform")
    for case in cases:
        handle = api.env.client.get_workflow_handle(case["workflow_id"])
        await handle.result()
        history = await handle.fetch_history()
        assert await replay_history(history) is None, case["id"]
