"""Auditing against the workflow histories (issue 21): every kept history replayed with the current code
(``govshare replay --all``), and every case's projection held against the record rebuilt from its
history (``govshare audit compare``).

Both read the histories from Temporal itself (the workflows it keeps: the namespace's retention, 3,650
days as ``govshare run`` creates it), in parallel with a bound, and report progress on stderr and a
summary: how many, how many failed or differ, and how fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as day_time
from typing import Any

from govshare.ops.audit_cli import action
from govshare.ops.cli import CliError, Handler


# -- progress -----------------------------------------------------------------------------------------
class Progress:
    """A one-line progress bar on stderr (rewritten in place on a terminal, a line per 10 % when not)."""

    def __init__(self, label: str, total: int | None = None, stream: Any = None) -> None:
        self.label, self.total, self.done, self.failed = label, total, 0, 0
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._last_tenth = -1

    def step(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        rate = self.done / max(time.perf_counter() - self.started, 1e-9)
        if self.total:
            width = 30
            filled = int(width * self.done / self.total)
            bar = "#" * filled + "." * (width - filled)
            line = f"{self.label} [{bar}] {self.done}/{self.total} ({self.failed} failed, {rate:.1f}/s)"
            tenth = 10 * self.done // self.total
        else:
            line = f"{self.label} {self.done} ({self.failed} failed, {rate:.1f}/s)"
            tenth = self.done // 100
        if self.stream.isatty():
            print("\r" + line, end="", file=self.stream, flush=True)
        elif tenth != self._last_tenth:
            print(line, file=self.stream, flush=True)
        self._last_tenth = tenth

    def close(self) -> float:
        if self.stream.isatty():
            print(file=self.stream)
        return time.perf_counter() - self.started


# -- which histories ------------------------------------------------------------------------------------
def workflow_query(case_type: str | None = None, since: date | None = None) -> str:
    """The visibility query for the cases' workflows (every generation's type), optionally of one case
    type and started on or after a date (Asia/Shanghai)."""
    from calendars import SHANGHAI
    from workflows import registry

    kinds = [registry.by_case_type(case_type)] if case_type else registry.kinds()
    if case_type and kinds[0] is None:
        known = ", ".join(sorted(k.case_type for k in registry.kinds()))
        raise CliError(f"unknown case type {case_type}: one of {known}")
    types = sorted({t for k in kinds if k for t in (k.workflow_type, *k.legacy)})
    query = "WorkflowType IN (" + ", ".join(f"'{t}'" for t in types) + ")"
    if since is not None:
        start = datetime.combine(since, day_time(0), SHANGHAI).isoformat()
        query += f" AND StartTime >= '{start}'"
    return query


async def histories(client: Any, query: str, concurrency: int, found: list[str]) -> AsyncIterator[Any]:
    """Every matching workflow's history, fetched ``concurrency`` at a time, in listing order."""
    pending: asyncio.Queue[Any] = asyncio.Queue(maxsize=concurrency * 2)
    done = object()

    async def fetch_all() -> None:
        gate = asyncio.Semaphore(concurrency)
        tasks = []

        async def fetch(workflow_id: str, run_id: str) -> Any:
            async with gate:
                return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()

        async for execution in client.list_workflows(query):
            found.append(execution.id)
            tasks.append(asyncio.create_task(fetch(execution.id, execution.run_id)))
            while len(tasks) >= concurrency:
                await pending.put(await tasks.pop(0))
        for task in tasks:
            await pending.put(await task)
        await pending.put(done)

    producer = asyncio.create_task(fetch_all())
    try:
        while True:
            item = await pending.get()
            if item is done:
                break
            yield item
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)


@dataclass
class ReplaySummary:
    replayed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: How it ran: worker processes (1: in this process), and whether outside the sandbox (``fast``).
    processes: int = 1
    fast: bool = False

    @property
    def rate(self) -> float:
        return (self.replayed + len(self.failed)) / self.seconds if self.seconds else 0.0


#: Below this many histories a replay stays in this process: starting the worker processes (about
#: two seconds: each imports the workflows and validates them in the sandbox) would cost more than
#: they save.
PROCESSES_FROM = 200


async def replay_processes(client: Any, query: str) -> int:
    """How many processes ``replay --all`` replays a query's histories in, unless told: one per core
    from :data:`PROCESSES_FROM` histories on (counted first), else this one."""
    from govshare.cases.replaying import default_processes

    try:
        counted = (await client.count_workflows(query)).count
    except Exception:  # a visibility store that cannot count: as before, here
        return 1
    return default_processes() if counted >= PROCESSES_FROM else 1


async def replay_all(
    client: Any,
    *,
    case_type: str | None = None,
    since: date | None = None,
    concurrency: int = 16,
    progress: Callable[[bool], None] | None = None,
    processes: int | None = None,
    fast: bool = False,
) -> ReplaySummary:
    """Replay every kept history of the cases: fetched ``concurrency`` at a time, streamed into one
    replayer per process (``processes``: None for :func:`replay_processes`), in the sandbox unless
    ``fast`` (``govshare/cases/replaying.py``: what a fast replay does not check)."""
    from govshare.cases.replaying import replay_stream

    query = workflow_query(case_type, since)
    started = time.perf_counter()
    if processes is None:
        processes = await replay_processes(client, query)
    summary = ReplaySummary(processes=max(processes, 1), fast=fast)
    found: list[str] = []
    source = histories(client, query, concurrency, found)
    async for outcome in replay_stream(source, processes=processes, fast=fast):
        if outcome.failure is None:
            summary.replayed += 1
        else:
            summary.failed.append((outcome.workflow_id, outcome.failure))
        if progress is not None:
            progress(outcome.failure is not None)
    summary.seconds = time.perf_counter() - started
    return summary


# -- govshare audit compare ---------------------------------------------------------------------------
async def compare_all(
    client: Any,
    engine: Any,
    case_ids: list[str],
    *,
    concurrency: int = 8,
    progress: Callable[[bool], None] | None = None,
) -> list[Any]:
    """Every case's check (``govshare/cases/history.py``), ``concurrency`` at a time."""
    from govshare.cases.history import check_case

    gate = asyncio.Semaphore(concurrency)
    results: list[Any] = []

    async def one(case_id: str) -> None:
        async with gate:
            try:
                checked = await check_case(client, engine, case_id)
            except Exception as err:  # a history gone past retention, an engine down: say which
                results.append((case_id, err))
                if progress is not None:
                    progress(True)
                return
            results.append((case_id, checked))
            if progress is not None:
                progress(not checked.agrees)

    await asyncio.gather(*(one(c) for c in case_ids))
    return results


def _case_ids(engine: Any, case_id: str | None, case_type: str | None, since: date | None) -> list[str]:
    from sqlmodel import Session, col, select

    from calendars import SHANGHAI
    from govshare.core.models import Case

    if case_id:
        return [case_id]
    with Session(engine) as session:
        query = select(Case.id).order_by(col(Case.submitted_at))
        if case_type:
            query = query.where(Case.case_type == case_type)
        if since:
            query = query.where(col(Case.submitted_at) >= datetime.combine(since, day_time(0), SHANGHAI))
        return list(session.exec(query).all())


@action(
    "compare",
    help="hold the projection against the record rebuilt from each case's history / 查询库与流程历史逐项比对",
)
def compare_command(parser: argparse.ArgumentParser) -> Handler:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", help="one case id")
    which.add_argument("--all", action="store_true", help="every case in the database")
    parser.add_argument("--type", dest="case_type", help="only cases of this type")
    parser.add_argument(
        "--since", type=date.fromisoformat, help="only cases submitted on or after YYYY-MM-DD"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="one JSON object per case that differs")

    def handle(args: argparse.Namespace) -> int:
        from govshare.core.db import make_engine
        from govshare.core.settings import get_settings
        from govshare.core.temporal_client import connect_client

        engine = make_engine(get_settings().database_url)

        async def go() -> int:
            client = await connect_client()
            ids = _case_ids(engine, args.case, args.case_type, args.since)
            bar = Progress("compare", len(ids))
            results = await compare_all(client, engine, ids, concurrency=args.concurrency, progress=bar.step)
            seconds = bar.close()
            differing = 0
            for case_id, checked in sorted(results, key=lambda r: r[0]):
                if isinstance(checked, Exception):
                    differing += 1
                    line = {"case_id": case_id, "error": str(checked)}
                    print(
                        json.dumps(line, ensure_ascii=False) if args.json else f"ERROR {case_id}: {checked}"
                    )
                    continue
                if checked.agrees:
                    continue
                differing += 1
                if args.json:
                    print(
                        json.dumps(
                            {
                                "case_id": case_id,
                                "differences": [
                                    {"what": d.what, "history": d.recorded, "projection": d.projected}
                                    for d in checked.differences
                                ],
                            },
                            ensure_ascii=False,
                            default=str,
                        )
                    )
                else:
                    print(f"不一致 DIFFERS {case_id} ({checked.case_type}):")
                    for difference in checked.differences:
                        print(f"  {difference.line()}")
            print(
                f"{len(ids)} 件比对,{differing} 件不一致 / {len(ids)} compared, {differing} differ "
                f"({len(ids) / seconds if seconds else 0:.1f}/s)",
                file=sys.stderr,
            )
            return 1 if differing else 0

        try:
            return asyncio.run(go())
        finally:
            engine.dispose()

    return handle
