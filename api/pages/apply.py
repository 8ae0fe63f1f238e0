"""Applying for data: browse and search the catalog, pick an entry, state purpose and reason, submit.

The catalog is read through the API's own search (``GET /resources``); the application is the API's
own create (``POST /applications``) as the signed-in consumer, with an Idempotency-Key made when the
form is drawn (a double click starts one case).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.errors import ApiError, OutcomePending
from api.pages.forms import Problem, checked_form, problem_of, text, validation_problem
from api.pages.render import language, page
from api.pages.sessions import SignedIn, signed_in
from api.pages.words import say
from api.requests import ApplicationCreate
from api.routes.applications import create_application
from api.routes.resources import get_resource, list_resources
from govshare.cases.service import CaseError

router = APIRouter(prefix="/ui", include_in_schema=False)

User = Annotated[SignedIn, Depends(signed_in)]
ResourceId = Annotated[str, Path(max_length=128)]
PAGE_SIZE = 20


@router.get("/catalog")
def catalog(
    request: Request,
    user: User,
    q: Annotated[str, Query(max_length=100)] = "",
    share_type: Annotated[str, Query(max_length=16)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    listed = list_resources(
        user.caller,
        request.app.state.engine,
        offset=offset,
        q=q or None,
        department=None,
        provider=None,
        share_type=share_type if share_type in ("unconditional", "conditional", "not_shared") else None,  # type: ignore[arg-type]
        kind=None,
        status="published",
        limit=PAGE_SIZE,
    )
    return page(
        request,
        "catalog.html",
        {
            "items": listed.items,
            "total": listed.total,
            "offset": offset,
            "size": PAGE_SIZE,
            "q": q,
            "share_type": share_type,
        },
        user=user,
        title=say("catalog.title", language(request)),
    )


def _apply_page(
    request: Request,
    user: SignedIn,
    resource_id: str,
    *,
    form: dict[str, Any] | None = None,
    flash: dict | None = None,
    status: int = 200,
) -> Response:
    resource = get_resource(user.caller, request.app.state.engine, resource_id)
    return page(
        request,
        "apply.html",
        {
            "resource": resource,
            "form": form or {},
            "form_key": secrets.token_urlsafe(12),
            "flash": flash,
        },
        user=user,
        status=status,
        title=say("apply.title", language(request)),
    )


@router.get("/catalog/{resource_id}")
def apply_form(request: Request, resource_id: ResourceId, user: User) -> Response:
    return _apply_page(request, user, resource_id)


@router.post("/catalog/{resource_id}/apply")
async def apply(request: Request, resource_id: ResourceId, user: User) -> Response:
    form = await checked_form(request, user)
    lang = language(request)
    fields: dict[str, Any] = {
        "resource_id": resource_id,
        "purpose": text(form, "purpose", 2000),
        "reason": text(form, "reason", 2000),
        "fields": [v for v in form.getlist("fields") if isinstance(v, str) and v],
    }
    mode = text(form, "sharing_mode", 64)
    if mode:
        fields["sharing_mode"] = mode

    def again(problem: Problem) -> Response:
        flash = {"kind": "error", "title": say(problem.heading_key, lang), "text": problem.message}
        return _apply_page(request, user, resource_id, form=fields, flash=flash, status=problem.status)

    try:
        body = ApplicationCreate.model_validate(fields)
    except ValidationError as err:
        return again(validation_problem(err.errors(), lang))
    drawn = "".join(c for c in text(form, "form_key", 40) if c.isalnum() or c in "-_") or "page"
    response = Response()
    try:
        case = await create_application(
            request,
            response,
            user.caller,
            request.app.state.engine,
            request.app.state.settings,
            body,
            f"ui-apply-{drawn}",
        )
    except (ApiError, CaseError, OutcomePending) as err:
        return again(problem_of(err, lang))
    return RedirectResponse(f"/ui/cases/{case.id}?done=apply", status_code=303)
