"""The role directory: which department plays each directory role in this deployment.

Escalation rungs and case steps name roles — the platform 共享平台, the leading group office
领导小组办公室, the coordinator 同级政府相关职能部门, the municipal government office 市政府办公室 — not
departments; who plays each is deployment data, one ``role_directory`` row per role
(:class:`govshare.core.models.RoleAssignment`), set with ``govshare directory set``.

This is the lowest layer: it does not import ``regulations``. :data:`ROLES` is the same tuple as
``regulations.schema.DIRECTORY_ROLES`` (a test keeps the two equal); whether a profile's rungs are all
played is ``regulations.roles.unplayed_roles``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from govshare.core.models import Department, RoleAssignment

#: The roles a directory may hold (= ``regulations.schema.DIRECTORY_ROLES``).
ROLES: tuple[str, ...] = ("platform", "leading_group", "coordinator", "government_office")

#: How people read each role (Chinese first, English beside it).
ROLE_NAMES: dict[str, tuple[str, str]] = {
    "platform": ("共享平台", "sharing platform"),
    "leading_group": ("领导小组办公室", "leading group office"),
    "coordinator": ("同级政府相关职能部门", "coordinating department"),
    "government_office": ("市政府办公室", "municipal government office"),
}


def read_directory(session: Session) -> dict[str, str]:
    """Role → department code, for every role some department plays."""
    rows = session.exec(select(RoleAssignment).order_by(RoleAssignment.role)).all()
    return {row.role: row.department for row in rows}


def assign(
    session: Session, role: str, department: str, note: str = "", now: datetime | None = None
) -> RoleAssignment:
    """Let ``department`` play ``role`` (replacing whoever played it); committed. ValueError, naming
    it, for a role the directory does not hold or a department that does not exist."""
    if role not in ROLES:
        raise ValueError(f"未知角色 unknown role '{role}': the directory holds {', '.join(ROLES)}")
    if session.get(Department, department) is None:
        raise ValueError(f"未知部门 unknown department '{department}'")
    at = now or datetime.now(UTC)
    row = session.get(RoleAssignment, role)
    if row is None:
        row = RoleAssignment(role=role, department=department, note=note, updated_at=at)
    else:
        row.department, row.note, row.updated_at = department, note, at
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def unassign(session: Session, role: str) -> bool:
    """Let no department play ``role``; committed. True if some department played it."""
    row = session.get(RoleAssignment, role)
    if row is None:
        return False
    session.delete(row)
    session.commit()
    return True
