"""The lists compiled with the catalog (Luoyang 12–14): the responsibility list (责任清单) and the
demand list (需求清单).

**Responsibility list** (Luoyang 13–14): per department, the catalog entries it must provide and keep
fresh. :func:`sync_responsibilities` keeps it from what :func:`govshare.core.catalog.publish` wrote
(a catalog-update case's approval, the demo seed): a new or changed entry is on its provider's list,
a withdrawn one leaves it (its item is closed, ``removed_at``; the history stays). Its fulfilment is
a department's assessment figure (Luoyang 13): the entries on its list that are published and not
overdue for refresh (``Resource.next_refresh_due`` empty or in the future), over all entries on it.

**Demand list** (Luoyang 12): a department states the data it needs from others for its duties;
the platform (the bureau) reviews the demands and answers one by naming a published catalog entry
(then the department can apply for it); an open demand counts as unmet.

Every function works in the caller's session and transaction and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from govshare.core.models import DataDemand, Resource, ResourceVersion, ResponsibilityItem

DEMAND_STATUSES = ("open", "answered", "withdrawn")


# ==================================================================================================
# Responsibility list (责任清单)
# ==================================================================================================


def sync_responsibilities(
    session: Session,
    department: str,
    published_versions: Sequence[ResourceVersion],
    now: datetime,
) -> list[ResponsibilityItem]:
    """Bring the responsibility list in line with the versions a change set just published, in the
    caller's transaction (it does not commit).

    A ``new`` or ``changed`` version puts the entry on its provider's list (the version's
    ``provider_department``; ``department`` when the version names none) unless an open item is
    there already; an open item of another department for the same entry (the entry moved) is
    closed. A ``withdrawn`` version closes the entry's open items. Returns the items added or
    closed. Running it twice for the same versions changes nothing the second time.
    """
    if not published_versions:
        return []
    session.flush()  # the resource rows first: the items reference them
    ids = sorted({version.resource_id for version in published_versions})
    open_items: dict[str, list[ResponsibilityItem]] = {}
    for item in session.exec(
        select(ResponsibilityItem).where(
            col(ResponsibilityItem.resource_id).in_(ids), col(ResponsibilityItem.removed_at).is_(None)
        )
    ).all():
        open_items.setdefault(item.resource_id, []).append(item)
    touched: list[ResponsibilityItem] = []
    for version in published_versions:
        current = open_items.setdefault(version.resource_id, [])
        if version.change == "withdrawn":
            for item in current:
                item.removed_at = now
                session.add(item)
                touched.append(item)
            current.clear()
            continue
        owner = str((version.data or {}).get("provider_department") or department)
        for item in [item for item in current if item.department != owner]:
            item.removed_at = now
            session.add(item)
            touched.append(item)
            current.remove(item)
        if not current:
            item = ResponsibilityItem(
                department=owner,
                resource_id=version.resource_id,
                added_at=now,
                case_id=version.case_id or "",
            )
            session.add(item)
            current.append(item)
            touched.append(item)
    return touched


@dataclass(frozen=True)
class Fulfilment:
    """A department's responsibility-list figure (Luoyang 13): ``fulfilled`` of ``count`` entries
    are published and not overdue for refresh; ``ratio`` is None for an empty list."""

    department: str
    count: int
    fulfilled: int

    @property
    def ratio(self) -> float | None:
        return round(self.fulfilled / self.count, 4) if self.count else None


@dataclass(frozen=True)
class ResponsibilityEntry:
    """One entry on a list, with the catalog entry as it stands and whether it counts as fulfilled."""

    item: ResponsibilityItem
    resource: Resource | None
    fulfilled: bool


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def is_fulfilled(resource: Resource | None, now: datetime) -> bool:
    """Published, and its next refresh not yet due (or none due)."""
    if resource is None or resource.status != "published":
        return False
    due = resource.next_refresh_due
    return due is None or _utc(due) > _utc(now)


def responsibility_list(
    session: Session, department: str, now: datetime
) -> tuple[list[ResponsibilityEntry], Fulfilment]:
    """The open items of ``department``'s list (by resource id) and its fulfilment at ``now``."""
    rows = session.exec(
        select(ResponsibilityItem, Resource)
        .join(Resource, Resource.id == ResponsibilityItem.resource_id, isouter=True)  # type: ignore[arg-type]
        .where(ResponsibilityItem.department == department, col(ResponsibilityItem.removed_at).is_(None))
        .order_by(col(ResponsibilityItem.resource_id))
    ).all()
    entries = [ResponsibilityEntry(item, resource, is_fulfilled(resource, now)) for item, resource in rows]
    return entries, Fulfilment(department, len(entries), sum(entry.fulfilled for entry in entries))


def fulfilment_by_department(session: Session, now: datetime) -> list[Fulfilment]:
    """Every department with an entry on its list: count and fulfilled, by department code (one
    grouped query)."""
    fulfilled = case(
        (
            (Resource.status == "published")
            & or_(
                col(Resource.next_refresh_due).is_(None),
                col(Resource.next_refresh_due) > _utc(now),
            ),
            1,
        ),
        else_=0,
    )
    rows = session.exec(
        select(ResponsibilityItem.department, func.count(), func.coalesce(func.sum(fulfilled), 0))
        .join(Resource, Resource.id == ResponsibilityItem.resource_id)  # type: ignore[arg-type]
        .where(col(ResponsibilityItem.removed_at).is_(None))
        .group_by(ResponsibilityItem.department)
        .order_by(ResponsibilityItem.department)
    ).all()
    return [Fulfilment(code, int(count), int(done)) for code, count, done in rows]


# ==================================================================================================
# Demand list (需求清单)
# ==================================================================================================


class DemandError(ValueError):
    """A demand cannot be changed as asked. ``kind``: not_found | forbidden | conflict | invalid."""

    def __init__(self, kind: str, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.kind = kind
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en


def create_demand(
    session: Session,
    *,
    department: str,
    title: str,
    description: str = "",
    fields_wanted: Sequence[str] = (),
    provider_department: str | None = None,
    now: datetime,
) -> DataDemand:
    """A department states a demand (open). Flushed, so it has its id; not committed."""
    demand = DataDemand(
        department=department,
        title=title,
        description=description,
        fields_wanted=list(fields_wanted),
        provider_department=provider_department,
        status="open",
        created_at=now,
    )
    session.add(demand)
    session.flush()
    return demand


def _demand(session: Session, demand_id: int) -> DataDemand:
    demand = session.get(DataDemand, demand_id)
    if demand is None:
        raise DemandError(
            "not_found", "demand_not_found", f"没有需求 {demand_id}", f"no data demand {demand_id}"
        )
    return demand


def _must_be_open(demand: DataDemand) -> None:
    if demand.status != "open":
        raise DemandError(
            "conflict",
            "demand_not_open",
            f"需求 {demand.id} 已{'答复' if demand.status == 'answered' else '撤回'},不能再变更",
            f"data demand {demand.id} is {demand.status}, not open",
        )


def answer_demand(
    session: Session, demand_id: int, *, resource_id: str, reviewed_by: str, now: datetime
) -> DataDemand:
    """The platform answers an open demand with a published catalog entry (then the department can
    apply for it). An unknown or withdrawn entry is ``invalid``; a demand not open a ``conflict``."""
    demand = _demand(session, demand_id)
    resource = session.get(Resource, resource_id)
    if resource is None or resource.status != "published":
        raise DemandError(
            "invalid",
            "resource_not_published",
            f"目录中没有已发布的资源 {resource_id},不能用以答复需求",
            f"no published catalog resource {resource_id} to answer the demand with",
        )
    _must_be_open(demand)
    demand.status = "answered"
    demand.answered_by_resource = resource_id
    demand.reviewed_by = reviewed_by
    demand.answered_at = now
    session.add(demand)
    return demand


def withdraw_demand(session: Session, demand_id: int, *, department: str, now: datetime) -> DataDemand:
    """The department that stated an open demand withdraws it (others: ``forbidden``)."""
    demand = _demand(session, demand_id)
    if demand.department != department:
        raise DemandError(
            "forbidden",
            "not_own_demand",
            f"需求 {demand_id} 不是本部门提出的,不能撤回",
            f"data demand {demand_id} is not your department's",
        )
    _must_be_open(demand)
    demand.status = "withdrawn"
    demand.answered_at = now
    session.add(demand)
    return demand


def visible_demands(
    session: Session,
    *,
    viewer: str | None,
    status: str | None = None,
    department: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DataDemand], int]:
    """Demands by id: every one for ``viewer=None`` (oversight), else the viewer's own and those
    addressed to it as provider; ``department`` narrows to the demanding department."""
    query = select(DataDemand)
    if viewer is not None:
        query = query.where(or_(DataDemand.department == viewer, DataDemand.provider_department == viewer))
    if status is not None:
        query = query.where(DataDemand.status == status)
    if department is not None:
        query = query.where(DataDemand.department == department)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(DataDemand.id)).offset(offset).limit(limit)).all()
    return list(rows), int(total)


@dataclass(frozen=True)
class DemandCount:
    department: str
    open: int
    answered: int
    withdrawn: int


def demand_summary(session: Session, *, department: str | None = None) -> list[DemandCount]:
    """Per demanding department: open (unmet), answered and withdrawn demands."""
    query = select(DataDemand.department, DataDemand.status, func.count()).group_by(
        DataDemand.department, DataDemand.status
    )
    if department is not None:
        query = query.where(DataDemand.department == department)
    counts: dict[str, dict[str, int]] = {}
    for code, status, count in session.exec(query).all():
        counts.setdefault(code, dict.fromkeys(DEMAND_STATUSES, 0))[status] = int(count)
    return [
        DemandCount(code, c.get("open", 0), c.get("answered", 0), c.get("withdrawn", 0))
        for code, c in sorted(counts.items())
    ]
