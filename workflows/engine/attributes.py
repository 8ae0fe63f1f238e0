"""Cases found in Temporal itself: each case keeps typed search attributes up to date (issue 21).

Auditors and operators list and filter cases in the Temporal UI and CLI without the application
database, e.g. ``temporal workflow list --query 'GovshareOverdue = true AND GovshareDepartment = "gaj"'``.
The attributes must be registered on the server (``govshare run`` does it on the dev server; the
README shows a cluster); a case pins at its start whether they are (``CaseStart.search_attributes``),
so a case started where they are not never upserts them, and histories written before keep
replaying as they were.

Pure: what the attributes of a case are, and the updates that bring Temporal's copy in line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from workflows.case import CaseHeader, Party, Task

CASE_TYPE = SearchAttributeKey.for_keyword("GovshareCaseType")
PROFILE = SearchAttributeKey.for_keyword("GovshareProfile")
STATUS = SearchAttributeKey.for_keyword("GovshareStatus")
DEPARTMENT = SearchAttributeKey.for_keyword_list("GovshareDepartment")
OVERDUE = SearchAttributeKey.for_bool("GovshareOverdue")
NEXT_DUE = SearchAttributeKey.for_datetime("GovshareNextDue")

#: Every attribute, as a server registers it (name → Temporal's type name).
KEYS: tuple[SearchAttributeKey[Any], ...] = (CASE_TYPE, PROFILE, STATUS, DEPARTMENT, OVERDUE, NEXT_DUE)
TYPE_NAMES = {
    CASE_TYPE.name: "Keyword",
    PROFILE.name: "Keyword",
    STATUS.name: "Keyword",
    DEPARTMENT.name: "KeywordList",
    OVERDUE.name: "Bool",
    NEXT_DUE.name: "Datetime",
}


def values(header: CaseHeader, parties: Sequence[Party], tasks: Sequence[Task]) -> dict[str, Any]:
    """The case's attributes: its type, profile and status; the departments involved (never a
    person); whether an open task is overdue; the soonest due date of an open, running task (none
    when nothing is due)."""
    open_tasks = [t for t in tasks if t.status == "open"]
    dues = [t.deadline.due_at for t in open_tasks if t.deadline is not None and t.suspended_at is None]
    departments = sorted({p.department for p in parties if p.department})
    return {
        CASE_TYPE.name: header.case_type,
        PROFILE.name: header.profile_id,
        STATUS.name: header.status,
        DEPARTMENT.name: departments,
        OVERDUE.name: any(t.overdue for t in open_tasks),
        NEXT_DUE.name: min(dues) if dues else None,
    }


def current(held: TypedSearchAttributes) -> dict[str, Any]:
    """What Temporal holds for the case now (``workflow.info().typed_search_attributes``)."""
    return {key.name: held.get(key) for key in KEYS}


def updates(held: dict[str, Any], wanted: dict[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    """The upserts that make ``held`` into ``wanted`` (none when they agree)."""
    found: list[SearchAttributeUpdate[Any]] = []
    for key in KEYS:
        value = wanted.get(key.name)
        if _same(held.get(key.name), value):
            continue
        found.append(key.value_unset() if value is None else key.value_set(value))
    return found


def initial(wanted: dict[str, Any]) -> TypedSearchAttributes:
    """The attributes a case starts with (set with the start, so the case is found at once)."""
    return TypedSearchAttributes(
        [SearchAttributePair(key, wanted[key.name]) for key in KEYS if wanted.get(key.name) is not None]
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b
    if isinstance(a, list) or isinstance(b, list):
        return sorted(a or []) == sorted(b or [])
    return a == b
