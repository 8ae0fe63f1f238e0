"""Sharing applications over HTTP, end to end: every branch of the Hubei flow, Luzhou, withdrawal.

Each test runs on SQLite and on PostgreSQL (the ``system`` fixture), against the real Temporal dev
server with a real worker writing the projection the API reads.
"""

from __future__ import annotations

import re

from api_helpers import (
    AUDITOR,
    CONSUMER,
    CONSUMER2,
    GAJ,
    LEADING_GROUP,
    PLATFORM,
    SCJGJ,
    auth,
)

CJK = re.compile(r"[\u4e00-\u9fff]")


def _open(case: dict) -> dict:
    assert case["open_task"] is not None, case
    return case["open_task"]


def _inbox_ids(items: list[dict]) -> set[str]:
    return {item["case_id"] for item in items}


async def test_apply_check_authorize_inform_granted(api):
    """Hubei 18–20: apply → platform check (3 WD) → provider authorizes (10 WD) → platform informs (1 WD)."""
    response = await api.http.post(
        "/applications",
        json={
            "resource_id": "scjgj-legal-entity-basic",
            "purpose": "社会保险登记时核验用人单位信息",
            "reason": "依据《社会保险法》办理用人单位社会保险登记",
            "fields": ["unified_social_credit_code", "entity_name"],
            "sharing_mode": "online_query",
        },
        headers=auth(CONSUMER),
    )
    assert response.status_code == 201, response.text
    case = response.json()
    case_id = case["id"]
    assert response.headers["location"] == f"/applications/{case_id}"
    assert case["status"] == "in_progress" and case["result"] == ""
    assert case["parties"]["consumer"]["code"] == "rsj"
    assert case["parties"]["provider"]["code"] == "scjgj"
    assert case["parties"]["platform"]["code"] == "bdb"
    assert case["resource"]["id"] == "scjgj-legal-entity-basic"
    assert case["requested_fields"] == ["unified_social_credit_code", "entity_name"]
    task = _open(case)
    assert task["step"] == "platform_check"
    assert task["assignee"] == {
        "code": "bdb",
        "name_zh": "市政务服务和大数据管理局",
        "name_en": "Municipal Government Services and Big Data Bureau",
        "role": "platform",
        "person": "",
        "person_name": "",
    }
    assert task["working_days"] == 3 and task["article"] == "19" and task["limit_basis"] == "statute"
    assert task["due_at"] and task["due_date"]
    assert task["explanation_zh"] and task["explanation_en"]
    assert {a["id"] for a in task["actions"]} == {"accept", "reject"}
    assert next(a for a in task["actions"] if a["id"] == "reject")["reason_required"] is True

    # The inbox at each step: only the assignee (department and role) sees the task.
    assert case_id in _inbox_ids(await api.inbox(PLATFORM))
    assert case_id not in _inbox_ids(await api.inbox(SCJGJ))
    assert case_id not in _inbox_ids(await api.inbox(CONSUMER))
    item = next(i for i in await api.inbox(PLATFORM) if i["case_id"] == case_id)
    assert item["step"] == "platform_check" and item["article"] == "19" and item["due_at"] == task["due_at"]
    assert {a["id"] for a in item["actions"]} == {"accept", "reject"}

    case = await api.decide(PLATFORM, case_id, "platform_check", "accept")
    task = _open(case)
    assert task["step"] == "provider_authorization"
    assert task["assignee"]["code"] == "scjgj" and task["assignee"]["role"] == "provider"
    assert task["working_days"] == 10 and task["article"] == "20"
    assert case_id in _inbox_ids(await api.inbox(SCJGJ))
    assert case_id not in _inbox_ids(await api.inbox(PLATFORM))

    case = await api.decide(
        SCJGJ,
        case_id,
        "provider_authorization",
        "grant",
        grant={"conditions": "仅限社会保险登记业务使用,不得转交其他部门"},
    )
    task = _open(case)
    assert task["step"] == "notify_consumer" and task["working_days"] == 1 and task["article"] == "20"
    assert case["result"] == "granted" and case["status"] == "in_progress"
    assert case_id in _inbox_ids(await api.inbox(PLATFORM))
    assert case_id not in _inbox_ids(await api.inbox(SCJGJ))

    case = await api.decide(PLATFORM, case_id, "notify_consumer", "inform")
    assert case["status"] == "granted" and case["open_task"] is None and case["closed_at"]
    assert case_id not in _inbox_ids(await api.inbox(PLATFORM))

    # The consumer sees the grant, and the timeline of all three steps.
    seen = await api.get_case(CONSUMER, case_id)
    assert seen["status"] == "granted" and seen["status_zh"] == "同意授权"
    assert seen["grant"]["fields"] == ["unified_social_credit_code", "entity_name"]
    assert seen["grant"]["sharing_mode"] == "online_query"
    assert seen["grant"]["conditions"] == "仅限社会保险登记业务使用,不得转交其他部门"
    assert seen["grant"]["scope"] == "社会保险登记时核验用人单位信息"
    steps = [(t["step"], t["status"], t["decision"]["action"]) for t in seen["timeline"]]
    assert steps == [
        ("platform_check", "done", "accept"),
        ("provider_authorization", "done", "grant"),
        ("notify_consumer", "done", "inform"),
    ]
    check = seen["timeline"][0]
    assert check["decision"]["actor"]["department"] == "bdb" and check["decision"]["name_zh"] == "受理"
    assert check["working_days"] == 3 and check["article"] == "19" and check["explanation_zh"]
    assert seen["purpose"] and seen["reason"]

    # Notifications, in Chinese first.
    response = await api.http.get("/notifications", headers=auth(CONSUMER), params={"case_id": case_id})
    notes = response.json()["items"]
    assert notes, "the consumer is told the result"
    assert all(CJK.search(n["text_zh"]) for n in notes)
    assert all(n["text"] == n["text_zh"] for n in notes)


async def test_refusal_needs_a_reason(api):
    case = await api.apply(resource_id="gaj-household-members", sharing_mode="data_comparison")
    case_id = case["id"]
    await api.decide(PLATFORM, case_id, "platform_check", "accept")

    problem = await api.decide(GAJ, case_id, "provider_authorization", "refuse", expect=422)
    assert problem["status"] == 422 and problem["code"] == "invalid_decision"
    assert CJK.search(problem["detail"]) and problem["detail_en"]
    problem = await api.decide(GAJ, case_id, "provider_authorization", "refuse", reason="   ", expect=422)

    case = await api.decide(GAJ, case_id, "provider_authorization", "refuse", reason="申请字段超出履职需要")
    assert case["result"] == "refused" and _open(case)["step"] == "notify_consumer"
    case = await api.decide(PLATFORM, case_id, "notify_consumer", "inform")
    assert case["status"] == "refused" and case["result_reason"] == "申请字段超出履职需要"
    assert case["result_article"] == "20"
    assert case["grant"] is None


async def test_rejected_at_the_check(api):
    case = await api.apply()
    case_id = case["id"]
    problem = await api.decide(PLATFORM, case_id, "platform_check", "reject", expect=422)
    assert problem["code"] == "invalid_decision"
    case = await api.decide(
        PLATFORM, case_id, "platform_check", "reject", reason="申请材料不完整,未说明使用范围"
    )
    assert case["status"] == "rejected" and case["open_task"] is None
    assert case["result_reason"] == "申请材料不完整,未说明使用范围" and case["result_article"] == "19"
    assert case_id not in _inbox_ids(await api.inbox(PLATFORM))
    assert case_id not in _inbox_ids(await api.inbox(SCJGJ))


async def test_platform_direct_authorization(api):
    """Hubei 11, 21: unconditional without controlled parameters — the platform authorizes directly."""
    case = await api.apply(resource_id="gaj-population-basic", fields=["name", "citizen_id"])
    case_id = case["id"]
    case = await api.decide(PLATFORM, case_id, "platform_check", "accept")
    task = _open(case)
    assert task["step"] == "platform_direct_authorization"
    assert task["assignee"]["code"] == "bdb" and task["working_days"] == 3 and task["article"] == "21"
    assert case_id not in _inbox_ids(await api.inbox(GAJ))
    case = await api.decide(PLATFORM, case_id, "platform_direct_authorization", "grant")
    assert case["status"] == "granted" and case["grant"]["fields"] == ["name", "citizen_id"]
    # Hubei 21: the result is also sent to the provider.
    response = await api.http.get("/notifications", headers=auth(GAJ), params={"case_id": case_id})
    assert response.json()["total"] >= 1
    # The provider may read the case it was told about.
    assert (await api.get_case(GAJ, case_id))["status"] == "granted"


async def test_not_shared_is_rejected_at_once_quoting_the_legal_basis(api):
    case = await api.apply(resource_id="gaj-criminal-investigation")
    assert case["status"] == "rejected" and case["result"] == "rejected"
    assert case["open_task"] is None and case["timeline"] == []
    assert "《中华人民共和国保守国家秘密法》" in case["result_reason"]
    assert case["result_article"] == "8(1)"
    assert case["closed_at"]


async def test_luzhou_unconditional_is_granted_at_once(api):
    case = await api.apply(resource_id="gaj-population-basic", profile="luzhou", fields=["name"])
    assert case["profile"]["id"] == "luzhou"
    assert case["status"] == "granted" and case["open_task"] is None
    assert case["result_article"] == "25"
    assert case["grant"]["fields"] == ["name"]


async def test_luzhou_conditional_goes_to_the_provider(api):
    case = await api.apply(
        resource_id="gaj-household-members", profile="luzhou", sharing_mode="data_comparison"
    )
    task = _open(case)
    assert task["step"] == "provider_acceptance" and task["working_days"] == 5 and task["article"] == "25"
    case = await api.decide(GAJ, case["id"], "provider_acceptance", "accept")
    task = _open(case)
    assert task["step"] == "provider_provision" and task["due_at"] is None and task["limit_basis"] == "none"
    case = await api.decide(GAJ, case["id"], "provider_provision", "grant")
    assert case["status"] == "granted"
    assert case["grant"]["comparison_results_only"] is True  # Luzhou 25: 数据不落地


async def test_withdrawal(api):
    case = await api.apply(resource_id="gaj-household-members")
    case_id = case["id"]
    url = f"/applications/{case_id}/withdrawal"

    # Another party (the provider) may not withdraw; a stranger does not even see the case.
    response = await api.http.post(url, json={"reason": "x"}, headers=auth(GAJ))
    assert response.status_code == 403, response.text
    response = await api.http.post(url, json={"reason": "x"}, headers=auth(CONSUMER2))
    assert response.status_code == 404, response.text
    response = await api.http.post(url, json={"reason": "  "}, headers=auth(CONSUMER))
    assert response.status_code == 422, response.text

    response = await api.http.post(url, json={"reason": "业务调整,不再需要该数据"}, headers=auth(CONSUMER))
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["status"] == "withdrawn" and case["open_task"] is None
    assert case["timeline"][-1]["status"] == "cancelled"
    assert case_id not in _inbox_ids(await api.inbox(PLATFORM))

    response = await api.http.post(url, json={"reason": "再撤一次"}, headers=auth(CONSUMER))
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "conflict"
    await api.decide(PLATFORM, case_id, "platform_check", "accept", expect=409)


async def test_wrong_department_or_role_cannot_decide(api):
    case = await api.apply()
    case_id = case["id"]
    # Parties to the case, but not assigned the open step: 403 from the workflow's validator.
    problem = await api.decide(SCJGJ, case_id, "platform_check", "accept", expect=403)
    assert problem["code"] == "forbidden" and CJK.search(problem["detail"])
    await api.decide(CONSUMER, case_id, "platform_check", "accept", expect=403)
    await api.decide(LEADING_GROUP, case_id, "platform_check", "accept", expect=403)
    # An auditor never acts (role refused before anything else).
    problem = await api.decide(AUDITOR, case_id, "platform_check", "accept", expect=403)
    assert problem["code"] == "role_not_allowed"
    # Not a party: the case does not exist for it.
    await api.decide(CONSUMER2, case_id, "platform_check", "accept", expect=404)
    # Nothing changed.
    assert _open(await api.get_case(PLATFORM, case_id))["step"] == "platform_check"


async def test_decision_for_a_step_that_is_not_open(api):
    case = await api.apply()
    case_id = case["id"]
    # The provider's own step, not yet open: not its turn (409), not a matter of rights.
    problem = await api.decide(SCJGJ, case_id, "provider_authorization", "grant", expect=409)
    # A step that is never the caller's: 403.
    problem = await api.decide(SCJGJ, case_id, "notify_consumer", "inform", expect=403)
    assert problem["code"] == "forbidden"
    problem = await api.decide(PLATFORM, case_id, "provider_authorization", "grant", expect=403)
    assert problem["status"] == 403 and problem["code"] == "forbidden"
    problem = await api.decide(PLATFORM, case_id, "platform_check", "approve", expect=422)
    assert problem["code"] == "invalid_decision"
    await api.decide(PLATFORM, case_id, "platform_check", "reject", reason="材料不全")
    problem = await api.decide(PLATFORM, case_id, "platform_check", "accept", expect=409)
    assert problem["code"] == "conflict"


async def test_grant_outside_the_catalog_is_refused(api):
    case = await api.apply()
    await api.decide(PLATFORM, case["id"], "platform_check", "accept")
    problem = await api.decide(
        SCJGJ, case["id"], "provider_authorization", "grant", grant={"fields": ["bank_account"]}, expect=422
    )
    assert problem["code"] == "invalid_decision"
    problem = await api.decide(
        SCJGJ,
        case["id"],
        "provider_authorization",
        "grant",
        grant={"sharing_mode": "carrier_pigeon"},
        expect=422,
    )
    case = await api.decide(
        SCJGJ, case["id"], "provider_authorization", "grant", grant={"fields": ["entity_name"]}
    )
    assert case["result"] == "granted"


async def test_who_may_read_a_case(api):
    case = await api.apply()
    case_id = case["id"]
    for token in (CONSUMER, SCJGJ, PLATFORM, LEADING_GROUP, AUDITOR):
        assert (await api.get_case(token, case_id))["id"] == case_id
    for token in (CONSUMER2, GAJ):
        problem = await api.get_case(token, case_id, expect=404)
        assert problem["code"] == "case_not_found"
    # An unknown id looks exactly like a hidden one.
    hidden = await api.get_case(CONSUMER2, case_id, expect=404)
    unknown = await api.get_case(CONSUMER2, "SA-20260101-NOSUCH", expect=404)
    assert hidden["code"] == unknown["code"] and hidden["title"] == unknown["title"]
