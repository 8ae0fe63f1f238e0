"""Parties who are not departments: citizens, legal persons, organisations, and persons of a department

New table ``party_identity`` (Luoyang: 公民、法人和其他组织 report doubtful data and apply for open data;
a department's principal head 主要负责人 approves extensions): an opaque reference (``P-…``, what
workflows and logs carry), kind, name, ID type and number, and the department a person acts in.
``credential`` gets ``person_id`` and its ``department_code`` becomes nullable (a citizen's token has
no department); ``notification`` gets ``recipient_person`` (a citizen's inbox); ``case_party`` and
``notification`` get an index on the person, which a citizen's lists and inbox read.

No data step: existing credentials stay department credentials (``person_id`` NULL), existing
notices are a department's (``recipient_person`` ""). The demo seed adds its identities.

On SQLite, making ``department_code`` nullable needs a copy of ``credential`` (``batch_alter_table``
rebuilds it); no table references ``credential``, so the copy is safe inside the migration's
transaction. Each step skips what exists, so a database made by ``create_all`` passes unchanged.

Revision ID: 0007
Revises: 0006
Create Date: 2027-02-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from govshare.core.migrations import guards

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    guards.create_table(
        "party_identity",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("id_type", sa.String(length=32), nullable=False),
        sa.Column("id_number", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["department"], ["department.code"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=[("ix_party_identity_department", ["department"], False)],
    )

    add_person = not guards.has_column("credential", "person_id")
    # Offline (--sql) nothing can be looked at: emit the change.
    relax = not _nullable("credential", "department_code")
    if add_person or relax:
        # A batch: on SQLite the table is rebuilt once (a plain ALTER can neither add a foreign key
        # nor drop NOT NULL there); on PostgreSQL these are plain ALTER TABLE statements.
        with op.batch_alter_table("credential") as batch:
            if add_person:
                batch.add_column(sa.Column("person_id", sa.String(length=64), nullable=True))
                batch.create_foreign_key("credential_person_id_fkey", "party_identity", ["person_id"], ["id"])
            if relax:
                batch.alter_column("department_code", existing_type=sa.String(), nullable=True)
    guards.create_index("credential", "ix_credential_person_id", ["person_id"])

    guards.add_column(
        "notification",
        sa.Column("recipient_person", sa.String(length=64), nullable=False, server_default=""),
    )
    guards.create_index("notification", "ix_notification_person_inbox", ["recipient_person", "created_at"])
    guards.create_index("case_party", "ix_case_party_person", ["person", "case_id"])


def _nullable(table: str, column: str) -> bool:
    """Whether the live ``table.column`` is nullable (False offline: the change is emitted)."""
    if not guards.has_table(table):
        return False
    inspector = sa.inspect(op.get_bind())
    return any(c["name"] == column and c["nullable"] for c in inspector.get_columns(table))


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
