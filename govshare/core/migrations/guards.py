"""Schema steps that skip what already exists, for the revisions that must carry databases made
before migrations (by ``create_all`` and the old add-column code) as well as empty ones.

Each helper is the ``op.*`` call it names, preceded by a look at the live schema; in ``--sql``
(offline) mode nothing can be looked at and every step is emitted.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from alembic import context, op

log = structlog.get_logger("govshare.core.migrations")


def _inspector() -> sa.Inspector | None:
    if context.is_offline_mode():
        return None
    return sa.inspect(op.get_bind())  # a fresh inspector each time: no stale cache


def has_table(table: str) -> bool:
    inspector = _inspector()
    return inspector is not None and inspector.has_table(table)


def has_column(table: str, column: str) -> bool:
    inspector = _inspector()
    return inspector is not None and any(c["name"] == column for c in inspector.get_columns(table))


def has_index(table: str, index: str) -> bool:
    inspector = _inspector()
    return inspector is not None and any(i["name"] == index for i in inspector.get_indexes(table))


def create_table(
    table: str, *elements: sa.SchemaItem, indexes: Sequence[tuple[str, list[str], bool]] = ()
) -> bool:
    """``op.create_table``, then ``op.create_index`` for each ``(name, columns, unique)``; a table
    that exists is kept as it is (only its missing indexes are created)."""
    created = False
    if has_table(table):
        log.info("schema table kept", table=table)
    else:
        op.create_table(table, *elements)
        created = True
    for name, columns, unique in indexes:
        create_index(table, name, columns, unique=unique)
    return created


def create_index(table: str, name: str, columns: list[str], *, unique: bool = False) -> None:
    if has_index(table, name):
        return
    op.create_index(op.f(name), table, columns, unique=unique)


def add_column(table: str, column: sa.Column) -> bool:
    """``op.add_column`` unless present. A NOT NULL column must carry a constant ``server_default``
    (existing rows take it). Not through ``batch_alter_table``: on SQLite that would rebuild the
    table (copy, drop, rename) for a default given as an expression, and dropping a table that others
    reference fails with foreign keys on; a plain ``ALTER TABLE … ADD COLUMN`` works in place."""
    if has_column(table, column.name):
        log.info("schema column kept", table=table, column=column.name)
        return False
    op.add_column(table, column)
    return True
