"""Duplicate keys in a JSON body are refused (issue 23): 422 ``duplicate_json_key``.

``{"action": "grant", "action": "refuse"}`` is valid JSON to Python's parser, which keeps the last
value; a proxy, a log or an auditor's tool may keep the first. Two readers of one request must not
see two decisions, so a body with a key twice in one object is refused, naming the key and where it
is (``grant.conditions``, ``items[2].id``).

:class:`DuplicateKeyMiddleware` (pure ASGI, inside ``RequestContextMiddleware``, so the body limit
``MAX_BODY_BYTES`` applies while it reads) buffers the body of a POST, PUT, PATCH or DELETE that is
JSON to FastAPI — ``application/json``, ``application/*+json``, or no content type — parses it with
an ``object_pairs_hook`` that notices a repeated key, and replays the same bytes to the app when
there is none. A body that is not valid JSON passes untouched: the route answers it as before
(422 ``malformed_json``).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import printable, problem_response

DUPLICATE_JSON_KEY = "duplicate_json_key"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Repeated(Exception):
    pass


class _Object(dict):
    """A JSON object that remembers the keys it was given more than once (in order)."""

    repeated: list[str]


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Repeated(key)
        seen[key] = value
    return seen


def _note_repeats(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.repeated = []
    for key, value in pairs:
        if key in obj and key not in obj.repeated:
            obj.repeated.append(key)
        obj[key] = value
    return obj


def _first_repeat(value: Any, path: list[str | int]) -> tuple[list[str | int], str] | None:
    """The path of the first object (depth first, in document order) holding a key twice, and the key."""
    if isinstance(value, _Object):
        if value.repeated:
            return path, value.repeated[0]
        for key, item in value.items():
            found = _first_repeat(item, [*path, key])
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_repeat(item, [*path, index])
            if found is not None:
                return found
    return None


def duplicate_key(body: bytes) -> tuple[list[str | int], str] | None:
    """Where ``body`` repeats a key (the enclosing object's path, the key), or None — also for a body
    that is not JSON at all (the route says what is wrong with it)."""
    try:
        json.loads(body, object_pairs_hook=_refuse_repeats)
        return None
    except _Repeated:
        pass
    except (ValueError, RecursionError):  # not JSON (or not UTF-8): the route's own answer
        return None
    return _first_repeat(json.loads(body, object_pairs_hook=_note_repeats), [])


def dotted(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return printable(text)


def _is_json_body(scope: Scope) -> bool:
    content_type = ""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-type":
            content_type = value.decode("latin-1")
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or (media.startswith("application/") and media.endswith("+json"))


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == wanted:
            return value.decode("latin-1")
    return None


class DuplicateKeyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS or not _is_json_body(scope):
            await self.app(scope, receive, send)
            return
        request_id = str((scope.get("state") or {}).get("request_id", ""))
        language = _header(scope, b"accept-language")
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client went away: nobody to answer
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except StarletteHTTPException as exc:  # the body limit, raised by the receive we were given
            response = problem_response(
                status=exc.status_code,
                instance=printable(scope.get("path", "")),
                accept_language=language,
                request_id=request_id,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        body = b"".join(chunks)
        found = duplicate_key(body) if body else None
        if found is not None:
            path, key = found
            where = dotted([*path, key])
            inside = dotted(path) or "(顶层 / top level)"
            response = problem_response(
                status=422,
                instance=printable(scope.get("path", "")),
                accept_language=language,
                request_id=request_id,
                code=DUPLICATE_JSON_KEY,
                detail_zh=f"JSON 请求体中键 “{printable(key)}” 在同一对象中出现多次:{where}",
                detail_en=f"the JSON body gives the key '{printable(key)}' more than once in one object: "
                f"{where}",
                errors=[
                    {
                        "loc": [
                            "body",
                            *[p if isinstance(p, int) else printable(p) for p in path],
                            printable(key),
                        ],
                        "msg": f"键重复(所在对象:{inside})/ duplicate key (in the object at {inside})",
                    }
                ],
            )
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
