"""The API docs pages, served offline: Swagger UI at ``/docs``, ReDoc at ``/redoc``.

FastAPI's own docs pages load their script and stylesheet from a public CDN, so on a network without
internet (as government networks are) they stay blank. Here the same pages load the files shipped in
the ``fastapi-offline`` package (Swagger UI 5 and ReDoc 2 dist bundles, with FastAPI's favicon),
mounted under ``/docs/static``. Nothing the pages request leaves the machine: both pages also carry
a Content-Security-Policy that lets the browser load only from this origin, which stops the one
outside image left in the ReDoc bundle (the "API docs by Redocly" logo in its menu footer, which
then simply hides itself) and anything a future bundle might add.

``create_app`` builds ``FastAPI(docs_url=None, redoc_url=None)`` and calls :func:`install_docs`.

The OpenAPI document (``/openapi.json``) is exact (issue 23): every answer the API can give is
documented on its operation. The decorators name what is particular to a route (a 409, a 202 pending
answer); :func:`complete_openapi` adds, in one place, what the layers around every route answer —
401 and 429 wherever a token is needed, 403 where the route admits only some roles, 404 where the
path names something, 400/413 where there is a body, 422 (validation, and unstorable characters in
any part of any request), 503 (the admission limit sheds any request; the database or the engine
busy), the 200 of an idempotent replay beside a create's 201 — each as an RFC 9457 problem under
``application/problem+json`` only (FastAPI's default 422 claimed ``application/json`` with its own
shape), and the response headers each answer carries.
"""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from api.deps import ALL_ROLES
from api.errors import problem_responses
from api.methods import flat_routes

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs/static"

#: The dist files: swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png.
STATIC_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")

#: Same origin only. Inline script/style: FastAPI's page starts Swagger UI inline, and both UIs set
#: styles at run time; ``blob:`` workers: ReDoc's search. "Try it out" calls this same origin.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect, ``/redoc`` and the static files they load to ``app``; make
    ``app.openapi()`` (and so ``/openapi.json``) the exact document (:func:`complete_openapi`)."""
    install_exact_openapi(app)
    missing = [name for name in ASSETS if not (STATIC_DIR / name).is_file()]
    if missing:  # a fastapi-offline release that moved its files: fail at startup, not with a blank page
        raise RuntimeError(f"fastapi-offline lacks {', '.join(missing)} in {STATIC_DIR}")
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    def prefix(request: Request) -> str:
        # Behind a proxy that mounts the API under a path (uvicorn --root-path), links keep working.
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        response = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=app.title,
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            oauth2_redirect_url=(root + oauth2_redirect_url) if oauth2_redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        response.headers["Content-Security-Policy"] = CSP
        return response

    if oauth2_redirect_url:

        @app.get(oauth2_redirect_url, include_in_schema=False)
        async def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        response = get_redoc_html(
            openapi_url=root + openapi_url,
            title=app.title,
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
        response.headers["Content-Security-Policy"] = CSP
        return response


# --------------------------------------------------------------------------------------------------
# The exact OpenAPI document
# --------------------------------------------------------------------------------------------------

#: Response headers, defined once (``components/headers``) and referred to by every answer that
#: sends them.
RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "This request's id, in the server's log lines too: the client's own `X-Request-Id` "
        "when it sent one of 1–64 characters `A–Z a–z 0–9 . _ -`, else a new one / 请求编号",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    },
    "Content-Language": {
        "description": "The language of `title` and `detail`: zh-CN unless `Accept-Language` prefers "
        "English / 问题详情的语言",
        "schema": {"type": "string", "enum": ["zh-CN", "en"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying (RFC 9110 §10.2.3) / 重试前等待的秒数",
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {
        "description": 'The scheme to authenticate with: `Bearer realm="govshare"` (RFC 6750 §3)',
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "Where the case is read / 案件的读取路径",
        "schema": {"type": "string"},
    },
    "Idempotency-Key": {
        "description": "The key to send the same request again with (the client's, or one made for "
        "it) / 重试时使用的幂等键",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true`: the answer of an earlier request with the same Idempotency-Key, which "
        "nothing new was done for / 幂等重放",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

PROTOCOL_NOTE = """

**协议约定 · Protocol.** 每个 GET 也接受 HEAD(同样的状态和响应头,无响应体);路径不支持的方法返回 405,
`Allow` 列出该路径接受的全部方法;每个响应带 `X-Request-Id`。请求体过大返回 413,请求体不是 JSON(UTF-8)
返回 422 `malformed_json`;同时处理的请求达到上限时任何请求都可能返回 503 `overloaded`(带 `Retry-After`)。
Every GET also answers HEAD (same status and headers, no body; RFC 9110 §9.3.2). A method a path does
not accept is answered 405 with `Allow` listing every method the path accepts. Every answer carries
`X-Request-Id`. A body over the size limit is answered 413; a body that is not JSON (UTF-8) 422
`malformed_json`; any request may be shed with 503 `overloaded` (and `Retry-After`) when the process
is at its in-flight limit.
"""

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_REPLAY_DESCRIPTION = (
    "Idempotent replay: the case the first request with this Idempotency-Key created, nothing new "
    "done / 幂等重放:返回首次请求创建的案件"
)


def install_exact_openapi(app: FastAPI) -> None:
    """``app.openapi()`` returns FastAPI's document completed by :func:`complete_openapi` (made once)."""
    generate = app.openapi
    made: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not made:
            # Completed on a copy: a concurrent first caller never sees a half-completed document.
            document = copy.deepcopy(generate())
            complete_openapi(document, app)
            made.append(document)
            app.openapi_schema = document
        return made[0]

    app.openapi = openapi  # type: ignore[method-assign]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def admitted_roles(dependant: Dependant) -> frozenset[str] | None:
    """The roles the route's caller dependency admits (``api.deps.caller_with_roles``), if it has one."""
    for sub in dependant.dependencies:
        roles = getattr(sub.call, "roles", None)
        if isinstance(roles, frozenset):
            return roles
        found = admitted_roles(sub)
        if found is not None:
            return found
    return None


def _problem_entry(status: int) -> dict[str, Any]:
    """A problem answer, as the routes' ``problem_responses`` documents it (without FastAPI's model)."""
    entry = problem_responses(status)[status]
    return {"description": entry["description"], "content": copy.deepcopy(entry["content"])}


def _statuses(operation: dict[str, Any], route: Any) -> set[int]:
    """The problems every operation like this one can answer, whatever its route does."""
    secured = bool(operation.get("security"))
    wanted = {422, 503}  # unstorable characters in any query; the admission limit, the database
    if secured:
        wanted |= {401, 429}  # no, an unknown or expired token; the rate limit of a caller
        dependant = getattr(route, "dependant", None)
        roles = admitted_roles(dependant) if dependant is not None else None
        if roles is not None and roles < frozenset(ALL_ROLES):
            wanted.add(403)  # a role the route does not admit
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        wanted.add(404)  # the thing the path names does not exist, or the caller may not see it
    if "requestBody" in operation:
        wanted |= {400, 413}  # a body the framework could not read; a body over the limit
    return wanted


def _complete_operation(operation: dict[str, Any], route: Any) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in _statuses(operation, route):
        responses.setdefault(str(status), _problem_entry(status))
    takes_key = any(
        p.get("in") == "header" and p.get("name", "").lower() == "idempotency-key"
        for p in operation.get("parameters", [])
    )
    if "201" in responses and takes_key and "200" not in responses:
        responses["200"] = {**copy.deepcopy(responses["201"]), "description": _REPLAY_DESCRIPTION}
    for code, entry in responses.items():
        status = int(code) if code.isdigit() else 0
        headers: dict[str, Any] = entry.setdefault("headers", {})
        headers.setdefault("X-Request-Id", _ref("X-Request-Id"))
        if status >= 400:
            # Every refusal is a problem, sent as application/problem+json only.
            entry["content"] = _problem_entry(status)["content"]
            if entry.get("description") in (None, "", "Validation Error"):
                entry["description"] = _problem_entry(status)["description"]
            headers.setdefault("Content-Language", _ref("Content-Language"))
        if status == 401:
            headers.setdefault("WWW-Authenticate", _ref("WWW-Authenticate"))
        if status in (429, 503, 202):
            headers.setdefault("Retry-After", _ref("Retry-After"))
        if status == 202:
            for name in ("Location", "Idempotency-Key", "Content-Language"):
                headers.setdefault(name, _ref(name))
        if status == 503 and takes_key:
            headers.setdefault("Idempotency-Key", _ref("Idempotency-Key"))  # the engine went away
        if status in (200, 201) and takes_key and "201" in responses:
            headers.setdefault("Location", _ref("Location"))
            if status == 200:
                headers.setdefault("Idempotent-Replayed", _ref("Idempotent-Replayed"))
    operation["responses"] = dict(sorted(responses.items(), key=lambda item: item[0]))


def _referenced(document: dict[str, Any], name: str) -> bool:
    return json.dumps(f"#/components/schemas/{name}") in json.dumps(document)


def complete_openapi(document: dict[str, Any], app: FastAPI) -> None:
    """Complete FastAPI's ``document`` (in place): every operation's answers, as module docs say."""
    routes: dict[tuple[str, str], Any] = {}
    for route in flat_routes(app):
        if isinstance(getattr(route, "original_route", route), APIRoute) and route.include_in_schema:
            for method in route.methods:
                routes[(route.path_format, method.lower())] = route
    components = document.setdefault("components", {})
    components.setdefault("headers", {}).update(copy.deepcopy(RESPONSE_HEADERS))
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in _HTTP_METHODS:
                _complete_operation(operation, routes.get((path, method)))
    schemas = components.get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, never sent
        schema = schemas.pop(name, None)
        if schema is not None and _referenced(document, name):  # still used by something: kept
            schemas[name] = schema
    info = document.setdefault("info", {})
    info["description"] = (info.get("description") or "") + PROTOCOL_NOTE
