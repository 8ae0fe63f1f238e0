"""Reads are audit events (issue 21; Hubei 27, Luzhou 34/35): every read of a case or of shared data
over the API leaves an ``access_event`` row — who, what, when, from where, and the answer's status.

One place: :class:`AccessLogMiddleware`, the outermost ASGI middleware (``create_app`` adds it after
``RequestContextMiddleware``). For a GET or HEAD whose path names a case, a list of cases, or the
catalog (:func:`subject`), it notes the answer's status as it passes and, once the app has answered,
hands the record to the process's :class:`AccessLogWriter`. Who is taken from what the auth dependency
bound on the request (``request.state.log_context``: department, role, person; ``label`` when bound)
— nothing is authenticated again here; an unauthenticated request (401) is recorded without a caller.
Reads by auditors are recorded like any other.

The writer is one thread per process: it takes records from a bounded queue and appends them to the
hash chain in batches, one transaction each (``govshare.core.audit_trail.append_access_events``), so
a read costs the request a dict and a queue put. A batch the database refuses is retried a few times,
then logged as an error (``access_log_write_failed``) and counted (``failed_writes``,
``dropped_events``): it never changes the answer of a read that succeeded. A full queue (the database
far behind) drops the record the same way, loudly. On shutdown (the lifespan's) the queue is flushed.

The writer also anchors the chains (``workflows/audit_anchor.py``): after ``ANCHOR_EVERY_EVENTS``
records, and after ``ANCHOR_EVERY_S`` of quiet if anything changed, it reads the heads and signals
them to the anchor workflow through the app's Temporal client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import queue
import re
import socket
import threading
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import anyio.to_thread
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govshare.core import audit_trail
from govshare.core.audit_trail import AccessRecord
from workflows.audit_anchor import Anchor, send_anchor

log = structlog.get_logger("govshare.api.access_log")

READ_METHODS = frozenset({"GET", "HEAD"})
#: Records a process holds before it drops (and counts) the next one: the database far behind.
QUEUE_MAX = 10_000
#: Records appended in one transaction at most …
BATCH_MAX = 500
#: … gathered for at most this long after the first (a read is in the table ≤ this after its answer,
#: unless the database is slow; one transaction per read cost a read ~0.7 ms, one per window ~0.1).
BATCH_WINDOW_S = 0.1
#: Seconds between the attempts at a batch (then it is dropped, loudly).
RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)
#: An anchor after this many records …
ANCHOR_EVERY_EVENTS = 1000
#: … and after this many seconds without records, if a chain moved.
ANCHOR_EVERY_S = 300.0
#: After a failed anchor, the next attempt waits this long.
ANCHOR_RETRY_S = 30.0
#: How long a signal to the anchor workflow may take.
ANCHOR_SEND_TIMEOUT_S = 10.0

_CASE_COLLECTIONS = (
    "cases|applications|rectification-orders|complaints|catalog-updates|data-objections|disputes|"
    "open-data-applications|open-catalog-corrections"
)
_CASE = re.compile(rf"^/(?:{_CASE_COLLECTIONS})(?:/(?P<id>[^/]+)(?P<rest>/.*)?)?/?$")
_CASE_LISTS = re.compile(r"^/(?:tasks|oversight)(?:/.*)?$")
_RESOURCE = re.compile(r"^/resources(?:/(?P<id>[^/]+)(?P<rest>/.*)?)?/?$")
#: The pages (issue 22) read the same things: a case page, the lists of cases, the catalog.
_PAGE_CASE = re.compile(r"^/ui/cases/(?P<id>[^/]+)(?:/.*)?$")
_PAGE_CASE_LISTS = re.compile(r"^/ui/(?:|done|mine|cases|oversight)$")
_PAGE_CATALOG = re.compile(r"^/ui/catalog(?:/(?P<id>[^/]+)(?:/.*)?)?/?$")


def subject(path: str) -> tuple[str, str] | None:
    """What a read path reads — (``subject_type``, ``subject_id``) — or None: not recorded.

    ``case`` (``/cases/{id}`` and anything under it, ``/applications/{id}…``, any case type's
    collection), ``cases`` (a list: ``/cases``, ``/applications``, the inbox ``/tasks``,
    ``/oversight/…``), ``resource`` (``/resources/{id}``, its versions), ``resources`` (a catalog
    query), ``resource_export`` (``/resources/export``)."""
    if path.startswith("/ui/"):
        return _page_subject(path)
    if found := _CASE.match(path):
        return ("case", found["id"]) if found["id"] else ("cases", "")
    if _CASE_LISTS.match(path):
        return ("cases", "")
    if found := _RESOURCE.match(path):
        if not found["id"]:
            return ("resources", "")
        if found["id"] == "export" and not found["rest"]:
            return ("resource_export", "")
        return ("resource", found["id"])
    return None


def _page_subject(path: str) -> tuple[str, str] | None:
    """What a page reads: a case page (and its history), a list of cases, the catalog or an entry."""
    if found := _PAGE_CASE.match(path):
        return ("case", found["id"])
    if _PAGE_CASE_LISTS.match(path):
        return ("cases", "")
    if found := _PAGE_CATALOG.match(path):
        return ("resource", found["id"]) if found["id"] else ("resources", "")
    return None


@lru_cache(maxsize=8)
def _networks(trusted: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in trusted.split(",") if e.strip())


def _listed(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def client_address(peer: str, forwarded_for: str, trusted: str) -> str:
    """Where a read came from: the peer's address, unless the peer is a trusted proxy
    (``TRUSTED_PROXIES``): then the nearest ``X-Forwarded-For`` hop, from the right, that is not one
    (the proxies append the address they saw; what a client wrote itself is further left)."""
    networks = _networks(trusted)
    if not networks or not forwarded_for or not _listed(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _listed(hop, networks):
            return hop
    return hops[0] if hops else peer


class AccessLogWriter:
    """The process's appender: a queue, one daemon thread, batches; counters for what went wrong."""

    def __init__(self) -> None:
        self._queue: queue.Queue[AccessRecord] = queue.Queue(QUEUE_MAX)
        self._start_lock = threading.Lock()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        #: The app's state (engine, settings, temporal client) and event loop, bound on first use.
        self.state: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.source = f"api {socket.gethostname()}:{os.getpid()}"
        self.submitted = 0
        self.processed = 0
        self.written_events = 0
        self.failed_writes = 0
        self.dropped_events = 0
        self.anchors_sent = 0
        self.anchor_failures = 0
        self._since_anchor = 0
        self._last_anchor = time.monotonic()
        self._next_anchor_attempt = 0.0
        self._anchored_audit_mark: Any = None

    # -- the request side (event loop) -------------------------------------------------------------
    def submit(self, record: AccessRecord) -> None:
        self._ensure_thread()
        with self._done:
            self.submitted += 1
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            with self._done:
                self.processed += 1
                self.dropped_events += 1
                self._done.notify_all()
            log.error(
                "access_event_dropped",
                reason="queue full: the database is far behind",
                path=record.path,
                dropped_total=self.dropped_events,
            )

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="access-log-writer", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every record submitted so far is written or dropped; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._done:
            target = self.submitted
            while self.processed < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True

    # -- the writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=ANCHOR_EVERY_S)
            except queue.Empty:
                self._safely(self._maybe_anchor, idle=True)
                continue
            # Gather what arrives within the window: one transaction for many reads.
            batch = [first]
            window_ends = time.monotonic() + BATCH_WINDOW_S
            while len(batch) < BATCH_MAX:
                left = window_ends - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            self._safely(self._write, batch)
            self._safely(self._maybe_anchor, idle=False)

    def _safely(self, work: Any, *args: Any, **kwargs: Any) -> None:
        try:
            work(*args, **kwargs)
        except Exception as err:  # the thread must outlive anything
            log.error("access_log_writer_error", error=repr(err))

    def _write(self, batch: list[AccessRecord]) -> None:
        try:
            for attempt, delay in enumerate((*RETRY_DELAYS_S, None)):
                try:
                    audit_trail.append_access_events(self.state.engine, batch)
                except Exception as err:
                    self.failed_writes += 1
                    if delay is None:
                        self.dropped_events += len(batch)
                        log.error(
                            "access_log_write_failed",
                            events=len(batch),
                            attempts=attempt + 1,
                            error=" ".join(str(err).split())[:500],
                            failed_writes_total=self.failed_writes,
                            dropped_total=self.dropped_events,
                        )
                        return
                    log.warning(
                        "access_log_write_retried",
                        events=len(batch),
                        attempt=attempt + 1,
                        error=repr(err)[:300],
                    )
                    time.sleep(delay)
                else:
                    self.written_events += len(batch)
                    self._since_anchor += len(batch)
                    return
        finally:
            with self._done:
                self.processed += len(batch)
                self._done.notify_all()

    # -- anchors -------------------------------------------------------------------------------------
    def _maybe_anchor(self, *, idle: bool) -> None:
        now = time.monotonic()
        if now < self._next_anchor_attempt:
            return
        due = self._since_anchor >= ANCHOR_EVERY_EVENTS or (
            self._since_anchor > 0 and now - self._last_anchor >= ANCHOR_EVERY_S
        )
        if not due and idle:
            due = self._audit_mark() != self._anchored_audit_mark
        if due:
            self.anchor_now()

    def _audit_mark(self) -> Any:
        """What changes when a state change is recorded: the newest audit row's id."""
        from sqlalchemy import func, select

        from govshare.core.models import AuditEvent

        with self.state.engine.connect() as conn:
            return conn.execute(select(func.max(AuditEvent.id))).scalar()

    def anchor_now(self) -> Anchor | None:
        """Read the heads and signal them to the anchor workflow (from the writer thread)."""
        now = time.monotonic()
        state, loop = self.state, self.loop
        client = getattr(state, "temporal_client", None)
        if client is None or loop is None or loop.is_closed():
            self._next_anchor_attempt = now + ANCHOR_RETRY_S
            log.warning(
                "audit_anchor_skipped", reason="no Temporal client yet", pending_events=self._since_anchor
            )
            return None
        try:
            mark = self._audit_mark()
            anchor = Anchor(source=self.source, **audit_trail.read_heads(state.engine))
            future = asyncio.run_coroutine_threadsafe(
                send_anchor(client, state.settings.task_queue, anchor), loop
            )
            future.result(timeout=ANCHOR_SEND_TIMEOUT_S)
        except Exception as err:
            self.anchor_failures += 1
            self._next_anchor_attempt = now + ANCHOR_RETRY_S
            log.error(
                "audit_anchor_failed",
                error=" ".join(str(err).split())[:300] or repr(err),
                pending_events=self._since_anchor,
                failures_total=self.anchor_failures,
            )
            return None
        self.anchors_sent += 1
        self._since_anchor = 0
        self._last_anchor = now
        self._anchored_audit_mark = mark
        log.info(
            "audit_anchor_sent",
            access_id=anchor.access_id,
            audit_cases=anchor.audit_cases,
            audit_events=anchor.audit_events,
        )
        return anchor


class AccessLogMiddleware:
    """Records the reads (see the module's docstring). Pure ASGI, so the status is the one sent and
    the record is made after the answer, whatever happened inside."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.writer = AccessLogWriter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._flushing_on_shutdown(receive), send)
            return
        if scope["type"] != "http" or scope.get("method") not in READ_METHODS:
            await self.app(scope, receive, send)
            return
        target = subject(scope.get("path", ""))
        if target is None:
            await self.app(scope, receive, send)
            return
        at = datetime.now(UTC)
        state = scope.setdefault("state", {})  # shared with RequestContextMiddleware (log_context)
        status = 500  # no answer sent: the server failed it

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._record(scope, state, target, at, status)

    def _record(self, scope: Scope, state: dict, target: tuple[str, str], at: datetime, status: int) -> None:
        try:
            app_state = scope["app"].state
            if self.writer.state is None:
                self.writer.state = app_state
                self.writer.loop = asyncio.get_running_loop()
                app_state.access_log = self.writer
            context = state.get("log_context") or {}
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            peer = (scope.get("client") or ("", 0))[0] or ""
            self.writer.submit(
                AccessRecord(
                    at=at,
                    method=scope.get("method", ""),
                    path=scope.get("path", ""),
                    status=status,
                    client=client_address(
                        peer, headers.get("x-forwarded-for", ""), app_state.settings.trusted_proxies
                    ),
                    query=scope.get("query_string", b"").decode("utf-8", "replace"),
                    subject_type=target[0],
                    subject_id=target[1],
                    department=context.get("department", ""),
                    role=context.get("role", ""),
                    user=context.get("label", "") or context.get("user", ""),
                    person=context.get("person", ""),
                )
            )
        except Exception as err:  # never the read's problem
            self.writer.dropped_events += 1
            log.error("access_event_not_recorded", path=scope.get("path"), error=repr(err))

    def _flushing_on_shutdown(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self.writer.submitted:
                flushed = await anyio.to_thread.run_sync(self.writer.flush, 10.0)
                if not flushed:
                    log.error("access_log_not_flushed", pending=self.writer.submitted - self.writer.processed)
            return message

        return wrapped
