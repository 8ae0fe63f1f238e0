"""Notifications (通知): what the cases told the caller, newest first.

A department's credential reads the notices addressed to its department in a role it answers for
(its own role; with an acting credential also the department's case-only roles: respondent, issuer
…, ``api.deps.party_roles``) — a consumer credential never reads its department's provider notices.
A citizen (no department) reads exactly the notices addressed to its identity (``recipient_person``);
a person of a department (a principal head, a web user) reads its own and its department's in the
role it acts in. A notice addressed to a person is that person's alone. One rule,
:func:`_addressed_to`, for the list, the pages' unread count and marking read (someone else's notice
is 404: never reveal it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import and_, false, func, or_
from sqlmodel import Session, col, select

from api.deps import Caller, CurrentCaller, EngineDep, Offset, party_roles
from api.errors import ApiError, prefers_english, problem_responses
from api.responses import NotificationList, NotificationOut
from govshare.core.models import Notification

router = APIRouter(prefix="/notifications", tags=["notifications"])


def _addressed_to(caller: Caller) -> Any:
    """The notices that are the caller's: those to its department in a role it answers for
    (:func:`api.deps.party_roles`) and to no person (never a department-less notice: an empty
    department matches nothing), and those to its own person."""
    matches = []
    if caller.department:
        matches.append(
            and_(
                Notification.recipient_department == caller.department,
                col(Notification.recipient_role).in_(sorted(party_roles(caller))),
                Notification.recipient_person == "",
            )
        )
    if caller.person:
        matches.append(Notification.recipient_person == caller.person)
    if not matches:
        return false()
    return or_(*matches) if len(matches) > 1 else matches[0]


@router.get(
    "",
    response_model=NotificationList,
    summary="My notifications, newest first",
    description="本部门本角色(或本人)收到的通知(新任务、决定、办结、提醒、超期),按时间倒序分页。"
    "部门只看到发给本部门当前角色的通知(被整改、投诉等本案角色的通知,本部门任一办理角色可见);"
    "公民、法人等非部门当事人只看到发给本人的通知;部门人员(如主要负责人)看到本人的和本部门当前角色的通知。"
    "`text` 默认中文,Accept-Language: en 时为英文。\n\n"
    "The caller's notifications: those to its department in the role it acts in (a case-only role's "
    "— respondent, issuer … — to any acting role of the department), a citizen's own (addressed to "
    "its identity, never one addressed only to a department), or both for a person of a department; "
    "`case_id` narrows to one case.",
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
    description="将发给本部门本角色(或本人)的一条通知标记为已读(重复标记不改变首次阅读时间);"
    "其他角色或他人的通知返回 404。\n\n"
    "Only the caller's own notifications (its department's in the role it acts in, or addressed to "
    "its identity; the same rule as the list); anyone else's → 404. Idempotent: the first read time "
    "is kept.",
    responses=problem_responses(401, 404, 422),
)
def mark_read(
    # The column is an INTEGER (PostgreSQL int4): a larger id names nothing, and would overflow the query.
    notification_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    caller: CurrentCaller,
    engine: EngineDep,
) -> NotificationOut:
    with Session(engine) as session:
        # The same rule as the list, in the query: no second copy of it to drift.
        row = session.exec(
            select(Notification).where(Notification.id == notification_id, _addressed_to(caller))
        ).first()
        if row is None:
            raise ApiError(
                404, f"未找到通知 {notification_id}", f"no notification {notification_id}", code="not_found"
            )
        if row.read_at is None:
            row.read_at = datetime.now(UTC)
            session.add(row)
            session.commit()
            session.refresh(row)
    return NotificationOut.from_row(row, english=prefers_english(request.headers.get("accept-language")))
