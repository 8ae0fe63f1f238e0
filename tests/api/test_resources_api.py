"""The catalog register over HTTP (``/resources``): search and browse, entries and versions, import
(JSON and CSV, row report, all or nothing, dry run), export round trip, refreshes, authorization
and bad input — on SQLite and PostgreSQL (the ``api`` fixture)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import CONSUMER, GAJ, PLATFORM, SCJGJ, auth
from sqlmodel import Session

from govshare.core import catalog
from govshare.core.models import Resource


def row(code: str, suffix: str, **fields: Any) -> dict[str, Any]:
    """A valid import row of department ``code``."""
    return {
        "id": f"{code}-{suffix}",
        "name_zh": "人口基础信息",
        "name_en": "Population basic information",
        "provider_department": code,
        "kind": "departmental",
        "fields": ["name", "citizen_id"],
        "update_period": "daily",
        "share_type": "unconditional",
        "sharing_modes": ["online_query"],
        **fields,
    }


async def import_json(api, token: str, rows: list[dict[str, Any]], expect: int = 200, **params: Any) -> Any:
    response = await api.http.post("/resources/import", json=rows, headers=auth(token), params=params)
    assert response.status_code == expect, response.text
    return response.json()


async def catalog_of(api, code: str, token: str = CONSUMER, **params: Any) -> dict[str, Any]:
    response = await api.http.get("/resources", headers=auth(token), params={"department": code, **params})
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def test_search_browse_and_pages(api):
    code, tokens = api.new_department("provider")
    rows = [
        row(code, "pop", classification="综合政务/人口信息", kind="basic", basic_items=["name"]),
        row(
            code, "household", name_zh="户籍信息", name_en="Household registration", description="含人口迁移"
        ),
        row(code, "enterprise", name_zh="企业登记信息", name_en="Enterprise registration", kind="thematic"),
        row(
            code,
            "penalty",
            name_zh="行政处罚信息",
            name_en="Administrative penalties",
            share_type="conditional",
            controlled_parameters=True,
        ),
    ]
    report = await import_json(api, tokens["provider"], rows)
    assert report["written"] is True and [r["change"] for r in report["accepted"]] == ["new"] * 4

    found = await catalog_of(api, code, q="人口")
    assert ids(found) == [f"{code}-pop", f"{code}-household"]  # the name hit first
    assert found["total"] == 2 and found["limit"] == 50 and found["offset"] == 0
    assert ids(await catalog_of(api, code, q="基础信息")) == [f"{code}-pop"]
    assert ids(await catalog_of(api, code, q="regist")) == [f"{code}-enterprise", f"{code}-household"]
    assert ids(await catalog_of(api, code, q="Admin")) == [f"{code}-penalty"]
    assert ids(await catalog_of(api, code, q="信息", share_type="conditional")) == [f"{code}-penalty"]
    assert ids(await catalog_of(api, code, kind="basic")) == [f"{code}-pop"]
    assert ids(await catalog_of(api, code, q="婚姻")) == []
    every = ids(await catalog_of(api, code))
    assert every == sorted(every) and len(every) == 4
    page = await catalog_of(api, code, limit=2, offset=2)
    assert ids(page) == every[2:] and page["total"] == 4
    # The older filter name still works; both, differing, are refused.
    response = await api.http.get("/resources", headers=auth(CONSUMER), params={"provider": code})
    assert ids(response.json()) == every
    response = await api.http.get(
        "/resources", headers=auth(CONSUMER), params={"provider": code, "department": "gaj"}
    )
    assert response.status_code == 422

    item = (await catalog_of(api, code, q="人口基础"))["items"][0]
    assert item["provider"]["name_zh"].startswith("测试部门")
    assert (item["kind"], item["kind_zh"], item["basic_items"]) == ("basic", "基础信息资源", ["name"])
    assert (item["update_period"], item["update_period_zh"], item["status"]) == ("daily", "每日", "published")
    assert item["next_refresh_due"] and item["refresh_overdue"] is False


async def test_entry_versions_and_history(api):
    code, tokens = api.new_department("provider")
    first = row(code, "pop")
    await import_json(api, tokens["provider"], [first])
    response = await api.http.get(f"/resources/{code}-pop", headers=auth(CONSUMER))
    assert response.status_code == 200
    entry = response.json()
    assert (entry["version"], entry["name_zh"], entry["fields"]) == (
        1,
        "人口基础信息",
        ["name", "citizen_id"],
    )
    assert entry["published_at"].endswith("+08:00")

    report = await import_json(
        api, tokens["provider"], [{**first, "fields": ["name", "citizen_id", "gender"]}]
    )
    assert report["accepted"] == [{"row": 1, "id": f"{code}-pop", "change": "changed", "version": 2}]
    report = await import_json(
        api, tokens["provider"], [{**first, "fields": ["name", "citizen_id", "gender"]}]
    )
    assert report["accepted"][0]["change"] == "unchanged" and report["accepted"][0]["version"] == 2

    response = await api.http.get(f"/resources/{code}-pop/versions", headers=auth(CONSUMER))
    history = response.json()
    assert [(v["version"], v["change"]) for v in history["items"]] == [(2, "changed"), (1, "new")]
    assert history["total"] == 2 and history["items"][0]["published_by"] == code
    response = await api.http.get(f"/resources/{code}-pop/versions/1", headers=auth(CONSUMER))
    assert response.status_code == 200
    assert response.json()["data"]["fields"] == ["name", "citizen_id"]  # v1 never changes
    assert response.json()["case_id"] == ""

    for path, problem in [
        (f"/resources/{code}-none", "resource_not_found"),
        (f"/resources/{code}-none/versions", "resource_not_found"),
        (f"/resources/{code}-pop/versions/3", "version_not_found"),
    ]:
        response = await api.http.get(path, headers=auth(CONSUMER))
        assert response.status_code == 404 and response.json()["code"] == problem
        assert response.headers["content-type"] == "application/problem+json"
    response = await api.http.get(f"/resources/{code}-pop/versions/0", headers=auth(CONSUMER))
    assert response.status_code == 422


async def test_import_is_all_or_nothing_with_a_row_report(api):
    code, tokens = api.new_department("provider")
    rows = [
        row(code, "ok"),
        row(code, "secret", share_type="not_shared", sharing_modes=[]),  # no legal basis: Hubei 8(1)
        row(code, "basic", kind="basic", basic_items=["name"], share_type="conditional"),  # Hubei 8(2)
        {"id": f"{code}-bad", "name_zh": "", "provider_department": code, "fields": [], "colour": "red"},
    ]
    response = await api.http.post("/resources/import", json=rows, headers=auth(tokens["provider"]))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "import_rejected" and problem["detail_en"].startswith("3 rows rejected")
    report = problem["report"]
    assert (report["written"], report["rows"], report["rejected_rows"], report["profile"]) == (
        False,
        4,
        3,
        "hubei",
    )
    assert [r["id"] for r in report["accepted"]] == [f"{code}-ok"]
    rejected = {(p["row"], p["field"], p["rule"], p["article"]) for p in report["rejected"]}
    assert (2, "legal_basis", "legal_basis_required", "8(1)") in rejected
    assert (3, "share_type", "basic_items_unconditional", "8(2)") in rejected
    assert {
        (4, "colour", "unknown_field", ""),
        (4, "name_zh", "required", ""),
        (4, "fields", "required", ""),
    } <= (rejected)
    secret = next(p for p in report["rejected"] if p["row"] == 2)
    assert secret["citation_zh"] == "《湖北省政务信息资源共享管理办法》第8条第(1)项"
    assert "法律" in secret["message_zh"] and "legal basis" in secret["message_en"]
    assert ["body", 2, "legal_basis"] in [e["loc"] for e in problem["errors"]]
    # Nothing was written, not even the good row.
    response = await api.http.get(f"/resources/{code}-ok", headers=auth(CONSUMER))
    assert response.status_code == 404

    # A dry run answers 200 with the same report and writes nothing.
    dry = await import_json(api, tokens["provider"], rows, dry_run="true")
    assert dry["dry_run"] is True and dry["written"] is False and dry["rejected_rows"] == 3
    dry = await import_json(api, tokens["provider"], rows[:1], dry_run="true")
    assert dry["accepted"] == [{"row": 1, "id": f"{code}-ok", "change": "new", "version": 1}]
    assert (await api.http.get(f"/resources/{code}-ok", headers=auth(CONSUMER))).status_code == 404

    # Under Luoyang a conditional entry needs its legal basis too (25(1)).
    conditional = [row(code, "cond", share_type="conditional")]
    assert (await import_json(api, tokens["provider"], conditional))["written"] is True
    problem = await import_json(api, tokens["provider"], conditional, expect=422, profile="luoyang")
    assert [(p["rule"], p["article"]) for p in problem["report"]["rejected"]] == [
        ("legal_basis_required", "25(1)")
    ]
    # Duplicate ids, unknown departments, moving an entry: rejected rows.
    problem = await import_json(
        api, PLATFORM, [row(code, "d"), row(code, "d"), row("nodept", "x")], expect=422
    )
    assert {(p["row"], p["rule"]) for p in problem["report"]["rejected"]} == {
        (2, "duplicate_id"),
        (3, "unknown_department"),
    }
    moved = {**row(code, "cond", share_type="conditional"), "provider_department": "gaj"}
    problem = await import_json(api, PLATFORM, [moved], expect=422)
    assert [p["rule"] for p in problem["report"]["rejected"]] == ["provider_changed"]


async def test_import_csv_and_export_round_trip(api):
    code, tokens = api.new_department("provider")
    text = (
        "id,name_zh,name_en,provider_department,fields,sharing_modes,share_type,controlled_parameters,"
        "update_period,legal_basis\r\n"
        f"{code}-a,企业登记信息,Enterprise registration,{code},code|name|address,online_query|batch_download,"
        "unconditional,true,monthly,\r\n"
        f'{code}-b,"刑事案件,侦查信息",Criminal files,{code},case_no,,not_shared,false,none,'
        "《保守国家秘密法》\r\n"
    )
    response = await api.http.post(
        "/resources/import",
        content=text.encode(),
        headers=auth(tokens["provider"], **{"Content-Type": "text/csv; charset=utf-8"}),
    )
    assert response.status_code == 200, response.text
    assert [(r["id"], r["change"]) for r in response.json()["accepted"]] == [
        (f"{code}-a", "new"),
        (f"{code}-b", "new"),
    ]
    entry = (await api.http.get(f"/resources/{code}-a", headers=auth(CONSUMER))).json()
    assert entry["fields"] == ["code", "name", "address"] and entry["controlled_parameters"] is True
    assert entry["sharing_modes"] == ["online_query", "batch_download"]
    assert (await api.http.get(f"/resources/{code}-b", headers=auth(CONSUMER))).json()[
        "name_zh"
    ] == "刑事案件,侦查信息"

    # Export as CSV and JSON; both import back as unchanged.
    response = await api.http.get(
        "/resources/export", headers=auth(CONSUMER), params={"department": code, "format": "csv"}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert f"catalog-{code}.csv" in response.headers["content-disposition"]
    exported_csv = response.content
    reader = list(csv.DictReader(io.StringIO(exported_csv.decode("utf-8-sig"))))
    assert [r["id"] for r in reader] == [f"{code}-a", f"{code}-b"]
    assert reader[0]["fields"] == "code|name|address" and reader[0]["controlled_parameters"] == "true"
    response = await api.http.get("/resources/export", headers=auth(CONSUMER), params={"department": code})
    exported_json = response.json()
    assert [e["id"] for e in exported_json] == [f"{code}-a", f"{code}-b"]
    assert exported_json[0] == catalog.normalize_entry(exported_json[0])

    response = await api.http.post(
        "/resources/import",
        content=exported_csv,
        headers=auth(tokens["provider"], **{"Content-Type": "text/csv"}),
    )
    assert [r["change"] for r in response.json()["accepted"]] == ["unchanged", "unchanged"]
    report = await import_json(api, tokens["provider"], exported_json)
    assert [r["change"] for r in report["accepted"]] == ["unchanged", "unchanged"]
    report = await import_json(api, tokens["provider"], [{**exported_json[0], "format": "接口"}])
    assert report["accepted"][0]["change"] == "changed" and report["accepted"][0]["version"] == 2

    # A CSV row that breaks a rule: 422 naming the row, nothing written.
    bad = f"id,name_zh,provider_department,fields,share_type\r\n{code}-c,某信息,{code},x,not_shared\r\n"
    response = await api.http.post(
        "/resources/import",
        content=bad.encode(),
        headers=auth(tokens["provider"], **{"Content-Type": "text/csv"}),
    )
    assert response.status_code == 422
    assert [(p["row"], p["rule"]) for p in response.json()["report"]["rejected"]] == [
        (1, "legal_basis_required")
    ]

    empty = await api.http.get(
        "/resources/export", headers=auth(CONSUMER), params={"department": "lgo", "format": "csv"}
    )
    assert empty.content.decode("utf-8-sig").splitlines() == [",".join(catalog.ENTRY_FIELDS)]
    assert (
        await api.http.get("/resources/export", headers=auth(CONSUMER), params={"department": "lgo"})
    ).json() == []
    response = await api.http.get(
        "/resources/export", headers=auth(CONSUMER), params={"department": "nodept"}
    )
    assert response.status_code == 404


async def test_writes_are_authorized(api):
    mine, mine_tokens = api.new_department("provider", "consumer")
    other, other_tokens = api.new_department("provider")
    await import_json(api, mine_tokens["provider"], [row(mine, "pop", update_period="weekly")])

    # A provider imports its own department's rows only, and never another's entry.
    problem = await import_json(api, other_tokens["provider"], [row(mine, "x")], expect=403)
    assert problem["code"] == "not_own_department" and problem["errors"][0]["loc"] == [
        "body",
        1,
        "provider_department",
    ]
    problem = await import_json(
        api, other_tokens["provider"], [row(other, "pop", id=f"{mine}-pop")], expect=403
    )
    assert problem["errors"][0]["loc"] == ["body", 1, "id"]
    # Consumers (and every other role) do not import; the platform imports for any department.
    assert (await import_json(api, mine_tokens["consumer"], [row(mine, "y")], expect=403))[
        "code"
    ] == "role_not_allowed"
    report = await import_json(api, PLATFORM, [row(mine, "z"), row(other, "z")])
    assert report["written"] is True
    versions = (await api.http.get(f"/resources/{other}-z/versions", headers=auth(CONSUMER))).json()
    assert versions["items"][0]["published_by"] == "bdb"

    # Refreshes: the owning provider only.
    response = await api.http.post(
        f"/resources/{mine}-pop/refreshes", json={"note": "已同步"}, headers=auth(mine_tokens["provider"])
    )
    assert response.status_code == 201, response.text
    refresh = response.json()
    assert refresh["department"] == mine and refresh["note"] == "已同步"
    refreshed = datetime.fromisoformat(refresh["refreshed_at"])
    assert datetime.fromisoformat(refresh["next_refresh_due"]) - refreshed == timedelta(days=7)
    entry = (await api.http.get(f"/resources/{mine}-pop", headers=auth(CONSUMER))).json()
    assert entry["last_refreshed_at"] == refresh["refreshed_at"]
    response = await api.http.post(f"/resources/{mine}-pop/refreshes", headers=auth(mine_tokens["provider"]))
    assert response.status_code == 201  # no body: no note
    for token, code in [
        (other_tokens["provider"], "not_owner"),
        (GAJ, "not_owner"),
        (PLATFORM, "role_not_allowed"),
    ]:
        response = await api.http.post(f"/resources/{mine}-pop/refreshes", json={}, headers=auth(token))
        assert response.status_code == 403 and response.json()["code"] == code
    response = await api.http.post(
        f"/resources/{mine}-none/refreshes", json={}, headers=auth(mine_tokens["provider"])
    )
    assert response.status_code == 404
    response = await api.http.post(
        f"/resources/{mine}-pop/refreshes",
        json={"note": "x", "extra": 1},
        headers=auth(mine_tokens["provider"]),
    )
    assert response.status_code == 422

    # A withdrawn entry takes no refresh (409), and is found only when asked for.
    with Session(api.engine) as session:
        catalog.publish(
            session, [{"id": f"{mine}-z", "change": "withdrawn"}], department="bdb", now=datetime.now(UTC)
        )
        session.commit()
    response = await api.http.post(
        f"/resources/{mine}-z/refreshes", json={}, headers=auth(mine_tokens["provider"])
    )
    assert response.status_code == 409 and response.json()["code"] == "resource_withdrawn"
    assert ids(await catalog_of(api, mine)) == [f"{mine}-pop"]
    assert ids(await catalog_of(api, mine, status="withdrawn")) == [f"{mine}-z"]
    assert ids(await catalog_of(api, mine, status="all")) == [f"{mine}-pop", f"{mine}-z"]
    with Session(api.engine) as session:
        assert session.get(Resource, f"{mine}-z").status == "withdrawn"  # type: ignore[union-attr]


async def test_bad_input_is_a_4xx_problem(api):
    code, tokens = api.new_department("provider")
    token = tokens["provider"]
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            {"content": b"<xml/>", "headers": {"Content-Type": "application/xml"}},
            415,
            "unsupported_media_type",
        ),
        ({"content": b"[{", "headers": {"Content-Type": "application/json"}}, 422, "malformed_json"),
        ({"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}}, 422, "malformed_json"),
        ({"json": {"id": "x"}}, 422, "not_an_array"),
        ({"json": []}, 422, "empty_import"),
        (
            {"content": b"id,colour\r\nx,red\r\n", "headers": {"Content-Type": "text/csv"}},
            422,
            "invalid_csv_header",
        ),
        ({"content": b"", "headers": {"Content-Type": "text/csv"}}, 422, "empty_csv"),
        ({"content": "id\r\n名".encode("gbk"), "headers": {"Content-Type": "text/csv"}}, 422, "not_utf8"),
        ({"json": [row(code, "a")], "params": {"profile": "atlantis"}}, 422, "unknown_profile"),
        ({"json": [row(code, "a", name_zh="名\u0000")]}, 422, "import_rejected"),
        ({"json": [row(code, "a", fields="not|a|list|" * 50)]}, 422, "import_rejected"),
        ({"json": ["just a string"]}, 422, "import_rejected"),
    ]
    for kwargs, status, problem_code in cases:
        headers = auth(token, **kwargs.pop("headers", {}))
        response = await api.http.post("/resources/import", headers=headers, **kwargs)
        assert response.status_code == status, (problem_code, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == problem_code, response.text
    for params in [
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"status": "deleted"},
        {"share_type": "open"},
        {"kind": "core"},
        {"q": "人" * 101},
    ]:
        response = await api.http.get("/resources", headers=auth(CONSUMER), params=params)
        assert response.status_code == 422, params
    response = await api.http.get("/resources/export", headers=auth(CONSUMER), params={"format": "xlsx"})
    assert response.status_code == 422
    response = await api.http.get("/resources", params={"q": "人口"})
    assert response.status_code == 401
    # Text that holds no letter or character finds nothing (and is no error).
    assert (await api.http.get("/resources", headers=auth(CONSUMER), params={"q": "!!"})).json()["total"] == 0


async def test_the_demo_catalog_still_reads(api):
    """Existing callers: ``GET /resources`` without parameters lists the demo entries as before."""
    response = await api.http.get("/resources", headers=auth(SCJGJ))
    items = {r["id"]: r for r in response.json()["items"]}
    assert {"gaj-population-basic", "scjgj-legal-entity-basic", "gaj-criminal-investigation"} <= set(items)
    assert items["gaj-population-basic"]["version"] >= 1
    spec = (await api.http.get("/openapi.json")).json()
    for path, method in [
        ("/resources", "get"),
        ("/resources/{resource_id}", "get"),
        ("/resources/{resource_id}/versions", "get"),
        ("/resources/{resource_id}/versions/{version}", "get"),
        ("/resources/import", "post"),
        ("/resources/export", "get"),
        ("/resources/{resource_id}/refreshes", "post"),
    ]:
        assert spec["paths"][path][method]["summary"], path
    body = spec["paths"]["/resources/import"]["post"]["requestBody"]["content"]
    assert {"application/json", "text/csv"} <= set(body)
