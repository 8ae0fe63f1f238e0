"""Record sample histories of data objections, the head's approval of an extension, and disputes
(issue 20) for the replay test (tests/test_replay.py).

    .venv/bin/python tests/histories/record_issue20_samples.py [OUT_DIR [TAG]]   # default: this folder, D1

* ``DO-…-LUOYANG-EXTENDED``: the provider asks for 5 WD more; its principal head approves; the data is
  corrected. ``…-EXTREFUSED``: the head refuses (with a reason); the data is confirmed.
  ``…-LAPSED``: the provider decides while the head's approval waits: the request lapses.
  ``…-CITIZEN``: a citizen reports (a person party, no department); a note on valid proof.
* ``DO-…-LUZHOU-LATE``: reported 20 days after the finding: taken and marked late; then corrected.
* ``DO-…-HUBEI-JOINT``: the platform's check finds two providers disagree: one joint verification,
  answered differently (taken as ``correct`` by rule). ``…-HUBEI-REFER``: the provider brings in the
  other provider (a party added by a decision); both confirm.
* ``DS-…-HUBEI-SETTLED``: consumer, provider and platform negotiate: a message, a proposal, all agree;
  the settlement starts the sharing application (recorded too), which is granted and informed.
* ``OD-…-LUOYANG-GRANTED``: a citizen applies for conditionally open data; the provider asks for an
  extension, its head approves, the provider grants with open-data terms. ``OD-…-LUOYANG-REFUSED``:
  refused with its reason and basis. ``OC-…-LUOYANG-CHANGED``: a correction of the open catalog agreed
  and made by the platform (the effect activity publishes the entry's new version).
  ``OC-…-LUOYANG-REFUSED``: refused with its basis.
* ``DS-…-LUZHOU-RULED``: negotiation ended by the provider, coordination refers it, the leading group
  rules: no access. ``DS-…-JIANGSU-PROVINCIAL``: provincial departments: the leading group
  coordinates at once and rules access; the application it starts is granted.

Never regenerate existing files to make a replay failure go away (see record_samples.py).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from case_client import decide, handle, until  # noqa: E402
from factories import DIRECTORY, signed_time_skipping  # noqa: E402
from sqlmodel import Session  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402

from calendars import SHANGHAI  # noqa: E402
from govshare.cases import service as case_service  # noqa: E402
from govshare.core import catalog  # noqa: E402
from govshare.core.db import init_schema, make_engine  # noqa: E402
from govshare.core.models import Department  # noqa: E402
from govshare.ops.replay import history_file_name  # noqa: E402
from govshare.ops.worker_build import build_worker  # noqa: E402
from workflows import registry  # noqa: E402
from workflows.case import Actor, CaseAnswer, ClockRequest, DecisionRequest, NoteRequest  # noqa: E402

HERE = Path(__file__).resolve().parent
RSJ = Actor("rsj", "consumer", "clerk")
GAJ = Actor("gaj", "provider", "reviewer")
SCJGJ = Actor("scjgj", "provider", "reviewer")
BDB = Actor("bdb", "platform", "operator")
JXW = Actor("jxw", "coordinator", "director")
LGO = Actor("lgo", "leading_group", "office")
GAJ_HEAD = Actor("gaj", "principal_head", "P-DEMO-GAJ-HEAD")
CITIZEN = Actor("", "citizen", "P-DEMO-CITIZEN")
PERSONS = {"P-DEMO-CITIZEN": "李明", "P-DEMO-GAJ-HEAD": "市公安局主要负责人"}
RESOURCE = {
    "id": "gaj-household-members",
    "version": 1,
    "name_zh": "户籍及家庭成员关系信息",
    "name_en": "Household registration and family relations",
    "provider_department": "gaj",
    "share_type": "conditional",
    "sharing_modes": ["online_query", "data_comparison"],
    "fields": ["citizen_id", "name", "members"],
}
OPEN_FIELDS = ["plate_no", "vehicle_type", "registered_on", "owner_name"]
OPEN_TERMS = {
    "scope": "交通出行研究,成果仅发表汇总数据",
    "fields": ["plate_no"],
    "use_conditions": "不得用于识别个人,不得向第三方提供",
    "delivery": "api",
}
TERMS = {"scope": "仅用于低保审核", "fields": ["citizen_id", "members"], "sharing_mode": "data_comparison"}


async def main(out_dir: Path, tag: str) -> None:
    bin_dir = Path(sys.executable).parent
    env = await signed_time_skipping(  # its client signs what it sends (issue 23)
        test_server_existing_path=str(bin_dir / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    client = env.client
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/app.db")
    init_schema(engine)
    tq = "record-issue20-samples"
    cases: list[str] = []
    with Session(engine) as session:  # the open catalog's entry the correction changes
        for code in ("gaj", "bdb"):
            session.add(Department(code=code, name_zh=code, created_at=datetime.now(SHANGHAI)))
        session.flush()
        catalog.publish(
            session,
            [
                {
                    "id": "gaj-vehicle-stats",
                    "name_zh": "机动车登记统计信息",
                    "provider_department": "gaj",
                    "share_type": "unconditional",
                    "fields": OPEN_FIELDS,
                    "sharing_modes": ["online_query"],
                    "open_type": "conditional_open",
                    "legal_basis": "《中华人民共和国个人信息保护法》第十三条",
                }
            ],
            department="gaj",
            now=datetime.now(SHANGHAI),
        )
        session.commit()

    async def open_data(name: str):
        case_id = f"OD-SAMPLE-{tag}{name}"
        inp = case_service.new_case_input(
            registry.OPEN_DATA_APPLICATION,
            case_id=case_id,
            profile_id="luoyang",
            submitted_at=await env.get_current_time(),
            submitted_by=CITIZEN,
            platform_department="bdb",
            person_names=PERSONS,
            fields={
                "applicant": {"role": "citizen", "department": "", "person": CITIZEN.user},
                "provider_department": "gaj",
                "resource_id": "gaj-vehicle-stats",
                "resource_version": 1,
                "resource_name_zh": "机动车登记统计信息",
                "open_type": "conditional_open",
                "entry_fields": OPEN_FIELDS,
                "fields": ["plate_no", "vehicle_type"],
                "purpose": "交通出行研究",
                "delivery": "download",
            },
            directory=dict(DIRECTORY),
        )
        cases.append(case_id)
        return case_id, await case_service.start_case(client, tq, registry.OPEN_DATA_APPLICATION, inp)

    async def correction(name: str):
        case_id = f"OC-SAMPLE-{tag}{name}"
        inp = case_service.new_case_input(
            registry.OPEN_CATALOG_CORRECTION,
            case_id=case_id,
            profile_id="luoyang",
            submitted_at=await env.get_current_time(),
            submitted_by=CITIZEN,
            platform_department="bdb",
            person_names=PERSONS,
            fields={
                "applicant": {"role": "citizen", "department": "", "person": CITIZEN.user},
                "provider_department": "gaj",
                "resource_id": "gaj-vehicle-stats",
                "resource_version": 1,
                "resource_name_zh": "机动车登记统计信息",
                "correction": {"open_type": "open", "description": "按月汇总的机动车登记数量"},
                "current": {"open_type": "conditional_open", "description": ""},
                "reason": "统计数据不含个人信息,应为无条件开放",
                "legal_basis_needed": "",
            },
            directory=dict(DIRECTORY),
        )
        cases.append(case_id)
        return case_id, await case_service.start_case(client, tq, registry.OPEN_CATALOG_CORRECTION, inp)

    async def objection(
        name: str, profile: str, *, by: Actor = RSJ, found_days_ago: int = 0, other: str = ""
    ):
        case_id = f"DO-SAMPLE-{tag}{name}"
        today = (await env.get_current_time()).astimezone(SHANGHAI).date()
        found = today - timedelta(days=found_days_ago)
        inp = case_service.new_case_input(
            registry.DATA_OBJECTION,
            case_id=case_id,
            profile_id=profile,
            submitted_at=await env.get_current_time(),
            submitted_by=by,
            platform_department="bdb",
            person_names=PERSONS,
            fields={
                "reporter": {
                    "role": by.role,
                    "department": by.department,
                    "person": "" if by.department else by.user,
                },
                "providers": ["gaj", "scjgj"] if other else ["gaj"],
                "resource_id": RESOURCE["id"],
                "resource_name_zh": RESOURCE["name_zh"],
                "other_resource_id": other,
                "records": ["户号 4103020001"],
                "fields": ["members"],
                "problem": "家庭成员信息缺少新生儿",
                "evidence": "出生医学证明",
                "found_on": found.isoformat(),
            },
            directory=dict(DIRECTORY),
            counts_from=datetime.combine(found, time(0), SHANGHAI) if profile == "luzhou" else None,
        )
        cases.append(case_id)
        return case_id, await case_service.start_case(client, tq, registry.DATA_OBJECTION, inp)

    async def dispute(name: str, profile: str, *, provincial: bool = False):
        case_id = f"DS-SAMPLE-{tag}{name}"
        inp = case_service.new_case_input(
            registry.DISPUTE,
            case_id=case_id,
            profile_id=profile,
            submitted_at=await env.get_current_time(),
            submitted_by=RSJ,
            platform_department="bdb",
            fields={
                "consumer": "rsj",
                "provider": "gaj",
                "resource": RESOURCE,
                "application_id": "SA-SAMPLE-REFUSED",
                "matter": "履职确需核对家庭成员",
                "purpose": "低保审核",
                "provincial": provincial,
            },
            directory=dict(DIRECTORY),
        )
        cases.append(case_id)
        return case_id, await case_service.start_case(client, tq, registry.DISPUTE, inp)

    async def clock(case_id: str, req: ClockRequest) -> CaseAnswer:
        return await handle(client, case_id).execute_update("adjust_clock", req, result_type=CaseAnswer)

    async def note(case_id: str, req: NoteRequest) -> CaseAnswer:
        return await handle(client, case_id).execute_update("note", req, result_type=CaseAnswer)

    async def approval_of(case_id: str) -> str:
        current = await until(
            lambda s: any(t.approves and t.status == "open" for t in s.tasks), client, case_id
        )
        return next(t.task_id for t in current.tasks if t.approves and t.status == "open")

    async def drive_application(case_id: str) -> None:
        """Grant the application a settlement started, and inform the consumer, to its end."""
        cases.append(case_id)
        for _ in range(5):
            current = await until(
                lambda s: s.header.status != "in_progress" or any(t.status == "open" for t in s.tasks),
                client,
                case_id,
            )
            open_tasks = [t for t in current.tasks if t.status == "open"]
            if not open_tasks:
                return
            task = open_tasks[0]
            actor = Actor(task.assignee.department, task.assignee.role, "clerk")
            action = next(
                (a for a in ("grant", "agree", "accept", "inform") if a in task.actions), task.actions[0]
            )
            await decide(
                client,
                case_id,
                DecisionRequest(
                    actor,
                    action,
                    task_id=task.task_id,
                    payload={"scope": "仅用于低保审核"} if action in ("grant", "agree") else None,
                ),
            )

    async with build_worker(client, task_queue=tq, engine=engine):
        # -- data objections -------------------------------------------------------------------
        case_id, answer = await objection("LUOYANG-EXTENDED", "luoyang")
        (task,) = answer.open_tasks
        await clock(case_id, ClockRequest(GAJ, task.task_id, "extension", 5, "需调取历史档案"))
        await decide(
            client, case_id, DecisionRequest(GAJ_HEAD, "approve", task_id=await approval_of(case_id))
        )
        await decide(
            client, case_id, DecisionRequest(GAJ, "correct", task_id=task.task_id, reason="已补录新生儿")
        )

        case_id, answer = await objection("LUOYANG-EXTREFUSED", "luoyang")
        (task,) = answer.open_tasks
        await clock(case_id, ClockRequest(GAJ, task.task_id, "extension", 10, "数据量大"))
        await decide(
            client,
            case_id,
            DecisionRequest(GAJ_HEAD, "refuse", task_id=await approval_of(case_id), reason="应按期完成"),
        )
        await decide(
            client, case_id, DecisionRequest(GAJ, "confirm", task_id=task.task_id, reason="与档案一致")
        )

        case_id, answer = await objection("LUOYANG-LAPSED", "luoyang")
        (task,) = answer.open_tasks
        await clock(case_id, ClockRequest(GAJ, task.task_id, "extension", 2, "需调档"))
        await approval_of(case_id)
        await decide(
            client, case_id, DecisionRequest(GAJ, "confirm", task_id=task.task_id, reason="与档案一致")
        )

        case_id, answer = await objection("LUOYANG-CITIZEN", "luoyang", by=CITIZEN)
        (task,) = answer.open_tasks
        await note(case_id, NoteRequest(GAJ, "served_with_proof", "申请人持出生医学证明,已照常办理"))
        await decide(
            client, case_id, DecisionRequest(GAJ, "correct", task_id=task.task_id, reason="已补录新生儿")
        )

        case_id, answer = await objection("LUZHOU-LATE", "luzhou", found_days_ago=20)
        (reply,) = answer.open_tasks
        await decide(
            client, case_id, DecisionRequest(GAJ, "correct", task_id=reply.task_id, reason="已补录新生儿")
        )

        case_id, answer = await objection("HUBEI-JOINT", "hubei", by=BDB, other="scjgj-legal-entity-basic")
        for task in answer.open_tasks:
            actor = GAJ if task.assignee.department == "gaj" else SCJGJ
            action = "confirm" if actor is GAJ else "correct"
            await decide(
                client, case_id, DecisionRequest(actor, action, task_id=task.task_id, reason="核实结果")
            )

        case_id, answer = await objection("HUBEI-REFER", "hubei")
        (task,) = answer.open_tasks
        await note(case_id, NoteRequest(GAJ, "served_with_proof", "申请人持证明材料,已照常办理"))
        answer = await decide(
            client,
            case_id,
            DecisionRequest(
                GAJ, "refer_joint_verification", task_id=task.task_id, payload={"department": "scjgj"}
            ),
        )
        for task in answer.open_tasks:
            actor = GAJ if task.assignee.department == "gaj" else SCJGJ
            await decide(
                client,
                case_id,
                DecisionRequest(actor, "confirm", task_id=task.task_id, reason="本部门数据无误"),
            )

        # -- open data (Luoyang 32, 33) ------------------------------------------------------
        case_id, answer = await open_data("LUOYANG-GRANTED")
        (task,) = answer.open_tasks
        await clock(case_id, ClockRequest(GAJ, task.task_id, "extension", 7, "需脱敏处理"))
        await decide(
            client, case_id, DecisionRequest(GAJ_HEAD, "approve", task_id=await approval_of(case_id))
        )
        await decide(client, case_id, DecisionRequest(GAJ, "grant", task_id=task.task_id, payload=OPEN_TERMS))

        case_id, answer = await open_data("LUOYANG-REFUSED")
        (task,) = answer.open_tasks
        basis = {"basis": "《中华人民共和国个人信息保护法》第十三条"}
        await decide(
            client,
            case_id,
            DecisionRequest(GAJ, "refuse", task_id=task.task_id, reason="含个人信息", payload=basis),
        )

        case_id, answer = await correction("LUOYANG-REFUSED")
        (task,) = answer.open_tasks
        await decide(
            client,
            case_id,
            DecisionRequest(GAJ, "refuse", task_id=task.task_id, reason="含车主姓名", payload=basis),
        )

        case_id, answer = await correction("LUOYANG-CHANGED")
        (task,) = answer.open_tasks
        (change,) = (
            await decide(client, case_id, DecisionRequest(GAJ, "agree", task_id=task.task_id))
        ).open_tasks
        await decide(client, case_id, DecisionRequest(BDB, "change", task_id=change.task_id))

        # -- disputes ------------------------------------------------------------------------
        case_id, answer = await dispute("HUBEI-SETTLED", "hubei")
        await note(case_id, NoteRequest(RSJ, "message", "低保审核确需核对家庭成员"))
        proposed = await note(case_id, NoteRequest(GAJ, "proposal", "按比对方式提供", payload=TERMS))
        del proposed
        agree = {"payload": {"proposal": 2}}
        for actor in (RSJ, BDB, GAJ):
            await decide(client, case_id, DecisionRequest(actor, "agree_access", step="negotiation", **agree))
        current = await until(lambda s: any(k.relation == "started" for k in s.header.links), client, case_id)
        await drive_application(next(k.case_id for k in current.header.links if k.relation == "started"))

        case_id, answer = await dispute("LUZHOU-RULED", "luzhou")
        await decide(client, case_id, DecisionRequest(GAJ, "fail", step="negotiation", reason="无法律依据"))
        await decide(client, case_id, DecisionRequest(JXW, "refer_ruling", reason="提请最终裁定"))
        await decide(client, case_id, DecisionRequest(LGO, "rule_no_access", reason="不符合共享条件"))

        case_id, answer = await dispute("JIANGSU-PROVINCIAL", "jiangsu", provincial=True)
        await decide(
            client, case_id, DecisionRequest(RSJ, "fail", step="negotiation", reason="提供部门不同意")
        )
        await decide(client, case_id, DecisionRequest(LGO, "rule_access", reason="履职确需", payload=TERMS))
        current = await until(lambda s: any(k.relation == "started" for k in s.header.links), client, case_id)
        await drive_application(next(k.case_id for k in current.header.links if k.relation == "started"))

        for case_id in cases:
            h = handle(client, case_id)
            await h.result()
            history = await h.fetch_history()
            (out_dir / history_file_name(h.id)).write_text(history.to_json(), encoding="utf-8")
            print("recorded", h.id)
    await env.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[0]) if args else HERE, f"{args[1] if len(args) > 1 else 'D1'}-"))
