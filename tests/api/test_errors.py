"""Every refusal in one shape: RFC 9457 problem details, Chinese first, English on request."""

from __future__ import annotations

import re

import httpx
import pytest
from api_helpers import AUDITOR, CONSUMER, GAJ_CONSUMER, PLATFORM, SCJGJ, auth

from api.main import create_app

CJK = re.compile(r"[\u4e00-\u9fff]")
PROBLEM_KEYS = {
    "type",
    "title",
    "status",
    "detail",
    "instance",
    "code",
    "detail_zh",
    "detail_en",
    "request_id",
}

GOOD = {
    "resource_id": "scjgj-legal-entity-basic",
    "purpose": "社会保险登记时核验用人单位信息",
    "reason": "依据《社会保险法》办理用人单位社会保险登记",
}


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["type"].startswith("urn:govshare:problem:")
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    assert CJK.search(body["detail_zh"]) and body["detail_en"]
    return body


async def post(api, body, token: str = CONSUMER, **headers: str) -> httpx.Response:
    return await api.http.post("/applications", json=body, headers=auth(token, **headers))


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"purpose": None}, ["body", "purpose"]),
        ({"reason": None}, ["body", "reason"]),
        ({"reason": "   "}, ["body", "reason"]),
        ({"purpose": ""}, ["body", "purpose"]),
        ({"resource_id": None}, ["body", "resource_id"]),
        ({"fields": "entity_name"}, ["body", "fields"]),
        ({"colour": "blue"}, ["body", "colour"]),
    ],
)
async def test_invalid_application_bodies(api, change, loc):
    body = {**GOOD, **change}
    body = {k: v for k, v in body.items() if v is not None}
    problem = assert_problem(await post(api, body), 422, "validation_failed")
    assert problem["errors"] and problem["errors"][0]["loc"] == loc
    assert problem["detail"] == problem["detail_zh"]


async def test_application_checked_against_the_catalog(api):
    problem = assert_problem(
        await post(api, {**GOOD, "resource_id": "no-such-resource"}), 422, "unknown_resource"
    )
    assert problem["errors"][0]["loc"] == ["body", "resource_id"]
    # A department cannot apply for its own resource.
    body = {**GOOD, "resource_id": "gaj-household-members"}
    assert_problem(await post(api, body, GAJ_CONSUMER), 422, "own_resource")
    problem = assert_problem(
        await post(api, {**GOOD, "fields": ["entity_name", "bank_account"]}), 422, "not_in_catalog"
    )
    assert problem["errors"] == [{"loc": ["body", "fields", 1], "msg": "unknown field bank_account"}]
    problem = assert_problem(
        await post(api, {**GOOD, "sharing_mode": "data_comparison"}), 422, "not_in_catalog"
    )
    assert problem["errors"][0]["loc"] == ["body", "sharing_mode"]
    problem = assert_problem(await post(api, {**GOOD, "profile": "atlantis"}), 422, "unknown_profile")
    assert problem["errors"][0]["loc"] == ["body", "profile"]
    assert_problem(await post(api, {**GOOD, "profile": "../hubei"}), 422, "validation_failed")


async def test_malformed_json_is_a_422_problem_not_a_500(api):
    response = await api.http.post(
        "/applications",
        content=b'{"resource_id": "scjgj-legal-entity-basic", "purpose": ',
        headers=auth(CONSUMER, **{"Content-Type": "application/json"}),
    )
    problem = assert_problem(response, 422, "malformed_json")
    assert problem["errors"][0]["loc"][0] == "body"
    response = await api.http.post(
        f"/applications/{'SA-20260101-AAAAAA'}/decisions",
        content=b"[1, 2",
        headers=auth(PLATFORM, **{"Content-Type": "application/json"}),
    )
    assert_problem(response, 422, "malformed_json")
    # A body that is JSON but not an object.
    assert_problem(await post(api, ["resource_id"]), 422, "validation_failed")


async def test_authentication(api):
    response = await api.http.post("/applications", json=GOOD)
    problem = assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = await api.http.get("/tasks", headers={"Authorization": "Bearer not-a-token"})
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = await api.http.get("/tasks", headers={"Authorization": "Basic cnNqOnJzag=="})
    assert_problem(response, 401)
    assert problem["title"] == "未认证"


async def test_wrong_role_is_403(api):
    for token in (SCJGJ, PLATFORM, AUDITOR):
        problem = assert_problem(await post(api, GOOD, token), 403, "role_not_allowed")
        assert "consumer" in problem["detail_en"]


async def test_english_on_request(api):
    response = await post(
        api, {**GOOD, "resource_id": "no-such-resource"}, **{"Accept-Language": "en-US,en;q=0.9"}
    )
    problem = assert_problem(response, 422, "unknown_resource")
    assert problem["detail"] == problem["detail_en"] == "no catalog resource no-such-resource"
    assert problem["title"] == "Unprocessable request"
    assert response.headers["content-language"] == "en"
    # Chinese preferred over English: Chinese.
    response = await post(api, {**GOOD, "resource_id": "x"}, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert assert_problem(response, 422)["detail"] == "目录中没有资源 x"


async def test_unknown_route_and_method(api):
    response = await api.http.get("/no/such/path", headers=auth(CONSUMER))
    problem = assert_problem(response, 404, "not_found")
    assert "/no/such/path" in problem["detail"]
    response = await api.http.delete("/applications", headers=auth(CONSUMER))
    assert_problem(response, 405, "method_not_allowed")


async def test_pagination_limits_are_validated(api):
    response = await api.http.get("/applications", params={"limit": 1000}, headers=auth(PLATFORM))
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"][0]["loc"] == ["query", "limit"]
    response = await api.http.get("/applications", params={"overdue": "maybe"}, headers=auth(PLATFORM))
    assert_problem(response, 422, "validation_failed")


async def test_unexpected_error_is_a_500_problem_without_internals(api, caplog):
    app = create_app(api.settings)

    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/boom", boom)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://govshare.test") as http:
            response = await http.get("/boom", headers={"Accept-Language": "en"})
    problem = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert problem["detail"] == problem["detail_en"]


async def test_temporal_unreachable_is_503(api):
    settings = api.settings.model_copy(update={"temporal_address": "127.0.0.1:9"})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://govshare.test") as http:
            response = await http.post("/applications", json=GOOD, headers=auth(CONSUMER))
            assert_problem(response, 503, "engine_unavailable")
            # Validation still comes first, and reads from the projection still work.
            response = await http.post(
                "/applications", json={**GOOD, "resource_id": "x"}, headers=auth(CONSUMER)
            )
            assert_problem(response, 422, "unknown_resource")
            response = await http.get("/applications", headers=auth(CONSUMER))
            assert response.status_code == 200
            response = await http.get("/healthz")
            problem = assert_problem(response, 503, "unhealthy")
            assert problem["checks"] == {"database": "ok", "temporal": "unavailable", "worker": "ok"}


async def test_oversized_body_is_a_413_problem(api):
    body = {**GOOD, "purpose": "用途" * 400_000}
    assert_problem(await post(api, body), 413, "payload_too_large")

    async def chunks():  # no Content-Length: counted while it is read
        yield b'{"resource_id": "x", "purpose": "'
        for _ in range(20):
            yield b"a" * 100_000
        yield b'"}'

    response = await api.http.post(
        "/applications", content=chunks(), headers=auth(CONSUMER, **{"Content-Type": "application/json"})
    )
    assert_problem(response, 413, "payload_too_large")
