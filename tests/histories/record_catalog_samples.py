"""Record sample histories of catalog updates (issue 19) for the replay test (tests/test_replay.py).

    .venv/bin/python tests/histories/record_catalog_samples.py [OUT_DIR [TAG]]   # default: this folder, C1

* ``CU-…-HUBEI-PUBLISHED``: the department's own update; a change set refused by its check (not shared
  without a legal basis: the Update fails after its effect activity), a good one submitted, returned
  with reasons, submitted again and published (the publish activity's versions on the decision).
* ``CU-…-LUOYANG-REJECTED``: a law revision dated three days back (10 WD from the change), applied
  for, not approved by the bureau.

Never regenerate existing files to make a replay failure go away (see record_samples.py).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from case_client import decide, handle  # noqa: E402
from factories import DIRECTORY, signed_time_skipping  # noqa: E402
from sqlmodel import Session  # noqa: E402
from temporalio.client import WorkflowUpdateFailedError  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402

from calendars import SHANGHAI  # noqa: E402
from govshare.cases import service as case_service  # noqa: E402
from govshare.core.db import init_schema, make_engine  # noqa: E402
from govshare.core.models import Department  # noqa: E402
from govshare.ops.replay import history_file_name  # noqa: E402
from govshare.ops.worker_build import build_worker  # noqa: E402
from workflows import registry  # noqa: E402
from workflows.case import Actor, DecisionRequest  # noqa: E402

HERE = Path(__file__).resolve().parent
GAJ = Actor("gaj", "provider", "clerk")
BDB = Actor("bdb", "platform", "operator")


def item(rid: str, **entry) -> dict:
    return {
        "action": "new",
        "resource_id": rid,
        "entry": {
            "name_zh": "户籍变动信息",
            "share_type": "conditional",
            "kind": "departmental",
            "fields": ["name", "id_number", "change_date"],
            "sharing_modes": ["online_query"],
            "update_period": "monthly",
            **entry,
        },
    }


async def main(out_dir: Path, tag: str) -> None:
    bin_dir = Path(sys.executable).parent
    env = await signed_time_skipping(  # its client signs what it sends (issue 23)
        test_server_existing_path=str(bin_dir / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    client = env.client
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/app.db")
    init_schema(engine)
    with Session(engine) as session:
        for code in ("gaj", "bdb"):
            session.add(Department(code=code, name_zh=code, created_at=datetime.now(UTC)))
        session.commit()
    tq = "record-catalog-samples"
    cases: list[str] = []

    async def open_update(case_id: str, profile: str, reason: str, change=None):
        inp = case_service.new_case_input(
            registry.CATALOG_UPDATE,
            case_id=case_id,
            profile_id=profile,
            submitted_at=await env.get_current_time(),
            submitted_by=BDB,
            platform_department="bdb",
            fields={
                "department": "gaj",
                "reason": reason,
                "change_date": change.isoformat() if change else "",
                "description": "户籍信息项调整",
            },
            directory=dict(DIRECTORY),
            counts_from=datetime.combine(change, time(0), SHANGHAI) if change else None,
        )
        cases.append(case_id)
        return await case_service.start_case(client, tq, registry.CATALOG_UPDATE, inp)

    async with build_worker(client, task_queue=tq, engine=engine):
        cu = f"CU-SAMPLE-{tag}HUBEI-PUBLISHED"
        (task,) = (await open_update(cu, "hubei", "own")).open_tasks
        bad = {"items": [item("gaj-hh-changes", share_type="not_shared")]}
        try:
            await decide(client, cu, DecisionRequest(GAJ, "submit", task_id=task.task_id, payload=bad))
            raise AssertionError("the bad change set was taken")
        except WorkflowUpdateFailedError:
            pass
        good = {"items": [item("gaj-hh-changes")], "note": "新增户籍变动信息"}
        (pub,) = (
            await decide(client, cu, DecisionRequest(GAJ, "submit", task_id=task.task_id, payload=good))
        ).open_tasks
        (again,) = (
            await decide(client, cu, DecisionRequest(BDB, "return", task_id=pub.task_id, reason="缺少说明"))
        ).open_tasks
        good["items"][0]["entry"]["description"] = "含迁入迁出"
        (pub,) = (
            await decide(client, cu, DecisionRequest(GAJ, "submit", task_id=again.task_id, payload=good))
        ).open_tasks
        answer = await decide(client, cu, DecisionRequest(BDB, "publish", task_id=pub.task_id))
        assert answer.status == "updated", answer

        cu = f"CU-SAMPLE-{tag}LUOYANG-REJECTED"
        change = (await env.get_current_time()).astimezone(SHANGHAI).date() - timedelta(days=3)
        (task,) = (await open_update(cu, "luoyang", "law_revision", change)).open_tasks
        sub = {"items": [item("gaj-hh-law", legal_basis="《户口登记条例》")]}
        (review,) = (
            await decide(client, cu, DecisionRequest(GAJ, "apply", task_id=task.task_id, payload=sub))
        ).open_tasks
        answer = await decide(
            client, cu, DecisionRequest(BDB, "reject", task_id=review.task_id, reason="变更依据不充分")
        )
        assert answer.status == "rejected", answer

        for case_id in cases:
            h = handle(client, case_id)
            await h.result()
            history = await h.fetch_history()
            (out_dir / history_file_name(h.id)).write_text(history.to_json(), encoding="utf-8")
            print("recorded", h.id)
    await env.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[0]) if args else HERE, f"{args[1] if len(args) > 1 else 'C1'}-"))
