"""Responsibility lists (责任清单, Luoyang 13–14) and the demand list (需求清单, Luoyang 12) over HTTP,
on SQLite and PostgreSQL: who may read which list, the fulfilment figure, demands stated, answered
by a published entry, withdrawn, and counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import AUDITOR, CONSUMER, GAJ, LEADING_GROUP, PLATFORM, auth
from sqlmodel import Session

from govshare.core import catalog, catalog_lists
from govshare.core.models import Resource


def entry(code: str, suffix: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"{code}-{suffix}",
        "name_zh": "企业登记信息",
        "provider_department": code,
        "fields": ["name", "code"],
        "update_period": "daily",
        "share_type": "unconditional",
        "sharing_modes": ["online_query"],
        **fields,
    }


def publish(api, code: str, drafts: list[dict[str, Any]]) -> None:
    """What an approved catalog-update case does: publish, keep the responsibility list, commit."""
    now = datetime.now(UTC)
    with Session(api.engine) as session:
        versions = catalog.publish(session, drafts, department=code, case_id="test-case", now=now)
        catalog_lists.sync_responsibilities(session, code, versions, now)
        session.commit()


async def get(api, path: str, token: str, expect: int = 200, **params: Any) -> Any:
    response = await api.http.get(path, headers=auth(token), params=params)
    assert response.status_code == expect, response.text
    return response.json()


async def post(api, path: str, token: str, expect: int, body: dict[str, Any] | None = None) -> Any:
    response = await api.http.post(path, headers=auth(token), json=body or {})
    assert response.status_code == expect, response.text
    return response.json()


async def test_responsibility_list_fulfilment_and_who_may_read_it(api):
    code, tokens = api.new_department("provider", "consumer")
    publish(api, code, [entry(code, "fresh"), entry(code, "stale"), entry(code, "gone")])
    publish(api, code, [{"id": f"{code}-gone", "change": "withdrawn"}])
    with Session(api.engine) as session:
        stale = session.get(Resource, f"{code}-stale")
        assert stale is not None
        stale.next_refresh_due = datetime.now(UTC) - timedelta(hours=1)
        session.add(stale)
        session.commit()

    for token in (tokens["provider"], tokens["consumer"], PLATFORM, LEADING_GROUP, AUDITOR):
        body = await get(api, f"/responsibility-lists/{code}", token)
        assert body["department"] == code
        assert [(i["resource_id"], i["fulfilled"]) for i in body["items"]] == [
            (f"{code}-fresh", True),
            (f"{code}-stale", False),
        ]
        assert body["fulfilment"] == {"department": code, "count": 2, "fulfilled": 1, "ratio": 0.5}
    item = body["items"][0]
    assert item["case_id"] == "test-case" and item["name_zh"] == "企业登记信息"
    assert item["status"] == "published" and item["added_at"].endswith("+08:00")

    # Another department may not read it (nor a provider of another department).
    for token in (CONSUMER, GAJ):
        problem = await get(api, f"/responsibility-lists/{code}", token, expect=403)
        assert problem["code"] == "forbidden" and problem["detail_zh"]
    await get(api, "/responsibility-lists/no-such-dept", PLATFORM, expect=404)
    response = await api.http.get(f"/responsibility-lists/{code}")
    assert response.status_code == 401

    # The overview: every department for oversight (the seed's providers too), only its own else.
    overview = await get(api, "/responsibility-lists", LEADING_GROUP)
    rows = {row["department"]: row for row in overview["items"]}
    assert rows[code] == {"department": code, "count": 2, "fulfilled": 1, "ratio": 0.5}
    assert rows["gaj"]["count"] >= 4 and rows["wjw"]["count"] >= 4
    own = await get(api, "/responsibility-lists", tokens["provider"])
    assert own["items"] == [rows[code]]


async def test_demand_answered_by_a_published_entry(api):
    code, tokens = api.new_department("consumer", "provider")
    _other, other_tokens = api.new_department("consumer")
    demand = await post(
        api,
        "/demands",
        tokens["consumer"],
        201,
        {
            "title": "户籍人口信息",
            "description": "办理入学资格审核",
            "fields_wanted": ["citizen_id"],
            "provider_department": "gaj",
        },
    )
    assert (demand["department"], demand["status"], demand["provider_department"]) == (code, "open", "gaj")
    assert demand["answered_by_resource"] is None and demand["created_at"].endswith("+08:00")
    demand_id = demand["id"]

    # Visibility: its own department, the provider it names, oversight — not another department.
    for token in (tokens["consumer"], tokens["provider"], GAJ, PLATFORM, AUDITOR):
        ids = [d["id"] for d in (await get(api, "/demands", token, limit=200, status="open"))["items"]]
        assert demand_id in ids, token
    assert (await get(api, "/demands", other_tokens["consumer"]))["total"] == 0
    mine = await get(api, "/demands", PLATFORM, department=code)
    assert mine["total"] == 1 and mine["items"][0]["title"] == "户籍人口信息"

    # Answering: the platform only, with a published entry (422 for unknown or withdrawn ones).
    publish(api, code, [entry(code, "old")])
    publish(api, code, [{"id": f"{code}-old", "change": "withdrawn"}])
    path = f"/demands/{demand_id}/answer"
    await post(api, path, tokens["consumer"], 403, {"resource_id": "gaj-population-basic"})
    await post(api, path, GAJ, 403, {"resource_id": "gaj-population-basic"})
    for resource_id in ("no-such-entry", f"{code}-old"):
        problem = await post(api, path, PLATFORM, 422, {"resource_id": resource_id})
        assert problem["code"] == "resource_not_published"
    await post(api, "/demands/999999/answer", PLATFORM, 404, {"resource_id": "gaj-population-basic"})
    answered = await post(api, path, PLATFORM, 200, {"resource_id": "gaj-population-basic"})
    assert (answered["status"], answered["answered_by_resource"], answered["reviewed_by"]) == (
        "answered",
        "gaj-population-basic",
        "bdb",
    )
    assert answered["answered_at"] is not None
    problem = await post(api, path, PLATFORM, 409, {"resource_id": "gaj-population-basic"})
    assert problem["code"] == "demand_not_open"
    await post(api, f"/demands/{demand_id}/withdraw", tokens["consumer"], 409)

    summary = await get(api, "/demands/summary", tokens["consumer"])
    assert summary["items"] == [{"department": code, "open": 0, "answered": 1, "withdrawn": 0}]
    assert (summary["open"], summary["answered"]) == (0, 1)


async def test_demand_withdrawn_and_counted_as_unmet(api):
    code, tokens = api.new_department("consumer", "provider")
    _other, other_tokens = api.new_department("consumer")
    # Only a department acting as consumer states a demand; the provider it names must exist.
    await post(api, "/demands", tokens["provider"], 403, {"title": "人口信息"})
    await post(api, "/demands", PLATFORM, 403, {"title": "人口信息"})
    problem = await post(
        api, "/demands", tokens["consumer"], 422, {"title": "人口信息", "provider_department": "nope"}
    )
    assert problem["code"] == "department_not_found"
    await post(api, "/demands", tokens["consumer"], 422, {"title": "  "})
    await post(api, "/demands", tokens["consumer"], 422, {"title": "x", "unknown": 1})

    first = await post(api, "/demands", tokens["consumer"], 201, {"title": "婚姻登记信息"})
    second = await post(api, "/demands", tokens["consumer"], 201, {"title": "不动产登记信息"})
    before = await get(api, "/demands/summary", PLATFORM)
    counts = {row["department"]: row for row in before["items"]}
    assert counts[code] == {"department": code, "open": 2, "answered": 0, "withdrawn": 0}
    assert counts["rsj"]["open"] >= 1  # the seed's open demands count as unmet
    assert before["open"] == sum(row["open"] for row in before["items"])

    await post(api, f"/demands/{first['id']}/withdraw", other_tokens["consumer"], 403)
    await post(api, f"/demands/{first['id']}/withdraw", PLATFORM, 403)
    withdrawn = await post(api, f"/demands/{first['id']}/withdraw", tokens["consumer"], 200)
    assert withdrawn["status"] == "withdrawn"
    await post(api, f"/demands/{first['id']}/withdraw", tokens["consumer"], 409)

    summary = await get(api, "/demands/summary", tokens["consumer"])
    assert summary["items"] == [{"department": code, "open": 1, "answered": 0, "withdrawn": 1}]
    assert (await get(api, "/demands/summary", other_tokens["consumer"]))["items"] == []
    still_open = await get(api, "/demands", tokens["consumer"], status="open")
    assert [d["id"] for d in still_open["items"]] == [second["id"]]
    await get(api, "/demands", tokens["consumer"], expect=422, status="closed")
