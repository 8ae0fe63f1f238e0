"""The security headers every answer carries (issue 23), added where the route did not set its own.

On every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``X-Frame-Options: DENY``. On JSON (``application/json``, ``application/problem+json``, any
``+json``): ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`` — a JSON answer
loads nothing and is framed by nobody. On the answer to a request that carried credentials (an
``Authorization`` header or the pages' session cookie), static files aside: ``Cache-Control:
no-store``, so no shared cache or browser history keeps what one caller may read. With
``ENVIRONMENT=production`` (HTTPS assumed: the reverse proxy terminates TLS):
``Strict-Transport-Security: max-age=31536000``.

A header the route set stays as it is: ``/docs`` and ``/redoc`` set a CSP of their own (api/docs.py),
the pages (``/ui``) theirs and their ``Referrer-Policy: same-origin`` (api/pages/render.py). HTML
without a CSP of its own (Swagger UI's OAuth2 redirect page) gets none from here: its inline script
must run.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
#: The pages' session cookie (``api.pages.sessions.COOKIE``; not imported: the pages build on the API).
SESSION_COOKIE = b"govshare_session="
#: Files anyone may fetch, cacheable whoever asks.
STATIC_PREFIXES = ("/docs/static/", "/ui/static/")
ALWAYS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        credentials = not str(scope.get("path", "")).startswith(STATIC_PREFIXES) and any(
            name.lower() == b"authorization" or (name.lower() == b"cookie" and SESSION_COOKIE in value)
            for name, value in scope.get("headers", [])
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS:
                    headers.setdefault(name, value)
                if "content-security-policy" not in headers and is_json(headers.get("content-type", "")):
                    headers["Content-Security-Policy"] = JSON_CSP
                if credentials:
                    headers.setdefault("Cache-Control", "no-store")
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)
