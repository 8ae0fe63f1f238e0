"""Dependencies shared by the routes: the DB engine and short sessions, the Temporal client, the caller.

Authentication and authorization are one dependency: :func:`caller_with_roles` resolves the bearer
token to a department acting in a role, a person of a department (its principal head), or a party
who is not a department (a citizen, a legal person; Luoyang) — Hubei 27, Luzhou 34: identity
authentication and access control on every call — and refuses roles the route does not admit, so no
route checks roles itself. Which *case* a caller may see or touch is one function,
:func:`can_see_case`; which *task* it may decide is the workflow's update validator (it holds the
state), surfaced by ``case_service``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import and_, bindparam, false, or_
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select
from temporalio.client import Client

from api import limits as rate_limits
from api.errors import ApiError, unauthorized
from govshare.cases.service import EngineUnavailable
from govshare.core import tokens
from govshare.core.models import Case, CaseParty, Credential, Department, PartyIdentity, UserAccount
from govshare.core.settings import Settings
from govshare.core.temporal_client import connect_client
from regulations.schema import CASE_ROLES
from workflows.engine.decisions import DEPARTMENT_CREDENTIALS

log = structlog.get_logger("govshare.api")

T = TypeVar("T")

#: Roles that see every case (the platform operates the flow; the leading group office supervises
#: it, Hubei 26; auditors read everything, REGULATIONS.md §10).
OVERSIGHT_ROLES = frozenset({"platform", "leading_group", "auditor"})
ALL_ROLES = (
    "consumer",
    "provider",
    "platform",
    "leading_group",
    "coordinator",
    "government_office",
    "auditor",
    "principal_head",
    "citizen",
)
#: Roles that may change a case (an auditor reads and replays, it never acts). A principal head
#: (主要负责人) approves what the regulation gives it; a citizen (公民、法人和其他组织, Luoyang) acts in
#: the cases it is party to.
ACTING_ROLES = (
    "consumer",
    "provider",
    "platform",
    "leading_group",
    "coordinator",
    "government_office",
    "principal_head",
    "citizen",
)
#: Who a caller is (``Caller.party_kind``): a department's credential; a person acting in a
#: department; a party who is not a department, of its identity's kind.
PARTY_KINDS = ("department", "department_person", "person", "legal_person", "organisation")


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: a department (部门) acting in one role, a person of a department (its
    principal head: ``department`` and ``person``), or a party who is not a department (a citizen, a
    legal person: ``person`` only, ``department`` ""). ``person`` is the identity's opaque reference
    (``party_identity.id``), never its ID number; ``label`` is the credential's."""

    department: str
    department_name_zh: str
    department_name_en: str
    role: str
    label: str
    person: str = ""
    person_name: str = ""
    party_kind: str = "department"

    @property
    def sees_all(self) -> bool:
        return self.role in OVERSIGHT_ROLES

    @property
    def principal(self) -> str:
        """Who calls, as one key: what per-caller scopes (idempotency keys, Update ids) are keyed by.
        A department's credential is its department (as before, so its keys and case ids stay what
        they were); a person of a department is ``<department>/<person>``; a party without department
        ``~<person>`` (department codes are plain letters: the ``~`` keeps it apart from every
        department's scope). Two citizens never share a scope."""
        if not self.person:
            return self.department
        if self.department:
            return f"{self.department}/{self.person}"
        return f"~{self.person}"

    @property
    def display_name_zh(self) -> str:
        """How messages name the caller: the department, the person of it, or the party itself."""
        if not self.person:
            return self.department_name_zh
        if self.department and not self.person_name.startswith(self.department_name_zh):
            return f"{self.department_name_zh}{self.person_name}"
        return self.person_name


# Async (not def): a sync dependency costs a trip through the thread pool, and these only read app.state.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine_dep(request: Request) -> Engine:
    return request.app.state.engine


async def run_db(engine: Engine, work: Callable[..., T], *args: Any) -> T:
    """Run one DB step in the thread pool, in a session of its own that ends inside the same thread
    call: its connection is taken and given back there, never held across an await or while waiting
    for a thread (issue 13: 40 threads waited for 15 connections held by requests that waited for a
    thread). Async routes call this once per DB step; synchronous routes open ``with Session(engine)``
    in their body, which runs in one thread from start to end."""

    def in_session() -> T:
        with Session(engine) as session:
            return work(session, *args)

    return await run_in_threadpool(in_session)


async def get_temporal_client(request: Request) -> Client:
    """The app's Temporal client; if the engine was down at startup, try again now (503 if still down)."""
    state = request.app.state
    if state.temporal_client is None:
        try:
            state.temporal_client = await connect_client(state.settings)
        except Exception as err:  # connect raises RuntimeError for transport errors
            log.warning("temporal_unreachable", address=state.settings.temporal_address, error=str(err))
            raise EngineUnavailable(
                "流程引擎暂时不可用,请稍后重试", "the workflow engine is unavailable; retry later"
            ) from err
    return state.temporal_client


EngineDep = Annotated[Engine, Depends(get_engine_dep)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerToken",
    description="Access token / 访问令牌: a department's, a principal head's or a citizen's (demo: "
    "`demo-rsj-consumer`, `demo-bdb-platform`, `demo-gaj-head`, `demo-citizen` …)",
)


_CREDENTIAL = Credential.__table__  # type: ignore[attr-defined]
_DEPARTMENT = Department.__table__  # type: ignore[attr-defined]
_IDENTITY = PartyIdentity.__table__  # type: ignore[attr-defined]
_USER = UserAccount.__table__  # type: ignore[attr-defined]
#: The one query of an authentication, built once: the columns it needs, not four ORM objects (a
#: request's authentication had cost about 2 ms of the API's CPU in the ORM, bench/case_over_http.py
#: --profile).
_TOKEN_LOOKUP = (
    sa_select(
        _CREDENTIAL.c.id,
        _CREDENTIAL.c.token_sha256,
        _CREDENTIAL.c.hash_scheme,
        _CREDENTIAL.c.revoked_at,
        _CREDENTIAL.c.expires_at,
        _CREDENTIAL.c.user_id,
        _CREDENTIAL.c.department_code,
        _CREDENTIAL.c.person_id,
        _CREDENTIAL.c.role,
        _CREDENTIAL.c.label,
        _DEPARTMENT.c.code.label("department"),
        _DEPARTMENT.c.name_zh.label("department_name_zh"),
        _DEPARTMENT.c.name_en.label("department_name_en"),
        _IDENTITY.c.id.label("identity"),
        _IDENTITY.c.name.label("identity_name"),
        _IDENTITY.c.kind.label("identity_kind"),
        _USER.c.id.label("user_found"),
        _USER.c.disabled_at.label("user_disabled_at"),
    )
    .select_from(
        _CREDENTIAL.outerjoin(_DEPARTMENT, _DEPARTMENT.c.code == _CREDENTIAL.c.department_code)
        .outerjoin(_IDENTITY, _IDENTITY.c.id == _CREDENTIAL.c.person_id)
        .outerjoin(_USER, _USER.c.id == _CREDENTIAL.c.user_id)
    )
    .where(_CREDENTIAL.c.token_sha256.in_(bindparam("digests", expanding=True)))
)


def _authenticate(engine: Engine, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """The token's department, person and role. Its own short session: the connection goes back to
    the pool before the request goes on (it is the first DB step of every authenticated request).

    Department and identity are outer-joined: a citizen's credential has no department, a
    department's none of the identity. A credential that names neither, or names one that does not
    exist, identifies no one and is refused like an unknown token. A token issued to a user
    (``govshare tokens issue``) is refused once it expires or while its user is disabled.

    The token is found by its keyed digest (HMAC-SHA256 under the server key; or, for a row made
    before migration 0010, its plain SHA-256), fetched by the unique index and accepted only if the
    row's digest equals, in constant time, the digest of the row's own scheme
    (``govshare/core/tokens.py``). A legacy row is rewritten to the keyed digest on this first
    successful use."""
    if credentials is None or not credentials.credentials.strip():
        raise unauthorized("缺少访问令牌(Authorization: Bearer <令牌>)", "missing bearer token")
    token = credentials.credentials.strip()
    wanted = tokens.digests(token)
    with engine.connect() as connection:
        rows = connection.execute(_TOKEN_LOOKUP, {"digests": list(wanted.values())}).all()
    row = next((r for r in rows if tokens.matches(r.token_sha256, r.hash_scheme, wanted)), None)
    if row is None:
        raise unauthorized("访问令牌无效", "invalid bearer token", code="invalid_token")
    if row.revoked_at is not None:
        raise unauthorized("访问令牌已被吊销", "the bearer token has been revoked", code="invalid_token")
    expires = row.expires_at
    if expires is not None and expires.tzinfo is None:  # SQLite hands it back naive (UTC)
        expires = expires.replace(tzinfo=UTC)
    if expires is not None and expires <= datetime.now(UTC):
        raise unauthorized("访问令牌已过期", "the bearer token has expired", code="invalid_token")
    if row.user_id is not None and (row.user_found is None or row.user_disabled_at is not None):
        raise unauthorized(
            "访问令牌所属用户已停用", "the bearer token's user has been disabled", code="invalid_token"
        )
    has_department = row.department is not None
    has_identity = row.identity is not None
    if (not has_department and not has_identity) or (
        (row.department_code is not None) != has_department or (row.person_id is not None) != has_identity
    ):
        log.warning("credential_identifies_no_one", credential_id=row.id)
        raise unauthorized("访问令牌无效", "invalid bearer token", code="invalid_token")
    if row.hash_scheme != tokens.KEYED and row.id is not None:
        _rehash(engine, row.id, token)
    if not has_identity:
        kind = "department"
    elif has_department:
        kind = "department_person"
    else:
        kind = row.identity_kind
    return Caller(
        department=row.department or "",
        department_name_zh=row.department_name_zh or "",
        department_name_en=row.department_name_en or "",
        role=row.role,
        label=row.label,
        person=row.identity or "",
        person_name=row.identity_name or "",
        party_kind=kind,
    )


def _rehash(engine: Engine, credential_id: int, token: str) -> None:
    """Store a legacy credential's keyed digest now that its holder has shown the token (once: the
    update matches only while the row is legacy). A failure (a busy database) leaves the row legacy
    and the request authenticated; the next use tries again."""
    try:
        with Session(engine) as session:
            if tokens.upgrade(session, credential_id, token):
                session.commit()
                log.info("credential_rehashed", credential_id=credential_id, scheme=tokens.KEYED)
    except SQLAlchemyError as err:
        log.warning("credential_rehash_failed", credential_id=credential_id, error=str(err))


def bind_log_context(request: Request, **values: str) -> None:
    """Every later log line of this request carries ``values`` (structlog contextvars); the access
    log line, written by the middleware outside this context, reads them from the request state."""
    structlog.contextvars.bind_contextvars(**values)
    request.state.log_context.update(values)


def caller_with_roles(*roles: str) -> Callable[..., Caller]:
    """The one auth dependency: authenticate the token, then admit only ``roles`` (403 otherwise)."""
    admitted = frozenset(roles or ALL_ROLES)

    # Async so that the contextvars bound here reach the route (a sync dependency runs in a worker
    # thread on a copy of the context); the DB lookup itself runs in the thread pool.
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        rate_limits.before_authentication(request)  # 429 while this address fails too often (issue 23)
        try:
            caller = await run_in_threadpool(_authenticate, request.app.state.engine, credentials)
        except ApiError as err:
            raise rate_limits.after_failed_authentication(request, err) from None
        bind_log_context(request, department=caller.department, role=caller.role, label=caller.label)
        if caller.person:  # the identity's opaque reference may be logged; its ID number never is
            bind_log_context(request, person=caller.person)
        rate_limits.admit(request, caller.principal)  # the caller's reads / writes (429 when full)
        if caller.role not in admitted:
            wanted = sorted(admitted)
            raise ApiError(
                403,
                f"该操作仅限以下角色:{'、'.join(wanted)};当前身份为 {caller.display_name_zh}({caller.role})",
                f"only {', '.join(wanted)} may do this; you are {caller.principal} ({caller.role})",
                code="role_not_allowed",
            )
        return caller

    dependency.roles = admitted  # type: ignore[attr-defined]  # what a page admits too (api/pages)
    return dependency


CurrentCaller = Annotated[Caller, Depends(caller_with_roles(*ALL_ROLES))]
ConsumerCaller = Annotated[Caller, Depends(caller_with_roles("consumer"))]
ActingCaller = Annotated[Caller, Depends(caller_with_roles(*ACTING_ROLES))]


#: Roles that see every case their department is party to, in whatever role: the principal head
#: (主要负责人) answers for its whole department — it approves the extensions of any of its
#: department's tasks (Luoyang 19; the approval task goes to the assignee department's head, not to
#: a party row), so it must be able to open every case its department works on.
DEPARTMENT_WIDE_ROLES = frozenset({"principal_head"})


def party_roles(caller: Caller) -> frozenset[str]:
    """The party (and recipient) roles a caller answers for within its department, as the engine
    matches an actor to a task (``workflows.engine.decisions.is_assignee``): its own role, and, for
    a department's acting credential (``DEPARTMENT_CREDENTIALS``), every role a department plays in
    one case only (``CASE_ROLES``: respondent, issuer, complainant, investigator), which it answers
    with any of its credentials. So a consumer credential never answers for its department's
    provider role, nor the reverse."""
    if caller.role in DEPARTMENT_CREDENTIALS:
        return frozenset({caller.role}) | CASE_ROLES
    return frozenset({caller.role})


def _party_match(caller: Caller) -> Any:
    """The party rows that make a case the caller's — the one visibility rule (README, Security,
    "Who sees what"): its department's rows in a role it answers for (:func:`party_roles`; every row
    of its department for a principal head, :data:`DEPARTMENT_WIDE_ROLES`), and its own person's
    rows in any role (a citizen; a person of a department: a web user, a head). An empty department
    or person matches nothing: a citizen's row (department "") is never a department's, and a caller
    without department sees only the cases it is itself party to."""
    matches = []
    if caller.department:
        if caller.role in DEPARTMENT_WIDE_ROLES:
            matches.append(CaseParty.department == caller.department)
        else:
            matches.append(
                and_(
                    CaseParty.department == caller.department,
                    col(CaseParty.role).in_(sorted(party_roles(caller))),
                )
            )
    if caller.person:
        matches.append(CaseParty.person == caller.person)
    if not matches:
        return false()
    return or_(*matches) if len(matches) > 1 else matches[0]


def can_see_case(session: Session, caller: Caller, case: Case) -> bool:
    """Who may read a case: the oversight roles, and a party to it as :func:`_party_match` says (a
    department in the role it plays there, or in a case-only role with any acting credential; a
    person by its identity; a principal head for every case of its department)."""
    if caller.sees_all:
        return True
    return (
        session.exec(select(CaseParty.id).where(CaseParty.case_id == case.id, _party_match(caller))).first()
        is not None
    )


def visible_condition(caller: Caller) -> Any:
    """The list filter that matches :func:`can_see_case` (None: the caller sees every case)."""
    if caller.sees_all:
        return None
    return col(Case.id).in_(select(CaseParty.case_id).where(_party_match(caller)))


def load_visible_case(session: Session, caller: Caller, case_id: str, request: Request) -> Case:
    """The case's projection row, or 404 — also for a case the caller may not see (never reveal it)."""
    bind_log_context(request, case_id=case_id)
    case = session.get(Case, case_id)
    if case is None or not can_see_case(session, caller, case):
        raise ApiError(404, f"未找到案件 {case_id}", f"no case {case_id}", code="case_not_found")
    bind_log_context(request, workflow_id=case.workflow_id)
    return case


#: Pagination offset. Bounded so that no value can overflow a database integer (a 500); a
#: million rows in is beyond any page a person reads.
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip (0 – 1,000,000)")]
