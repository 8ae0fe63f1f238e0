"""Notifications (通知): what the cases told the caller's department, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import func
from sqlmodel import col, select

from api.deps import CurrentCaller, Offset, SessionDep
from api.errors import prefers_english, problem_responses
from api.schemas import NotificationList, NotificationOut
from govshare.models import Notification

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get(
    "",
    response_model=NotificationList,
    summary="My department's notifications, newest first",
    description="本部门收到的通知(新任务、决定、办结、提醒、超期),按时间倒序分页。`text` 默认中文,"
    "Accept-Language: en 时为英文。\n\n"
    "The caller department's notifications; `case_id` narrows to one case.",
    responses=problem_responses(401, 422),
)
def list_notifications(
    request: Request,
    caller: CurrentCaller,
    session: SessionDep,
    case_id: Annotated[str | None, Query(max_length=64, description="Only this case")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> NotificationList:
    conditions = [Notification.recipient_department == caller.department]
    if case_id is not None:
        conditions.append(Notification.case_id == case_id)
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
