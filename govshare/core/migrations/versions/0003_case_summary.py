"""Case summary fields as the case type names them

Lists and inboxes showed a case's resource and departments from three columns that only a sharing
application fills (``consumer_department``, ``provider_department``, ``resource_id``). Every case type
now hands its own summary fields (``CaseHeader.summary``), kept as JSON in ``case.summary``; the three
columns are folded into it for the rows that have them and dropped.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from govshare.core.migrations import guards

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The columns folded into ``summary``, under the names the sharing application gives them.
FOLDED = ("resource_id", "consumer_department", "provider_department")
#: Rows read per round of the fill-in.
BATCH = 500


def upgrade() -> None:
    # A database made by create_all from these models already has ``summary`` and not the three
    # columns: each step does only what is missing (as 0002 does).
    guards.add_column("case", sa.Column("summary", sa.JSON(), nullable=False, server_default="{}"))
    bind = op.get_bind()
    folded = [c for c in FOLDED if guards.has_column("case", c)]
    if not folded:
        return
    case = sa.table(
        "case",
        sa.column("id", sa.String()),
        sa.column("summary", sa.JSON()),
        *(sa.column(c, sa.String()) for c in folded),
    )
    last = ""
    while True:
        rows = bind.execute(
            sa.select(case.c.id, *(case.c[c] for c in folded))
            .where(case.c.id > last)
            .order_by(case.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            summary = {name: value for name, value in zip(folded, row[1:], strict=True) if value}
            if summary:
                bind.execute(case.update().where(case.c.id == row[0]).values(summary=summary))
        last = rows[-1][0]
    for index in ("ix_case_consumer_department", "ix_case_provider_department"):
        if guards.has_index("case", index):
            op.drop_index(index, table_name="case")
    for column in folded:
        if bind.dialect.name == "sqlite":
            # SQLite 3.35+ drops a column in place; Alembic's batch mode would copy the table, which
            # the foreign keys of task, case_party and case_link refuse inside this transaction.
            op.execute(f'ALTER TABLE "case" DROP COLUMN {column}')
        else:
            op.drop_column("case", column)


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
