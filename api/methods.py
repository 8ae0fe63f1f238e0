"""HTTP method semantics the framework leaves out (RFC 9110): HEAD on every GET, an exact ``Allow``.

FastAPI routes answer exactly the methods they declare, so ``HEAD /applications`` was a 405 and a
405's ``Allow`` named the methods of the first route on the path only (``Allow: POST`` on
``/applications``, which also answers GET). Here:

- :class:`HeadAsGet` answers HEAD as the same request with GET would be answered — status and
  headers (``Content-Length`` included) — without the body (RFC 9110 §9.3.2). It sits inside the
  request-context middleware, so a HEAD is admitted, limited and logged as a HEAD.
- :func:`allowed_methods` lists every method a path accepts, over all the routes that match it
  (HEAD wherever GET is): what a 405's ``Allow`` says (RFC 9110 §15.5.6).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import routing
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The order methods are listed in ``Allow``.
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class HeadAsGet:
    """A HEAD request is passed on as GET; its answer's start (status, headers) goes out as it is,
    its body is dropped (the last body message is sent empty, so the exchange still ends)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def send_without_body(message: Message) -> None:
            nonlocal ended
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False) and not ended:
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET"}, receive, send_without_body)


def flat_routes(app: Any) -> Iterator[Any]:
    """Every route of ``app``, the routes of included routers among them, each with its full
    ``path_format``, ``methods`` and ``matches(scope)`` (and, a FastAPI route, ``dependant`` and
    ``include_in_schema``). FastAPI keeps an included router as one route of the app
    (``iter_route_contexts`` walks into it); an older FastAPI copied its routes into the app's."""
    routes = getattr(getattr(app, "router", None), "routes", ())
    walk = getattr(routing, "iter_route_contexts", None)
    yield from walk(routes) if walk is not None else routes


def allowed_methods(scope: Scope, fallback: str = "") -> str:
    """The ``Allow`` value for the request's path: the methods of every route of the app that
    matches the path (whatever the method), HEAD added where GET is. ``fallback`` when no route with
    methods matches (a mounted app's own 405).

    A concrete path is matched before a templated one (as OpenAPI reads paths): ``/resources/import``
    is the import's, although ``/resources/{resource_id}`` matches it too — a GET there finds no
    resource ``import`` (404), it is not a method of the import."""
    by_template: dict[int, set[str]] = {}
    for route in flat_routes(scope.get("app")):
        route_methods = getattr(route, "methods", None)
        if not route_methods:
            continue
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            parameters = str(getattr(route, "path_format", "")).count("{")
            by_template.setdefault(parameters, set()).update(method.upper() for method in route_methods)
    if not by_template:
        return fallback
    methods = by_template[min(by_template)]
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods, key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m)))
