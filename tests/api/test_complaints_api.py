"""Complaints over HTTP (投诉, Luzhou 44): ``POST /complaints``, then the generic ``/cases`` path —
investigated by the body the complaint is addressed to (the leading group, or the municipal
government office), leading to a linked rectification order, reported back to the complainant; and
refused under a profile without complaints, naming it.

Each test runs on SQLite and on PostgreSQL (the ``system`` fixture), against the real Temporal dev
server with a real worker writing the projection the API reads.
"""

from __future__ import annotations

import asyncio
from typing import Any

from api_helpers import AUDITOR, CONSUMER, CONSUMER2, GAJ, LEADING_GROUP, PLATFORM, SCJGJ, auth

GOVERNMENT_OFFICE = "demo-szfb-government_office"


def complaint_body(**changes: Any) -> dict[str, Any]:
    return {
        "respondent_department": "scjgj",
        "addressed_to": "leading_group",
        "conduct": "无正当理由拖延办理本局的数据共享申请,超过规定时限仍未授权",
        "profile": "luzhou",
        **changes,
    }


async def complain(api, token: str = CONSUMER, expect: int = 201, **changes: Any) -> dict[str, Any]:
    response = await api.http.post("/complaints", json=complaint_body(**changes), headers=auth(token))
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


async def order_concerning(api, case_id: str) -> str:
    """The id of the rectification order that concerns ``case_id``, once it is recorded."""
    for _ in range(200):
        listed = await api.http.get(
            "/cases", params={"case_type": "rectification_order", "limit": 100}, headers=auth(LEADING_GROUP)
        )
        found = [c["id"] for c in listed.json()["items"] if c.get("concerns") == case_id]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no rectification order concerning {case_id}")


def only_open(case: dict[str, Any]) -> dict[str, Any]:
    assert len(case["open_tasks"]) == 1, case["open_tasks"]
    return case["open_tasks"][0]


async def test_a_complaint_to_the_leading_group_is_investigated_and_answered(api):
    response = await api.http.post("/complaints", json=complaint_body(), headers=auth(CONSUMER))
    assert response.status_code == 201, response.text
    complaint = response.json()
    complaint_id = complaint["id"]
    assert complaint_id.startswith("CP-") and response.headers["location"] == f"/cases/{complaint_id}"
    assert complaint["case_type"] == "complaint" and complaint["profile"]["id"] == "luzhou"
    parties = {p["role"]: p["code"] for p in complaint["party_list"]}
    assert parties == {"complainant": "rsj", "respondent": "scjgj", "investigator": "lgo", "platform": "bdb"}
    assert complaint["attributes"]["addressed_to"] == "leading_group"
    task = only_open(complaint)
    assert task["step"] == "complaint_investigation" and task["assignee"]["code"] == "lgo"
    assert task["article"] == "44" and task["due_at"] is None  # "及时": no number in the seed
    assert {a["id"] for a in task["actions"]} == {"substantiated", "unsubstantiated", "order"}

    # Only the investigator investigates; the respondent and the complainant do not.
    await decide(api, SCJGJ, complaint_id, "complaint_investigation", "unsubstantiated", 403, reason="x")
    await decide(api, CONSUMER, complaint_id, "complaint_investigation", "unsubstantiated", 403, reason="x")
    await decide(api, LEADING_GROUP, complaint_id, "complaint_investigation", "unsubstantiated", 422)
    investigated = await decide(
        api,
        LEADING_GROUP,
        complaint_id,
        "complaint_investigation",
        "unsubstantiated",
        reason="经核查,申请材料不全",
    )
    assert only_open(investigated)["step"] == "complaint_feedback"
    answered = await decide(
        api, LEADING_GROUP, complaint_id, "complaint_feedback", "inform", reason="经调查,投诉情况不属实"
    )
    assert answered["status"] == "unsubstantiated" and answered["open_tasks"] == []
    # The complainant reads the result it was given.
    seen = (await api.http.get(f"/cases/{complaint_id}", headers=auth(CONSUMER))).json()
    feedback = seen["timeline"][-1]
    assert (
        feedback["step"] == "complaint_feedback" and feedback["decision"]["reason"] == "经调查,投诉情况不属实"
    )
    assert seen["status_zh"] == "情况不属实"
    # A department not party to it does not see it; an auditor does.
    assert (await api.http.get(f"/cases/{complaint_id}", headers=auth(CONSUMER2))).status_code == 404
    assert (await api.http.get(f"/cases/{complaint_id}", headers=auth(AUDITOR))).status_code == 200


async def test_a_complaint_to_the_government_office_leads_to_a_linked_order(api):
    complaint = await complain(api, GAJ, respondent_department="mzj", addressed_to="government_office")
    complaint_id = complaint["id"]
    task = only_open(complaint)
    assert task["step"] == "complaint_investigation" and task["assignee"]["code"] == "szfb"
    assert complaint["parties"]["investigator"]["code"] == "szfb"
    # The leading group office is not this complaint's investigator.
    await decide(api, LEADING_GROUP, complaint_id, "complaint_investigation", "order", 403, reason="x")
    ordered = await decide(
        api,
        GOVERNMENT_OFFICE,
        complaint_id,
        "complaint_investigation",
        "order",
        reason="经调查属实,拒不提供应共享的婚姻登记信息",
    )
    assert ordered["result"] == "substantiated"
    assert only_open(ordered)["step"] == "complaint_feedback"
    # The order it started: a rectification order that concerns the complaint (its own worker
    # records it a moment after it starts).
    order_id = await order_concerning(api, complaint_id)
    # The complaint shows the order it started at once, not only with its next step's write.
    for _ in range(40):
        shown = (await api.http.get(f"/cases/{complaint_id}", headers=auth(GAJ))).json()["links"]
        if any(k["case_id"] == order_id for k in shown):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the complaint does not show {order_id}: {shown}")
    # It waits at its issue step for the leading group office (Luzhou 42), against mzj.
    order = (await api.http.get(f"/cases/{order_id}", headers=auth(LEADING_GROUP))).json()
    assert order["parties"]["issuer"]["code"] == "lgo" and order["parties"]["respondent"]["code"] == "mzj"
    assert only_open(order)["step"] == "rectification_issue"
    assert any(k["case_id"] == complaint_id and k["relation"] == "started_by" for k in order["links"])
    assert order["attributes"]["concerns"] == [complaint_id]
    respondent = await api.http.get(f"/cases/{order_id}", headers=auth("demo-mzj-consumer"))
    assert respondent.status_code == 200

    answered = await decide(
        api, GOVERNMENT_OFFICE, complaint_id, "complaint_feedback", "inform", reason="情况属实,已责令整改"
    )
    assert answered["status"] == "substantiated"
    # The complainant sees the feedback, and the order through the complaint's links.
    seen = (await api.http.get(f"/cases/{complaint_id}", headers=auth(GAJ))).json()
    assert seen["timeline"][-1]["decision"]["reason"] == "情况属实,已责令整改"
    link = next(k for k in seen["links"] if k["case_type"] == "rectification_order")
    assert (link["case_id"], link["relation"]) == (order_id, "started")
    via_link = await api.http.get(f"/cases/{link['case_id']}", headers=auth(LEADING_GROUP))
    assert via_link.status_code == 200 and via_link.json()["id"] == order_id
    notices = await api.http.get("/notifications", headers=auth(GAJ), params={"limit": 100})
    assert any(n["case_id"] == complaint_id for n in notices.json()["items"])


async def test_who_may_complain_and_where(api):
    # Under a profile without complaints: 422, naming it.
    hubei = await complain(api, expect=422, profile="hubei")
    assert hubei["code"] == "profile_without_case_type"
    assert "hubei" in hubei["detail_zh"] and "hubei" in hubei["detail_en"]
    # The leading group office and the platform do not file complaints (Luzhou 44: departments do).
    for token in (LEADING_GROUP, PLATFORM, AUDITOR):
        assert (await complain(api, token, expect=403))["code"] == "role_not_allowed"
    assert (await complain(api, SCJGJ, expect=422))["code"] == "own_department"
    assert (await complain(api, expect=422, respondent_department="nosuch"))["code"] == "unknown_department"
    assert (await complain(api, expect=422, addressed_to="mayor"))["code"] == "validation_failed"
    assert (await complain(api, expect=422, conduct=""))["code"] == "validation_failed"
    itself = await complain(api, expect=422, respondent_department="lgo")
    assert itself["code"] == "investigator_is_respondent"
    # About the leading group office itself: to the government office.
    other = await complain(api, respondent_department="lgo", addressed_to="government_office")
    assert only_open(other)["assignee"]["code"] == "szfb"
