"""The HTTP API (FastAPI): ``create_app(settings)``; ``app`` is what uvicorn serves.

    uvicorn api.main:app --host 127.0.0.1 --port 8000      # or: govshare run [--api-only]

The DB engine and the Temporal client live on ``app.state``, created in ``lifespan`` (the full-stack
template's way; ``on_event`` is gone). If Temporal is down at startup the API still starts: reads
work from the projection, and calls that need the engine answer 503 until it is back.
"""

from __future__ import annotations

import re
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
import structlog
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api import pages
from api.access_log import AccessLogMiddleware
from api.docs import install_docs
from api.errors import install_error_handlers, printable, problem_response
from api.json_body import DuplicateKeyMiddleware
from api.limits import RateLimits, SignInLimitMiddleware
from api.methods import HeadAsGet
from api.requests import INVALID_CHARACTERS, unstorable_message
from api.routes import (
    applications,
    audit,
    cases,
    catalog_lists,
    catalog_updates,
    complaints,
    data_objections,
    deadline_audit,
    disputes,
    notifications,
    open_data,
    orders,
    oversight,
    resources,
    statistics,
    system,
    tasks,
)
from api.security_headers import SecurityHeadersMiddleware
from govshare.core.db import init_schema, make_api_engine
from govshare.core.logs import configure_logging
from govshare.core.seed import refuse_demo_in_production, seed_if_enabled
from govshare.core.settings import Settings, get_settings
from govshare.core.temporal_client import connect_client
from workflows.engine import signing

log = structlog.get_logger("govshare.api")
access_log = structlog.get_logger("govshare.api.access")

#: Largest request body accepted (an application is a few kB); larger → 413.
MAX_BODY_BYTES = 1_000_000

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

DESCRIPTION = """
政务信息资源共享审批系统 API:部门以访问令牌(`Authorization: Bearer <令牌>`)调用;每个案件是一个
Temporal 工作流,期限按工作日和所适用规范的条款计算。错误统一为 RFC 9457 问题详情
(`application/problem+json`),默认中文,`Accept-Language: en` 时为英文。

Government data-sharing approval (政务信息资源共享). Each case is a Temporal workflow; deadlines are
working days under the pinned regulation profile, each with its article. Every error is an RFC 9457
problem (`application/problem+json`) with `code`, `detail_zh`, `detail_en`, and `errors` for
validation failures. Demo tokens (development): `demo-rsj-consumer`, `demo-bdb-platform`,
`demo-gaj-provider`, `demo-scjgj-provider`, `demo-lgo-leading_group`, `demo-jxw-coordinator`,
`demo-szfb-government_office`, `demo-sjj-auditor`.

逐级上报与督办:超期经规范的逐级上报阶梯(由角色目录确定承办部门)升级为整改通知;领导小组办公室可手动下达整改通知
(`POST /rectification-orders`),各部门可投诉(`POST /complaints`,泸州办法第四十四条),领导小组办公室在
`/oversight` 查看待办、整改通知与统计。整改通知、投诉与逐级上报均为案件,经 `/cases` 查看与办理。

Escalation: a breach climbs the profile's ladder (who acts on each rung is the role directory's) up to
a rectification order; the leading group office also issues orders by hand, departments file
complaints, and `/oversight` lists what the leading group must decide, its orders and their counts.
Orders, complaints and escalations are cases like any other, read and decided through `/cases`.
"""

TAGS = [
    {"name": "applications", "description": "数据使用申请 — sharing applications (apply, decide, withdraw)"},
    {"name": "cases", "description": "案件 — every case type: read, list, decide, task clocks, withdraw"},
    {
        "name": "rectification orders",
        "description": "整改通知 — orders issued by hand by the leading group office (or, under Hubei 31, "
        "the coordinator); reported, returned and accepted through /cases",
    },
    {
        "name": "complaints",
        "description": "投诉 — a department's complaint about another, to the leading group or the "
        "municipal government office (Luzhou 44); investigated and answered through /cases",
    },
    {
        "name": "catalog updates",
        "description": "目录更新 — a law revision or change of functions registered for a department (its "
        "period counts from the change date), or its own update; the change set submitted, checked, and "
        "published by the platform through /cases",
    },
    {
        "name": "oversight",
        "description": "督办 — the leading group office's view: escalations to decide, orders by status "
        "and department, overdue orders, counts (auditors read it too)",
    },
    {"name": "tasks", "description": "待办 — the caller's open tasks"},
    {"name": "notifications", "description": "通知 — messages to the caller's department"},
    {"name": "resources", "description": "资源目录 — the catalog"},
    {
        "name": "catalog lists",
        "description": "责任清单与需求清单 — responsibility lists (Luoyang 13–14) and the demand list "
        "(Luoyang 12)",
    },
    {"name": "system", "description": "健康检查与身份 — health and identity"},
]


#: Paths admitted even when the process is at its in-flight limit: the health check must still tell
#: the operator (and a load balancer) what is wrong.
_ALWAYS_ADMITTED = frozenset({"/healthz"})


class Admission:
    """At most ``limit`` requests in flight in this process; one more waits up to ``wait_s`` for a
    place and is otherwise shed (503 + Retry-After). Overload thus answers at once instead of piling
    requests onto the thread pool and the DB pool until they all stall (issue 13)."""

    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self.in_flight = 0
        self.shed_total = 0
        self._places = anyio.Semaphore(limit)

    async def enter(self) -> bool:
        try:
            self._places.acquire_nowait()
        except anyio.WouldBlock:
            with anyio.move_on_after(self.wait_s):
                await self._places.acquire()
                self.in_flight += 1
                return True
            self.shed_total += 1
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1
        self._places.release()


#: The request headers the API reads; the others pass by, never stored or compared.
_READ_HEADERS = ("authorization", "idempotency-key", "accept-language", "x-request-id", "content-type")


def _path_param(scope: Scope) -> tuple[list[str], str]:
    """The path parameter holding unstorable text (its name and value), found by the documented path
    templates (``/applications/{case_id}``); else the whole path."""
    path = scope.get("path", "")
    try:
        templates = scope["app"].openapi().get("paths", {})
    except Exception:  # no app, or no schema: the path as a whole is the place
        templates = {}
    for template in templates:
        found = compile_path(template)[0].match(path)
        for name, value in (found.groupdict() if found else {}).items():
            if unstorable_message(value) is not None:
                return [name], value
    return [], path


def unstorable_input(scope: Scope, headers: dict[str, str]) -> list[dict[str, object]]:
    """NUL and lone surrogates in the path, the query and the headers we read (issue 13, defect 3):
    each a ``{loc, msg}`` error, like a body field's (``api.requests.Storable``)."""
    errors: list[dict[str, object]] = []
    if unstorable_message(scope.get("path", "")) is not None:
        loc, value = _path_param(scope)
        errors.append({"loc": ["path", *loc], "msg": unstorable_message(value)})
    # Decoded the way Starlette's QueryParams decodes them (UTF-8, undecodable bytes → U+FFFD).
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        message = unstorable_message(name) or unstorable_message(value)
        if message is not None:
            errors.append({"loc": ["query", printable(name)], "msg": message})
    for name in _READ_HEADERS:
        message = unstorable_message(headers.get(name, ""))
        if message is not None:
            errors.append({"loc": ["header", name], "msg": message})
    return errors


class RequestContextMiddleware:
    """Per request: a request id, structlog context, admission, one access log line, the catch-all 500.

    A plain ASGI middleware (not ``BaseHTTPMiddleware``): it runs in the request's own context, so
    the ids bound here reach every log line, and an unhandled exception is turned into the same
    problem shape here — logged once with its traceback, never shown to the client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._admission: Admission | None = None

    def admission(self, scope: Scope) -> Admission | None:
        """The process's admission limit, from the app's settings (made on the first request)."""
        if self._admission is None:
            settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
            if settings is None:
                return None
            self._admission = Admission(settings.api_max_in_flight, settings.api_admission_wait_s)
        return self._admission

    async def shed(
        self, scope: Scope, receive: Receive, send: Send, admission: Admission, **ids: str
    ) -> None:
        settings = scope["app"].state.settings
        retry_after = settings.api_retry_after_s
        log.warning(
            "request_shed",
            method=scope.get("method"),
            path=scope.get("path"),
            in_flight=admission.in_flight,
            limit=admission.limit,
            waited_s=admission.wait_s,
            shed_total=admission.shed_total,
        )
        response = problem_response(
            status=503,
            instance=scope.get("path", ""),
            accept_language=ids["accept_language"],
            request_id=ids["request_id"],
            code="overloaded",
            detail_zh=f"服务繁忙(同时处理的请求已达上限 {admission.limit}),请 {retry_after} 秒后重试",
            detail_en=f"the service is busy ({admission.limit} requests in flight); retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        context: dict[str, str] = {}
        state["log_context"] = context
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        # The body limit lives here rather than in FastAPI's ``max_body_size``, whose 413 is plain text.
        declared = headers.get("content-length", "")
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise StarletteHTTPException(413)  # → the problem handler, like any HTTP error
            return message

        try:
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                response = problem_response(
                    status=413,
                    instance=scope.get("path", ""),
                    accept_language=headers.get("accept-language"),
                    request_id=request_id,
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send_with_id)
            elif unstorable := unstorable_input(scope, headers):
                places = "、".join(".".join(str(p) for p in e["loc"]) for e in unstorable)  # type: ignore[union-attr]
                response = problem_response(
                    status=422,
                    instance=printable(scope.get("path", "")),
                    accept_language=headers.get("accept-language"),
                    request_id=request_id,
                    code=INVALID_CHARACTERS,
                    detail_zh=f"请求含有无法保存的字符(空字符 U+0000 或孤立的代理项):{places}",
                    detail_en="The request holds characters that cannot be stored (NUL or a lone "
                    f"surrogate): {places.replace('、', ', ')}",
                    errors=unstorable,
                )
                await response(scope, receive, send_with_id)
            elif (admission := self.admission(scope)) is None or scope.get("path") in _ALWAYS_ADMITTED:
                await self.app(scope, receive_limited, send_with_id)
            elif not await admission.enter():
                await self.shed(
                    scope,
                    receive,
                    send_with_id,
                    admission,
                    request_id=request_id,
                    accept_language=headers.get("accept-language") or "",
                )
            else:
                try:
                    await self.app(scope, receive_limited, send_with_id)
                finally:
                    admission.leave()
        except Exception as exc:
            log.error(
                "unhandled_error",
                method=scope.get("method"),
                path=scope.get("path"),
                error=repr(exc),
                traceback="".join(traceback.format_exception(exc)),
                **context,
            )
            if not response_started:
                response = problem_response(
                    status=500,
                    instance=scope.get("path", ""),
                    accept_language=headers.get("accept-language"),
                    request_id=request_id,
                )
                await response(scope, receive, send_with_id)
            status = 500
        finally:
            access_log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                **context,
            )
            structlog.contextvars.clear_contextvars()


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    temporal_client: Client | None = None,
) -> FastAPI:
    """Build the app. ``engine`` / ``temporal_client`` may be injected (tests); else made in lifespan."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The key every Update's actor is signed with (issue 23): no key, no start (one line says why).
        signing.install_key(signing.key_from_settings(settings))
        own_engine = engine is None
        app.state.engine = engine or make_api_engine(settings)
        # Threads and DB connections agree: each DB step holds one connection in one thread call.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        init_schema(app.state.engine)
        # Production (any spelling) refuses to start while a demo token or the demo password works.
        refuse_demo_in_production(app.state.engine, settings)
        seed_if_enabled(app.state.engine, settings)
        app.state.temporal_client = temporal_client
        if app.state.temporal_client is None:
            try:
                app.state.temporal_client = await connect_client(settings)
            except Exception as err:
                # Not fatal: reads still work; engine calls retry the connection and answer 503.
                log.warning(
                    "temporal_unreachable_at_startup", address=settings.temporal_address, error=str(err)
                )
        log.info(
            "api_started",
            database="sqlite" if settings.is_sqlite else "postgresql",
            temporal=settings.temporal_address,
            task_queue=settings.task_queue,
        )
        try:
            yield
        finally:
            if own_engine:
                app.state.engine.dispose()

    app = FastAPI(
        title="govshare API · 政务信息资源共享",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from api.docs, offline (FastAPI's load from a CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.temporal_client = temporal_client
    app.state.rate_limits = RateLimits(settings)  # issue 23: per process (api/limits.py)
    install_error_handlers(app)
    app.add_middleware(HeadAsGet)  # innermost: HEAD answered as GET without the body (RFC 9110)
    app.add_middleware(SignInLimitMiddleware)  # wrong passwords on /ui/login per address
    app.add_middleware(DuplicateKeyMiddleware)  # inside the body limit: a JSON key twice → 422
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_production)
    app.add_middleware(AccessLogMiddleware)  # outermost: every read recorded after its answer
    routes = (
        applications,
        audit,
        cases,
        orders,
        complaints,
        catalog_updates,
        data_objections,
        disputes,
        open_data,
        oversight,
        deadline_audit,
        tasks,
        notifications,
        resources,
        catalog_lists,
        statistics,
        system,
    )
    for module in routes:
        app.include_router(module.router)
    install_docs(app)
    pages.install(app)  # after the API's error handlers: the pages wrap them for /ui paths
    return app


app = create_app()
