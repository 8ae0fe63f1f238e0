"""Worker heartbeats: is a live worker serving a task queue? (``GET /healthz``, issue 13 defect 5)

A worker started by ``python worker.py`` (``worker.main``) writes one ``worker_heartbeat`` row every
``WORKER_HEARTBEAT_INTERVAL_S`` while its Temporal worker runs, and deletes it when it stops cleanly;
one that dies leaves its row behind, older than ``WORKER_HEARTBEAT_STALE_S`` soon after. The API
reads the newest row of its task queue.

Why not Temporal's DescribeTaskQueue pollers: a poller stays listed for minutes after its worker is
gone, and an idle live worker's ``last_access_time`` is up to a long poll (about a minute) old, so a
stopped worker would be noticed after a minute or more; a clean stop is not visible at all. The row is
exact on a clean stop and bounded by the staleness setting otherwise, and it costs one small write
every few seconds in the database the worker writes anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from govshare.core.models import WorkerHeartbeat

log = structlog.get_logger("govshare.core.heartbeat")

#: Rows of workers gone for longer than this are removed by the next worker of the task queue.
FORGET_AFTER = timedelta(days=1)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite: naive UTC


class Heartbeat:
    """One worker's heartbeat row. ``alive`` says whether the worker still runs (no beat otherwise)."""

    def __init__(
        self,
        engine: Engine,
        task_queue: str,
        interval_s: float,
        *,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.engine = engine
        self.task_queue = task_queue
        self.interval_s = interval_s
        self.alive = alive
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.worker_id = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.started_at = datetime.now(UTC)

    def beat(self) -> None:
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            session.merge(
                WorkerHeartbeat(
                    worker_id=self.worker_id,
                    host=self.host,
                    pid=self.pid,
                    task_queue=self.task_queue,
                    started_at=self.started_at,
                    last_seen=now,
                )
            )
            session.execute(
                delete(WorkerHeartbeat).where(
                    col(WorkerHeartbeat.task_queue) == self.task_queue,
                    col(WorkerHeartbeat.last_seen) < now - FORGET_AFTER,
                )
            )
            session.commit()

    def remove(self) -> None:
        with Session(self.engine) as session:
            session.execute(delete(WorkerHeartbeat).where(col(WorkerHeartbeat.worker_id) == self.worker_id))
            session.commit()

    async def run(self) -> None:
        """Beat now and every ``interval_s`` until cancelled; a failed write is logged and retried at
        the next beat (the database may be locked or restarting: the row then simply ages)."""
        failing = False
        beaten = False
        while True:
            if self.alive():
                try:
                    await asyncio.to_thread(self.beat)
                    beaten = True
                    if failing:
                        log.info("heartbeat_restored", worker_id=self.worker_id, task_queue=self.task_queue)
                    failing = False
                except Exception as err:
                    if not failing:
                        log.warning(
                            "heartbeat_failed",
                            worker_id=self.worker_id,
                            task_queue=self.task_queue,
                            error=str(err),
                        )
                    failing = True
            # Until the first beat (the worker not polling yet), look again soon: /healthz would
            # otherwise say "worker missing" for a whole interval after a start.
            await asyncio.sleep(self.interval_s if beaten else min(self.interval_s, 0.2))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Heartbeat]:
        """Beat in the background; on exit stop and delete the row (a clean stop is seen at once)."""
        task = asyncio.create_task(self.run(), name=f"heartbeat {self.worker_id}")
        log.info(
            "heartbeat_started",
            worker_id=self.worker_id,
            task_queue=self.task_queue,
            interval_s=self.interval_s,
        )
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            try:
                await asyncio.to_thread(self.remove)
                log.info("heartbeat_removed", worker_id=self.worker_id, task_queue=self.task_queue)
            except Exception as err:  # the row goes stale instead
                log.warning("heartbeat_remove_failed", worker_id=self.worker_id, error=str(err))


def newest_heartbeat(session: Session, task_queue: str) -> datetime | None:
    """When a worker of ``task_queue`` last beat (UTC), or None if none is recorded."""
    last = session.exec(
        select(func.max(WorkerHeartbeat.last_seen)).where(WorkerHeartbeat.task_queue == task_queue)
    ).one()
    return _aware(last) if last is not None else None


def worker_status(session: Session, task_queue: str, stale_s: float) -> tuple[str, datetime | None]:
    """``("ok" | "missing", last_seen)``: missing when no worker of the queue beat within ``stale_s``."""
    last = newest_heartbeat(session, task_queue)
    if last is None or datetime.now(UTC) - last > timedelta(seconds=stale_s):
        return "missing", last
    return "ok", last
