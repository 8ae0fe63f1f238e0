"""``GET /cases/{id}/deadlines/audit`` (issue 21): a case's recorded deadlines proved as of their
calendar data, over HTTP.

- an application's deadlines (one per task the worker recorded) all recompute to themselves with the
  notice versions they name, and give the same date under the calendar now in force;
- a data objection whose task was extended (Luoyang 19): its deadline and both clock entries (the
  base limit, superseded, and the extension in force) agree;
- auditors and the oversight roles read it, a party reads its own case, a department not party to
  the case gets 404 (as for the case itself), and so does a case that does not exist.

Each test runs on SQLite and on PostgreSQL (the ``system`` fixture), against the real Temporal dev
server with a real worker writing the projection the API reads.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from api_helpers import AUDITOR, CONSUMER, CONSUMER2, GAJ, LEADING_GROUP, PLATFORM, SCJGJ, auth

from govshare.core.settings import get_settings
from govshare.ops.cli import main

GAJ_HEAD = "demo-gaj-head"


async def audit(api, token: str, case_id: str, expect: int = 200) -> dict[str, Any]:
    response = await api.http.get(f"/cases/{case_id}/deadlines/audit", headers=auth(token))
    assert response.status_code == expect, response.text
    return response.json()


async def post(api, path: str, token: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    response = await api.http.post(path, json=body, headers=auth(token))
    assert response.status_code == expect, response.text
    return response.json()


async def test_an_applications_deadlines_all_agree(api):
    case = await api.apply()
    case_id = case["id"]
    decided = await api.decide(PLATFORM, case_id, "platform_check", "accept")
    (authorization,) = decided["open_tasks"]

    answer = await audit(api, AUDITOR, case_id)
    assert answer["source"] == "projection" and answer["case_ids"] == [case_id]
    assert answer["ok"] is True
    deadlines = [d for d in answer["deadlines"] if d["what"] == "deadline"]
    assert [d["step"] for d in deadlines] == ["platform_check", "provider_authorization"]
    assert all(d["verdict"] == "agrees" and d["ok"] for d in answer["deadlines"])
    assert answer["counts"]["agrees"] == len(answer["deadlines"]) >= 4  # two deadlines, two clock bases
    assert answer["counts"]["now_differs"] == 0
    second = deadlines[1]
    assert second["task_id"] == authorization["task_id"]
    assert second["recorded_due_at"] == authorization["due_at"]
    assert second["proof"]["recomputed_due_at"] == authorization["due_at"]
    assert second["proof"]["now"]["verdict"] == "same" and second["proof"]["notice_changes"] == []
    assert second["summary_zh"].startswith("按记录的日历数据重算一致")
    assert second["summary_en"].startswith("recomputes to itself")

    # auditors and the oversight roles read every case; the parties their own
    for token in (LEADING_GROUP, PLATFORM, CONSUMER, SCJGJ):
        assert (await audit(api, token, case_id))["ok"] is True
    # a department not party to the case: as if there were no such case
    refused = await audit(api, CONSUMER2, case_id, expect=404)
    assert refused["code"] == "case_not_found"
    await audit(api, AUDITOR, "SA-20990101-NOCASE", expect=404)
    response = await api.http.get(f"/cases/{case_id}/deadlines/audit")
    assert response.status_code == 401


async def test_an_extended_task_and_its_clock_agree(api):
    case = await post(
        api,
        "/data-objections",
        CONSUMER,
        {
            "resource_id": "gaj-household-members",
            "records": ["户号 4103020001"],
            "fields": ["members"],
            "problem": "家庭成员信息缺少新生儿",
            "evidence": "出生医学证明",
            "profile": "luoyang",
        },
        201,
    )
    (task,) = case["open_tasks"]
    clock = f"/cases/{case['id']}/tasks/{task['seq']}/clock"
    asked = await post(api, clock, GAJ, {"kind": "extension", "working_days": 5, "reason": "需调取历史档案"})
    approval = next(t for t in asked["open_tasks"] if t["assignee"]["role"] == "principal_head")
    approved = await post(
        api, f"/cases/{case['id']}/decisions", GAJ_HEAD, {"task_id": approval["task_id"], "action": "approve"}
    )
    extended = next(t for t in approved["open_tasks"] if t["task_id"] == task["task_id"])

    answer = await audit(api, AUDITOR, case["id"])
    assert answer["ok"] is True, answer["summary_en"]
    mine = [d for d in answer["deadlines"] if d["task_id"] == task["task_id"]]
    assert [d["what"] for d in mine] == ["deadline", "clock:base#1", "clock:extension#2"]
    assert all(d["verdict"] == "agrees" for d in mine)
    assert mine[0]["recorded_due_at"] == mine[2]["recorded_due_at"] == extended["due_at"]
    assert mine[1]["recorded_due_at"] == task["due_at"] < extended["due_at"]


async def test_the_same_deadlines_from_the_workflow_history(api, monkeypatch, capsys):
    """``govshare audit deadlines --case ID --from-history``: the compute_deadline results in the
    case's Temporal history are the deadlines the projection shows, and all agree."""
    case = await api.apply()
    await api.decide(PLATFORM, case["id"], "platform_check", "accept")
    projection = await audit(api, AUDITOR, case["id"])
    recorded = sorted(d["recorded_due_at"] for d in projection["deadlines"] if d["what"] == "deadline")

    monkeypatch.setenv("TEMPORAL_ADDRESS", api.settings.temporal_address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", api.settings.temporal_namespace)
    get_settings.cache_clear()
    try:  # the command line runs its own event loop: in a thread of its own
        argv = ["audit", "deadlines", "--case", case["id"], "--from-history", "--json"]
        code = await asyncio.to_thread(main, argv)
        data = json.loads(capsys.readouterr().out)
        unknown = ["audit", "deadlines", "--case", "SA-20990101-NOCASE", "--from-history"]
        unknown_code = await asyncio.to_thread(main, unknown)
        unknown_err = capsys.readouterr().err
    finally:
        get_settings.cache_clear()
    assert code == 0, data
    assert data["source"] == "history" and data["workflow_id"] == f"SharingApplication:{case['id']}"
    assert data["source_en"].startswith("the Temporal workflow history")
    assert sorted(d["recorded_due_at"] for d in data["deadlines"]) == recorded
    assert all(d["verdict"] == "agrees" and d["what"].startswith("history:event") for d in data["deadlines"])
    assert unknown_code == 1 and "cannot read the history" in unknown_err
