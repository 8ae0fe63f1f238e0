"""Database engine and schema migration (SQLite embedded by default, PostgreSQL via psycopg)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import structlog
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from govshare.core import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from govshare.core.settings import Settings, get_settings

log = structlog.get_logger("govshare.core.db")


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
            _enter_wal(cur, wait_s=sqlite_busy_timeout_s)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if pool_capacity is None:
        pool.update(pool_size=10, max_overflow=10)
    return create_engine(url, pool_pre_ping=True, **pool)


def _enter_wal(cur, *, wait_s: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another process holds the database. Switching a new
    file to WAL takes an exclusive lock; two processes opening it at the same instant (the API and
    the workers starting together) can each hold a shared lock and want it, a deadlock SQLite breaks
    by answering "database is locked" at once, without waiting out the busy timeout."""
    deadline = time.monotonic() + max(wait_s, 1.0)
    pause = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


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
    """Bring the database to the newest schema: Alembic ``upgrade head`` (``govshare/core/migrations``),
    run in-process by the API, the worker and the launcher on start. Idempotent.

    One process migrates at a time (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
    write lock, ``BEGIN IMMEDIATE``); the others wait, then find the database at head. The whole
    upgrade is one transaction on both: it is applied entirely or not at all. A database made
    before migrations (tables, no ``alembic_version``) is first stamped at the revision it matches
    (:func:`_adopt_unversioned`).
    """
    migrate(engine)


#: pg_advisory_xact_lock key: the first 8 bytes of sha256("govshare schema migration"), signed.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"govshare schema migration").digest()[:8], "big", signed=True
)
#: How long a start waits for another process's migration (SQLite busy timeout while locking).
MIGRATION_LOCK_WAIT_S = 600
#: Alembic's ``op`` and ``context`` are module-level proxies: one migration per process at a time.
_in_process = threading.Lock()


def migrate(engine: Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Upgrade to ``target`` under the migration lock; returns (revision before, revision after)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from govshare.core.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    wanted = script.get_current_head() if target == "head" else script.get_revision(target).revision
    with engine.connect() as conn:  # the usual case, without a lock: already there
        if _current_revision(conn) == wanted:
            return wanted, wanted
    with _in_process, _migration_lock(engine) as conn:
        before = current = _current_revision(conn)
        if current is None:
            current = _adopt_unversioned(conn, script)
        elif current not in {s.revision for s in script.walk_revisions()}:
            raise RuntimeError(
                f"the database is at schema revision {current}, which this release does not know "
                "(a newer release migrated it): run that release, or restore a backup"
            )
        if current != wanted:
            command.upgrade(alembic_config(connection=conn), target)
        after = _current_revision(conn)
        if before is None and after == script.get_current_head():
            _check_matches_models(conn)
    if before != after:
        log.info("schema migrated", from_revision=before, to_revision=after, dialect=engine.dialect.name)
    return before, after


def _current_revision(conn: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that no other process's migration shares; committed when
    the block ends, rolled back if it raises."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            # Released by the commit or rollback that ends the transaction (and by a lost session).
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            yield conn
        return
    if engine.dialect.name != "sqlite":  # pragma: no cover - only the two backends are supported
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        busy_ms = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        conn.rollback()
        isolation = raw.isolation_level
        # pysqlite opens transactions itself, and never before DDL: take over so that one BEGIN
        # IMMEDIATE (the database's write lock, waited for up to the busy timeout) covers it all.
        raw.isolation_level = None
        try:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {MIGRATION_LOCK_WAIT_S * 1000}")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            if raw.in_transaction:  # pragma: no cover - an error between BEGIN and the yield
                raw.rollback()
            raw.execute(f"PRAGMA busy_timeout = {int(busy_ms or 0)}")
            raw.isolation_level = isolation


def _adopt_unversioned(conn: Connection, script) -> str | None:
    """A database with no ``alembic_version``: empty (→ None, upgraded from scratch), or made by the
    ``create_all`` code of earlier releases. Such a database has the baseline's tables (76b4170) —
    possibly more, if it ran this release's code before migrations; revision 0002 skips what it
    finds — and is stamped at the baseline. One that lacks some baseline tables (made before
    Idempotency-Key) is left unstamped: 0001 then creates only the tables missing."""
    from alembic import command

    from govshare.core.migrations import BASELINE, alembic_config

    baseline_tables = set(script.get_revision(BASELINE).module.TABLES)
    present = set(inspect(conn).get_table_names())
    ours = present & (baseline_tables | set(SQLModel.metadata.tables))
    if not ours:
        return None
    if baseline_tables <= present:
        command.stamp(alembic_config(connection=conn), BASELINE)
        log.info("schema stamped", revision=BASELINE, reason="tables made before migrations")
        return BASELINE
    log.info("schema unversioned", missing_tables=sorted(baseline_tables - present), note="0001 creates them")
    return None


def _check_matches_models(conn: Connection) -> None:
    """After upgrading an unversioned database (empty, or made before migrations) to head: compare
    it with the models. A missing table or column (the code would fail on it: a model changed
    without a migration, or an old database unlike the baseline) undoes the whole upgrade; other
    differences (e.g. ``timestamp`` without time zone from a PostgreSQL made by sqlmodel < 0.0.45)
    are logged."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    missing = [d for d in flat if d[0] in ("add_table", "add_column")]
    if missing:
        raise RuntimeError(
            "after upgrading, the database still lacks tables or columns of the models, so nothing "
            "was changed (a model changed without a migration, or a database made before migrations "
            f"that is unlike the baseline). Missing: {[_describe(d) for d in missing]}"
        )
    if flat:
        log.warning("schema differs from the models", differences=[_describe(d) for d in flat])


def _describe(diff: tuple) -> str:
    kind, *rest = diff
    return f"{kind} " + " ".join(str(getattr(x, "name", x)) for x in rest if x is not None)[:200]


@lru_cache
def get_engine() -> Engine:
    engine = make_engine(get_settings().database_url)
    init_schema(engine)
    return engine


def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    with Session(engine or get_engine()) as session:
        yield session
