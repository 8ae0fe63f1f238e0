"""What every page form shares: the CSRF check, the way back, a refusal shown as words.

A form is read once, checked (its session's CSRF token, an ``Origin`` of this site), and only then
acted on. A refusal from the system — the API's own :class:`api.errors.ApiError`, the engine's
:class:`govshare.cases.service.CaseError` — becomes a :class:`Problem`: its status and its message in
the page's language, never a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request
from starlette.datastructures import FormData

from api.errors import ApiError, OutcomePending
from api.pages import words
from api.pages.sessions import SignedIn, foreign_origin, same_token
from govshare.cases.service import CaseError

log = structlog.get_logger("govshare.pages")


class CsrfRefused(Exception):
    """A POST without its session's CSRF token (or from another site's page): refused, 403."""


@dataclass(frozen=True)
class Problem:
    status: int
    message: str
    code: str = ""

    @property
    def heading_key(self) -> str:
        return f"error.{self.status}" if f"error.{self.status}" in words.WORDS else "error.title"


async def checked_form(request: Request, user: SignedIn) -> FormData:
    """The posted form, once its CSRF token matches the session's and its origin is this site."""
    form = await request.form()
    if foreign_origin(request) or not same_token(_text(form.get("csrf_token")), user.csrf_token):
        log.warning("csrf_refused", path=request.url.path, user=user.username)
        raise CsrfRefused()
    return form


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def text(form: FormData, name: str, limit: int = 4000) -> str:
    """A text field, stripped; at most ``limit`` characters (the API's own checks come after)."""
    return _text(form.get(name)).strip()[:limit]


def local_path(value: str | None, default: str = "/ui/") -> str:
    """Where to go next: only a path of the pages themselves (never another site: no open redirect)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def problem_of(exc: Exception, lang: str) -> Problem:
    """A refusal as the page shows it."""
    if isinstance(exc, ApiError | CaseError):
        message = exc.detail_en if lang == "en" else exc.detail_zh
        if exc.status == 422 and getattr(exc, "errors", None):
            details = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg', '')}"
                for e in exc.errors or []
                if isinstance(e, dict)
            )
            if details and details not in message:
                message = f"{message}({details})" if lang != "en" else f"{message} ({details})"
        return Problem(exc.status, message, getattr(exc, "code", ""))
    if isinstance(exc, OutcomePending):
        return Problem(202, words.say("error.202", lang), "pending")
    raise exc


def validation_problem(errors: list[dict[str, Any]], lang: str) -> Problem:
    """A form's fields that the request models refused (pydantic), as one readable line."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", "")))
    return Problem(422, f"{words.say('error.422', lang)}:{'; '.join(parts)}", "validation_failed")
