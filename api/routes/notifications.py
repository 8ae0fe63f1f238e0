"""Notifications (通知): what the cases told the caller, newest first.

A department reads its department's notices; a citizen (no department) reads exactly the notices
addressed to its identity (``recipient_person``), never one addressed only to a department; a person
of a department (a principal head) reads both. One rule, :func:`_addressed_to`, for the list and
for marking read (someone else's notice is 404: never reveal it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import false, func, or_
from sqlmodel import Session, col, select

from api.deps import Caller, CurrentCaller, EngineDep, Offset
from api.errors import ApiError, prefers_english, problem_responses
from api.responses import NotificationList, NotificationOut
from govshare.core.models import Notification

router = APIRouter(prefix="/notifications", tags=["notifications"])


def _addressed_to(caller: Caller) -> Any:
    """The notices that are the caller's: its department's (never a department-less notice: an empty
    department matches nothing), and its own person's."""
    matches = []
    if caller.department:
        matches.append(Notification.recipient_department == caller.department)
    if caller.person:
        matches.append(Notification.recipient_person == caller.person)
    if not matches:
        return false()
    return or_(*matches) if len(matches) > 1 else matches[0]


def _is_addressed_to(row: Notification, caller: Caller) -> bool:
    """:func:`_addressed_to` for one row."""
    return bool(
        (caller.department and row.recipient_department == caller.department)
        or (caller.person and row.recipient_person == caller.person)
    )


@router.get(
    "",
    response_model=NotificationList,
    summary="My notifications, newest first",
    description="本部门(或本人)收到的通知(新任务、决定、办结、提醒、超期),按时间倒序分页。公民、法人等"
    "非部门当事人只看到发给本人的通知;部门负责人看到本部门和本人的通知。`text` 默认中文,"
    "Accept-Language: en 时为英文。\n\n"
    "The caller's notifications: a department's, a citizen's own (addressed to its identity, never "
    "one addressed only to a department), or both for a person of a department; `case_id` narrows "
    "to one case.",
    responses=problem_responses(401, 422),
)
def list_notifications(
    request: Request,
    caller: CurrentCaller,
    engine: EngineDep,
    case_id: Annotated[str | None, Query(max_length=64, description="Only this case")] = None,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> NotificationList:
    conditions = [_addressed_to(caller)]
    if case_id is not None:
        conditions.append(Notification.case_id == case_id)
    if unread is not None:
        conditions.append(
            col(Notification.read_at).is_(None) if unread else col(Notification.read_at).is_not(None)
        )
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(Notification).where(*conditions)).one()
        rows = session.exec(
            select(Notification)
            .where(*conditions)
            .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
    english = prefers_english(request.headers.get("accept-language"))
    return NotificationList(
        items=[NotificationOut.from_row(row, english=english) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/{notification_id}/read",
    response_model=NotificationOut,
    summary="Mark a notification read",
    description="将发给本部门(或本人)的一条通知标记为已读(重复标记不改变首次阅读时间);"
    "他人的通知返回 404。\n\n"
    "Only the caller's own notifications (its department's, or addressed to its identity); anyone "
    "else's → 404. Idempotent: the first read time is kept.",
    responses=problem_responses(401, 404, 422),
)
def mark_read(
    notification_id: Annotated[int, Path(ge=1, le=2**62)],
    request: Request,
    caller: CurrentCaller,
    engine: EngineDep,
) -> NotificationOut:
    with Session(engine) as session:
        row = session.get(Notification, notification_id)
        if row is None or not _is_addressed_to(row, caller):
            raise ApiError(
                404, f"未找到通知 {notification_id}", f"no notification {notification_id}", code="not_found"
            )
        if row.read_at is None:
            row.read_at = datetime.now(UTC)
            session.add(row)
            session.commit()
            session.refresh(row)
    return NotificationOut.from_row(row, english=prefers_english(request.headers.get("accept-language")))
