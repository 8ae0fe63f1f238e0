"""The record from history (issue 21): a case rebuilt from its Temporal history agrees with the
projection; an edited projection row is named; the case replays with the current code; the case is
found in Temporal's own index by its search attributes; ``govshare audit compare`` and ``govshare
replay --all`` over every case. Runs on SQLite and PostgreSQL against the real dev server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_helpers import AUDITOR, CONSUMER, GAJ, PLATFORM, auth
from sqlmodel import Session, select

from govshare.core.models import Task
from govshare.core.settings import get_settings
from govshare.ops import cli
from workflows.engine import attributes


async def post(api, path: str, token: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    response = await api.http.post(path, json=body, headers=auth(token))
    assert response.status_code == expect, response.text
    return response.json()


async def granted_application(api) -> str:
    """Hubei: applied, accepted by the platform, granted by the provider, the consumer informed."""
    case = await post(
        api,
        "/applications",
        CONSUMER,
        {
            "resource_id": "gaj-household-members",
            "purpose": "低保审核",
            "reason": "家庭成员核对",
            "profile": "hubei",
        },
        201,
    )
    case_id = case["id"]
    for token, action, extra in (
        (PLATFORM, "accept", {}),
        (GAJ, "grant", {"grant": {"scope": "低保审核"}}),
        (PLATFORM, "inform", {}),
    ):
        (task,) = case["open_tasks"]
        body = {"task_id": task["task_id"], "action": action, **extra}
        case = await post(api, f"/cases/{case_id}/decisions", token, body)
    assert case["status"] == "granted"
    return case_id


async def test_a_case_rebuilt_from_its_history_agrees_and_replays(api):
    case_id = await granted_application(api)
    # Only the oversight roles read histories.
    assert (await api.http.get(f"/cases/{case_id}/history", headers=auth(CONSUMER))).status_code == 403
    for _ in range(50):  # the last write lands just after the answer
        record = (await api.http.get(f"/cases/{case_id}/history", headers=auth(AUDITOR))).json()
        if record["agrees"] and record["completed"]:  # the last write lands, then the workflow ends
            break
        await asyncio.sleep(0.05)
    assert record["agrees"], record["differences"]
    assert record["engine"] == 2 and record["completed"] is True and record["writes"] >= 4
    kinds = [e["kind"] for e in record["timeline"]]
    assert kinds[0] == "case_submitted" and kinds.count("decision") == 3 and kinds[-1] == "case_closed"
    first = record["tasks"][0]
    assert first["due_at"] and first["article"] == "19" and first["explanation_zh"] and first["calendar_data"]
    assert record["history"]["events"][0]["eventType"] in (
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
        "WorkflowExecutionStarted",
    )
    # Temporal's own index: the case's attributes, set at the start and kept up to date.
    assert record["search_attributes"]["GovshareCaseType"] == "sharing_application"
    assert record["search_attributes"]["GovshareStatus"] == "granted"
    assert sorted(record["search_attributes"]["GovshareDepartment"]) == ["bdb", "gaj", "rsj"]
    found = [
        w.id
        async for w in api.env.client.list_workflows(
            "GovshareDepartment = 'rsj' AND GovshareStatus = 'granted' "
            f"AND WorkflowId = 'SharingApplication:{case_id}'"
        )
    ]
    assert found == [f"SharingApplication:{case_id}"]
    replayed = await post(api, f"/cases/{case_id}/replay", AUDITOR, {})
    assert replayed["replayed"] is True and replayed["events"] == len(record["history"]["events"])


async def test_an_edited_projection_is_named(api):
    case_id = await granted_application(api)
    with Session(api.engine) as session:
        row = session.exec(select(Task).where(Task.case_id == case_id, Task.seq == 2)).one()
        row.detail = {**row.detail, "status": "cancelled"}
        session.add(row)
        session.commit()
    record = (
        await api.http.get(f"/cases/{case_id}/history?include_history=false", headers=auth(AUDITOR))
    ).json()
    assert record["agrees"] is False and record["history"] is None
    assert {"what": f"task {case_id}/2 status", "history": "done", "projection": "cancelled"} in record[
        "differences"
    ]


@pytest.fixture
def cli_env(api, monkeypatch):
    """The CLI reads DATABASE_URL and the engine's address like every process of the system."""
    monkeypatch.setenv("DATABASE_URL", api.settings.database_url)
    monkeypatch.setenv("TEMPORAL_ADDRESS", api.settings.temporal_address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", api.settings.temporal_namespace)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_compare_and_replay_every_case_from_the_command_line(api, cli_env, capsys):
    case_id = await granted_application(api)
    await asyncio.sleep(0.2)
    assert await asyncio.to_thread(cli.main, ["audit", "compare", "--case", case_id]) == 0
    assert await asyncio.to_thread(cli.main, ["replay", "--all", "--type", "sharing_application"]) == 0
    out = capsys.readouterr().out
    summary = out.strip().splitlines()[-1]
    assert " replayed, 0 failed" in summary and "histories/s" in summary
    assert int(summary.split(" replayed")[0]) >= 1


def test_the_attributes_a_case_keeps():
    """attributes.py: the updates that bring Temporal's copy in line, none when they agree."""
    from datetime import datetime

    from calendars import SHANGHAI

    held = {"GovshareStatus": "in_progress", "GovshareDepartment": ["gaj", "rsj"], "GovshareNextDue": None}
    wanted = {**held, "GovshareDepartment": ["rsj", "gaj"]}
    assert attributes.updates(held, wanted) == []
    due = datetime(2026, 12, 10, tzinfo=SHANGHAI)
    changes = attributes.updates(held, {**held, "GovshareStatus": "granted", "GovshareNextDue": due})
    assert {c.key.name for c in changes} == {"GovshareStatus", "GovshareNextDue"}
    cleared = attributes.updates({**held, "GovshareNextDue": due}, held)
    assert [(c.key.name, c.value) for c in cleared] == [("GovshareNextDue", None)]


async def test_every_case_type_rebuilt_from_history_agrees_with_its_projection(api):
    """One case of each type a person opens, created at its own resource and taken a step: each
    rebuilt from its history agrees with the projection, attributes included."""
    from api_helpers import LEADING_GROUP

    created = [
        await post(
            api,
            "/rectification-orders",
            LEADING_GROUP,
            {
                "respondent_department": "gaj",
                "grounds": ["31(2)"],
                "period_working_days": 10,
                "description": "人口基本信息未按时限提供",
                "profile": "hubei",
            },
            201,
        ),
        await post(
            api,
            "/complaints",
            CONSUMER,
            {
                "respondent_department": "scjgj",
                "addressed_to": "leading_group",
                "conduct": "拖延办理",
                "profile": "luzhou",
            },
            201,
        ),
        await post(
            api,
            "/catalog-updates",
            PLATFORM,
            {"department": "gaj", "reason": "own", "description": "户籍信息项调整", "profile": "hubei"},
            201,
        ),
        await post(
            api,
            "/data-objections",
            CONSUMER,
            {
                "resource_id": "gaj-household-members",
                "fields": ["members"],
                "problem": "缺少新生儿",
                "profile": "luoyang",
            },
            201,
        ),
        await post(
            api,
            "/disputes",
            CONSUMER,
            {
                "resource_id": "gaj-criminal-investigation",
                "matter": "履职确需",
                "duty": "刑罚执行",
                "profile": "luzhou",
            },
            201,
        ),
    ]
    created.append(
        await post(
            api,
            "/applications",
            CONSUMER,
            {
                "resource_id": "gaj-household-members",
                "purpose": "审核",
                "reason": "核对",
                "profile": "luzhou",
            },
            201,
        )
    )
    types = {c["case_type"] for c in created}
    assert types == {
        "rectification_order",
        "complaint",
        "catalog_update",
        "data_objection",
        "dispute",
        "sharing_application",
    }
    for case in created:
        record: dict[str, Any] = {}
        for _ in range(50):
            record = (
                await api.http.get(
                    f"/cases/{case['id']}/history?include_history=false", headers=auth(AUDITOR)
                )
            ).json()
            if record["agrees"]:
                break
            await asyncio.sleep(0.05)
        assert record["agrees"], (case["case_type"], record["differences"])
        assert record["search_attributes"]["GovshareCaseType"] == case["case_type"]
        assert record["tasks"] and record["timeline"][0]["kind"] == "case_submitted"
