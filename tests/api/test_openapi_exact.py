"""The OpenAPI document is exact (issue 23): fast, targeted checks of what schemathesis found.

A generated client or a gateway trusts ``/openapi.json``: every answer the API can give must be
documented on its operation, with the shape and the content type it is sent with. Here, answer by
answer: malformed JSON (422 ``malformed_json``, also for a body that is not UTF-8 or nests too deep,
which FastAPI answered with an undocumented bare 400), an over-long path id (422, documented as the
problem it is, not as FastAPI's ``HTTPValidationError`` under ``application/json``), 405 with an
``Allow`` listing every method of the path, HEAD on every GET route (RFC 9110), and a walk over the
whole document for what every operation must document. ``test_schemathesis.py`` generates the rest.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from api_helpers import AUDITOR, CONSUMER, PLATFORM, auth

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
async def document(api) -> dict[str, Any]:
    response = await api.http.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method.lower()]


def assert_documented(document: dict[str, Any], method: str, path: str, response: httpx.Response) -> None:
    """``response``'s status is documented for the operation, with its content type and, for a
    problem, the Problem schema."""
    responses = operation(document, method, path)["responses"]
    assert str(response.status_code) in responses, (method, path, response.status_code, sorted(responses))
    content = responses[str(response.status_code)].get("content", {})
    media = response.headers["content-type"].split(";")[0]
    assert media in content, (method, path, response.status_code, media, sorted(content))
    if response.status_code >= 400:
        assert content == {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def filled(path: str) -> str:
    """A concrete path for a template: every parameter ``1``."""
    return re.sub(r"\{[^}]+\}", "1", path)


# --------------------------------------------------------------------------------------------------
# Malformed JSON: 422 malformed_json, documented on every operation with a body
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"resource_id": "scjgj-legal-entity-basic", "purpose": ', id="truncated"),
        # Not UTF-8 (RFC 8259 §8.1): FastAPI answered a bare 400 "There was an error parsing the body".
        pytest.param(b"\x1c\xe9\xbd=\xf3v\xf0,\xc5\x8ee\x10|O", id="not-utf8"),
        # Nested past the parser's recursion limit: the same bare 400.
        pytest.param(b"[" * 100_000, id="nested-too-deep"),
    ],
)
async def test_malformed_json_is_a_documented_422(api, document, body: bytes) -> None:
    response = await api.http.post(
        "/applications", content=body, headers=auth(CONSUMER, **{"Content-Type": "application/json"})
    )
    problem = assert_problem(response, 422, "malformed_json")
    assert problem["errors"][0]["loc"][0] == "body"
    assert_documented(document, "POST", "/applications", response)
    response = await api.http.post(
        "/cases/SA-20260101-AAAAAA/decisions",
        content=body,
        headers=auth(PLATFORM, **{"Content-Type": "application/json"}),
    )
    assert_problem(response, 422, "malformed_json")
    assert_documented(document, "POST", "/cases/{case_id}/decisions", response)


async def test_a_body_over_the_limit_is_a_documented_413(api, document) -> None:
    response = await api.http.post(
        "/applications",
        content=b" " * 1_000_001,
        headers=auth(CONSUMER, **{"Content-Type": "application/json"}),
    )
    assert_problem(response, 413, "payload_too_large")
    assert_documented(document, "POST", "/applications", response)


# --------------------------------------------------------------------------------------------------
# Path and query constraints: 422, documented as a problem
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/applications/" + "S" * 129, "/applications/{case_id}"),
        ("/cases/" + "S" * 129 + "/events", "/cases/{case_id}/events"),
        ("/responsibility-lists/" + "d" * 65, "/responsibility-lists/{department}"),
    ],
)
async def test_an_over_long_path_id_is_a_documented_422(api, document, path: str, template: str) -> None:
    response = await api.http.get(path, headers=auth(AUDITOR))
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"][0]["loc"][0] == "path"
    assert_documented(document, "GET", template, response)


async def test_an_id_beyond_its_column_is_a_documented_422_not_a_500(api, document) -> None:
    # Found by schemathesis on PostgreSQL: 2**62 passed the path's bound and overflowed int4 (a 500).
    response = await api.http.post(f"/notifications/{2**62 - 1}/read", headers=auth(CONSUMER))
    assert_problem(response, 422, "validation_failed")
    assert_documented(document, "POST", "/notifications/{notification_id}/read", response)
    response = await api.http.post(f"/notifications/{2**31 - 1}/read", headers=auth(CONSUMER))
    assert_problem(response, 404, "not_found")


async def test_a_date_sent_as_a_number_is_refused(api, document) -> None:
    # Found by schemathesis: "change_date": 0 was read as 1970-01-01 (seconds since 1970) and a
    # catalog update was opened, although the schema says a date is text.
    response = await api.http.post(
        "/catalog-updates",
        json={"department": "gaj", "reason": "law_revision", "change_date": 0, "description": "修订"},
        headers=auth(PLATFORM),
    )
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"][0]["loc"] == ["body", "change_date"]
    assert_documented(document, "POST", "/catalog-updates", response)


async def test_query_constraints_and_unstorable_characters_are_documented_422(api, document) -> None:
    response = await api.http.get("/applications", params={"limit": 0}, headers=auth(CONSUMER))
    assert_problem(response, 422, "validation_failed")
    assert_documented(document, "GET", "/applications", response)
    # NUL in any query parameter, even one an operation does not take, is refused before routing.
    response = await api.http.get("/me", params={"x": "\x00"}, headers=auth(CONSUMER))
    assert_problem(response, 422, "invalid_characters")
    assert_documented(document, "GET", "/me", response)


async def test_authentication_answers_are_documented(api, document) -> None:
    response = await api.http.get("/tasks")
    assert_problem(response, 401, "unauthorized")
    assert_documented(document, "GET", "/tasks", response)
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = await api.http.get("/oversight/orders", headers=auth(CONSUMER))
    assert_problem(response, 403, "role_not_allowed")
    assert_documented(document, "GET", "/oversight/orders", response)


# --------------------------------------------------------------------------------------------------
# 405 and Allow
# --------------------------------------------------------------------------------------------------


def documented_allow(document: dict[str, Any], template: str) -> set[str]:
    methods = {method.upper() for method in document["paths"][template] if method in METHODS}
    return methods | ({"HEAD"} if "GET" in methods else set())


async def test_405_lists_every_method_of_the_path(api, document) -> None:
    response = await api.http.put("/applications", headers=auth(CONSUMER))
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, HEAD, POST"  # was "POST": the first route's only
    response = await api.http.patch("/cases/SA-1/tasks/1/claim", headers=auth(CONSUMER))
    assert response.headers["allow"] == "POST, DELETE"
    # A concrete path is not its templated neighbour's: GET /resources/import is no method of the import.
    response = await api.http.put("/resources/import", headers=auth(PLATFORM))
    assert response.headers["allow"] == "POST"
    # Every documented path, with a method it does not take.
    checked = 0
    for template, item in document["paths"].items():
        unused = next(method for method in ("put", "patch", "delete", "post") if method not in item)
        response = await api.http.request(unused.upper(), filled(template), headers=auth(CONSUMER))
        assert response.status_code == 405, (unused, template, response.text)
        assert set(response.headers["allow"].split(", ")) == documented_allow(document, template), template
        checked += 1
    assert checked == len(document["paths"]) > 40


# --------------------------------------------------------------------------------------------------
# HEAD
# --------------------------------------------------------------------------------------------------

#: Answers that do not change between two requests: their headers are compared whole.
STABLE = ("/me", "/resources", "/resources/scjgj-legal-entity-basic", "/responsibility-lists", "/healthz")


@pytest.mark.parametrize("path", [*STABLE, "/openapi.json", "/docs", "/no/such/path"])
async def test_head_answers_as_get_without_a_body(api, path: str) -> None:
    headers = auth(AUDITOR, **{"X-Request-Id": "head-vs-get"})
    got = await api.http.get(path, headers=headers)
    head = await api.http.head(path, headers=headers)
    assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
    assert {k: v for k, v in head.headers.items() if k != "date"} == {
        k: v for k, v in got.headers.items() if k != "date"
    }


async def test_head_on_every_get_operation(api, document) -> None:
    checked = 0
    for template, item in document["paths"].items():
        if "get" not in item:
            continue
        path = filled(template)
        got = await api.http.get(path, headers=auth(AUDITOR))
        head = await api.http.head(path, headers=auth(AUDITOR))
        assert head.status_code == got.status_code != 405, (template, head.status_code, got.status_code)
        assert head.content == b"", template
        assert head.headers.get("content-type") == got.headers.get("content-type"), template
        checked += 1
    assert checked > 25
    # HEAD where there is no GET: 405, without a body, saying what the path takes.
    response = await api.http.head("/applications/SA-1/decisions", headers=auth(CONSUMER))
    assert response.status_code == 405 and response.content == b""
    assert response.headers["allow"] == "POST"


# --------------------------------------------------------------------------------------------------
# The document, walked
# --------------------------------------------------------------------------------------------------


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def header_names(response: dict[str, Any]) -> set[str]:
    return set(response.get("headers", {}))


def test_every_operation_documents_what_the_layers_around_it_answer(document) -> None:
    checked = 0
    for method, path, op in operations(document):
        where = f"{method} {path}"
        responses = op["responses"]
        secured = bool(op.get("security"))
        statuses = {422, 503} | ({401, 429} if secured else set())
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            statuses.add(404)
        if "requestBody" in op:
            statuses |= {400, 413}
        missing = {str(s) for s in statuses} - set(responses)
        assert not missing, (where, sorted(missing))
        for code, response in responses.items():
            assert "X-Request-Id" in header_names(response), (where, code)
            if int(code) >= 400:
                assert response["content"] == {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}, (where, code)
                assert "Content-Language" in header_names(response), (where, code)
            if code in ("429", "503", "202"):
                assert "Retry-After" in header_names(response), (where, code)
        if secured:
            assert "WWW-Authenticate" in header_names(responses["401"]), where
        checked += 1
    assert checked > 45
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "Problem" in document["components"]["schemas"]
    for name, header in document["components"]["headers"].items():
        assert header["schema"], name


def test_creates_document_their_replay_and_writes_their_pending_answer(document) -> None:
    creates = writes = 0
    for _method, path, op in operations(document):
        takes_key = any(
            p["in"] == "header" and p["name"].lower() == "idempotency-key" for p in op.get("parameters", [])
        )
        responses = op["responses"]
        if not takes_key:
            continue
        writes += 1
        # Every write that takes a key may answer 202 (its outcome pending) with where to look and the key.
        assert {"Location", "Retry-After", "Idempotency-Key"} <= header_names(responses["202"]), path
        if "201" in responses:
            creates += 1
            replay = responses["200"]
            assert replay["content"] == responses["201"]["content"], path
            assert {"Idempotent-Replayed", "Location"} <= header_names(replay), path
            assert "Location" in header_names(responses["201"]), path
    assert creates >= 8 and writes >= 15


def test_role_limited_operations_document_403(api, document) -> None:
    """An operation whose caller dependency admits only some roles documents 403."""
    from api.deps import ALL_ROLES
    from api.docs import admitted_roles
    from api.methods import flat_routes

    app = api.http._transport.app
    limited = 0
    for route in flat_routes(app):
        dependant = getattr(route, "dependant", None)
        if dependant is None or not getattr(route, "include_in_schema", False):
            continue
        roles = admitted_roles(dependant)
        if roles is None or roles == frozenset(ALL_ROLES):
            continue
        for method in route.methods:
            assert "403" in operation(document, method, route.path_format)["responses"], route.path_format
            limited += 1
    assert limited > 20
