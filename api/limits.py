"""Rate limits per caller (issue 23): a public-facing service must not answer 300 wrong tokens with
300 × 401, nor let one credential flood it.

Four limits, each a setting in the notation of the ``limits`` package (alisaifee/limits, what
slowapi builds on), counted in its in-memory **moving window** (``MovingWindowRateLimiter`` over
``MemoryStorage``): exact over the window, no burst at a window's edge. ``0`` turns a limit off.

- ``RATE_LIMIT_FAILED_AUTH`` (``20/minute``): bearer authentications refused 401, per client address
  (the address the access log records: the peer, or through ``TRUSTED_PROXIES`` the forwarded one).
  Once full, *every* bearer request from that address is answered 429 before its token is looked at
  — a right token too, or guessing would go on with the 429s as the oracle — until the window has
  room again (``Retry-After``).
- ``RATE_LIMIT_WRITES`` (``60/minute;600/hour``): POST, PUT, PATCH, DELETE per authenticated caller
  (``Caller.principal``: a department's credential is its department, a person its own key).
- ``RATE_LIMIT_READS`` (``600/minute``): GET and HEAD per authenticated caller.
- ``RATE_LIMIT_FAILED_SIGN_IN`` (``30/15minutes``): wrong passwords on the pages (``POST /ui/login``
  answered 401) per client address, beside the pages' own pause per username.

Every refusal is a problem (``application/problem+json``, code ``rate_limited``) with
``Retry-After``, except the sign-in page's, which is a page. The counts live in the API process: with
several API processes each counts its own (a caller gets up to N × the limit); a shared limit
belongs in the reverse proxy (or a ``limits`` storage such as Redis, not configured here).

Hooks: :func:`before_authentication`, :func:`after_failed_authentication` and :func:`admit` are
called by ``api.deps.caller_with_roles`` around the token lookup; :class:`SignInLimitMiddleware`
wraps ``POST /ui/login``. The pages' other requests are not limited here (they have a session).
"""

from __future__ import annotations

import math
import time

import structlog
from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.access_log import client_address
from api.errors import ApiError
from govshare.core.settings import Settings

log = structlog.get_logger("govshare.api.limits")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGN_IN_PATH = "/ui/login"
RATE_LIMITED = "rate_limited"


def _items(text: str) -> list[RateLimitItem]:
    return [] if text.strip() in ("", "0") else parse_many(text)


class RateLimits:
    """The process's limits and their counts (one per app: ``app.state.rate_limits``)."""

    def __init__(self, settings: Settings) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.failed_auth = _items(settings.rate_limit_failed_auth)
        self.writes = _items(settings.rate_limit_writes)
        self.reads = _items(settings.rate_limit_reads)
        self.failed_sign_in = _items(settings.rate_limit_failed_sign_in)
        self.trusted_proxies = settings.trusted_proxies
        self.refused_total = 0

    def wait_s(self, items: list[RateLimitItem], *key: str) -> int | None:
        """Seconds until ``key`` may go on under every limit in ``items``; None: it may now."""
        for item in items:
            if not self.limiter.test(item, *key):
                reset = self.limiter.get_window_stats(item, *key).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    def hit(self, items: list[RateLimitItem], *key: str) -> int | None:
        """Count one event for ``key``; if a limit is full already it is not counted and the seconds to
        wait are returned."""
        wait = self.wait_s(items, *key)
        if wait is not None:
            return wait
        for item in items:
            self.limiter.hit(item, *key)
        return None

    def client(self, scope: Scope) -> str:
        peer = (scope.get("client") or ("", 0))[0] or ""
        forwarded = ""
        for name, value in scope.get("headers", []):
            if name.lower() == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        return client_address(peer, forwarded, self.trusted_proxies)


def _limits(request: Request) -> RateLimits | None:
    return getattr(request.app.state, "rate_limits", None)


def _describe(items: list[RateLimitItem]) -> str:
    return "; ".join(str(item) for item in items)


def too_many(wait: int, zh: str, en: str) -> ApiError:
    """A 429 problem with ``Retry-After``."""
    return ApiError(
        429,
        f"{zh},请 {wait} 秒后重试",
        f"{en}; retry in {wait} s",
        code=RATE_LIMITED,
        headers={"Retry-After": str(wait)},
    )


def before_authentication(request: Request) -> None:
    """429 while the request's address has had too many failed authentications (nothing is looked
    up: a right token is refused too until the window has room)."""
    limits = _limits(request)
    if limits is None or not limits.failed_auth:
        return
    address = limits.client(request.scope)
    wait = limits.wait_s(limits.failed_auth, "failed-auth", address)
    if wait is not None:
        limits.refused_total += 1
        log.warning("rate_limited", limit="failed_auth", client=address, retry_after_s=wait)
        raise too_many(
            wait,
            f"该地址认证失败次数过多(上限 {_describe(limits.failed_auth)})",
            f"too many failed authentications from this address (limit {_describe(limits.failed_auth)})",
        )


def after_failed_authentication(request: Request, error: ApiError) -> ApiError:
    """Count a 401 against the address; the error to answer (the 401, or 429 once the limit is full)."""
    limits = _limits(request)
    if limits is None or not limits.failed_auth or error.status != 401:
        return error
    address = limits.client(request.scope)
    wait = limits.hit(limits.failed_auth, "failed-auth", address)
    if wait is None:
        return error
    limits.refused_total += 1
    log.warning("rate_limited", limit="failed_auth", client=address, retry_after_s=wait)
    return too_many(
        wait,
        f"该地址认证失败次数过多(上限 {_describe(limits.failed_auth)})",
        f"too many failed authentications from this address (limit {_describe(limits.failed_auth)})",
    )


def admit(request: Request, principal: str) -> None:
    """Count the request against the caller's read or write limit; 429 when it is full. Counted once
    per request (a route with two caller dependencies is one request)."""
    limits = _limits(request)
    if limits is None or getattr(request.state, "rate_counted", False):
        return
    request.state.rate_counted = True
    write = request.method.upper() in WRITE_METHODS
    items = limits.writes if write else limits.reads
    if not items:
        return
    wait = limits.hit(items, "write" if write else "read", principal)
    if wait is None:
        return
    limits.refused_total += 1
    log.warning("rate_limited", limit="writes" if write else "reads", principal=principal, retry_after_s=wait)
    if write:
        raise too_many(
            wait,
            f"写操作过于频繁(每个调用方上限 {_describe(items)})",
            f"too many writes (limit per caller {_describe(items)})",
        )
    raise too_many(
        wait,
        f"查询过于频繁(每个调用方上限 {_describe(items)})",
        f"too many reads (limit per caller {_describe(items)})",
    )


_SIGN_IN_PAUSED = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>登录尝试过多 · Too many sign-in attempts</title></head>
<body><h1>登录尝试过多 · Too many sign-in attempts</h1>
<p>该地址密码错误次数过多,请 {minutes} 分钟后再试。</p>
<p>Too many wrong passwords from this address; try again in {minutes} minute(s).</p>
<p><a href="/ui/login">登录 · Sign in</a></p></body></html>
"""


class SignInLimitMiddleware:
    """Wrong passwords on ``POST /ui/login`` (answered 401 by the page) per client address: past
    ``RATE_LIMIT_FAILED_SIGN_IN`` the address gets a 429 page with ``Retry-After`` instead of the
    password check, until the window has room."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits: RateLimits | None = getattr(getattr(scope.get("app"), "state", None), "rate_limits", None)
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") != SIGN_IN_PATH
            or limits is None
            or not limits.failed_sign_in
        ):
            await self.app(scope, receive, send)
            return
        address = limits.client(scope)
        wait = limits.wait_s(limits.failed_sign_in, "failed-sign-in", address)
        if wait is not None:
            limits.refused_total += 1
            log.warning("rate_limited", limit="failed_sign_in", client=address, retry_after_s=wait)
            body = _SIGN_IN_PAUSED.format(minutes=max(1, math.ceil(wait / 60))).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"text/html; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(wait).encode()),
                        (b"cache-control", b"no-store"),
                        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        status = 0

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, noting_status)
        if status == 401:
            limits.hit(limits.failed_sign_in, "failed-sign-in", address)
