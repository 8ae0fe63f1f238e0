"""One case: its parties, resource, timeline, grant, links, notes and audit trail; the forms that
act on it — decide, claim (签收), withdraw, ask for an extension — for whoever the case lets act.

Every form is a call of the API's own function as the signed-in user (``api.acting``): the same
visibility (a department not party to the case gets 404), the same refusals from the workflow's
validators (403 not yours, 409 someone acted first, 422 a rule not met), shown on the page as words
with the case beside them. A form's Idempotency-Key is made when the page is drawn and tied to what
the form sends: a double click is one decision; a corrected form is a new request.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.acting import decide_case, withdraw_case
from api.deps import party_roles
from api.errors import ApiError, OutcomePending
from api.pages.forms import Problem, checked_form, problem_of, text, validation_problem
from api.pages.render import language, page
from api.pages.sessions import SignedIn, signed_in
from api.pages.words import say
from api.pages.work import type_name
from api.reading import case_events, read_case
from api.requests import ClockCreate, DecisionCreate, WithdrawalCreate
from api.responses import CaseOut, TaskOut
from api.routes.cases import change_clock, claim_task, release_task
from govshare.cases.service import CaseError
from regulations import ProfileError, load_profile
from workflows import registry

log = structlog.get_logger("govshare.pages")

router = APIRouter(prefix="/ui", include_in_schema=False)

User = Annotated[SignedIn, Depends(signed_in)]
CaseId = Annotated[str, Path(max_length=128)]


def is_mine(task: TaskOut, user: SignedIn) -> bool:
    """Whether the signed-in user may act on ``task``: its department in a role it answers for (its
    own; a case-only role such as respondent with any acting role, as the engine's ``is_assignee``),
    or the person it names."""
    caller = user.caller
    who = task.assignee
    if who.role not in party_roles(caller):
        return False
    if who.person:
        return who.person == caller.person
    return bool(caller.department) and who.code == caller.department


#: Whether tasks carry their claim (签收) in this build.
CLAIMS = "claimed_by" in TaskOut.model_fields


def limit_actions(case: CaseOut, task: TaskOut) -> list[str]:
    """The task's actions that set the next task's period (a rectification order's period): the
    form asks for it in working days."""
    try:
        rules = load_profile(case.profile.id).case_types[case.case_type]
    except (ProfileError, KeyError):
        return []
    step = rules.steps.get(task.step)
    if step is None:
        return []
    return [a.id for a in task.actions if a.id in step.actions and step.actions[a.id].sets_limit]


def may_withdraw(case: CaseOut, user: SignedIn) -> bool:
    by = case.submitted_by
    caller = user.caller
    if case.status != "in_progress" or by.role != caller.role:
        return False
    return (by.person or by.user) == caller.person or (not by.person and by.department == caller.department)


def form_key(form: FormData, fields: dict[str, Any]) -> str:
    """The Idempotency-Key for what this form sends: its drawn key and a digest of its content."""
    drawn = "".join(c for c in text(form, "form_key", 40) if c.isalnum() or c in "-_")[:40] or "page"
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"ui-{drawn}-{digest[:12]}"


def _case_page(
    request: Request, user: SignedIn, case_id: str, *, flash: dict | None = None, status: int = 200
) -> Response:
    engine = request.app.state.engine
    lang = language(request)
    case = read_case(engine, user.caller, case_id, request)
    events = case_events(engine, user.caller, case_id, request).items
    kind = registry.by_case_type(case.case_type)
    open_tasks = [t for t in case.open_tasks]
    return page(
        request,
        "case.html",
        {
            "case": case,
            "events": events,
            "open_tasks": open_tasks,
            "mine": {t.task_id: is_mine(t, user) for t in open_tasks},
            "may_withdraw": may_withdraw(case, user),
            "type_name": type_name(case.case_type, lang),
            "kind": kind,
            "form_key": secrets.token_urlsafe(12),
            "flash": flash,
            "notes": (case.attributes or {}).get("notes", []),
            "claims_enabled": CLAIMS,
            "limit_actions": {t.task_id: limit_actions(case, t) for t in open_tasks},
        },
        user=user,
        status=status,
        title=case.id,
    )


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: CaseId, user: User, done: str = "") -> Response:
    flash = None
    if done:
        lang = language(request)
        flash = {"kind": "ok", "title": "", "text": say("decide.taken", lang)}
    return _case_page(request, user, case_id, flash=flash)


def _refused(request: Request, user: SignedIn, case_id: str, problem: Problem) -> Response:
    """The case page again, with the refusal on top (404 for a case the user may not see)."""
    lang = language(request)
    heading = {"kind": "error", "title": _heading(problem, lang), "text": problem.message}
    if problem.status == 202:
        heading["kind"] = "info"
    log.info("page_refused", case_id=case_id, status=problem.status, code=problem.code)
    return _case_page(request, user, case_id, flash=heading, status=problem.status)


def _heading(problem: Problem, lang: str) -> str:
    return say(problem.heading_key, lang)


def _grant_of(form: FormData) -> dict[str, Any] | None:
    if form.get("grant_terms") != "1":
        return None
    grant: dict[str, Any] = {
        "scope": text(form, "grant_scope", 500),
        "fields": [v for v in form.getlist("grant_fields") if isinstance(v, str) and v],
        "sharing_mode": text(form, "grant_mode", 64),
        "conditions": text(form, "grant_conditions", 500),
    }
    valid_until = text(form, "grant_valid_until", 10)
    if valid_until:
        grant["valid_until"] = f"{valid_until}T23:59:59"
    return grant


@router.post("/cases/{case_id}/decide")
async def decide(request: Request, case_id: CaseId, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    fields: dict[str, Any] = {
        "task_id": text(form, "task_id", 128) or None,
        "action": text(form, "action", 64),
        "reason": text(form, "reason"),
        "note": text(form, "note"),
    }
    period = text(form, "limit_working_days", 4)
    if period:
        fields["limit_working_days"] = period
    action = fields["action"]
    grant = _grant_of(form) if action and form.get(f"grants_{action}") == "1" else None
    if grant is not None:
        fields["grant"] = grant
    if not action:
        return _refused(request, user, case_id, Problem(422, say("decide.choose", lang)))
    try:
        body = DecisionCreate.model_validate(fields)
    except ValidationError as err:
        return _refused(request, user, case_id, validation_problem(err.errors(), lang))
    settings = request.app.state.settings
    try:
        await decide_case(
            request, request.app.state.engine, settings, user.caller, case_id, body, form_key(form, fields)
        )
    except (ApiError, CaseError, OutcomePending) as err:
        return _refused(request, user, case_id, problem_of(err, lang))
    return RedirectResponse(f"/ui/cases/{case_id}?done={action}", status_code=303)


@router.post("/cases/{case_id}/withdraw")
async def withdraw(request: Request, case_id: CaseId, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    fields = {"reason": text(form, "reason")}
    try:
        body = WithdrawalCreate.model_validate(fields)
    except ValidationError as err:
        return _refused(request, user, case_id, validation_problem(err.errors(), lang))
    try:
        await withdraw_case(
            request,
            request.app.state.engine,
            request.app.state.settings,
            user.caller,
            case_id,
            body,
            form_key(form, fields),
        )
    except (ApiError, CaseError, OutcomePending) as err:
        return _refused(request, user, case_id, problem_of(err, lang))
    return RedirectResponse(f"/ui/cases/{case_id}?done=withdraw", status_code=303)


@router.post("/cases/{case_id}/tasks/{seq}/extension")
async def ask_extension(request: Request, case_id: CaseId, seq: int, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    fields = {
        "kind": "extension",
        "working_days": text(form, "working_days", 4) or None,
        "reason": text(form, "reason"),
    }
    try:
        body = ClockCreate.model_validate(fields)
    except ValidationError as err:
        return _refused(request, user, case_id, validation_problem(err.errors(), lang))
    if not 1 <= seq <= 10_000:
        return _refused(request, user, case_id, Problem(404, case_id))
    try:
        await change_clock(
            case_id,
            seq,
            request,
            user.caller,
            request.app.state.engine,
            request.app.state.settings,
            body,
            form_key(form, fields),
        )
    except (ApiError, CaseError, OutcomePending) as err:
        return _refused(request, user, case_id, problem_of(err, lang))
    return RedirectResponse(f"/ui/cases/{case_id}?done=extension", status_code=303)


async def _claim_page(request: Request, case_id: str, seq: int, user: SignedIn, *, release: bool) -> Response:
    await checked_form(request, user)
    lang = language(request)
    if not 1 <= seq <= 10_000:
        return _refused(request, user, case_id, Problem(404, case_id))
    state = request.app.state
    try:
        if release:
            await release_task(case_id, seq, request, user.caller, state.engine, state.settings, None)
        else:
            await claim_task(case_id, seq, request, user.caller, state.engine, state.settings, None, None)
    except (ApiError, CaseError, OutcomePending) as err:
        return _refused(request, user, case_id, problem_of(err, lang))
    return RedirectResponse(f"/ui/cases/{case_id}#task-{seq}", status_code=303)


@router.post("/cases/{case_id}/tasks/{seq}/claim")
async def claim(request: Request, case_id: CaseId, seq: int, user: User) -> Response:
    """签收: the task is this person's to decide until released."""
    return await _claim_page(request, case_id, seq, user, release=False)


@router.post("/cases/{case_id}/tasks/{seq}/release")
async def release(request: Request, case_id: CaseId, seq: int, user: User) -> Response:
    return await _claim_page(request, case_id, seq, user, release=True)
