"""Catalog lists: the responsibility list (责任清单) and the demand list (需求清单)

New tables: ``responsibility_item`` (an entry a department must provide and keep fresh, Luoyang
13–14: added when published, closed when withdrawn) and ``data_demand`` (a department's stated need
for data, Luoyang 12: open, answered by a catalog entry, or withdrawn). No data step: a database
from before this revision starts with empty lists (``govshare.core.catalog_lists`` fills the
responsibility list as catalog updates are published).

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from govshare.core.migrations import guards

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    guards.create_table(
        "responsibility_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["department"], ["department.code"]),
        sa.ForeignKeyConstraint(["resource_id"], ["resource.id"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=[
            (
                "ix_responsibility_item_department",
                ["department", "removed_at", "resource_id"],
                False,
            ),
            ("ix_responsibility_item_resource_id", ["resource_id"], False),
        ],
    )
    guards.create_table(
        "data_demand",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("fields_wanted", sa.JSON(), nullable=False),
        sa.Column("provider_department", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answered_by_resource", sa.String(length=64), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["department"], ["department.code"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=[
            ("ix_data_demand_department_status", ["department", "status"], False),
            ("ix_data_demand_provider_status", ["provider_department", "status"], False),
        ],
    )


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
