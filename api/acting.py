"""Acting on cases of every type: one frame for every state change (decision, clock change,
withdrawal): the caller's key bound to its request, the Update sent through the case service, the
answer read back from the projection once the case has settled, or 202 with the key to retry with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import Request, Response
from pydantic import TypeAdapter
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from api import idempotency
from api.deps import (
    Caller,
    bind_log_context,
    can_see_case,
    get_temporal_client,
    load_visible_case,
    run_db,
)
from api.errors import ApiError, OutcomePending
from api.reading import department_names
from api.requests import DecisionCreate, WithdrawalCreate
from api.responses import (
    CaseOut,
)
from api.views import case_out, load_view
from calendars import SHANGHAI
from govshare.cases import service as case_service
from govshare.cases.service import (
    CaseConflict,
    CaseInvalid,
    CaseNotFound,
    CasePending,
    EngineUnavailable,
    RequestMismatch,
)
from govshare.core.models import Case, Department
from regulations import ProfileError, load_profile
from regulations.schema import DIRECTORY_ROLES, Profile
from workflows import registry
from workflows.case import (
    Actor,
    CaseAnswer,
    DecisionRequest,
    GrantTerms,
    WithdrawRequest,
)
from workflows.engine.words import ROLE_ZH

log = structlog.get_logger("govshare.api")

# --------------------------------------------------------------------------------------------------
# Acting: one frame for every state change
# --------------------------------------------------------------------------------------------------


def closed_conflict(case: Case) -> CaseConflict:
    status_zh = registry.status_words(case.case_type, case.status)[0]
    return CaseConflict(f"案件已办结({status_zh}),不能再办理", f"the case is closed ({case.status})")


def grant_terms(grant: Any) -> GrantTerms | None:
    if grant is None:
        return None
    valid_until = grant.valid_until
    if valid_until is not None and valid_until.tzinfo is None:
        valid_until = valid_until.replace(tzinfo=SHANGHAI)  # the platform's clock (Hubei 22)
    return GrantTerms(
        scope=grant.scope,
        fields=list(grant.fields),
        sharing_mode=grant.sharing_mode,
        conditions=grant.conditions,
        valid_until=valid_until,
    )


def _grant_payload(grant: GrantTerms | None) -> dict[str, Any] | None:
    """A sharing application's grant terms as its decision payload (instants already in Asia/Shanghai)."""
    return _GRANT_JSON.dump_python(grant, mode="json") if grant is not None else None


_GRANT_JSON = TypeAdapter(GrantTerms)


def _update_id(operation: str, caller: Caller, key: str, body: Any) -> str:
    """The Update's id: the caller's key, scoped to who sends it (``Caller.principal``: the
    department, or the person) and its role and to the request's content — a repeat of the same
    request is one Update (Temporal answers its first outcome), while another caller's key never is
    (two citizens, who have no department, included). A department's principal is its code, so its
    ids are what they were. Another body under the same key is refused before it is sent
    (api/idempotency.py); the digest here keeps the ids of Updates sent before that check was made
    (a key handed out then is still answered by the Update it names)."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    return f"{operation}:{caller.principal}:{caller.role}:{key}:{digest}"


def answered_case(session: Session, case_id: str, answer: CaseAnswer) -> CaseOut:
    row = session.get(Case, case_id)
    if row is None or row.revision < answer.revision:
        # The Update answers after its step is recorded; a row behind it would be a projection that
        # lags (never one that leads). Say so rather than show an older case as the outcome.
        log.warning("projection_behind_answer", case_id=case_id, revision=answer.revision)
    assert row is not None
    return case_out(load_view(session, row), department_names(session))


async def act_on_case(
    request: Request,
    engine: Engine,
    settings: Any,
    caller: Caller,
    case_id: str,
    operation: str,
    body: Any,
    idempotency_key: str | None,
    send: Callable[[Client, str, int], Awaitable[CaseAnswer]],
) -> CaseOut:
    """Send a state change to a case the caller can see and that is still open.

    Visibility first (a department not party to the case gets 404, never a hint it exists), then
    the projection's status (a closed case → 409 without a round trip — unless the client retries
    with a key: the Update it names may be what closed the case, and Temporal answers its outcome),
    then the key: bound to this request, or 422 if it already stands for another (api/idempotency.py);
    the workflow's validator decides the rest (403 / 409 / 422). The projection is read in short
    sessions, none held while the Update is sent; the answer is the case as it then stands.
    """
    bind_log_context(request, case_id=case_id)
    case = await run_db(engine, lambda session: load_visible_case(session, caller, case_id, request))
    bind_log_context(request, workflow_id=case.workflow_id)  # here too: the thread bound on a copy
    if case.status != "in_progress" and idempotency_key is None:
        raise closed_conflict(case)
    digest = idempotency.write_fingerprint(operation, case_id, caller.role, body)
    key = (await idempotency.bind(engine, caller, idempotency_key, digest, case_id=case_id)).key
    client = await get_temporal_client(request)
    try:
        answer = await send(client, _update_id(operation, caller, key, body), case.engine)
    except CaseNotFound:
        # The projection has the case, so the workflow has completed since: the case is closed.
        raise closed_conflict(case) from None
    except CasePending:
        raise OutcomePending(
            case_id=case_id, operation=operation, idempotency_key=key, waited_s=settings.api_settle_timeout_s
        ) from None
    except EngineUnavailable:
        # The engine went away with the Update sent: it may or may not have been taken. The key lets
        # the client retry safely (Temporal applies one Update id once and answers its outcome).
        raise OutcomePending(
            case_id=case_id,
            operation=operation,
            idempotency_key=key,
            waited_s=settings.api_settle_timeout_s,
            started=False,
        ) from None
    log.info(f"{operation}_taken", status=answer.status, open_tasks=len(answer.open_tasks))
    return await run_db(engine, answered_case, case_id, answer)


def actor_of(caller: Caller) -> Actor:
    """The caller as the engine sees it. A person's credential acts as its identity (the opaque
    reference, never the ID number): the engine matches a person party by ``actor.user ==
    party.person``. A department's credential acts under its label, as before."""
    return Actor(department=caller.department, role=caller.role, user=caller.person or caller.label)  # type: ignore[arg-type]


async def decide_case(
    request: Request,
    engine: Engine,
    settings: Any,
    caller: Caller,
    case_id: str,
    body: DecisionCreate,
    key: str | None,
) -> CaseOut:
    grant = grant_terms(body.grant)
    decision = DecisionRequest(
        actor=actor_of(caller),
        action=body.action,
        step=body.step or "",
        reason=body.reason,
        note=body.note,
        grant=grant,
        task_id=body.task_id or "",
        limit_working_days=body.limit_working_days,
        # The second generation reads the payload (its case type checks it); a sharing application's
        # grant terms are its payload. The first generation reads ``grant``.
        payload=body.payload if body.payload is not None else _grant_payload(grant),
    )
    return await act_on_case(
        request,
        engine,
        settings,
        caller,
        case_id,
        "decision",
        body,
        key,
        lambda client, update_id, generation: case_service.decide(
            client,
            case_id,
            decision,
            update_id=update_id,
            settle_timeout_s=settings.api_settle_timeout_s,
            generation=generation,
        ),
    )


async def withdraw_case(
    request: Request,
    engine: Engine,
    settings: Any,
    caller: Caller,
    case_id: str,
    body: WithdrawalCreate,
    key: str | None,
) -> CaseOut:
    withdrawal = WithdrawRequest(actor=actor_of(caller), reason=body.reason)
    return await act_on_case(
        request,
        engine,
        settings,
        caller,
        case_id,
        "withdrawal",
        body,
        key,
        lambda client, update_id, generation: case_service.withdraw(
            client,
            case_id,
            withdrawal,
            update_id=update_id,
            settle_timeout_s=settings.api_settle_timeout_s,
            generation=generation,
        ),
    )


# --------------------------------------------------------------------------------------------------
# Opening a case by hand: one frame for every create that is not an application
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """A case a create started (or found started by an earlier attempt with the same key)."""

    case_id: str
    answer: CaseAnswer
    key: str
    #: A retry of a create already taken: answered 200 with ``Idempotent-Replayed: true``.
    replayed: bool


async def open_case(
    request: Request,
    response: Response,
    engine: Engine,
    settings: Any,
    caller: Caller,
    *,
    kind: registry.CaseKind,
    operation: str,
    profile_id: str,
    digest: str,
    idempotency_key: str | None,
    fields: dict[str, Any],
    department_names: dict[str, str],
    directory: dict[str, str],
    counts_from: datetime | None = None,
    person_names: dict[str, str] | None = None,
    links: list | None = None,
) -> Opened:
    """Start a case of ``kind`` that the caller opens, as ``POST /applications`` starts an
    application: the key bound to the request (a retry reaches the same case id, another body under
    the key is refused 422), the role directory pinned, the answer once the first task is open, 202
    with the key when it does not open in time. ``Location`` is the case's generic path."""
    client = await get_temporal_client(request)
    binding = await idempotency.bind(
        engine,
        caller,
        idempotency_key,
        digest,
        case_type=kind.case_type,
        scope=settings.task_queue,
        now=datetime.now(UTC),
    )
    case_id = binding.case_id
    bind_log_context(request, case_id=case_id, workflow_id=kind.workflow_id(case_id))
    inp = case_service.new_case_input(
        kind,
        case_id=case_id,
        profile_id=profile_id,
        submitted_at=binding.created_at,
        submitted_by=actor_of(caller),
        platform_department=settings.platform_department,
        department_names=department_names,
        directory=directory,
        fields=fields,
        counts_from=counts_from,
        person_names=person_names,
        links=links,
    )
    report = case_service.StartReport()
    try:
        answer = await case_service.start_case(
            client,
            settings.task_queue,
            kind,
            inp,
            settle_timeout_s=settings.api_settle_timeout_s,
            request_tag=idempotency.request_tag(caller.principal, digest),
            report=report,
        )
    except RequestMismatch:
        await idempotency.release(engine, caller, binding, digest)
        raise idempotency.key_reused() from None
    except CasePending as pending:
        raise OutcomePending(
            case_id=case_id,
            operation=operation,
            idempotency_key=binding.key,
            waited_s=settings.api_settle_timeout_s,
            started=pending.started,
        ) from None
    response.headers["Location"] = f"/cases/{case_id}"
    # A retry: as POST /applications decides it (the key claimed before, or the case started by an
    # earlier attempt that could not claim it).
    started_before = report.existing_since is None or report.existing_since < binding.created_at
    replayed = binding.replayed or (report.existing and (not binding.claimed or started_before))
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return Opened(case_id=case_id, answer=answer, key=binding.key, replayed=replayed)


async def create_case(
    request: Request,
    response: Response,
    engine: Engine,
    settings: Any,
    caller: Caller,
    *,
    kind: registry.CaseKind,
    profile_id: str,
    body: Any,
    idempotency_key: str | None,
    department_names: dict[str, str],
    directory: dict[str, str],
    fields: dict[str, Any],
    counts_from: datetime | None = None,
    links: list | None = None,
) -> tuple[Opened, CaseOut]:
    """What a create route does once it has checked its request: open the case (the request's
    fingerprint under the case type's name, the caller's own name for a person) and answer it as
    it then stands."""
    operation = kind.case_type
    opened = await open_case(
        request,
        response,
        engine,
        settings,
        caller,
        kind=kind,
        operation=operation,
        profile_id=profile_id,
        digest=idempotency.fingerprint(
            {"operation": operation, **body.model_dump(mode="json"), "profile": profile_id}
        ),
        idempotency_key=idempotency_key,
        department_names=department_names,
        directory=directory,
        fields=fields,
        counts_from=counts_from,
        person_names={caller.person: caller.person_name} if caller.person else None,
        links=links,
    )
    return opened, await run_db(engine, answered_case, opened.case_id, opened.answer)


def profile_with(profile_id: str, case_type: str, name_zh: str) -> Profile:
    """The profile a create names, with its rules for ``case_type``: 422 for an unknown profile, and
    for one without the case type (naming the profile)."""
    try:
        profile = load_profile(profile_id)
    except ProfileError as err:
        raise ApiError(
            422,
            f"未知的规范配置 {profile_id}",
            f"unknown profile {profile_id}: {err}",
            code="unknown_profile",
            errors=[{"loc": ["body", "profile"], "msg": str(err)}],
        ) from None
    if case_type not in profile.case_types:
        title = profile.title_zh or profile.name_zh
        raise ApiError(
            422,
            f"规范配置 {profile_id}({title})未规定{name_zh}流程",
            f"profile {profile_id} has no {case_type} case type",
            code="profile_without_case_type",
            errors=[{"loc": ["body", "profile"], "msg": f"profile {profile_id} has no {case_type}"}],
        )
    return profile


def check_opener(caller: Caller, profile: Profile, case_type: str, directory: dict[str, str]) -> None:
    """The caller may open a case of this type by hand: its role is in the profile's ``opened_by``,
    and for a role the directory resolves (the leading group office, the coordinator …) its
    department is the one that plays it (403 otherwise)."""
    rules = profile.case_types[case_type]
    if caller.role not in rules.opened_by:
        allowed = "、".join(ROLE_ZH.get(r, r) for r in rules.opened_by) or "(无)"
        raise ApiError(
            403,
            f"依规范 {profile.id},{rules.name_zh}只能由以下角色提出:{allowed};当前身份为"
            f"{caller.department_name_zh}({caller.role})",
            f"under profile {profile.id}, a {case_type} is opened by "
            f"{', '.join(rules.opened_by) or 'no one'}; you are {caller.department} ({caller.role})",
            code="role_not_allowed",
        )
    if caller.role in DIRECTORY_ROLES and directory.get(caller.role) != caller.department:
        player = directory.get(caller.role)
        role_zh = ROLE_ZH.get(caller.role, caller.role)
        raise ApiError(
            403,
            f"只有下达方可以下达:本系统的{role_zh}由{player or '(未指定部门)'}承担,"
            f"{caller.department_name_zh}不是{role_zh}",
            f"only the issuer may issue: the {caller.role} is played by {player or 'no department'}, "
            f"not {caller.department}",
            code="not_the_issuer",
        )


def check_respondent(session: Session, caller: Caller, code: str) -> None:
    """The department an order or a complaint is against: an existing one, not the caller's own."""
    if session.get(Department, code) is None:
        raise ApiError(
            422,
            f"没有部门 {code}",
            f"no department {code}",
            code="unknown_department",
            errors=[{"loc": ["body", "respondent_department"], "msg": "unknown department"}],
        )
    if code == caller.department:
        raise ApiError(
            422,
            "不能针对本部门提出",
            "a department cannot open this against itself",
            code="own_department",
            errors=[{"loc": ["body", "respondent_department"], "msg": "the caller's own department"}],
        )


def check_concerns(session: Session, caller: Caller, case_ids: list[str]) -> list[str]:
    """The cases a create concerns, each one that exists and that the caller may see (422 naming the
    others, without saying whether a case it may not see exists); repeats dropped."""
    wanted = list(dict.fromkeys(case_ids))
    errors = []
    for index, case_id in enumerate(wanted):
        row = session.get(Case, case_id)
        if row is None or not can_see_case(session, caller, row):
            errors.append({"loc": ["body", "concerns", index], "msg": f"no case {case_id}"})
    if errors:
        missing = [e["msg"].removeprefix("no case ") for e in errors]
        raise ApiError(
            422,
            "未找到所涉及的案件:" + "、".join(missing),
            "no such case(s): " + ", ".join(missing),
            code="unknown_case",
            errors=errors,
        )
    return wanted


def check_directory(profile: Profile, case_type: str, directory: dict[str, str]) -> None:
    """A profile whose rungs or issuers name a role no department plays: 422 before anything starts."""
    try:
        case_service.check_directory(profile, case_type, directory)
    except CaseInvalid as err:
        raise ApiError(422, err.detail_zh, err.detail_en, code="directory_incomplete") from None
