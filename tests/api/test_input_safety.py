"""Issue 13: input a database cannot store, or a read cannot render, is refused at the door (422);
what is stored never makes a read fail.

Defect 3: a NUL (U+0000) or a lone surrogate ("\\ud800": valid JSON, not encodable in UTF-8) anywhere
in a JSON body string, a query parameter, a path parameter or a header we read. Before, a reason
"理由\\u0000" was accepted and, on PostgreSQL, blocked the case for good (its projection could never be
written). Both backends (the ``api`` fixture).
"""

from __future__ import annotations

import copy
import json

import httpx
import pytest
from api_helpers import CONSUMER, PLATFORM, auth
from sqlmodel import Session, select
from test_errors import assert_problem

from govshare.core.models import Case, Task

NUL = "\u0000"
SURROGATE = "\ud800"


def raw_json(body: object) -> bytes:
    """JSON bytes as a client would send them: lone surrogates as their \\u escapes (valid JSON)."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


async def post_raw(api, path: str, body: object, token: str, **headers: str) -> httpx.Response:
    return await api.http.post(
        path, content=raw_json(body), headers=auth(token, **{"Content-Type": "application/json", **headers})
    )


def assert_invalid_characters(response: httpx.Response, loc: list) -> dict:
    problem = assert_problem(response, 422, "invalid_characters")
    assert [e["loc"] for e in problem["errors"]] == [loc], problem["errors"]
    assert "U+" in problem["errors"][0]["msg"]
    assert "无法保存" in problem["detail_zh"] and "cannot be stored" in problem["detail_en"]
    return problem


@pytest.fixture
async def open_case(api) -> dict:
    return await api.apply(resource_id="gaj-household-members")


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_a_decision_with_unstorable_text_is_refused_and_the_case_goes_on(api, open_case, bad):
    case_id = open_case["id"]
    before = await api.get_case(PLATFORM, case_id)
    url = f"/applications/{case_id}/decisions"
    body = {"step": "platform_check", "action": "reject", "reason": f"理由{bad}"}
    assert_invalid_characters(await post_raw(api, url, body, PLATFORM), ["body", "reason"])
    body = {"step": "platform_check", "action": "accept", "note": f"{bad}备注"}
    assert_invalid_characters(await post_raw(api, url, body, PLATFORM), ["body", "note"])
    # The case is unchanged …
    after = await api.get_case(PLATFORM, case_id)
    assert after["revision"] == before["revision"] and after["open_task"]["step"] == "platform_check"
    assert [t["decision"] for t in after["timeline"]] == [None]
    # … and later decisions work, including a grant whose terms are checked the same way.
    await api.decide(PLATFORM, case_id, "platform_check", "accept")
    grant = {"step": "provider_authorization", "action": "grant", "grant": {"conditions": f"仅限{bad}"}}
    problem = assert_invalid_characters(
        await post_raw(api, url, grant, "demo-gaj-provider"), ["body", "grant", "conditions"]
    )
    assert problem["detail"] == problem["detail_zh"]
    done = await api.decide(
        "demo-gaj-provider", case_id, "provider_authorization", "grant", grant={"conditions": "仅限低保核对"}
    )
    assert done["open_task"]["step"] == "notify_consumer"


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize("field", ["purpose", "reason", "resource_id"])
async def test_an_application_with_unstorable_text_is_refused(api, bad, field):
    body = {
        "resource_id": "scjgj-legal-entity-basic",
        "purpose": "社会保险登记时核验用人单位信息",
        "reason": "依据《社会保险法》办理用人单位社会保险登记",
    }
    body[field] = body[field][:3] + bad + body[field][3:]
    assert_invalid_characters(await post_raw(api, "/applications", body, CONSUMER), ["body", field])
    response = await post_raw(
        api, "/applications", {**body, field: "ok", "fields": ["entity" + bad]}, CONSUMER
    )
    assert_invalid_characters(response, ["body", "fields", 0])


async def test_a_withdrawal_with_unstorable_text_is_refused(api, open_case):
    url = f"/applications/{open_case['id']}/withdrawal"
    assert_invalid_characters(
        await post_raw(api, url, {"reason": "不再需要" + NUL}, CONSUMER), ["body", "reason"]
    )


async def test_an_unstorable_field_name_is_a_422_not_a_500(api):
    for key in (SURROGATE, "reason" + NUL):
        response = await post_raw(api, "/applications", {key: 1}, CONSUMER)
        problem = assert_invalid_characters(response, ["body"])
        assert "field name" in problem["errors"][0]["msg"]
    # Nested (the grant's terms) as well.
    body = {"step": "provider_authorization", "action": "grant", "grant": {SURROGATE: "x"}}
    response = await post_raw(api, "/applications/SA-20260101-AAAAAA/decisions", body, PLATFORM)
    assert_invalid_characters(response, ["body", "grant"])


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("/applications", {"status": NUL}, ["query", "status"]),
        ("/applications", {"department": "rsj" + NUL}, ["query", "department"]),
        ("/applications", {"profile": NUL + "hubei"}, ["query", "profile"]),
        ("/notifications", {"case_id": "SA-" + NUL}, ["query", "case_id"]),
        ("/resources", {"provider": NUL}, ["query", "provider"]),
        ("/applications/SA-%00", {}, ["path", "case_id"]),
        ("/applications/SA-20260101-A%00/events", {}, ["path", "case_id"]),
    ],
)
async def test_unstorable_query_and_path_parameters_are_refused(api, path, params, loc):
    response = await api.http.get(path, params=params, headers=auth(PLATFORM))
    problem = assert_invalid_characters(response, loc)
    assert problem["title"] == "请求内容无效"


async def test_a_decision_on_an_unstorable_case_id_is_refused(api):
    body = {"step": "platform_check", "action": "accept"}
    response = await api.http.post("/applications/SA-%00/decisions", json=body, headers=auth(PLATFORM))
    assert_invalid_characters(response, ["path", "case_id"])


async def test_unstorable_headers_we_read_are_refused(api):
    body = {"resource_id": "scjgj-legal-entity-basic", "purpose": "用途", "reason": "理由"}
    response = await api.http.post(
        "/applications", json=body, headers=auth(CONSUMER, **{"Idempotency-Key": "key" + NUL})
    )
    assert_invalid_characters(response, ["header", "idempotency-key"])
    response = await api.http.get("/tasks", headers=auth(PLATFORM, **{"Accept-Language": "en" + NUL}))
    assert_invalid_characters(response, ["header", "accept-language"])


# --------------------------------------------------------------------------------------------------
# Defect 4: one date made a case unreadable for everyone
# --------------------------------------------------------------------------------------------------
#
# A grant "valid_until": "0001-01-01T00:00:00" was accepted; from then on every read of the case was a
# 500 (OverflowError converting it to Asia/Shanghai). Now instants outside 2000-01-01 … 2100-12-31
# (Asia/Shanghai) and a valid_until in the past are refused (422), and a stored out-of-range instant
# is rendered as stored instead of failing the read.

GAJ_PROVIDER = "demo-gaj-provider"


async def _at_provider_authorization(api) -> str:
    case = await api.apply(resource_id="gaj-household-members")
    await api.decide(PLATFORM, case["id"], "platform_check", "accept")
    return case["id"]


@pytest.mark.parametrize(
    ("valid_until", "code"),
    [
        ("0001-01-01T00:00:00", "date_out_of_range"),
        ("1999-12-31T23:59:59+08:00", "date_out_of_range"),
        ("2101-01-01T00:00:00", "date_out_of_range"),
        ("9999-12-31T23:59:59-12:00", "date_out_of_range"),
        ("2001-01-01T00:00:00", "date_in_past"),
    ],
)
async def test_a_grant_date_out_of_range_or_past_is_refused(api, valid_until, code):
    case_id = await _at_provider_authorization(api)
    response = await api.http.post(
        f"/applications/{case_id}/decisions",
        json={"step": "provider_authorization", "action": "grant", "grant": {"valid_until": valid_until}},
        headers=auth(GAJ_PROVIDER),
    )
    problem = assert_problem(response, 422, code)
    assert [e["loc"] for e in problem["errors"]] == [["body", "grant", "valid_until"]]
    assert "2100-12-31" in problem["errors"][0]["msg"] or "future" in problem["errors"][0]["msg"]
    # The case is unchanged and readable; a sane date is then taken.
    case = await api.get_case(PLATFORM, case_id)
    assert case["open_task"]["step"] == "provider_authorization"
    done = await api.decide(
        GAJ_PROVIDER, case_id, "provider_authorization", "grant", grant={"valid_until": "2100-12-31T23:59:59"}
    )
    decision = next(t for t in done["timeline"] if t["step"] == "provider_authorization")["decision"]
    assert decision["grant"]["valid_until"] == "2100-12-31T23:59:59+08:00"


@pytest.mark.parametrize("stored", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-05:00"])
async def test_a_stored_out_of_range_date_does_not_break_reads(api, stored):
    case_id = await _at_provider_authorization(api)
    await api.decide(
        GAJ_PROVIDER, case_id, "provider_authorization", "grant", grant={"valid_until": "2030-06-30T00:00:00"}
    )
    done = await api.decide(PLATFORM, case_id, "notify_consumer", "inform")
    assert done["status"] == "granted", done
    # What an older revision let in, written straight into the projection (the case is closed: no
    # later write of the workflow overwrites it).
    with Session(api.engine) as session:
        row = session.get(Case, case_id)
        detail = copy.deepcopy(row.detail)  # the case header: the grant is among its attributes
        task_rows = session.exec(select(Task).where(Task.case_id == case_id)).all()
        tasks = [copy.deepcopy(t.detail) for t in task_rows]
        touched = 0
        for holder in [
            detail["attributes"].get("grant"),
            *((t.get("decision") or {}).get("grant") for t in tasks),
        ]:
            if holder and "valid_until" in holder:
                holder["valid_until"] = stored
                touched += 1
        assert touched >= 2, detail
        row.detail = detail
        for task_row, task in zip(task_rows, tasks, strict=True):
            task_row.detail = task
        session.add_all([row, *task_rows])
        session.commit()
    for token in (CONSUMER, PLATFORM, GAJ_PROVIDER, "demo-sjj-auditor"):
        case = await api.get_case(token, case_id)
        assert case["grant"]["valid_until"] == stored
    response = await api.http.get("/applications", params={"limit": 100}, headers=auth(PLATFORM))
    assert response.status_code == 200, response.text
    response = await api.http.get(f"/applications/{case_id}/events", headers=auth(PLATFORM))
    assert response.status_code == 200, response.text
