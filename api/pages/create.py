"""Opening the other case types by hand from the pages: a data objection, an open-data application
and an open-catalog correction, a sharing dispute, a complaint, a rectification order.

Each form has exactly the fields of the API's request model (``api/requests.py``,
``api/routes/open_data.py``) and posts to the API's own create function as the signed-in user: the
model validated from the form (a :class:`pydantic.ValidationError` is shown as words, 422), an
Idempotency-Key made from the key drawn with the form and a digest of what it sends (a double click
opens one case; a corrected form is a new request), the API's refusals — 403 a role the profile does
not let open it, 422 a rule not met — shown on the form again with its status. Nothing is checked
here that the API checks; what the pages add is which forms to offer whom:

- :func:`openers`: the roles that open a case type by hand under some profile (its
  ``opened_by``), of those the API routes' caller dependency admits (:func:`admitted_roles`). A form
  is drawn for them only (403 otherwise, with the same words as the other pages); the template
  global ``may_open(case_type, role)`` shows the links to them only. Under the profile chosen the
  API decides.
- The profile select lists the profiles that have the case type; it starts at the deployment's
  default when the user's role opens the case type there, else at the first profile where it does.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from api.deps import ActingCaller
from api.errors import ApiError, OutcomePending
from api.pages.forms import Problem, checked_form, problem_of, text, validation_problem
from api.pages.oversight import admitted_roles, require_role
from api.pages.render import ENV, language, page
from api.pages.sessions import SignedIn, signed_in
from api.pages.words import say
from api.reading import department_names, read_case
from api.requests import ComplaintCreate, DataObjectionCreate, DisputeCreate, RectificationOrderCreate
from api.responses import CaseOut, ResourceOut
from api.routes.complaints import create_complaint
from api.routes.data_objections import create_data_objection
from api.routes.disputes import DISPUTABLE, create_dispute
from api.routes.open_data import (
    OpenCatalogCorrectionCreate,
    OpenDataApplicationCreate,
    create_open_catalog_correction,
    create_open_data_application,
)
from api.routes.orders import create_order
from api.routes.resources import get_resource, list_resources
from calendars import SHANGHAI
from govshare.cases.service import CaseError
from regulations import list_profiles
from regulations.schema import Profile
from workflows import registry

router = APIRouter(prefix="/ui", include_in_schema=False)

User = Annotated[SignedIn, Depends(signed_in)]
ResourceId = Annotated[str, Path(max_length=128)]
CaseId = Annotated[str, Path(max_length=128)]

#: The roles the create routes' caller dependency admits (``ActingCaller``: an auditor never acts).
ACTING = admitted_roles(ActingCaller)
#: How many entries of the open catalog the chooser reads at once (the API's largest page).
OPEN_CATALOG_PAGE = 200
#: The longest a text field is read (a longer one is the model's to refuse, with its words).
LONG = 2001
SHORT = 201


# --------------------------------------------------------------------------------------------------
# Who may open what, under which profile
# --------------------------------------------------------------------------------------------------


def _profiles_with(case_type: str) -> list[Profile]:
    return [p for p in list_profiles() if case_type in p.case_types]


def openers(case_type: str) -> frozenset[str]:
    """The roles that open ``case_type`` by hand under some profile, of those the routes admit."""
    roles: set[str] = set()
    for profile in _profiles_with(case_type):
        roles.update(profile.case_types[case_type].opened_by)
    return frozenset(roles) & ACTING


def may_open(case_type: str, role: str) -> bool:
    """Whether a page offers ``role`` the form that opens ``case_type`` (the API decides under the
    profile chosen)."""
    return role in openers(case_type)


ENV.globals["may_open"] = may_open


def profile_choices(case_type: str, lang: str) -> list[tuple[str, str]]:
    return [
        (p.id, (p.name_en or p.name_zh) if lang == "en" else (p.name_zh or p.name_en))
        for p in _profiles_with(case_type)
    ]


def default_profile(request: Request, case_type: str, role: str, prefer: str = "") -> str:
    """The profile a form starts at: ``prefer`` (e.g. the disputed application's), then the
    deployment's default, where the role opens the case type; else the first where it does."""
    profiles = _profiles_with(case_type)
    ids = [p.id for p in profiles]
    if not ids:
        return ""
    opens = [p.id for p in profiles if role in p.case_types[case_type].opened_by]
    default = request.app.state.settings.default_profile
    for candidate in (prefer, default):
        if candidate and candidate in opens:
            return candidate
    if opens:
        return opens[0]
    return default if default in ids else ids[0]


# --------------------------------------------------------------------------------------------------
# Reading a form, submitting it
# --------------------------------------------------------------------------------------------------


def lines(form: FormData, name: str, limit: int = SHORT) -> list[str]:
    """A multi-line text field as a list: one item a line, blank lines dropped."""
    value = form.get(name)
    if not isinstance(value, str):
        return []
    return [line.strip()[:limit] for line in value.splitlines() if line.strip()][:1000]


def ticked(form: FormData, name: str) -> list[str]:
    return [v.strip()[:SHORT] for v in form.getlist(name) if isinstance(v, str) and v.strip()][:1000]


def optional(fields: dict[str, Any], name: str, value: str) -> None:
    """Send an optional field only when it is filled (blank: the model's default)."""
    if value:
        fields[name] = value


def idempotency_key(kind: str, form: FormData, fields: dict[str, Any]) -> str:
    """The form's drawn key and a digest of what it sends: a double click is one case, a corrected
    form a new request."""
    drawn = "".join(c for c in text(form, "form_key", 40) if c.isalnum() or c in "-_")[:40] or "page"
    content = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return f"ui-{kind}-{drawn}-{hashlib.sha256(content.encode()).hexdigest()[:16]}"


Create = Callable[..., Awaitable[CaseOut]]
Again = Callable[[Problem], Response]


async def submit(
    request: Request,
    user: SignedIn,
    form: FormData,
    *,
    kind: str,
    fields: dict[str, Any],
    model: Any,
    create: Create,
    again: Again,
) -> Response:
    """Validate ``fields`` with the API's model, call the API's create as the user; its refusal is
    the form again with the words and the status, its case a 303 to the case page."""
    lang = language(request)
    if user.role not in ACTING:  # what the route's caller dependency refuses, in its words
        try:
            require_role(user, ACTING)
        except ApiError as err:
            return again(problem_of(err, lang))
    try:
        body = model.model_validate(fields)
    except ValidationError as err:
        return again(validation_problem(list(err.errors()), lang))
    state = request.app.state
    try:
        case = await create(
            request,
            Response(),
            user.caller,
            state.engine,
            state.settings,
            body,
            idempotency_key(kind, form, fields),
        )
    except (ApiError, CaseError, OutcomePending) as err:
        return again(problem_of(err, lang))
    return RedirectResponse(f"/ui/cases/{case.id}?done={kind}", status_code=303)


def _flash(problem: Problem, lang: str) -> dict[str, str]:
    kind = "info" if problem.status == 202 else "error"
    return {"kind": kind, "title": say(problem.heading_key, lang), "text": problem.message}


def _form_page(
    request: Request,
    user: SignedIn,
    template: str,
    title_key: str,
    context: dict[str, Any],
    *,
    flash: dict | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    return page(
        request,
        template,
        {"form_key": secrets.token_urlsafe(12), "flash": flash, **context},
        user=user,
        status=status,
        title=say(title_key, lang),
    )


def _resource(request: Request, user: SignedIn, resource_id: str) -> ResourceOut:
    return get_resource(user.caller, request.app.state.engine, resource_id)


def _departments(request: Request, user: SignedIn, lang: str) -> list[tuple[str, str]]:
    """Every department but the user's own (the API refuses a case against oneself)."""
    with Session(request.app.state.engine) as session:
        names = department_names(session)
    return sorted(
        (
            (code, (ref.name_en or ref.name_zh) if lang == "en" else (ref.name_zh or ref.name_en))
            for code, ref in names.items()
            if code != user.caller.department
        ),
        key=lambda item: item[0],
    )


def _today() -> str:
    return datetime.now(SHANGHAI).date().isoformat()


# --------------------------------------------------------------------------------------------------
# 数据疑义: POST /data-objections, from a catalog entry
# --------------------------------------------------------------------------------------------------

OBJECTION = registry.DATA_OBJECTION.case_type


def _objection_page(
    request: Request,
    user: SignedIn,
    resource_id: str,
    form: dict[str, Any] | None = None,
    *,
    flash: dict | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    resource = _resource(request, user, resource_id)
    values = form or {"profile": default_profile(request, OBJECTION, user.role)}
    return _form_page(
        request,
        user,
        "create_objection.html",
        "create.objection.title",
        {
            "resource": resource,
            "form": values,
            "profiles": profile_choices(OBJECTION, lang),
            "today": _today(),
        },
        flash=flash,
        status=status,
    )


@router.get("/catalog/{resource_id}/objection")
def objection_form(request: Request, resource_id: ResourceId, user: User) -> Response:
    require_role(user, openers(OBJECTION))
    return _objection_page(request, user, resource_id)


@router.post("/catalog/{resource_id}/objection")
async def objection(request: Request, resource_id: ResourceId, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    fields: dict[str, Any] = {
        "resource_id": resource_id,
        "records": lines(form, "records"),
        "fields": ticked(form, "fields"),
        "problem": text(form, "problem", LONG),
        "evidence": text(form, "evidence", LONG),
    }
    optional(fields, "found_on", text(form, "found_on", 20))
    optional(fields, "other_resource_id", text(form, "other_resource_id", 130))
    optional(fields, "profile", text(form, "profile", 64))

    def again(problem: Problem) -> Response:
        shown = {**fields, "records": "\n".join(fields["records"])}
        return _objection_page(
            request, user, resource_id, shown, flash=_flash(problem, lang), status=problem.status
        )

    return await submit(
        request,
        user,
        form,
        kind="objection",
        fields=fields,
        model=DataObjectionCreate,
        create=create_data_objection,
        again=again,
    )


# --------------------------------------------------------------------------------------------------
# 有条件开放数据申请 and 开放目录更正: POST /open-data-applications, POST /open-catalog-corrections
# --------------------------------------------------------------------------------------------------

OPEN_DATA = registry.OPEN_DATA_APPLICATION.case_type
CORRECTION = registry.OPEN_CATALOG_CORRECTION.case_type
OPEN_TYPES = ("open", "conditional_open", "not_open")
DELIVERIES = ("download", "api", "other")


def _open_catalog(request: Request, user: SignedIn, q: str) -> Response:
    """The entries of the open catalog (those with an open type), read through the API's own search,
    with what a person may ask of each."""
    listed = list_resources(
        user.caller,
        request.app.state.engine,
        offset=0,
        q=q or None,
        department=None,
        provider=None,
        share_type=None,
        kind=None,
        status="published",
        limit=OPEN_CATALOG_PAGE,
    )
    items = [r for r in listed.items if r.open_type in OPEN_TYPES]
    order = {"conditional_open": 0, "open": 1, "not_open": 2}
    items.sort(key=lambda r: (order[r.open_type], r.id))
    return page(
        request,
        "create_open_catalog.html",
        {"items": items, "q": q, "more": listed.total > len(listed.items), "size": OPEN_CATALOG_PAGE},
        user=user,
        title=say("create.open.catalog", language(request)),
    )


def _open_data_page(
    request: Request,
    user: SignedIn,
    resource_id: str,
    form: dict[str, Any] | None = None,
    *,
    flash: dict | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    values = form or {"profile": default_profile(request, OPEN_DATA, user.role)}
    return _form_page(
        request,
        user,
        "create_open_data.html",
        "create.open.title",
        {
            "resource": _resource(request, user, resource_id),
            "form": values,
            "profiles": profile_choices(OPEN_DATA, lang),
            "deliveries": DELIVERIES,
        },
        flash=flash,
        status=status,
    )


@router.get("/open-data/new")
def open_data_form(
    request: Request,
    user: User,
    resource_id: Annotated[str, Query(max_length=128)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    require_role(user, openers(OPEN_DATA) | openers(CORRECTION))
    if not resource_id:
        return _open_catalog(request, user, q)
    require_role(user, openers(OPEN_DATA))
    return _open_data_page(request, user, resource_id)


@router.post("/open-data/new")
async def open_data(request: Request, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    resource_id = text(form, "resource_id", 130)
    fields: dict[str, Any] = {
        "resource_id": resource_id,
        "fields": ticked(form, "fields"),
        "purpose": text(form, "purpose", LONG),
    }
    optional(fields, "delivery", text(form, "delivery", 20))
    optional(fields, "profile", text(form, "profile", 64))

    def again(problem: Problem) -> Response:
        if not resource_id:
            raise ApiError(
                422, "未指明开放目录中的资源", "no entry of the open catalog named", code="validation_failed"
            )
        return _open_data_page(
            request, user, resource_id, fields, flash=_flash(problem, lang), status=problem.status
        )

    return await submit(
        request,
        user,
        form,
        kind="open-data",
        fields=fields,
        model=OpenDataApplicationCreate,
        create=create_open_data_application,
        again=again,
    )


def _correction_page(
    request: Request,
    user: SignedIn,
    resource_id: str,
    form: dict[str, Any] | None = None,
    *,
    flash: dict | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    values = form or {"profile": default_profile(request, CORRECTION, user.role)}
    return _form_page(
        request,
        user,
        "create_correction.html",
        "create.correction.title",
        {
            "resource": _resource(request, user, resource_id),
            "form": values,
            "profiles": profile_choices(CORRECTION, lang),
            "open_types": OPEN_TYPES,
        },
        flash=flash,
        status=status,
    )


@router.get("/open-data/correction/new")
def correction_form(
    request: Request,
    user: User,
    resource_id: Annotated[str, Query(max_length=128)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    require_role(user, openers(CORRECTION))
    if not resource_id:
        return _open_catalog(request, user, q)
    return _correction_page(request, user, resource_id)


@router.post("/open-data/correction/new")
async def correction(request: Request, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    resource_id = text(form, "resource_id", 130)
    fields: dict[str, Any] = {"resource_id": resource_id, "reason": text(form, "reason", LONG)}
    optional(fields, "open_type", text(form, "open_type", 20))
    listed = lines(form, "fields")
    if listed:
        fields["fields"] = listed
    optional(fields, "description", text(form, "description", LONG))
    optional(fields, "profile", text(form, "profile", 64))

    def again(problem: Problem) -> Response:
        if not resource_id:
            raise ApiError(
                422, "未指明开放目录中的资源", "no entry of the open catalog named", code="validation_failed"
            )
        shown = {**fields, "fields": "\n".join(fields.get("fields", []))}
        return _correction_page(
            request, user, resource_id, shown, flash=_flash(problem, lang), status=problem.status
        )

    return await submit(
        request,
        user,
        form,
        kind="correction",
        fields=fields,
        model=OpenCatalogCorrectionCreate,
        create=create_open_catalog_correction,
        again=again,
    )


# --------------------------------------------------------------------------------------------------
# 共享争议: POST /disputes — over a refused or rejected application, or a not-shared entry
# --------------------------------------------------------------------------------------------------

DISPUTE = registry.DISPUTE.case_type


def _dispute_fields(form: FormData) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "matter": text(form, "matter", LONG),
        "purpose": text(form, "purpose", LONG),
        "provincial": form.get("provincial") == "1",
    }
    optional(fields, "profile", text(form, "profile", 64))
    return fields


def _dispute_page(
    request: Request,
    user: SignedIn,
    *,
    application: CaseOut | None = None,
    resource: ResourceOut | None = None,
    form: dict[str, Any] | None = None,
    flash: dict | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    if form is None:
        prefer = application.profile.id if application is not None else ""
        form = {
            "profile": default_profile(request, DISPUTE, user.role, prefer),
            "purpose": application.purpose if application is not None else "",
        }
    return _form_page(
        request,
        user,
        "create_dispute.html",
        "create.dispute.title",
        {
            "application": application,
            "resource": resource,
            "form": form,
            "profiles": profile_choices(DISPUTE, lang),
            "disputable": DISPUTABLE,
        },
        flash=flash,
        status=status,
    )


@router.get("/cases/{case_id}/dispute")
def dispute_form(request: Request, case_id: CaseId, user: User) -> Response:
    require_role(user, openers(DISPUTE))
    application = read_case(request.app.state.engine, user.caller, case_id, request)
    return _dispute_page(request, user, application=application)


@router.post("/cases/{case_id}/dispute")
async def dispute(request: Request, case_id: CaseId, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    fields = {"application_id": case_id, **_dispute_fields(form)}

    def again(problem: Problem) -> Response:
        application = read_case(request.app.state.engine, user.caller, case_id, request)
        return _dispute_page(
            request,
            user,
            application=application,
            form=fields,
            flash=_flash(problem, lang),
            status=problem.status,
        )

    return await submit(
        request,
        user,
        form,
        kind="dispute",
        fields=fields,
        model=DisputeCreate,
        create=create_dispute,
        again=again,
    )


@router.get("/catalog/{resource_id}/dispute")
def duty_dispute_form(request: Request, resource_id: ResourceId, user: User) -> Response:
    require_role(user, openers(DISPUTE))
    return _dispute_page(request, user, resource=_resource(request, user, resource_id))


@router.post("/catalog/{resource_id}/dispute")
async def duty_dispute(request: Request, resource_id: ResourceId, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    fields = {"resource_id": resource_id, "duty": text(form, "duty", LONG), **_dispute_fields(form)}

    def again(problem: Problem) -> Response:
        return _dispute_page(
            request,
            user,
            resource=_resource(request, user, resource_id),
            form=fields,
            flash=_flash(problem, lang),
            status=problem.status,
        )

    return await submit(
        request,
        user,
        form,
        kind="dispute",
        fields=fields,
        model=DisputeCreate,
        create=create_dispute,
        again=again,
    )


# --------------------------------------------------------------------------------------------------
# 投诉: POST /complaints
# --------------------------------------------------------------------------------------------------

COMPLAINT = registry.COMPLAINT.case_type
ADDRESSED_TO = ("leading_group", "government_office")


def _complaint_page(
    request: Request,
    user: SignedIn,
    form: dict[str, Any] | None = None,
    *,
    flash: dict | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    values = form or {"profile": default_profile(request, COMPLAINT, user.role)}
    return _form_page(
        request,
        user,
        "create_complaint.html",
        "create.complaint.title",
        {
            "form": values,
            "profiles": profile_choices(COMPLAINT, lang),
            "departments": _departments(request, user, lang),
            "addressed_to": ADDRESSED_TO,
        },
        flash=flash,
        status=status,
    )


@router.get("/complaints/new")
def complaint_form(request: Request, user: User) -> Response:
    require_role(user, openers(COMPLAINT))
    return _complaint_page(request, user)


@router.post("/complaints/new")
async def complaint(request: Request, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    fields: dict[str, Any] = {"conduct": text(form, "conduct", LONG), "concerns": lines(form, "concerns")}
    optional(fields, "respondent_department", text(form, "respondent_department", 130))
    optional(fields, "addressed_to", text(form, "addressed_to", 40))
    optional(fields, "profile", text(form, "profile", 64))

    def again(problem: Problem) -> Response:
        shown = {**fields, "concerns": "\n".join(fields["concerns"])}
        return _complaint_page(request, user, shown, flash=_flash(problem, lang), status=problem.status)

    return await submit(
        request,
        user,
        form,
        kind="complaint",
        fields=fields,
        model=ComplaintCreate,
        create=create_complaint,
        again=again,
    )


# --------------------------------------------------------------------------------------------------
# 整改通知 by hand: POST /rectification-orders
# --------------------------------------------------------------------------------------------------

ORDER = registry.RECTIFICATION_ORDER.case_type


def _order_page(
    request: Request,
    user: SignedIn,
    form: dict[str, Any],
    *,
    flash: dict | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    profiles = {p.id: p for p in _profiles_with(ORDER)}
    chosen = profiles.get(str(form.get("profile", "")))
    grounds = []
    if chosen is not None:
        for ground_id, ground in chosen.case_types[ORDER].grounds.items():
            name = (ground.name_en or ground.name_zh) if lang == "en" else (ground.name_zh or ground.name_en)
            grounds.append((ground_id, name))
    return _form_page(
        request,
        user,
        "create_order.html",
        "create.order.title",
        {
            "form": form,
            "profiles": profile_choices(ORDER, lang),
            "grounds": grounds,
            "departments": _departments(request, user, lang),
        },
        flash=flash,
        status=status,
    )


@router.get("/orders/new")
def order_form(request: Request, user: User, profile: Annotated[str, Query(max_length=64)] = "") -> Response:
    require_role(user, openers(ORDER))
    known = [p for p, _ in profile_choices(ORDER, "zh")]
    chosen = profile if profile in known else default_profile(request, ORDER, user.role)
    return _order_page(request, user, {"profile": chosen})


@router.post("/orders/new")
async def order(request: Request, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    fields: dict[str, Any] = {
        "grounds": ticked(form, "grounds"),
        "concerns": lines(form, "concerns"),
        "description": text(form, "description", LONG),
    }
    optional(fields, "respondent_department", text(form, "respondent_department", 130))
    optional(fields, "period_working_days", text(form, "period_working_days", 12))
    optional(fields, "profile", text(form, "profile", 64))

    def again(problem: Problem) -> Response:
        shown = {**fields, "concerns": "\n".join(fields["concerns"])}
        return _order_page(request, user, shown, flash=_flash(problem, lang), status=problem.status)

    return await submit(
        request,
        user,
        form,
        kind="order",
        fields=fields,
        model=RectificationOrderCreate,
        create=create_order,
        again=again,
    )
