"""Tamper evidence: the access log, the hash chains, append-only tables (issue 21)

New table ``access_event``: every read of a case or of shared data over the API (who, what, when,
from where, the status; Hubei 27, Luzhou 34/35), one hash chain in ``id`` order. ``auditevent`` gets
``prev_hash`` and ``hash``: one chain per case in ``seq`` order (``govshare.core.audit_trail`` says
exactly what is hashed). No data step: rows written before this revision keep NULL hashes, and
``govshare audit verify`` reports them as unchained (before 0008), not as tampered.

Both tables refuse UPDATE and DELETE from here on:

- PostgreSQL: a trigger function ``govshare_append_only()`` raising an exception, called BEFORE
  UPDATE OR DELETE (each row) and BEFORE TRUNCATE (the statement) on each table. The table owner can
  still disable or drop the triggers — which is why the chains and the anchors outside the database
  exist; ``verify`` tells what such an owner changed.
- SQLite: ``BEFORE UPDATE`` and ``BEFORE DELETE`` triggers that ``RAISE(ABORT, …)``. A later revision
  that rebuilds either table (``batch_alter_table`` copies and drops it) must create them again.

Each step skips what exists (a database made by ``create_all`` has the table and columns already).

Revision ID: 0008
Revises: 0007
Create Date: 2027-02-17
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from govshare.core.migrations import guards

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables that only grow.
APPEND_ONLY = ("auditevent", "access_event")

POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION govshare_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' refused (审计记录只增不改)',
        HINT = 'audit rows are never changed or deleted by the application (issue 21)';
END
$$
"""


def postgresql_triggers(table: str) -> list[str]:
    """The statements that make ``table`` append-only on PostgreSQL (re-runnable)."""
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION govshare_append_only()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION govshare_append_only()",
    ]


def sqlite_triggers(table: str) -> list[str]:
    """The statements that make ``table`` append-only on SQLite (re-runnable)."""
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
        for verb in ("UPDATE", "DELETE")
    ]


def upgrade() -> None:
    guards.add_column("auditevent", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    guards.add_column("auditevent", sa.Column("hash", sa.String(length=64), nullable=True))
    guards.create_table(
        "access_event",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=False),
        sa.Column("query", sa.String(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        indexes=[
            ("ix_access_event_subject", ["subject_type", "subject_id", "id"], False),
            ("ix_access_event_department", ["department", "id"], False),
        ],
    )
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for table in APPEND_ONLY:
            for statement in postgresql_triggers(table):
                op.execute(statement)
    elif dialect == "sqlite":
        for table in APPEND_ONLY:
            for statement in sqlite_triggers(table):
                op.execute(statement)


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
