"""Database engine and schema creation (SQLite embedded by default, PostgreSQL via psycopg)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import structlog
from sqlalchemy import Column, event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from govshare import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from govshare.settings import Settings, get_settings

log = structlog.get_logger("govshare.db")


def make_engine(
    url: str,
    *,
    pool_capacity: int | None = None,
    pool_timeout_s: float = 30.0,
    sqlite_busy_timeout_s: float = 30.0,
) -> Engine:
    """An engine for ``url``. ``pool_capacity``: the most connections it ever holds (default: the
    driver's pool, 5 + 10 overflow for SQLite files, 10 + 10 for PostgreSQL). The API passes its
    thread count (:func:`make_api_engine`); the worker and the CLI keep the patient defaults."""
    pool: dict = {"pool_timeout": pool_timeout_s}
    if pool_capacity is not None:
        resident = min(pool_capacity, 10)  # keep a few open; the rest are opened on demand
        pool.update(pool_size=resident, max_overflow=pool_capacity - resident)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if path in ("", ":memory:"):
            pool = {}  # one shared in-memory connection (StaticPool / SingletonThreadPool): no sizes
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout_s}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            # WAL lets the API read while the worker's activities write.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if pool_capacity is None:
        pool.update(pool_size=10, max_overflow=10)
    return create_engine(url, pool_pre_ping=True, **pool)


def make_api_engine(settings: Settings) -> Engine:
    """The API's engine: as many connections as the API has threads (each DB step holds one
    connection inside one thread call and nowhere else), a short pool wait and a short SQLite busy
    timeout — past either, the request is answered 503 + Retry-After (``api.errors``), not stalled."""
    return make_engine(
        settings.database_url,
        pool_capacity=settings.api_threads,
        pool_timeout_s=settings.api_db_pool_timeout_s,
        sqlite_busy_timeout_s=settings.api_sqlite_busy_timeout_s,
    )


def init_schema(engine: Engine) -> None:
    """Create missing tables and add missing columns. Idempotent; run by the API, the worker and the
    launcher on start.

    The models evolve the way the workflow contracts do — new tables, new columns with defaults — and
    those changes are applied here. Anything else (a dropped or retyped column) is not guessed at: it
    is reported and left for a written migration.
    """
    SQLModel.metadata.create_all(engine)
    inspector = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if column.primary_key or (not column.nullable and column.default is None):
                raise RuntimeError(
                    f"table {table.name}: new column {column.name} is required and has no default; "
                    "write a migration for it"
                )
            _add_column(engine, table.name, column)
            log.info("schema column added", table=table.name, column=column.name)


def _add_column(engine: Engine, table: str, column: Column) -> None:
    ddl_type = column.type.compile(dialect=engine.dialect)
    default = column.default.arg if column.default is not None and column.default.is_scalar else None
    clause = ""
    if default is not None:
        literal = repr(default) if not isinstance(default, bool) else ("1" if default else "0")
        if engine.dialect.name == "postgresql" and isinstance(default, bool):
            literal = "true" if default else "false"
        clause = f" NOT NULL DEFAULT {literal}" if not column.nullable else f" DEFAULT {literal}"
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column.name)} {ddl_type}{clause}"))


@lru_cache
def get_engine() -> Engine:
    engine = make_engine(get_settings().database_url)
    init_schema(engine)
    return engine


def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    with Session(engine or get_engine()) as session:
        yield session
