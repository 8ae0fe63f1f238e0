"""Indexes for the inbox and the case lists at a province's scale (issue 24)

Measured with ``bench/open_cases.py`` (10,000 open applications, and the same database copied to
105,000 cases): the inbox (``GET /tasks``) filtered on department, status and role but sorted every
open task of the department; the case lists (``GET /applications?overdue=true``, ``GET /cases``)
ordered by ``submitted_at DESC, id DESC`` with single-column indexes only; a department's visible
cases went through ``case_party`` without its role. Four composite indexes, each matching a list's
filter and order:

- ``task(assignee_department, status, assignee_role, due_at, opened_at, id)``: the inbox;
- ``case(case_type, overdue, submitted_at, id)``: the overdue lists;
- ``case(case_type, status, submitted_at, id)``: the lists by type and status;
- ``case_party(department, role, case_id)``: what a department may see.

Plain ``CREATE INDEX`` on both databases; skipped where present (a database made by ``create_all``).

Revision ID: 0011
Revises: 0010
Create Date: 2027-03-30
"""

from __future__ import annotations

from collections.abc import Sequence

from govshare.core.migrations import guards

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    (
        "task",
        "ix_task_inbox_role",
        ["assignee_department", "status", "assignee_role", "due_at", "opened_at", "id"],
    ),
    ("case", "ix_case_type_overdue", ["case_type", "overdue", "submitted_at", "id"]),
    ("case", "ix_case_type_status", ["case_type", "status", "submitted_at", "id"]),
    ("case_party", "ix_case_party_department_role", ["department", "role", "case_id"]),
)


def upgrade() -> None:
    for table, name, columns in INDEXES:
        guards.create_index(table, name, columns)


def downgrade() -> None:
    from alembic import op

    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
