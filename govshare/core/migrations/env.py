"""Alembic environment: the metadata is the models'; the connection is ours.

Run in-process by ``govshare.core.db.init_schema`` (the connection is passed in ``config.attributes``,
already inside a transaction that holds the migration lock: nothing here commits), or by hand
through ``python -m govshare.core.migrations`` (an engine is made from ``sqlalchemy.url`` or
``DATABASE_URL`` with ``govshare.core.db.make_engine``). ``render_as_batch`` lets SQLite ALTER tables.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

import govshare.core.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    """``revision --autogenerate`` writes plain SQLAlchemy types, not sqlmodel's decorators: a
    revision must not change when a library does."""
    if kind == "type" and isinstance(obj, AutoString):
        length = obj.impl.length
        return f"sa.String(length={length})" if length else "sa.String()"
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


OPTIONS = {
    "target_metadata": target_metadata,
    "render_as_batch": True,
    "compare_type": True,
    "render_item": render_item,
}


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from govshare.core.settings import get_settings

    return get_settings().database_url


def run_migrations_offline() -> None:
    """``--sql``: print the DDL instead of running it (data steps are skipped, see 0002)."""
    context.configure(url=_url(), literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
        return
    from govshare.core.db import make_engine

    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **OPTIONS)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
