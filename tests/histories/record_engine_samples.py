"""Record sample histories of finished cases of the engine's test case types (tests/engine_cases.py,
tests/profiles/enginetest.toml) for the replay test (tests/test_replay.py).

    .venv/bin/python tests/histories/record_engine_samples.py [OUT_DIR [TAG]]   # default: this folder, E2

The case ids are ``<PREFIX>-SAMPLE-<TAG>-…`` (e.g. ``EJ-SAMPLE-E2-BREACH``); give a new TAG when
recording after a workflow change, so the new samples sit beside the old ones. Recorded:

* ``EJ-SAMPLE-<TAG>-BREACH`` (EngineJoint): a step sent to each of two providers (join = all); an
  approved extension on 市公安局's task, which then confirms; 市市场监管局's task passes its due, is
  breached, and the escalation rung starts the linked order (E2, E3: ``EO-EJ-SAMPLE-<TAG>-BREACH-T2``;
  since the ladder, issue 18: the escalation ``ES-EJ-SAMPLE-<TAG>-BREACH-T2`` waiting on the order
  ``EO-ES-EJ-SAMPLE-<TAG>-BREACH-T2-O``; all recorded), closed on its own decision; the late task then
  confirms → confirmed.
* ``EC-SAMPLE-<TAG>-CLOCK`` (EngineClock): review suspended by the platform for three weeks, resumed
  with the working days left, passed; the order is issued with a limit the issuer sets (15 WD) for
  the rectification, which is then done → rectified.

Never regenerate existing files to make a replay failure go away (see record_samples.py).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from engine_cases import KINDS, LEADING_GROUP, PLATFORM, case_input  # noqa: E402
from factories import signed_time_skipping  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.common import WorkflowIDReusePolicy  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402

from govshare.core.db import init_schema, make_engine  # noqa: E402
from govshare.ops.replay import history_file_name  # noqa: E402
from govshare.ops.worker_build import build_worker  # noqa: E402
from workflows import registry  # noqa: E402
from workflows.case import (  # noqa: E402
    Actor,
    CaseAnswer,
    CaseFile,
    ClockRequest,
    DecisionRequest,
    Party,
)

HERE = Path(__file__).resolve().parent
GAJ = Actor("gaj", "provider", "reviewer")
SCJGJ = Actor("scjgj", "provider", "reviewer")
PROVIDERS = [Party(role="provider", department="gaj"), Party(role="provider", department="scjgj")]


def _handle(client: Client, case_id: str):
    kind = next((k for k in KINDS.values() if case_id.startswith(k.prefix + "-")), None)
    kind = kind or registry.by_case_id(case_id)
    return client.get_workflow_handle(kind.workflow_id(case_id))


async def _update(client: Client, case_id: str, name: str, arg) -> CaseAnswer:
    return await _handle(client, case_id).execute_update(name, arg, result_type=CaseAnswer)


async def _until(predicate, client: Client, case_id: str, tries: int = 100) -> CaseFile:
    for _ in range(tries):
        try:
            current = await _handle(client, case_id).query("state", result_type=CaseFile)
            if predicate(current):
                return current
        except Exception:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not reached for {case_id}")


async def main(out_dir: Path, tag: str) -> None:
    bin_dir = Path(sys.executable).parent
    env = await signed_time_skipping(  # its client signs what it sends (issue 23)
        test_server_existing_path=str(bin_dir / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    client = env.client
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/app.db")
    init_schema(engine)
    tq = "record-engine-samples"
    cases: list[str] = []

    async def start(case_type: str, case_id: str, parties: list[Party]) -> CaseAnswer:
        kind = KINDS[case_type]
        now = await env.get_current_time()
        inp = case_input(case_type, case_id, parties, submitted_at=now)
        handle = await client.start_workflow(
            kind.workflow_type,
            inp,
            id=kind.workflow_id(case_id),
            task_queue=tq,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        cases.append(case_id)
        return await handle.execute_update("settled", result_type=CaseAnswer)

    async with build_worker(client, task_queue=tq, engine=engine):
        # a. A joint step, an extension, one party's breach starting a linked order.
        joint = f"EJ-SAMPLE-{tag}BREACH"
        answer = await start("engine_joint", joint, PROVIDERS)
        t1, t2 = answer.open_tasks
        await _update(
            client,
            joint,
            "adjust_clock",
            ClockRequest(GAJ, t1.task_id, "extension", 3, "数据量大", "王局长(主要负责人)"),
        )
        await _update(client, joint, "decide", DecisionRequest(GAJ, "confirm", task_id=t1.task_id))
        now = await env.get_current_time()
        await env.sleep(t2.due_at + timedelta(minutes=5) - now)
        await _until(lambda s: s.tasks[1].overdue, client, joint)
        escalation = f"ES-{joint}-T2"
        order = f"EO-{escalation}-O"
        await _until(lambda s: bool(s.tasks), client, order)
        await _until(lambda s: bool(s.header.links), client, joint)
        cases += [escalation, order]
        # The order closes before the case that started it (see tests/engine/test_engine.py).
        answer = await _update(client, order, "decide", DecisionRequest(SCJGJ, "done", "order_response"))
        assert answer.status == "rectified", answer
        answer = await _update(client, joint, "decide", DecisionRequest(SCJGJ, "confirm", task_id=t2.task_id))
        assert answer.status == "confirmed", answer

        # b. A suspension, its resume, an issuer-set limit.
        clock = f"EC-SAMPLE-{tag}CLOCK"
        answer = await start("engine_clock", clock, [Party(role="provider", department="gaj")])
        (review,) = answer.open_tasks
        await env.sleep(timedelta(days=1))
        await _update(
            client,
            clock,
            "adjust_clock",
            ClockRequest(PLATFORM, review.task_id, "suspension", reason="等待补充材料"),
        )
        await env.sleep(timedelta(days=21))
        await _update(
            client,
            clock,
            "adjust_clock",
            ClockRequest(PLATFORM, review.task_id, "resume", reason="材料已补齐"),
        )
        await _update(client, clock, "decide", DecisionRequest(GAJ, "pass", "review"))
        await _update(
            client,
            clock,
            "decide",
            DecisionRequest(LEADING_GROUP, "issue", "order_issue", limit_working_days=15),
        )
        await env.sleep(timedelta(days=3))
        answer = await _update(client, clock, "decide", DecisionRequest(GAJ, "done", "rectify"))
        assert answer.status == "rectified", answer

        for case_id in cases:
            handle = _handle(client, case_id)
            await handle.result()
            history = await handle.fetch_history()
            (out_dir / history_file_name(handle.id)).write_text(history.to_json(), encoding="utf-8")
            print("recorded", handle.id)
    await env.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[0]) if args else HERE, f"{args[1] if len(args) > 1 else 'E2'}-"))
