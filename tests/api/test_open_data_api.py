"""Open data over HTTP (Luoyang 32, 33): a citizen applies for conditionally open data
(``POST /open-data-applications``) and the provider grants it with open-data terms through
``/cases``; open and not-open entries are not applied for; a citizen asks to correct the open catalog
(``POST /open-catalog-corrections``), the provider's head extends the answer, the provider agrees and
the platform changes the entry. The applicant is seen by its identity reference and name: its ID
number is in no response another party gets and in no log line.

Each test runs on SQLite and on PostgreSQL, against the real Temporal dev server and worker.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from api_helpers import CONSUMER, GAJ, PLATFORM, auth
from sqlmodel import Session
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from govshare.core import catalog

CITIZEN = "demo-citizen"
COMPANY = "demo-company"
GAJ_HEAD = "demo-gaj-head"
CITIZEN_ID = "P-DEMO-CITIZEN"
CITIZEN_NUMBER = "410302199001011234"
FIELDS = ["district", "deal_month", "average_price", "owner_name"]


def entry(api, open_type: str = "conditional_open", **kw: Any) -> str:
    """An entry of 公安局 published in the register for this test (the demo catalog has none
    conditionally open)."""
    resource_id = f"gaj-od-{uuid.uuid4().hex[:6]}"
    with Session(api.engine) as session:
        catalog.publish(
            session,
            [
                {
                    "id": resource_id,
                    "name_zh": "二手房交易统计信息",
                    "name_en": "Second-hand housing transactions",
                    "provider_department": "gaj",
                    "share_type": "unconditional",
                    "fields": list(FIELDS),
                    "sharing_modes": ["online_query"],
                    "open_type": open_type,
                    "legal_basis": "《中华人民共和国个人信息保护法》第十三条" if open_type != "open" else "",
                    **kw,
                }
            ],
            department="gaj",
            now=datetime.now(UTC),
        )
        session.commit()
    return resource_id


async def post(api, path: str, token: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
    response = await api.http.post(path, json=body, headers=auth(token))
    assert response.status_code == expect, response.text
    return response.json()


async def apply(api, token: str = CITIZEN, expect: int = 201, **body: Any) -> dict[str, Any]:
    payload = {
        "fields": ["district", "average_price"],
        "purpose": "住房市场研究,仅发表汇总结果",
        "delivery": "download",
        "profile": "luoyang",
        **body,
    }
    return await post(api, "/open-data-applications", token, payload, expect)


async def decide(api, token: str, case_id: str, expect: int = 200, **body: Any) -> dict[str, Any]:
    return await post(api, f"/cases/{case_id}/decisions", token, body, expect)


async def test_a_citizen_applies_the_provider_grants_with_terms_and_no_one_sees_the_id_number(api, caplog):
    caplog.set_level(logging.DEBUG)
    rid = entry(api)
    provider_bodies: list[str] = []
    with capture_logs(processors=[merge_contextvars]) as logs:
        case = await apply(api, resource_id=rid)
        case_id = case["id"]
        assert case_id.startswith("OD-")
        (task,) = case["open_tasks"]
        assert (task["step"], task["assignee"]["code"], task["article"]) == (
            "conditional_open_application",
            "gaj",
            "33",
        )
        assert case["submitted_by"]["person_name"] == "李明"
        # Terms that do not fit: 422, nothing taken.
        bad = await api.http.post(
            f"/cases/{case_id}/decisions",
            json={
                "step": "conditional_open_application",
                "action": "grant",
                "payload": {"fields": ["owner_name"], "use_conditions": "仅限研究"},
            },
            headers=auth(GAJ),
        )
        assert bad.status_code == 422, bad.text
        assert "owner_name" in bad.json()["detail"]
        provider_bodies.append(bad.text)
        granted = await decide(
            api,
            GAJ,
            case_id,
            step="conditional_open_application",
            action="grant",
            payload={
                "scope": "住房市场研究",
                "fields": ["district"],
                "use_conditions": "仅发表汇总结果,不得向第三方提供",
                "delivery": "api",
                "valid_until": "2099-12-31",
            },
        )
        assert (granted["status"], granted["result"], granted["status_zh"]) == (
            "granted",
            "granted",
            "同意开放",
        )
        provider_bodies.append(str(granted))
        # What the provider reads of the case, its inbox, the trail and its notices.
        for path in (f"/cases/{case_id}", f"/cases/{case_id}/events", "/tasks", "/notifications"):
            response = await api.http.get(path, headers=auth(GAJ), params={"limit": 100})
            assert response.status_code == 200, (path, response.text)
            provider_bodies.append(response.text)
        shown = (await api.http.get(f"/cases/{case_id}", headers=auth(GAJ))).json()
        assert {(p["role"], p["person"], p["person_name"]) for p in shown["party_list"]} >= {
            ("citizen", CITIZEN_ID, "李明")
        }

        # The citizen reads its case: the terms, as the case type checked them.
        mine = await api.http.get(f"/cases/{case_id}", headers=auth(CITIZEN))
        assert mine.status_code == 200, mine.text
        terms = mine.json()["attributes"]["terms"]
        assert (terms["fields"], terms["delivery"], terms["scope"]) == (["district"], "api", "住房市场研究")
        assert terms["valid_until"].startswith("2099-12-31T00:00:00+08:00")
        assert mine.json()["attributes"]["request"]["purpose"] == "住房市场研究,仅发表汇总结果"
        assert CITIZEN_NUMBER not in mine.text
        # … and its notices: the result, addressed to its identity.
        told = await api.http.get("/notifications", headers=auth(CITIZEN), params={"case_id": case_id})
        items = told.json()["items"]
        assert items and all(n["recipient_person"] == CITIZEN_ID for n in items)
        assert any("同意开放" in n["text_zh"] for n in items), items
        # Another citizen (a company) does not even learn the case exists.
        other = await api.http.get(f"/cases/{case_id}", headers=auth(COMPANY))
        assert other.status_code == 404 and other.json()["code"] == "case_not_found"
        assert (
            await api.http.get("/notifications", headers=auth(COMPANY), params={"case_id": case_id})
        ).json()["items"] == []

    for body in provider_bodies:
        assert CITIZEN_NUMBER not in body
    # The logs saw the citizen (by reference) and the case, never its number.
    lines = repr(logs)
    assert case_id in lines and CITIZEN_ID in lines
    assert any(e.get("event") == "open_data_application_opened" for e in logs)
    assert CITIZEN_NUMBER not in lines
    assert CITIZEN_NUMBER not in caplog.text
    assert all(CITIZEN_NUMBER not in str(r.args) for r in caplog.records)


async def test_what_may_not_be_applied_for(api):
    rid = entry(api)
    # 33: open data is taken directly after authentication; not-open data is not applied for.
    opened = await apply(api, resource_id="scjgj-enterprise-annual-report", fields=[], expect=422)
    assert opened["code"] == "open_data_taken_directly" and "第33条" in opened["detail_zh"]
    assert (await apply(api, resource_id=entry(api, "not_open"), expect=422))["code"] == "not_open"
    assert (await apply(api, resource_id="gaj-household-members", expect=422))[
        "code"
    ] == "not_in_open_catalog"
    assert (await apply(api, resource_id="no-such-entry", expect=422))["code"] == "unknown_resource"
    assert (await apply(api, resource_id=rid, fields=["citizen_id"], expect=422))["code"] == "unknown_field"
    await apply(api, resource_id=rid, fields=["district", "district"], expect=422)
    await apply(api, resource_id=rid, delivery="fax", expect=422)
    # Hubei has no open data; a department applies by sharing, not through the open system.
    assert (await apply(api, resource_id=rid, profile="hubei", expect=422))[
        "code"
    ] == "profile_without_case_type"
    assert (await apply(api, token=CONSUMER, resource_id=rid, expect=403))["code"] == "role_not_allowed"
    # A company (a legal person) may apply.
    case = await apply(api, token=COMPANY, resource_id=rid, fields=[])
    # The provider refuses: the reason and the basis, both required (33).
    step = "conditional_open_application"
    await decide(api, GAJ, case["id"], 422, step=step, action="refuse", reason="涉及个人信息")
    await decide(
        api, GAJ, case["id"], 422, step=step, action="refuse", payload={"basis": "《个人信息保护法》"}
    )
    refused = await decide(
        api,
        GAJ,
        case["id"],
        step=step,
        action="refuse",
        reason="涉及个人信息",
        payload={"basis": "《中华人民共和国个人信息保护法》第十三条"},
    )
    assert refused["result"] == "refused"
    assert refused["result_reason"] == "涉及个人信息。依据:《中华人民共和国个人信息保护法》第十三条"


async def test_a_correction_extended_by_the_head_agreed_and_changed_by_the_platform(api):
    rid = entry(api)
    body = {"resource_id": rid, "open_type": "open", "reason": "统计数据不含个人信息", "profile": "luoyang"}
    # Nothing to correct, or nothing named: 422.
    await post(api, "/open-catalog-corrections", CITIZEN, {**body, "open_type": "conditional_open"}, 422)
    await post(
        api, "/open-catalog-corrections", CITIZEN, {k: v for k, v in body.items() if k != "open_type"}, 422
    )
    await post(api, "/open-catalog-corrections", GAJ, body, 403)
    case = await post(api, "/open-catalog-corrections", CITIZEN, body, 201)
    case_id, (task,) = case["id"], case["open_tasks"]
    assert case_id.startswith("OC-") and (task["step"], task["article"]) == ("open_catalog_correction", "32")
    # 32: the provider asks for more time, its principal head approves on its own task.
    seq = task["task_id"].rsplit("/", 1)[1]
    asked = await post(
        api,
        f"/cases/{case_id}/tasks/{seq}/clock",
        GAJ,
        {"kind": "extension", "working_days": 5, "reason": "需核实数据脱敏情况"},
        200,
    )
    approval = next(t for t in asked["open_tasks"] if t["assignee"]["role"] == "principal_head")
    await decide(api, GAJ, case_id, 403, task_id=approval["task_id"], action="approve")
    extended = await decide(api, GAJ_HEAD, case_id, task_id=approval["task_id"], action="approve")
    answering = next(t for t in extended["open_tasks"] if t["task_id"] == task["task_id"])
    assert datetime.fromisoformat(answering["due_at"]) > datetime.fromisoformat(task["due_at"])
    # Agreed; the platform changes the open catalog: a new version, naming the case.
    agreed = await decide(api, GAJ, case_id, step="open_catalog_correction", action="agree")
    assert agreed["open_tasks"][0]["step"] == "open_catalog_change"
    done = await decide(api, PLATFORM, case_id, step="open_catalog_change", action="change")
    assert (done["status"], done["result"]) == ("corrected", "corrected")
    assert done["attributes"]["changed"]["changed"] == {
        "open_type": {"from": "conditional_open", "to": "open"}
    }
    shown = (await api.http.get(f"/resources/{rid}", headers=auth(CITIZEN))).json()
    assert (shown["open_type"], shown["version"]) == ("open", 2)
    versions = (await api.http.get(f"/resources/{rid}/versions", headers=auth(CONSUMER))).json()
    assert any(v.get("case_id") == case_id for v in versions["items"]), versions
    # Now open: taken directly, no longer applied for.
    assert (await apply(api, resource_id=rid, expect=422))["code"] == "open_data_taken_directly"
