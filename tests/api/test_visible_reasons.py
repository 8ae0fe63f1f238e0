"""A reason of zero-width characters is no reason (issue 23), over HTTP: a rejection, a withdrawal,
an extension, a suspension and an approver's name are each refused 422 with the rule, and nothing is
recorded. The characters themselves: ``tests/test_visible_text.py``.
"""

from __future__ import annotations

import asyncio
import uuid

from api_helpers import PLATFORM, SCJGJ, auth
from engine_cases import KINDS, case_input
from temporalio.common import WorkflowIDReusePolicy

from workflows.case import Party

#: Looks empty, is not empty to ``str.strip()``.
INVISIBLE = "\u200b\u200d\u2060\ufeff\u3164\u2800\u180e"


async def _started(api, kind_name: str, prefix: str, parties: list[Party], token: str) -> dict:
    kind = KINDS[kind_name]
    case_id = f"{prefix}-VIS{uuid.uuid4().hex[:8].upper()}"
    await api.env.client.start_workflow(
        kind.workflow_type,
        case_input(kind_name, case_id, parties),
        id=kind.workflow_id(case_id),
        task_queue=api.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    for _ in range(200):
        shown = await api.http.get(f"/cases/{case_id}", headers=auth(token))
        if shown.status_code == 200 and shown.json()["open_tasks"]:
            return shown.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case_id} never opened a task")


async def test_a_rejection_with_an_invisible_reason_is_refused_with_its_article(api):
    case = await api.apply()
    problem = await api.decide(PLATFORM, case["id"], "platform_check", "reject", reason=INVISIBLE, expect=422)
    assert problem["code"] == "invalid_decision", problem
    assert "必须说明理由" in problem["detail_zh"] and "第19条" in problem["detail_zh"], problem
    assert "needs a reason" in problem["detail_en"]
    shown = await api.get_case(PLATFORM, case["id"])
    assert shown["status"] == "in_progress" and shown["open_task"]["step"] == "platform_check"
    # Visible words wrapped in invisible ones are a reason.
    rejected = await api.decide(
        PLATFORM, case["id"], "platform_check", "reject", reason=f"{INVISIBLE}材料不全{INVISIBLE}"
    )
    assert rejected["status"] == "rejected"


async def test_a_withdrawal_with_an_invisible_reason_is_refused(api):
    _code, tokens = api.new_department("consumer")
    case = await api.apply(tokens["consumer"])
    response = await api.http.post(
        f"/cases/{case['id']}/withdrawal", json={"reason": INVISIBLE}, headers=auth(tokens["consumer"])
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["body", "reason"] and "visible text" in problem["errors"][0]["msg"]
    assert (await api.get_case(tokens["consumer"], case["id"]))["status"] == "in_progress"


async def test_an_extension_needs_a_visible_reason_and_a_visible_approver(api):
    providers = [Party(role="provider", department="gaj"), Party(role="provider", department="scjgj")]
    case = await _started(api, "engine_joint", "EJ", providers, SCJGJ)
    theirs = next(t for t in case["open_tasks"] if t["assignee"]["code"] == "scjgj")
    url = f"/cases/{case['id']}/tasks/{theirs['seq']}/clock"
    no_approver = {"kind": "extension", "working_days": 3, "reason": "需补充核实", "approver_name": INVISIBLE}
    response = await api.http.post(url, json=no_approver, headers=auth(SCJGJ))
    assert response.status_code == 422, response.text
    assert "请填写批准人" in response.json()["detail_zh"] and "第19条" in response.json()["detail_zh"]
    no_reason = {"kind": "extension", "working_days": 3, "reason": INVISIBLE, "approver_name": "李局长"}
    response = await api.http.post(url, json=no_reason, headers=auth(SCJGJ))
    assert response.status_code == 422, response.text
    assert "延期须说明理由" in response.json()["detail_zh"]
    shown = (await api.http.get(f"/cases/{case['id']}", headers=auth(SCJGJ))).json()
    task = next(t for t in shown["open_tasks"] if t["task_id"] == theirs["task_id"])
    assert [c["kind"] for c in task["clock"]] == ["base"] and task["due_at"] == theirs["due_at"]


async def test_a_suspension_needs_a_visible_reason(api):
    case = await _started(api, "engine_clock", "EC", [Party(role="provider", department="gaj")], PLATFORM)
    (task,) = case["open_tasks"]
    url = f"/cases/{case['id']}/tasks/{task['seq']}/clock"
    response = await api.http.post(
        url, json={"kind": "suspension", "reason": INVISIBLE}, headers=auth(PLATFORM)
    )
    assert response.status_code == 422, response.text
    assert "中止计时须说明理由" in response.json()["detail_zh"]
    shown = (await api.http.get(f"/cases/{case['id']}", headers=auth(PLATFORM))).json()
    assert shown["open_tasks"][0]["suspended"] is False
    stopped = await api.http.post(
        url, json={"kind": "suspension", "reason": "等待补充材料"}, headers=auth(PLATFORM)
    )
    assert stopped.status_code == 200 and stopped.json()["open_tasks"][0]["suspended"] is True, stopped.text
