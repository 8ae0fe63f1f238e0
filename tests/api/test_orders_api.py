"""Rectification orders over HTTP (整改通知, REGULATIONS.md §7): ``POST /rectification-orders``, then
the generic ``/cases`` path — issued by hand, reported, returned, accepted, dismissed; who may issue,
decide and report; what an auditor and a non-party see; the refusals of a bad order.

Each test runs on SQLite and on PostgreSQL (the ``system`` fixture), against the real Temporal dev
server with a real worker writing the projection the API reads.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from api_helpers import AUDITOR, CONSUMER, GAJ, LEADING_GROUP, PLATFORM, SCJGJ, auth
from sqlmodel import Session

from govshare.cases import service as case_service
from govshare.core.directory import read_directory
from workflows import registry
from workflows.case import Actor

COORDINATOR = "demo-jxw-coordinator"


def order_body(**changes: Any) -> dict[str, Any]:
    return {
        "respondent_department": "gaj",
        "grounds": ["31(2)"],
        "period_working_days": 10,
        "description": "人口基本信息未按目录规定时限向共享平台提供,请按期整改并报送整改报告",
        "profile": "hubei",
        **changes,
    }


async def issue(api, token: str = LEADING_GROUP, expect: int = 201, **changes: Any) -> dict[str, Any]:
    response = await api.http.post("/rectification-orders", json=order_body(**changes), headers=auth(token))
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


def only_open(case: dict[str, Any]) -> dict[str, Any]:
    assert len(case["open_tasks"]) == 1, case["open_tasks"]
    return case["open_tasks"][0]


async def test_issued_by_hand_reported_returned_and_accepted(api):
    """Hubei 26/31: the leading group office orders gaj to rectify in 10 working days; gaj reports, the
    office returns it with reasons (same deadline), gaj reports again, the office accepts."""
    response = await api.http.post(
        "/rectification-orders",
        json=order_body(grounds=["31(2)", "31(3)"]),
        headers=auth(LEADING_GROUP),
    )
    assert response.status_code == 201, response.text
    order = response.json()
    order_id = order["id"]
    assert order_id.startswith("RO-") and response.headers["location"] == f"/cases/{order_id}"
    assert order["case_type"] == "rectification_order" and order["status"] == "in_progress"
    assert order["parties"]["issuer"]["code"] == "lgo" and order["parties"]["respondent"]["code"] == "gaj"
    assert [g["id"] for g in order["attributes"]["grounds"]] == ["31(2)", "31(3)"]
    assert order["attributes"]["grounds"][0]["article"] == "31(2)"
    assert order["attributes"]["description"].startswith("人口基本信息")
    # Issued at once: the respondent's rectification task, due in the period the issuer set, cited
    # to the article that empowers the issuer and labelled as set by it (never as statute).
    issued = order["timeline"][0]
    assert issued["step"] == "rectification_issue" and issued["decision"]["action"] == "issue"
    assert issued["decision"]["actor"]["department"] == "lgo"
    task = only_open(order)
    assert task["step"] == "rectification" and task["assignee"]["code"] == "gaj"
    assert task["working_days"] == 10 and task["due_at"] and task["due_date"]
    assert task["limit_basis"] == "decision" and task["limit_basis_zh"] == "由下达方设定"
    assert task["article"] == "31" and "第31条" in task["citation_zh"]
    assert task["explanation_zh"][0].startswith("期限由下达方设定") and "非法定" in task["explanation_zh"][0]
    assert task["clock"][0]["basis"] == "decision" and task["clock"][0]["approved_by"]["department"] == "lgo"
    assert order == (await api.http.get(f"/cases/{order_id}", headers=auth(LEADING_GROUP))).json()
    due_at = task["due_at"]

    # Only the ordered department reports: the issuer and the platform are refused, a non-party does
    # not see the order at all.
    body = {"reason": "已完成数据补录并恢复按时提供"}
    await decide(api, LEADING_GROUP, order_id, "rectification", "report", expect=403, **body)
    await decide(api, PLATFORM, order_id, "rectification", "report", expect=403, **body)
    await decide(api, SCJGJ, order_id, "rectification", "report", expect=404, **body)
    await decide(api, GAJ, order_id, "rectification", "report", expect=422)  # a report needs its text
    reported = await decide(api, GAJ, order_id, "rectification", "report", **body)
    review = only_open(reported)
    assert review["step"] == "rectification_review" and review["assignee"]["code"] == "lgo"

    # Only the issuer decides on the report.
    await decide(api, GAJ, order_id, "rectification_review", "accept", expect=403)
    await decide(api, PLATFORM, order_id, "rectification_review", "accept", expect=403)
    await decide(api, LEADING_GROUP, order_id, "rectification_review", "return", expect=422)
    returned = await decide(
        api, LEADING_GROUP, order_id, "rectification_review", "return", reason="整改报告未附数据核验结果"
    )
    again = only_open(returned)
    assert again["step"] == "rectification" and again["assignee"]["code"] == "gaj"
    assert again["due_at"] == due_at and again["limit_basis"] == "decision"  # the same deadline
    assert returned["timeline"][-2]["decision"]["reason"] == "整改报告未附数据核验结果"

    await decide(api, GAJ, order_id, "rectification", "report", reason="已补充数据核验结果")
    done = await decide(api, LEADING_GROUP, order_id, "rectification_review", "accept")
    assert done["status"] == "rectified" and done["status_zh"] == "整改完成" and done["open_tasks"] == []
    assert done["closed_at"] is not None
    # Closed: nothing more is taken.
    await decide(api, LEADING_GROUP, order_id, "rectification_review", "accept", expect=409)
    events = await api.http.get(f"/cases/{order_id}/events", headers=auth(GAJ))
    kinds = [e["kind"] for e in events.json()["items"]]
    assert kinds[0] == "case_submitted" and kinds[-1] == "case_closed" and kinds.count("decision") == 5


async def test_auditors_read_and_change_nothing_and_a_non_party_sees_nothing(api):
    order = await issue(api)
    order_id = order["id"]
    read = await api.http.get(f"/cases/{order_id}", headers=auth(AUDITOR))
    assert read.status_code == 200 and read.json()["id"] == order_id
    assert (await api.http.get(f"/cases/{order_id}/events", headers=auth(AUDITOR))).status_code == 200
    refused = await api.http.post(
        f"/cases/{order_id}/decisions",
        json={"step": "rectification", "action": "report", "reason": "代为提交"},
        headers=auth(AUDITOR),
    )
    assert refused.status_code == 403 and refused.json()["code"] == "role_not_allowed"
    assert (await issue(api, AUDITOR, expect=403))["code"] == "role_not_allowed"
    # Not a party (the consumer rsj, the coordinator jxw): the order does not exist for it.
    for token in (CONSUMER, COORDINATOR):
        missing = await api.http.get(f"/cases/{order_id}", headers=auth(token))
        assert missing.status_code == 404 and missing.json()["code"] == "case_not_found"
    listed = await api.http.get("/cases", params={"case_type": "rectification_order"}, headers=auth(CONSUMER))
    assert order_id not in {c["id"] for c in listed.json()["items"]}
    # The respondent lists it, with the order's own summary fields.
    mine = await api.http.get(
        "/cases", params={"case_type": "rectification_order", "limit": 100}, headers=auth(GAJ)
    )
    row = next(c for c in mine.json()["items"] if c["id"] == order_id)
    assert row["respondent_department"] == "gaj" and row["issuer_department"] == "lgo"
    assert row["open_step"] == "rectification"


async def test_who_may_issue(api):
    """Hubei 31: the same-level functional department (the coordinator) may order too; Luzhou 42 only
    the leading group office. The department must be the one the role directory names."""
    by_coordinator = await issue(api, COORDINATOR, respondent_department="mzj")
    assert by_coordinator["parties"]["issuer"]["code"] == "jxw"
    assert only_open(by_coordinator)["step"] == "rectification"
    refused = await issue(api, COORDINATOR, expect=403, profile="luzhou", grounds=["42(1)"])
    assert refused["code"] == "role_not_allowed" and "luzhou" in refused["detail_en"]
    # A consumer or a provider does not order rectification.
    assert (await issue(api, CONSUMER, expect=403))["code"] == "role_not_allowed"
    assert (await issue(api, GAJ, expect=403, respondent_department="scjgj"))["code"] == "role_not_allowed"
    # A department holding a leading-group credential that the directory does not name.
    _code, tokens = api.new_department("leading_group")
    other = await issue(api, tokens["leading_group"], expect=403)
    assert other["code"] == "not_the_issuer" and "only the issuer may issue" in other["detail_en"]
    assert "只有下达方" in other["detail_zh"]
    # Luzhou: the leading group office, on Luzhou's grounds.
    luzhou = await issue(api, profile="luzhou", grounds=["42(1)"], period_working_days=5)
    assert luzhou["profile"]["id"] == "luzhou" and only_open(luzhou)["working_days"] == 5


async def test_a_bad_order_is_refused_with_its_reasons(api):
    unknown = await issue(api, expect=422, grounds=["31(2)", "26"])
    assert unknown["code"] == "unknown_ground"
    assert unknown["errors"] == [{"loc": ["body", "grounds", 1], "msg": "unknown ground 26"}]
    for ground, article in (("31(1)", "31(1)"), ("31(5)", "31(5)")):  # the allowed ids, with articles
        assert ground in unknown["detail_zh"] and f"第{article}条" in unknown["detail_zh"]
    assert (await issue(api, expect=422, grounds=[]))["code"] == "validation_failed"
    nobody = await issue(api, expect=422, respondent_department="nosuchdept")
    assert nobody["code"] == "unknown_department" and nobody["errors"][0]["loc"] == [
        "body",
        "respondent_department",
    ]
    assert (await issue(api, expect=422, respondent_department="lgo"))["code"] == "own_department"
    body = order_body()
    del body["period_working_days"]
    missing = await api.http.post("/rectification-orders", json=body, headers=auth(LEADING_GROUP))
    assert missing.status_code == 422 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )
    problem = missing.json()
    assert problem["code"] == "validation_failed" and problem["detail_zh"] and problem["detail_en"]
    assert any(e["loc"] == ["body", "period_working_days"] for e in problem["errors"])
    for period in (0, 251):
        assert (await issue(api, expect=422, period_working_days=period))["code"] == "validation_failed"
    assert (await issue(api, expect=422, description="  "))["code"] == "validation_failed"
    without = await issue(api, expect=422, profile="luoyang")
    assert without["code"] == "profile_without_case_type" and "luoyang" in without["detail_zh"]
    assert (await issue(api, expect=422, profile="nowhere"))["code"] == "unknown_profile"
    concerns = await issue(api, expect=422, concerns=["SA-20260101-NOSUCH"])
    assert concerns["code"] == "unknown_case" and concerns["errors"][0]["loc"] == ["body", "concerns", 0]
    # A case it concerns that exists: named on the order.
    application = await api.apply()
    named = await issue(api, concerns=[application["id"]], respondent_department="scjgj")
    assert named["attributes"]["concerns"] == [application["id"]]


async def test_a_retried_order_is_one_order_issued_once(api):
    key = {"Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    first = await api.http.post(
        "/rectification-orders", json=order_body(), headers=auth(LEADING_GROUP, **key)
    )
    second = await api.http.post(
        "/rectification-orders", json=order_body(), headers=auth(LEADING_GROUP, **key)
    )
    assert first.status_code == 201 and second.status_code == 200, second.text
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert [t["step"] for t in second.json()["timeline"]] == ["rectification_issue", "rectification"]
    other = await api.http.post(
        "/rectification-orders",
        json=order_body(period_working_days=20),
        headers=auth(LEADING_GROUP, **key),
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


async def test_an_order_at_its_issue_step_is_issued_or_dismissed_only_by_its_issuer(api):
    """An order started without the create's issue (as the ladder and complaints start them) waits
    at its issue step for the issuer: another department is refused, a dismissal needs its reason."""
    with Session(api.engine) as session:
        directory = read_directory(session)
    kind = registry.RECTIFICATION_ORDER
    ids = []
    for _ in range(2):
        case_id = f"RO-TEST-{uuid.uuid4().hex[:8].upper()}"
        inp = case_service.new_case_input(
            kind,
            case_id=case_id,
            profile_id="hubei",
            submitted_at=datetime.now(UTC),
            submitted_by=Actor(department="lgo", role="leading_group", user="test"),
            platform_department="bdb",
            fields={
                "issuer": "lgo",
                "respondent": "scjgj",
                "grounds": ["31(1)"],
                "concerns": [],
                "description": "目录未按要求更新",
            },
            directory=directory,
        )
        answer = await case_service.start_case(api.env.client, api.settings.task_queue, kind, inp)
        assert [t.step for t in answer.open_tasks] == ["rectification_issue"]
        ids.append(case_id)
    dismissed_id, issued_id = ids
    case = (await api.http.get(f"/cases/{dismissed_id}", headers=auth(LEADING_GROUP))).json()
    task = only_open(case)
    assert task["due_at"] is None and task["limit_basis"] == "none"  # the seeds set no time to issue
    assert {a["id"] for a in task["actions"]} == {"issue", "dismiss"}
    await decide(api, SCJGJ, dismissed_id, "rectification_issue", "dismiss", expect=403, reason="x")
    await decide(
        api, PLATFORM, dismissed_id, "rectification_issue", "issue", expect=403, limit_working_days=5
    )
    await decide(api, LEADING_GROUP, dismissed_id, "rectification_issue", "dismiss", expect=422)
    dismissed = await decide(
        api, LEADING_GROUP, dismissed_id, "rectification_issue", "dismiss", reason="经核查,目录已于期限内更新"
    )
    assert dismissed["status"] == "dismissed" and dismissed["result_reason"] == "经核查,目录已于期限内更新"

    # Issuing sets the period; an issue without one is refused.
    await decide(api, LEADING_GROUP, issued_id, "rectification_issue", "issue", expect=422)
    issued = await decide(
        api, LEADING_GROUP, issued_id, "rectification_issue", "issue", limit_working_days=15
    )
    task = only_open(issued)
    assert (task["step"], task["working_days"], task["limit_basis"]) == ("rectification", 15, "decision")


async def test_an_order_whose_issue_is_not_taken_stays_at_its_issue_step(api, monkeypatch):
    """The order is started, but its issue does not come back in time (no worker for it, say): the
    create answers the order as it stands, at its issue step, and the issuer issues it later."""

    async def pending(client, case_id, request, **kwargs):
        raise case_service.CasePending(case_id, "decide", 0.1)

    with monkeypatch.context() as patched:
        patched.setattr(case_service, "decide", pending)
        order = await issue(api, respondent_department="scjgj")
    assert order["status"] == "in_progress"
    task = only_open(order)
    assert task["step"] == "rectification_issue" and task["assignee"]["code"] == "lgo"
    issued = await decide(
        api, LEADING_GROUP, order["id"], "rectification_issue", "issue", limit_working_days=10
    )
    assert only_open(issued)["step"] == "rectification"
