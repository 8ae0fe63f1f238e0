"""Role directory: which department plays each directory role

Escalation rungs and linked cases name roles (the platform, the leading group office, the
coordinator, the municipal government office); which department plays each is deployment data, one
row per role in ``role_directory`` (``govshare directory``). A new table, no data step: the demo seed
fills it, an operator sets it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from govshare.core.migrations import guards

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ``guards.create_table`` is ``op.create_table`` unless the table exists: a database made by
    # create_all from these models (adopted at 0001, then upgraded) already has it.
    guards.create_table(
        "role_directory",
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["department"], ["department.code"]),
        sa.PrimaryKeyConstraint("role"),
    )


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
