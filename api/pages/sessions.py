"""Signed-in browsers: server-side sessions, the CSRF token every form sends back, the caller a page
acts as.

A session is a row (``web_session``) holding the SHA-256 of a random cookie value, never the value:
signing out ends it at once (``ended_at``), a stolen database gives no cookie. The cookie is
``HttpOnly`` (no script reads it), ``SameSite=Lax`` (no cross-site form carries it) and ``Secure``
everywhere but a development machine (``Settings.cookie_secure``). A session ends
``WEB_SESSION_HOURS`` after sign-in and after ``WEB_SESSION_IDLE_MINUTES`` without a page.

CSRF: each session has its own random token, written into every form as ``csrf_token``; a POST
whose token is missing or differs is refused (403) before anything is done — the synchronizer-token
pattern (OWASP). The sign-in form, which has no session yet, uses a pre-session cookie compared with
its field (double submit). A request whose ``Origin`` names another site is refused as well.

A page acts through the same functions as the API, as a :class:`api.deps.Caller` made from the
user: its department, the role the session acts in, and the user's own identity as the person — so
the engine records the person as well as the department on every decision, and visibility is the
API's own (:func:`api.deps.can_see_case`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import Request
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.deps import Caller, bind_log_context
from govshare.core.models import Department, PartyIdentity, UserAccount, WebSession
from govshare.core.settings import Settings

log = structlog.get_logger("govshare.pages")

COOKIE = "govshare_session"
LOGIN_COOKIE = "govshare_login"
LANG_COOKIE = "govshare_lang"
#: ``last_seen_at`` is written at most this often (a page view is not a write each time).
TOUCH_EVERY = timedelta(minutes=1)


def digest(token: str) -> str:
    # Plain SHA-256, unlike the bearer tokens' keyed digest (govshare/core/tokens.py), on purpose: a
    # session cookie is 256 random bits (secrets.token_urlsafe(32)) chosen by the server, never a
    # guessable value like the demo tokens, so its digest cannot be inverted or guessed offline with
    # or without a key; and it dies within WEB_SESSION_HOURS.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """The user behind a page request, in the role the session acts in."""

    session_id: int
    user_id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    role: str
    csrf_token: str
    caller: Caller
    method: str = "password"


class SignInRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in page."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def caller_of(session: Session, user: UserAccount, role: str) -> Caller:
    """The user as the API's caller: its department (if any), the role, its identity as the person."""
    department = session.get(Department, user.department_code) if user.department_code else None
    identity = session.get(PartyIdentity, user.person_id)
    if department is not None:
        kind = "department_person"
    else:
        kind = identity.kind if identity is not None else "person"
    return Caller(
        department=department.code if department else "",
        department_name_zh=department.name_zh if department else "",
        department_name_en=department.name_en if department else "",
        role=role,
        label=f"user:{user.username}",
        person=user.person_id,
        person_name=user.display_name,
        party_kind=kind,
    )


def open_session(engine: Engine, settings: Settings, user: UserAccount, *, method: str = "password") -> str:
    """Start a session for ``user`` (already authenticated) and return the cookie value."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.add(
            WebSession(
                token_sha256=digest(token),
                user_id=user.id,
                role=user.roles[0],
                csrf_token=secrets.token_urlsafe(24),
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=settings.web_session_hours),
                method=method,
            )
        )
        session.commit()
    log.info("signed_in", user=user.username, department=user.department_code or "", method=method)
    return token


def load(engine: Engine, settings: Settings, token: str | None) -> SignedIn | None:
    """The live session the cookie names, or None (unknown, ended, expired, idle, user disabled)."""
    if not token:
        return None
    now = datetime.now(UTC)
    with Session(engine) as session:
        row = session.exec(
            select(WebSession, UserAccount)
            .join(UserAccount, UserAccount.id == WebSession.user_id)  # type: ignore[arg-type]
            .where(WebSession.token_sha256 == digest(token))
        ).first()
        if row is None:
            return None
        web, user = row
        idle = timedelta(minutes=settings.web_session_idle_minutes)
        if (
            web.ended_at is not None
            or _aware(web.expires_at) <= now
            or _aware(web.last_seen_at) + idle <= now
            or user.disabled_at is not None
            or web.role not in user.roles
        ):
            return None
        if now - _aware(web.last_seen_at) >= TOUCH_EVERY:
            web.last_seen_at = now
            session.add(web)
            session.commit()
            session.refresh(web)
            session.refresh(user)
        assert web.id is not None and user.id is not None
        return SignedIn(
            session_id=web.id,
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            roles=tuple(user.roles),
            role=web.role,
            csrf_token=web.csrf_token,
            caller=caller_of(session, user, web.role),
            method=web.method,
        )


def end(engine: Engine, token: str | None) -> None:
    """Sign out: the session ends now; its cookie opens nothing afterwards."""
    if not token:
        return
    with Session(engine) as session:
        web = session.exec(select(WebSession).where(WebSession.token_sha256 == digest(token))).first()
        if web is not None and web.ended_at is None:
            web.ended_at = datetime.now(UTC)
            session.add(web)
            session.commit()
            log.info("signed_out", session_id=web.id)


def switch_role(engine: Engine, signed_in: SignedIn, role: str) -> bool:
    """Act in another of the user's roles from now on (False: not one of them)."""
    if role not in signed_in.roles:
        return False
    with Session(engine) as session:
        web = session.get(WebSession, signed_in.session_id)
        if web is None:
            return False
        web.role = role
        session.add(web)
        session.commit()
    return True


def signed_in(request: Request) -> SignedIn:
    """The page's user, or :class:`SignInRequired` (answered with a redirect to sign in). Every log
    line of the request carries the department, role, user and person."""
    state = request.app.state
    user = load(state.engine, state.settings, request.cookies.get(COOKIE))
    if user is None:
        raise SignInRequired()
    caller = user.caller
    bind_log_context(request, department=caller.department, role=caller.role, label=caller.label)
    bind_log_context(request, person=caller.person)
    request.state.signed_in = user
    return user


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def foreign_origin(request: Request) -> bool:
    """A POST from a page of another site (the browser names it in ``Origin``)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] != host
