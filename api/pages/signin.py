"""Signing in and out, the language switch, the role switch.

Passwords are checked by ``govshare.core.users.authenticate`` (Argon2id, argon2-cffi). Wrong
passwords for one username pause its sign-in after ``WEB_LOGIN_MAX_FAILURES`` within 15 minutes
(per process). The sign-in form carries a pre-session CSRF token (a cookie compared with the field).
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict, deque
from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from api.pages import sessions
from api.pages.forms import checked_form, local_path, text
from api.pages.oidc import oidc_enabled
from api.pages.render import language, page
from api.pages.sessions import COOKIE, LANG_COOKIE, LOGIN_COOKIE, same_token, signed_in
from api.pages.words import WORDS, say
from govshare.core import users

log = structlog.get_logger("govshare.pages")

router = APIRouter(prefix="/ui", include_in_schema=False)

PAUSE_S = 15 * 60
_failures: dict[str, deque[float]] = defaultdict(deque)


def _paused(username: str, limit: int) -> bool:
    now = time.monotonic()
    recent = _failures[username]
    while recent and recent[0] < now - PAUSE_S:
        recent.popleft()
    return len(recent) >= limit


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookie_secure,
        path="/",
    )


def _signin_page(
    request: Request, *, next_path: str, username: str = "", flash: dict | None = None, status: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    settings = request.app.state.settings
    response = page(
        request,
        "signin.html",
        {
            "login_csrf": token,
            "next": next_path,
            "username": username,
            "oidc": oidc_enabled(settings),
            "demo": settings.seed_demo,
            "flash": flash,
        },
        status=status,
        title=say("signin.title", language(request)),
    )
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=settings.cookie_secure, path="/ui"
    )
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/ui/", oidc_error: str = "", out: str = "") -> Response:
    lang = language(request)
    flash = None
    if oidc_error:
        key = f"oidc.{oidc_error}"
        flash = {"kind": "error", "title": "", "text": say(key if key in WORDS else "oidc.error", lang)}
    elif out:
        flash = {"kind": "ok", "title": "", "text": say("signin.out", lang)}
    return _signin_page(request, next_path=local_path(next), flash=flash)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/ui/",
) -> Response:
    lang = language(request)
    settings = request.app.state.settings
    engine = request.app.state.engine
    next_path = local_path(next)
    username = username.strip().lower()
    if sessions.foreign_origin(request) or not same_token(csrf_token, request.cookies.get(LOGIN_COOKIE, "")):
        flash = {"kind": "error", "title": "", "text": say("signin.expired", lang)}
        return _signin_page(request, next_path=next_path, username=username, flash=flash, status=403)
    if _paused(username, settings.web_login_max_failures):
        log.warning("signin_paused", user=username)
        flash = {"kind": "error", "title": "", "text": say("signin.paused", lang, minutes=PAUSE_S // 60)}
        return _signin_page(request, next_path=next_path, username=username, flash=flash, status=429)

    def check() -> users.UserAccount | None:
        with Session(engine) as session:
            return users.authenticate(session, username, password)

    user = await run_in_threadpool(check)
    if user is None or not user.roles:
        _failures[username].append(time.monotonic())
        log.info("signin_failed", user=username)
        flash = {"kind": "error", "title": "", "text": say("signin.failed", lang)}
        return _signin_page(request, next_path=next_path, username=username, flash=flash, status=401)
    _failures.pop(username, None)
    token = await run_in_threadpool(sessions.open_session, engine, settings, user)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, request, token)
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    user = signed_in(request)
    await checked_form(request, user)
    await run_in_threadpool(sessions.end, request.app.state.engine, request.cookies.get(COOKIE))
    response = RedirectResponse("/ui/login?out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang")
def switch_language(request: Request, to: str = "zh", next: str = "/ui/") -> Response:
    response = RedirectResponse(local_path(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE, "en" if to == "en" else "zh", samesite="lax", path="/", max_age=365 * 86400
    )
    return response


@router.post("/role")
async def switch_role(request: Request) -> Response:
    user = signed_in(request)
    form = await checked_form(request, user)
    await run_in_threadpool(sessions.switch_role, request.app.state.engine, user, text(form, "role", 32))
    # The page acted on may not exist in the new role: the inbox is where a role's work is.
    return RedirectResponse("/ui/", status_code=303)
