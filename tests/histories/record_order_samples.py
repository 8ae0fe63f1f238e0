"""Record sample histories of rectification orders, complaints and escalations (issue 18) for the
replay test (tests/test_replay.py), every branch, under the shipped profiles.

    .venv/bin/python tests/histories/record_order_samples.py [OUT_DIR [TAG]]   # default: this folder, R1

Recorded (ids ``<PREFIX>-SAMPLE-<TAG>-…``; the cases they start are recorded too):

* ``RO-…-HUBEI-RECTIFIED``: opened by hand by the leading group office on ground 31(2), issued with
  10 working days; the report is returned with reasons, reported again on the same deadline, accepted.
* ``RO-…-HUBEI-DISMISSED``: dismissed with a reason at the issue step.
* ``RO-…-LUZHOU-LATE``: issued with 5 working days, not rectified in time: its own ladder climbs
  (``ES-…-T2``: the written circular, then supervision stopped with a reason); rectified late.
* ``CP-…-LUZHOU-ORDER``: a complaint to the leading group, found to call for an order (``RO-…-T1``,
  dismissed), the result fed back; ``CP-…-LUZHOU-OFFICE``: to the government office, unsubstantiated.
* ``SA-…-HUBEI-LADDER``: an application whose platform check is late climbs Hubei's ladder
  (``ES-…-T1``: the platform's report, then the order ``RO-ES-…-T1-O``, rectified on time); the
  late check then accepts and the application is refused.

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

from factories import DIRECTORY, application, resource, signed_time_skipping  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402

from govshare.cases import service as case_service  # noqa: E402
from govshare.core.db import init_schema, make_engine  # noqa: E402
from govshare.ops.replay import history_file_name  # noqa: E402
from govshare.ops.worker_build import build_worker  # noqa: E402
from workflows import registry  # noqa: E402
from workflows.case import Actor, CaseAnswer, CaseFile, DecisionRequest  # noqa: E402

HERE = Path(__file__).resolve().parent
LGO = Actor("lgo", "leading_group", "director")
SZFB = Actor("szfb", "government_office", "clerk")
BDB = Actor("bdb", "platform", "operator")
GAJ = Actor("gaj", "provider", "clerk")
SCJGJ = Actor("scjgj", "provider", "clerk")
RSJ = Actor("rsj", "consumer", "clerk")


def _handle(client: Client, case_id: str):
    kind = registry.by_case_id(case_id)
    assert kind is not None
    return client.get_workflow_handle(kind.workflow_id(case_id))


async def _decide(client: Client, case_id: str, req: DecisionRequest) -> CaseAnswer:
    return await _handle(client, case_id).execute_update("decide", req, result_type=CaseAnswer)


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
    tq = "record-order-samples"
    cases: list[str] = []

    async def open_case(kind, case_id: str, profile: str, by: Actor, fields: dict) -> CaseAnswer:
        inp = case_service.new_case_input(
            kind,
            case_id=case_id,
            profile_id=profile,
            submitted_at=await env.get_current_time(),
            submitted_by=by,
            platform_department="bdb",
            fields=fields,
            directory=dict(DIRECTORY),
        )
        cases.append(case_id)
        return await case_service.start_case(client, tq, kind, inp)

    async def order(case_id: str, profile: str, ground: str) -> CaseAnswer:
        return await open_case(
            registry.RECTIFICATION_ORDER,
            case_id,
            profile,
            LGO,
            {
                "issuer": "lgo",
                "respondent": "gaj",
                "grounds": [ground],
                "concerns": [],
                "description": "未按时授权",
            },
        )

    async def past(due_at) -> None:
        await env.sleep(due_at + timedelta(minutes=5) - await env.get_current_time())

    async with build_worker(client, task_queue=tq, engine=engine):
        # a. Issued, returned, reported again on the same deadline, accepted.
        ro = f"RO-SAMPLE-{tag}HUBEI-RECTIFIED"
        (issue,) = (await order(ro, "hubei", "31(2)")).open_tasks
        (rectify,) = (
            await _decide(
                client, ro, DecisionRequest(LGO, "issue", task_id=issue.task_id, limit_working_days=10)
            )
        ).open_tasks
        await env.sleep(timedelta(days=2))
        (review,) = (
            await _decide(
                client, ro, DecisionRequest(GAJ, "report", task_id=rectify.task_id, reason="已开放接口")
            )
        ).open_tasks
        (again,) = (
            await _decide(
                client, ro, DecisionRequest(LGO, "return", task_id=review.task_id, reason="缺少字段说明")
            )
        ).open_tasks
        (review,) = (
            await _decide(
                client, ro, DecisionRequest(GAJ, "report", task_id=again.task_id, reason="已补充说明")
            )
        ).open_tasks
        assert (
            await _decide(client, ro, DecisionRequest(LGO, "accept", task_id=review.task_id))
        ).status == "rectified"

        # b. Dismissed.
        ro = f"RO-SAMPLE-{tag}HUBEI-DISMISSED"
        (issue,) = (await order(ro, "hubei", "31(1)")).open_tasks
        answer = await _decide(
            client, ro, DecisionRequest(LGO, "dismiss", task_id=issue.task_id, reason="已自行更正")
        )
        assert answer.status == "dismissed"

        # c. Late: its own ladder climbs; rectified late.
        ro = f"RO-SAMPLE-{tag}LUZHOU-LATE"
        (issue,) = (await order(ro, "luzhou", "42(1)")).open_tasks
        (rectify,) = (
            await _decide(
                client, ro, DecisionRequest(LGO, "issue", task_id=issue.task_id, limit_working_days=5)
            )
        ).open_tasks
        await past(rectify.due_at)
        esc = f"ES-{ro}-T2"
        cases.append(esc)
        (circular,) = (await _until(lambda s: bool(s.open_tasks), client, esc)).open_tasks
        (supervision,) = (
            await _decide(client, esc, DecisionRequest(LGO, "done", task_id=circular.task_id))
        ).open_tasks
        await _decide(
            client, esc, DecisionRequest(LGO, "stop", task_id=supervision.task_id, reason="未造成严重后果")
        )
        (review,) = (
            await _decide(
                client, ro, DecisionRequest(GAJ, "report", task_id=rectify.task_id, reason="已整改")
            )
        ).open_tasks
        assert (
            await _decide(client, ro, DecisionRequest(LGO, "accept", task_id=review.task_id))
        ).status == "rectified"

        # d. Complaints: one leading to an order, one unsubstantiated.
        cp = f"CP-SAMPLE-{tag}LUZHOU-ORDER"
        fields = {
            "complainant": "rsj",
            "respondent": "gaj",
            "investigator": "lgo",
            "addressed_to": "leading_group",
        }
        (investigation,) = (
            await open_case(registry.COMPLAINT, cp, "luzhou", RSJ, {**fields, "conduct": "多次拖延授权"})
        ).open_tasks
        (feedback,) = (
            await _decide(
                client, cp, DecisionRequest(LGO, "order", task_id=investigation.task_id, reason="情况属实")
            )
        ).open_tasks
        linked = f"RO-{cp}-T1"
        cases.append(linked)
        (issue,) = (await _until(lambda s: bool(s.open_tasks), client, linked)).open_tasks
        await _decide(
            client, linked, DecisionRequest(LGO, "dismiss", task_id=issue.task_id, reason="已当场纠正")
        )
        answer = await _decide(
            client, cp, DecisionRequest(LGO, "inform", task_id=feedback.task_id, reason="已责令整改")
        )
        assert answer.status == "substantiated"
        cp = f"CP-SAMPLE-{tag}LUZHOU-OFFICE"
        fields = {**fields, "investigator": "szfb", "addressed_to": "government_office"}
        (investigation,) = (
            await open_case(registry.COMPLAINT, cp, "luzhou", RSJ, {**fields, "conduct": "接口长期不可用"})
        ).open_tasks
        (feedback,) = (
            await _decide(
                client,
                cp,
                DecisionRequest(SZFB, "unsubstantiated", task_id=investigation.task_id, reason="系维护窗口"),
            )
        ).open_tasks
        await _decide(
            client, cp, DecisionRequest(SZFB, "inform", task_id=feedback.task_id, reason="经核实不属实")
        )

        # e. A late application climbs Hubei's ladder; the order is rectified on time.
        sa = f"SA-SAMPLE-{tag}HUBEI-LADDER"
        inp = application(
            "hubei", resource("conditional"), submitted_at=await env.get_current_time(), case_id=sa
        )
        await case_service.start_case(client, tq, registry.SHARING_APPLICATION, inp)
        cases.append(sa)
        check = (await _until(lambda s: bool(s.open_tasks), client, sa)).open_tasks[0]
        await past(check.deadline.due_at)
        esc = f"ES-{sa}-T1"
        ro = f"RO-{esc}-O"
        cases += [esc, ro]
        (report,) = (await _until(lambda s: bool(s.open_tasks), client, esc)).open_tasks
        await _decide(client, esc, DecisionRequest(BDB, "done", task_id=report.task_id))
        (issue,) = (await _until(lambda s: bool(s.open_tasks), client, ro)).open_tasks
        (rectify,) = (
            await _decide(
                client, ro, DecisionRequest(LGO, "issue", task_id=issue.task_id, limit_working_days=5)
            )
        ).open_tasks
        (review,) = (
            await _decide(
                client,
                ro,
                DecisionRequest(
                    Actor("bdb", "platform", "x"), "report", task_id=rectify.task_id, reason="已加派人手"
                ),
            )
        ).open_tasks
        await _decide(client, ro, DecisionRequest(LGO, "accept", task_id=review.task_id))
        await _until(lambda s: s.status != "in_progress", client, esc)
        await _decide(client, sa, DecisionRequest(BDB, "accept", "platform_check"))
        provider = (await _until(lambda s: bool(s.open_tasks), client, sa)).open_tasks[0]
        await _decide(
            client, sa, DecisionRequest(GAJ, "refuse", task_id=provider.task_id, reason="涉及商业秘密")
        )
        inform = (await _until(lambda s: bool(s.open_tasks), client, sa)).open_tasks[0]
        await _decide(client, sa, DecisionRequest(BDB, "inform", task_id=inform.task_id))

        for case_id in cases:
            handle = _handle(client, case_id)
            await handle.result()
            history = await handle.fetch_history()
            (out_dir / history_file_name(handle.id)).write_text(history.to_json(), encoding="utf-8")
            print("recorded", handle.id)
    await env.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[0]) if args else HERE, f"{args[1] if len(args) > 1 else 'R1'}-"))
