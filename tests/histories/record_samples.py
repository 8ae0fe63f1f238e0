"""Record sample histories of finished cases for the replay test (tests/test_replay.py).

    .venv/bin/python tests/histories/record_samples.py [OUT_DIR [TAG]]   # default: this folder, no tag

Give a new TAG (e.g. the date) when recording after a workflow change, so the new samples sit beside
the old ones (case ids ``SA-SAMPLE-<TAG>-…``) instead of replacing them.

Run it when a new kind of case or branch appears, and commit the new files. Never regenerate the
existing ones to make a replay failure go away: a history that no longer replays is a running case
that the change would break (use ``workflow.patched``).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from factories import CONSUMER, PLATFORM, PROVIDER, application, resource, signed_time_skipping  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402

from calendars import SHANGHAI  # noqa: E402
from govshare.cases import service as case_service  # noqa: E402
from govshare.core.db import init_schema, make_engine  # noqa: E402
from govshare.ops.replay import history_file_name  # noqa: E402
from govshare.ops.worker_build import build_worker  # noqa: E402
from workflows import registry  # noqa: E402
from workflows.case import Actor, DecisionRequest, GrantTerms, WithdrawRequest  # noqa: E402

HERE = Path(__file__).resolve().parent


async def main(out_dir: Path, tag: str) -> None:
    bin_dir = Path(sys.executable).parent
    env = await signed_time_skipping(  # its client signs what it sends (issue 23)
        test_server_existing_path=str(bin_dir / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    client = env.client
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/app.db")
    init_schema(engine)
    tq = "record-samples"
    cases: list[str] = []

    async def start(name: str, profile: str, res, submitted_at=None, mode=""):
        now = await env.get_current_time()
        inp = application(profile, res, submitted_at or now, mode, case_id=f"SA-SAMPLE-{tag}{name}")
        cases.append(inp.case.case_id)
        return await case_service.start_case(client, tq, registry.SHARING_APPLICATION, inp)

    async def d(name: str, actor: Actor, action: str, **kw):
        return await case_service.decide(
            client, f"SA-SAMPLE-{tag}{name}", DecisionRequest(actor, action, **kw)
        )

    async with build_worker(client, task_queue=tq, engine=engine):
        await start("HUBEI-GRANTED", "hubei", resource("conditional"))
        await d("HUBEI-GRANTED", PLATFORM, "accept")
        await d("HUBEI-GRANTED", PROVIDER, "grant", grant=GrantTerms(scope="社保", fields=["name"]))
        await d("HUBEI-GRANTED", PLATFORM, "inform")

        await start("HUBEI-DIRECT", "hubei", resource("unconditional"))
        await d("HUBEI-DIRECT", PLATFORM, "accept")
        await d("HUBEI-DIRECT", PLATFORM, "refuse", reason="超出履职需要")

        await start("HUBEI-REJECTED", "hubei", resource("conditional"))
        await d("HUBEI-REJECTED", PLATFORM, "reject", reason="用途不明确")

        await start("HUBEI-NOTSHARED", "hubei", resource("not_shared", legal_basis="《保守国家秘密法》"))

        # Overdue across the 2026 National Day, reminded and breached, then decided late.
        await start(
            "HUBEI-LATE",
            "hubei",
            resource("conditional"),
            submitted_at=datetime(2026, 9, 30, 16, tzinfo=SHANGHAI),
        )
        await d("HUBEI-LATE", PLATFORM, "accept")
        now = await env.get_current_time()
        state = await case_service.query_state(client, f"SA-SAMPLE-{tag}HUBEI-LATE")
        await env.sleep(state.tasks[-1].deadline.due_at - now + timedelta(minutes=5))
        await d("HUBEI-LATE", PROVIDER, "refuse", reason="数据涉密")
        await d("HUBEI-LATE", PLATFORM, "inform")

        await start("HUBEI-WITHDRAWN", "hubei", resource("conditional"))
        await case_service.withdraw(
            client, f"SA-SAMPLE-{tag}HUBEI-WITHDRAWN", WithdrawRequest(CONSUMER, "需求变更")
        )

        await start("LUZHOU-DIRECT", "luzhou", resource("unconditional"))
        await start("LUZHOU-COMPARISON", "luzhou", resource("conditional"), mode="data_comparison")
        await d("LUZHOU-COMPARISON", PROVIDER, "accept")
        await d("LUZHOU-COMPARISON", PROVIDER, "grant")

        await start("JIANGSU-GRANTED", "jiangsu", resource("conditional"))
        await d("JIANGSU-GRANTED", PROVIDER, "grant")

        await start("LUOYANG-REFUSED", "luoyang", resource("conditional"))
        await d("LUOYANG-REFUSED", PLATFORM, "accept")
        await d("LUOYANG-REFUSED", PROVIDER, "disagree", reason="无共享依据")
        await d("LUOYANG-REFUSED", PLATFORM, "inform")

        for case_id in cases:
            handle = client.get_workflow_handle(case_service.workflow_id_for(case_id))
            await handle.result()
            history = await handle.fetch_history()
            (out_dir / history_file_name(handle.id)).write_text(history.to_json(), encoding="utf-8")
            print("recorded", handle.id)
    await env.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[0]) if args else HERE, f"{args[1]}-" if len(args) > 1 else ""))
