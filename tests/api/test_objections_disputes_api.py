"""Data objections and disputes over HTTP (issue 20): each created at its own resource and then
decided through ``/cases`` — a late report (Luzhou 26), a note while the data is checked (Hubei
23), an extension the principal head approves (Luoyang 19), a citizen's report that nobody else
sees and whose ID number appears in no other party's view and no log line, and a dispute over a
refused application settled into a new, linked application.

Each test runs on SQLite and on PostgreSQL (the ``system`` fixture), against the real Temporal dev
server with a real worker writing the projection the API reads.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import structlog
import structlog.testing
from api_helpers import CONSUMER, CONSUMER2, GAJ, GAJ_CONSUMER, PLATFORM, auth

from calendars import SHANGHAI

CITIZEN = "demo-citizen"
COMPANY = "demo-company"
GAJ_HEAD = "demo-gaj-head"
SCJGJ_HEAD = "demo-scjgj-head"
CITIZEN_ID_NUMBER = "410302199001011234"
ENTRY = "gaj-household-members"


async def post(api, path: str, token: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    response = await api.http.post(path, json=body, headers=auth(token))
    assert response.status_code == expect, response.text
    return response.json()


def today() -> datetime:
    return datetime.now(SHANGHAI)


def report(**changes: Any) -> dict[str, Any]:
    return {
        "resource_id": ENTRY,
        "records": ["户号 4103020001"],
        "fields": ["members"],
        "problem": "家庭成员信息缺少新生儿",
        "evidence": "出生医学证明",
        **changes,
    }


async def until_case(api, token: str, case_id: str, predicate, tries: int = 200) -> dict[str, Any]:
    seen: Any = None
    for _ in range(tries):
        response = await api.http.get(f"/cases/{case_id}", headers=auth(token))
        seen = response.json()
        if response.status_code == 200 and predicate(seen):
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id}: condition not reached; last seen {seen}")


async def test_a_late_report_is_taken_marked_late_and_answered(api):
    found = (today() - timedelta(days=20)).date().isoformat()
    case = await post(api, "/data-objections", CONSUMER, report(found_on=found, profile="luzhou"), 201)
    assert case["id"].startswith("DO-") and case["case_type"] == "data_objection"
    assert case["attributes"]["filed_late"] is True
    assert case["attributes"]["report"]["found_on"] == found
    (reply,) = case["open_tasks"]
    assert (reply["step"], reply["assignee"]["code"], reply["article"]) == ("objection_reply", "gaj", "26")
    # The reply says what was corrected; only the provider replies.
    decisions = f"/cases/{case['id']}/decisions"
    await post(
        api, decisions, CONSUMER, {"task_id": reply["task_id"], "action": "correct", "reason": "x"}, 403
    )
    await post(api, decisions, GAJ, {"task_id": reply["task_id"], "action": "correct"}, 422)
    done = await post(
        api, decisions, GAJ, {"task_id": reply["task_id"], "action": "correct", "reason": "已补录新生儿"}
    )
    assert (done["status"], done["result"]) == ("corrected", "corrected")
    # Refused before anything starts: a field the entry does not have, the provider's own data, a
    # date in the future.
    await post(api, "/data-objections", CONSUMER, report(fields=["salary"], profile="luzhou"), 422)
    await post(api, "/data-objections", GAJ_CONSUMER, report(profile="luzhou"), 422)
    future = (today() + timedelta(days=2)).date().isoformat()
    await post(api, "/data-objections", CONSUMER, report(found_on=future, profile="luzhou"), 422)


async def test_a_note_records_service_on_proof_while_the_data_is_checked(api):
    case = await post(api, "/data-objections", CONSUMER, report(profile="hubei"), 201)
    notes = f"/cases/{case['id']}/notes"
    noted = await post(
        api, notes, GAJ, {"kind": "served_with_proof", "text": "申请人持出生医学证明,已照常办理"}
    )
    (entry,) = noted["attributes"]["notes"]
    assert (entry["kind"], entry["article"], entry["by"]["department"]) == ("served_with_proof", "23", "gaj")
    await post(api, notes, GAJ, {"kind": "gossip", "text": "x"}, 422)
    await post(api, notes, CONSUMER2, {"kind": "served_with_proof", "text": "x"}, 404)  # not a party


async def test_an_extension_is_asked_by_the_provider_and_approved_by_its_head(api):
    case = await post(api, "/data-objections", CONSUMER, report(profile="luoyang"), 201)
    (task,) = case["open_tasks"]
    clock = f"/cases/{case['id']}/tasks/{task['seq']}/clock"
    asked = await post(api, clock, GAJ, {"kind": "extension", "working_days": 5, "reason": "需调取历史档案"})
    approval = next(t for t in asked["open_tasks"] if t["assignee"]["role"] == "principal_head")
    assert approval["assignee"]["code"] == "gaj"
    decisions = f"/cases/{case['id']}/decisions"
    # Not the head: the provider itself (403), another department's head (not a party: 404).
    await post(api, decisions, GAJ, {"task_id": approval["task_id"], "action": "approve"}, 403)
    await post(api, decisions, SCJGJ_HEAD, {"task_id": approval["task_id"], "action": "approve"}, 404)
    # The head sees it among its tasks.
    inbox = await api.http.get("/tasks", headers=auth(GAJ_HEAD))
    assert approval["task_id"] in [t["task_id"] for t in inbox.json()["items"]]
    approved = await post(api, decisions, GAJ_HEAD, {"task_id": approval["task_id"], "action": "approve"})
    extended = next(t for t in approved["open_tasks"] if t["task_id"] == task["task_id"])
    assert extended["due_at"] > task["due_at"]
    # Once only (art. 19).
    await post(api, clock, GAJ, {"kind": "extension", "working_days": 2, "reason": "再延"}, 409)


async def test_a_citizen_reports_sees_only_its_own_case_and_its_number_stays_hidden(api):
    with structlog.testing.capture_logs() as lines:
        await _a_citizen_reports(api)
    logged = repr(lines)
    assert "data_objection_opened" in logged and "case recorded" in logged  # the lines were captured
    assert CITIZEN_ID_NUMBER not in logged


async def _a_citizen_reports(api) -> None:
    case = await post(api, "/data-objections", CITIZEN, report(profile="luoyang"), 201)
    case_id = case["id"]
    # Citizens report under Luoyang 19 only.
    await post(api, "/data-objections", CITIZEN, report(profile="luzhou"), 403)
    mine = await api.http.get(f"/cases/{case_id}", headers=auth(CITIZEN))
    assert mine.status_code == 200
    assert (await api.http.get(f"/cases/{case_id}", headers=auth(COMPANY))).status_code == 404
    listed = await api.http.get("/cases", headers=auth(COMPANY))
    assert case_id not in [c["id"] for c in listed.json()["items"]]
    (task,) = case["open_tasks"]
    await post(
        api,
        f"/cases/{case_id}/decisions",
        GAJ,
        {"task_id": task["task_id"], "action": "confirm", "reason": "经核对户籍档案,家庭成员信息无误"},
    )
    closed = await until_case(api, CITIZEN, case_id, lambda c: c["status"] == "confirmed")
    names = [p.get("person_name") for p in closed["party_list"] if p["role"] == "citizen"]
    assert names == ["李明"]
    inbox = (await api.http.get("/notifications", headers=auth(CITIZEN))).json()["items"]
    assert any(n["case_id"] == case_id for n in inbox)
    # The provider's and the platform's views, and every log line, without the ID number.
    for token in (GAJ, PLATFORM):
        seen = await api.http.get(f"/cases/{case_id}", headers=auth(token))
        events = await api.http.get(f"/cases/{case_id}/events", headers=auth(token))
        assert seen.status_code == 200 and CITIZEN_ID_NUMBER not in seen.text + events.text


async def test_a_refused_application_disputed_and_settled_starts_a_linked_application(api):
    applied = await post(
        api,
        "/applications",
        CONSUMER,
        {"resource_id": ENTRY, "purpose": "低保家庭成员核对", "reason": "民政救助审核", "profile": "luzhou"},
        201,
    )
    (task,) = applied["open_tasks"]
    await post(
        api,
        f"/cases/{applied['id']}/decisions",
        GAJ,
        {"task_id": task["task_id"], "action": "refuse", "reason": "无法律依据"},
    )
    # Only a refused or rejected application of one's own is disputed.
    body = {
        "application_id": applied["id"],
        "matter": "履职确需核对家庭成员",
        "purpose": "低保审核",
        "profile": "luzhou",
    }
    await post(api, "/disputes", CONSUMER2, body, 422)
    dispute = await post(api, "/disputes", CONSUMER, body, 201)
    dispute_id = dispute["id"]
    assert dispute_id.startswith("DS-")
    assert sorted(t["assignee"]["code"] for t in dispute["open_tasks"]) == ["gaj", "rsj"]
    notes = f"/cases/{dispute_id}/notes"
    terms = {
        "scope": "仅用于低保审核",
        "fields": ["citizen_id", "members"],
        "sharing_mode": "data_comparison",
    }
    proposed = await post(api, notes, GAJ, {"kind": "proposal", "text": "按比对方式提供", "payload": terms})
    seq = proposed["attributes"]["notes"][-1]["seq"]
    decisions = f"/cases/{dispute_id}/decisions"
    await post(
        api,
        decisions,
        CONSUMER,
        {"step": "negotiation", "action": "agree_access", "payload": {"proposal": seq}},
    )
    settled = await post(
        api, decisions, GAJ, {"step": "negotiation", "action": "agree_access", "payload": {"proposal": seq}}
    )
    assert settled["result"] == "settled_access"
    linked = await until_case(
        api, CONSUMER, dispute_id, lambda c: any(k["relation"] == "started" for k in c.get("links", []))
    )
    started = next(k for k in linked["links"] if k["relation"] == "started")
    assert started["case_type"] == "sharing_application"
    assert any(k["relation"] == "linked" and k["case_id"] == applied["id"] for k in linked["links"])
    # Both ways: the new application names the dispute; the disputed one shows it too.
    new = await until_case(api, CONSUMER, started["case_id"], lambda c: bool(c.get("open_tasks")))
    assert any(k["case_id"] == dispute_id for k in new["links"])
    assert new["requested_fields"] == ["citizen_id", "members"] and new["requested_mode"] == "data_comparison"
    assert new["attributes"]["settlement"] == dispute_id
    old = await until_case(
        api, CONSUMER, applied["id"], lambda c: any(k["case_id"] == dispute_id for k in c.get("links", []))
    )
    assert old["status"] == "refused"


async def test_a_data_objection_runs_end_to_end_under_every_profile_that_has_it(api):
    """Created at its own resource, decided through /cases, under each profile's own steps."""
    first_step = {
        "hubei": "objection_verification",
        "jiangsu": "objection_verification",
        "luoyang": "data_verification",
        "luzhou": "objection_reply",
    }
    for profile, step in first_step.items():
        case = await post(api, "/data-objections", CONSUMER, report(profile=profile), 201)
        (task,) = case["open_tasks"]
        assert (task["step"], task["assignee"]["code"]) == (step, "gaj"), profile
        done = await post(
            api,
            f"/cases/{case['id']}/decisions",
            GAJ,
            {"task_id": task["task_id"], "action": "confirm", "reason": "经核对档案,数据无误"},
        )
        assert done["status"] == "confirmed", profile
        told = (await api.http.get("/notifications", headers=auth(CONSUMER))).json()["items"]
        assert any(n["case_id"] == case["id"] for n in told), profile


async def test_a_dispute_runs_end_to_end_under_every_profile_that_has_it(api):
    """Hubei: the three parties agree that no access is given; Jiangsu and Luzhou: negotiation fails
    and the coordinator decides — only the coordinator."""
    for profile in ("hubei", "jiangsu", "luzhou"):
        dispute = await post(
            api,
            "/disputes",
            CONSUMER,
            {
                "resource_id": "gaj-criminal-investigation",
                "matter": "履职确需",
                "duty": "刑罚执行衔接",
                "profile": profile,
            },
            201,
        )
        decisions = f"/cases/{dispute['id']}/decisions"
        negotiators = {t["assignee"]["code"] for t in dispute["open_tasks"]}
        if profile == "hubei":
            assert negotiators == {"rsj", "gaj", "bdb"}
            for token in (CONSUMER, GAJ, PLATFORM):
                last = await post(
                    api,
                    decisions,
                    token,
                    {"step": "negotiation", "action": "agree_no_access", "reason": "涉密"},
                )
            assert last["result"] == "settled_no_access"
            continue
        assert negotiators == {"rsj", "gaj"}, profile
        failed = await post(
            api, decisions, GAJ, {"step": "negotiation", "action": "fail", "reason": "涉及侦查秘密"}
        )
        (coordination,) = failed["open_tasks"]
        assert (coordination["step"], coordination["assignee"]["code"]) == ("coordination", "jxw"), profile
        decide = {
            "task_id": coordination["task_id"],
            "action": "coordinate_no_access",
            "reason": "依法不予共享",
        }
        await post(api, decisions, GAJ, decide, 403)
        closed = await post(api, decisions, "demo-jxw-coordinator", decide)
        assert closed["result"] == "coordinated_no_access", profile
    # Only a not-shared entry is disputed without an application.
    body = {"resource_id": ENTRY, "matter": "x", "duty": "y", "profile": "luzhou"}
    await post(api, "/disputes", CONSUMER, body, 422)
