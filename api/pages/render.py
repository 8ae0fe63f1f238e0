"""Rendering the pages: one Jinja2 environment (autoescaped), the language of the request, the
headers every page carries.

Chinese first: a page is in Chinese unless the ``govshare_lang`` cookie says ``en`` (the switch in
the header sets it). Words of the pages live in ``api/pages/words.py``; data that has both languages
(``name_zh`` / ``name_en``) is shown through :func:`both`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.pages import words
from api.pages.sessions import LANG_COOKIE, SignedIn
from api.routes.notifications import _addressed_to
from calendars import SHANGHAI
from govshare.core.models import Notification

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

#: What every page may load: only this application's own files (no CDN, no inline script).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def language(request: Request) -> str:
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"


def _when(value: Any, lang: str = "zh") -> str:
    """An instant as people read it, in the platform's zone: 2026-12-02 14:05."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(SHANGHAI)
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _day(value: Any) -> str:
    text = _when(value)
    return text[:10]


WEEKDAYS_ZH = "一二三四五六日"


def due_text(task: Any, lang: str = "zh") -> str:
    """A task's due date as people read a working-day period: its last working day, to the end of
    that day (``due_date``), e.g. 2026-12-07(周一)24:00 前; an older task without ``due_date``: its
    instant."""
    due_date = getattr(task, "due_date", None)
    if not due_date:
        return _when(getattr(task, "due_at", None))
    day = date.fromisoformat(due_date)
    if lang == "en":
        return f"by end of {day.strftime('%a')} {day.isoformat()}"
    return f"{day.isoformat()}(周{WEEKDAYS_ZH[day.weekday()]})24:00 前"


def due_mark(task: Any, today: date | None = None) -> str:
    """overdue | today | tomorrow | "" — how the inbox marks a task's due date (by its last working
    day, ``due_date``: a period that ends at 24:00 of 7 December is due *today* on the 7th)."""
    if getattr(task, "overdue", False):
        return "overdue"
    due_date = getattr(task, "due_date", None)
    due_at = getattr(task, "due_at", None)
    if due_date:
        due = date.fromisoformat(due_date)
    elif due_at is not None:
        due = (due_at.astimezone(SHANGHAI) if due_at.tzinfo else due_at).date()
    else:
        return ""
    today = today or datetime.now(SHANGHAI).date()
    if due <= today:
        return "today"
    if due == today + timedelta(days=1):
        return "tomorrow"
    return ""


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["day"] = _day
    env.globals["zip"] = zip
    env.filters["urlquote"] = lambda value: quote(str(value), safe="")
    return env


ENV = make_environment()


def unread_count(engine: Any, user: SignedIn) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(Notification)
            .where(_addressed_to(user.caller), col(Notification.read_at).is_(None))
        ).one()


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: SignedIn | None = None,
    status: int = 200,
    title: str = "",
) -> HTMLResponse:
    """Render ``template`` with what every page needs: the language and its words, the user, the
    unread count, the CSRF token for the forms."""
    lang = language(request)
    user = user or getattr(request.state, "signed_in", None)

    def t(key: str, **values: Any) -> str:
        return words.say(key, lang, **values)

    def both(item: Any, name: str = "name") -> str:
        """``item.name_zh`` / ``item.name_en`` (or dict keys) in the page's language, falling back
        to the other."""
        get = item.get if isinstance(item, dict) else lambda k, d="": getattr(item, k, d)
        zh, en = get(f"{name}_zh", "") or "", get(f"{name}_en", "") or ""
        return (en or zh) if lang == "en" else (zh or en)

    def page_link(offset: int) -> str:
        """This page's address with its filters, at another offset."""
        params = {k: v for k, v in request.query_params.items() if k != "offset"}
        params["offset"] = str(max(0, offset))
        return f"{request.url.path}?{urlencode(params)}"

    values = {
        "request": request,
        "page_link": page_link,
        "lang": lang,
        "t": t,
        "both": both,
        "role_name": lambda role: words.role(role, lang),
        "user": user,
        "csrf": user.csrf_token if user else "",
        "unread": unread_count(request.app.state.engine, user) if user else 0,
        "path": request.url.path,
        "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "title": title,
        "due_mark": due_mark,
        "due_text": lambda task: due_text(task, lang),
        "flash": None,
        **(context or {}),
    }
    html = ENV.get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
