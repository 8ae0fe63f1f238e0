"""A person's work: 待办 (the open tasks of my department in my role), 已办 (the tasks I decided),
我发起的 (the cases I started), and the notifications. Each reads through the API's own functions
and conditions, as the signed-in user's caller, so a page never shows what the API would not."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.pages.forms import checked_form, local_path
from api.pages.render import language, page
from api.pages.sessions import SignedIn, signed_in
from api.reading import list_case_rows
from api.routes import notifications as notification_routes
from api.routes.tasks import list_tasks
from govshare.core.models import AuditEvent, Case, Task
from workflows import registry

router = APIRouter(prefix="/ui", include_in_schema=False)

User = Annotated[SignedIn, Depends(signed_in)]
PAGE_SIZE = 20
INBOX_SIZE = 50


def case_types(lang: str) -> list[tuple[str, str]]:
    return [(k.case_type, k.name_en if lang == "en" else k.name_zh) for k in registry.kinds()]


def type_name(case_type: str, lang: str) -> str:
    kind = registry.by_case_type(case_type)
    if kind is None:
        return case_type
    return kind.name_en if lang == "en" else kind.name_zh


@router.get("/")
def inbox(
    request: Request,
    user: User,
    case_type: Annotated[str, Query(max_length=32)] = "",
    step: Annotated[str, Query(max_length=64)] = "",
    overdue: Annotated[str, Query(max_length=5)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    engine = request.app.state.engine
    listed = list_tasks(
        user.caller,
        engine,
        limit=INBOX_SIZE,
        offset=offset,
        case_type=case_type or None,
        step=step or None,
        overdue=True if overdue else None,
    )
    # The steps to filter by: those of my open tasks, whatever the filter (it keeps its choices).
    filtered = bool(case_type or step or overdue or offset)
    every = list_tasks(user.caller, engine, limit=100, offset=0) if filtered else listed
    steps = sorted({(t.step, t.name_en if language(request) == "en" else t.name_zh) for t in every.items})
    items = listed.items
    lang = language(request)
    return page(
        request,
        "inbox.html",
        {
            "items": items,
            "total": listed.total,
            "types": case_types(lang),
            "steps": steps,
            "chosen": {"case_type": case_type, "step": step, "overdue": bool(overdue)},
            "offset": offset,
            "size": INBOX_SIZE,
            "type_name": lambda ct: type_name(ct, lang),
        },
        user=user,
        title=("Inbox" if lang == "en" else "待办"),
    )


def _decided_by(session: Session, user: SignedIn, offset: int) -> tuple[list[tuple[Task, Case]], int]:
    conditions = [Task.decided_by == user.caller.person, Task.decided_by != ""]
    total = session.exec(select(func.count()).select_from(Task).where(*conditions)).one()
    rows = session.exec(
        select(Task, Case)
        .join(Case, Case.id == Task.case_id)  # type: ignore[arg-type]
        .where(*conditions)
        .order_by(col(Task.closed_at).desc(), col(Task.id))
        .offset(offset)
        .limit(PAGE_SIZE)
    ).all()
    return list(rows), total


@router.get("/done")
def done(request: Request, user: User, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    """The tasks this person decided (the projection's ``decided_by``), newest first."""
    with Session(request.app.state.engine) as session:
        rows, total = _decided_by(session, user, offset)
        items = []
        for task, case in rows:
            decision = (task.detail or {}).get("decision") or {}
            items.append(
                {
                    "case_id": case.id,
                    "case_type": case.case_type,
                    "subject_zh": case.subject_zh,
                    "subject_en": case.subject_en,
                    "name_zh": task.name_zh,
                    "name_en": task.name_en,
                    "action": decision.get("action", task.action),
                    "decided_at": decision.get("decided_at") or task.closed_at,
                    "status": case.status,
                    "status_words": registry.status_words(case.case_type, case.status),
                }
            )
    lang = language(request)
    context = {"items": items, "total": total, "offset": offset, "size": PAGE_SIZE}
    return page(
        request,
        "done.html",
        {**context, "type_name": lambda ct: type_name(ct, lang)},
        user=user,
        title=("Done by me" if lang == "en" else "已办"),
    )


@router.get("/mine")
def mine(request: Request, user: User, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    """The cases this person started (their submission event names them), newest first, through
    the API's own list (its visibility, its summaries)."""
    started = select(AuditEvent.case_id).where(
        AuditEvent.kind == "case_submitted", AuditEvent.actor_user == user.caller.person
    )
    listed = list_case_rows(
        request.app.state.engine,
        user.caller,
        [col(Case.id).in_(started)],
        department=None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    lang = language(request)
    context = {"items": listed.items, "total": listed.total, "offset": offset, "size": PAGE_SIZE}
    return page(
        request,
        "mine.html",
        {**context, "type_name": lambda ct: type_name(ct, lang)},
        user=user,
        title=("My applications" if lang == "en" else "我发起的"),
    )


@router.get("/notifications")
def notifications(
    request: Request,
    user: User,
    unread: Annotated[str, Query(max_length=5)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    listed = notification_routes.list_notifications(
        request,
        user.caller,
        request.app.state.engine,
        case_id=None,
        unread=True if unread else None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    lang = language(request)
    return page(
        request,
        "notices.html",
        {
            "items": listed.items,
            "total": listed.total,
            "offset": offset,
            "size": PAGE_SIZE,
            "only_unread": bool(unread),
        },
        user=user,
        title=("Notifications" if lang == "en" else "通知"),
    )


@router.post("/notifications/{notification_id}/read")
async def mark_read(request: Request, notification_id: int, user: User) -> Response:
    form = await checked_form(request, user)
    if 1 <= notification_id <= 2**31 - 1:  # as the API route: the id column is an INTEGER
        await run_in_threadpool(
            notification_routes.mark_read, notification_id, request, user.caller, request.app.state.engine
        )
    back = form.get("next")
    return RedirectResponse(
        local_path(back if isinstance(back, str) else None, "/ui/notifications"), status_code=303
    )
