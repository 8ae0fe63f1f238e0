"""Record sample histories of claimed tasks (签收, issue 22) for the replay test (tests/test_replay.py).

    .venv/bin/python tests/histories/record_issue22_claims.py [OUT_DIR [TAG]]   # default: this folder, K1

* ``DO-SAMPLE-<TAG>-LUOYANG-CLAIMED`` (a data objection, Luoyang 19): clerk 张伟 of 市公安局 claims the
  verification; clerk 李娜's claim, decision and clock change are refused (validators: nothing of them
  in the history); 张伟 releases it; 李娜 claims it and asks for an extension, which the head
  approves; 李娜 decides (the decision records her).
* ``SA-SAMPLE-<TAG>-HUBEI-CLAIMED`` (a sharing application): a person of the platform claims its
  check and accepts; another's claim is refused; the provider's department credential claims under its
  label and grants (a claim of one's own claim again changes nothing); the platform informs.

Never regenerate existing files to make a replay failure go away (see record_samples.py).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from case_client import decide, handle, until  # noqa: E402
from factories import DIRECTORY, application, resource, signed_time_skipping  # noqa: E402
from temporalio.client import WorkflowUpdateFailedError  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402

from govshare.cases import service as case_service  # noqa: E402
from govshare.core.db import init_schema, make_engine  # noqa: E402
from govshare.ops.replay import history_file_name  # noqa: E402
from govshare.ops.worker_build import build_worker  # noqa: E402
from workflows import registry  # noqa: E402
from workflows.case import (  # noqa: E402
    Actor,
    CaseAnswer,
    ClaimRequest,
    ClockRequest,
    DecisionRequest,
)

HERE = Path(__file__).resolve().parent
RSJ = Actor("rsj", "consumer", "clerk")
ZHANG = Actor("gaj", "provider", "P-SAMPLE-ZHANG")
LI = Actor("gaj", "provider", "P-SAMPLE-LI")
GAJ = Actor("gaj", "provider", "reviewer")
GAJ_HEAD = Actor("gaj", "principal_head", "P-DEMO-GAJ-HEAD")
BDB_WANG = Actor("bdb", "platform", "P-SAMPLE-WANG")
BDB_ZHAO = Actor("bdb", "platform", "P-SAMPLE-ZHAO")
PERSONS = {
    "P-SAMPLE-ZHANG": "张伟",
    "P-SAMPLE-LI": "李娜",
    "P-SAMPLE-WANG": "王芳",
    "P-SAMPLE-ZHAO": "赵强",
    "P-DEMO-GAJ-HEAD": "市公安局主要负责人",
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
    tq = "record-issue22-claims"
    cases: list[str] = []

    async def claim(case_id: str, req: ClaimRequest) -> CaseAnswer:
        if not req.release:
            req.name = req.name or PERSONS.get(req.actor.user, req.actor.user)
        return await handle(client, case_id).execute_update("claim", req, result_type=CaseAnswer)

    async def refused(case_id: str, name: str, arg: object) -> None:
        """An Update its validator refuses: nothing of it is written to the history."""
        try:
            await handle(client, case_id).execute_update(name, arg, result_type=CaseAnswer)
        except WorkflowUpdateFailedError as err:
            assert err.cause.type == "Conflict", err.cause  # type: ignore[union-attr]
            return
        raise AssertionError(f"{name} was taken: {arg}")

    async with build_worker(client, task_queue=tq, engine=engine):
        # -- a data objection: claimed, refused to another, released, claimed, extended, decided ------
        case_id = f"DO-SAMPLE-{tag}LUOYANG-CLAIMED"
        inp = case_service.new_case_input(
            registry.DATA_OBJECTION,
            case_id=case_id,
            profile_id="luoyang",
            submitted_at=await env.get_current_time(),
            submitted_by=RSJ,
            platform_department="bdb",
            person_names=PERSONS,
            fields={
                "reporter": {"role": "consumer", "department": "rsj", "person": ""},
                "providers": ["gaj"],
                "resource_id": "gaj-household-members",
                "resource_name_zh": "户籍及家庭成员关系信息",
                "records": ["户号 4103020001"],
                "fields": ["members"],
                "problem": "家庭成员信息缺少新生儿",
                "evidence": "出生医学证明",
                "found_on": "",
            },
            directory=dict(DIRECTORY),
        )
        cases.append(case_id)
        answer = await case_service.start_case(client, tq, registry.DATA_OBJECTION, inp)
        (task,) = answer.open_tasks
        tid = task.task_id
        await claim(case_id, ClaimRequest(ZHANG, tid))
        await refused(case_id, "claim", ClaimRequest(LI, tid, name="李娜"))
        await refused(case_id, "decide", DecisionRequest(LI, "correct", task_id=tid, reason="已补录"))
        await refused(case_id, "adjust_clock", ClockRequest(LI, tid, "extension", 5, "需调档"))
        await claim(case_id, ClaimRequest(ZHANG, tid, release=True))
        await claim(case_id, ClaimRequest(LI, tid))
        await handle(client, case_id).execute_update(
            "adjust_clock", ClockRequest(LI, tid, "extension", 5, "需调取历史档案"), result_type=CaseAnswer
        )
        current = await until(
            lambda s: any(t.approves and t.status == "open" for t in s.tasks), client, case_id
        )
        approval = next(t.task_id for t in current.tasks if t.approves and t.status == "open")
        await decide(client, case_id, DecisionRequest(GAJ_HEAD, "approve", task_id=approval))
        await refused(case_id, "decide", DecisionRequest(ZHANG, "correct", task_id=tid, reason="已补录"))
        await decide(client, case_id, DecisionRequest(LI, "correct", task_id=tid, reason="已补录新生儿"))

        # -- a sharing application: each step claimed, then decided by its claimer -----------------
        inp = application(
            "hubei",
            resource("conditional"),
            await env.get_current_time(),
            case_id=f"SA-SAMPLE-{tag}HUBEI-CLAIMED",
        )
        case_id = inp.case.case_id
        cases.append(case_id)
        answer = await case_service.start_case(client, tq, registry.SHARING_APPLICATION, inp)
        (check,) = answer.open_tasks
        await claim(case_id, ClaimRequest(BDB_WANG, check.task_id))
        await refused(case_id, "claim", ClaimRequest(BDB_ZHAO, check.task_id, name="赵强"))
        answer = await decide(client, case_id, DecisionRequest(BDB_WANG, "accept", task_id=check.task_id))
        (authorization,) = answer.open_tasks
        await claim(case_id, ClaimRequest(GAJ, authorization.task_id, name="demo: 市公安局 provider"))
        await claim(case_id, ClaimRequest(GAJ, authorization.task_id, name="demo: 市公安局 provider"))
        answer = await decide(
            client,
            case_id,
            DecisionRequest(
                GAJ, "grant", task_id=authorization.task_id, payload={"scope": "社保", "fields": ["name"]}
            ),
        )
        (inform,) = answer.open_tasks
        await decide(client, case_id, DecisionRequest(BDB_ZHAO, "inform", task_id=inform.task_id))

        for case_id in cases:
            h = handle(client, case_id)
            await h.result()
            history = await h.fetch_history()
            (out_dir / history_file_name(h.id)).write_text(history.to_json(), encoding="utf-8")
            print("recorded", h.id)
    await env.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[0]) if args else HERE, f"{args[1] if len(args) > 1 else 'K1'}-"))
