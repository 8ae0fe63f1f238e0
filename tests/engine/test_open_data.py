"""Open data on the time-skipping server (Luoyang 32, 33): a conditional open-data application granted
with terms of its own (checked: bad terms refused), a refusal that must give its basis, a correction
of the open catalog agreed by the provider and changed by the platform (a new version of the entry,
idempotent under retry; refused when the entry is gone), and the principal head's extension of the
provider's answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from case_client import decide, handle, refused, state, until
from factories import DIRECTORY
from sqlmodel import Session, col, select

from activities.open_catalog import OpenCatalogActivities
from calendars import SHANGHAI, WorkingDayCalendar
from govshare.cases import service as case_service
from govshare.core import catalog
from govshare.core.models import Department, Notification, Resource, ResourceVersion
from workflows import registry
from workflows.case import Actor, CaseAnswer, ClockRequest, DecisionRequest, Party
from workflows.contracts import EffectRequest

CAL = WorkingDayCalendar.default()
GAJ = Actor("gaj", "provider", "reviewer")
SCJGJ = Actor("scjgj", "provider", "reviewer")
BDB = Actor("bdb", "platform", "operator")
GAJ_HEAD = Actor("gaj", "principal_head", "P-DEMO-GAJ-HEAD")
CITIZEN = Actor("", "citizen", "P-DEMO-CITIZEN")
NAMES = {"gaj": "市公安局", "scjgj": "市市场监管局", "bdb": "市大数据局"}
PERSONS = {"P-DEMO-CITIZEN": "李明", "P-DEMO-GAJ-HEAD": "市公安局主要负责人"}
ENTRY_FIELDS = ["plate_no", "vehicle_type", "registered_on", "owner_name"]


def applicant() -> dict[str, str]:
    return {"role": "citizen", "department": "", "person": CITIZEN.user}


async def apply(env, client, task_queue, **fields) -> tuple[str, CaseAnswer]:
    case_id = f"OD-T{uuid.uuid4().hex[:8].upper()}"
    inp = case_service.new_case_input(
        registry.OPEN_DATA_APPLICATION,
        case_id=case_id,
        profile_id="luoyang",
        submitted_at=await env.get_current_time(),
        submitted_by=CITIZEN,
        platform_department="bdb",
        department_names=NAMES,
        person_names=PERSONS,
        fields={
            "applicant": applicant(),
            "provider_department": "gaj",
            "resource_id": "gaj-vehicle-stats",
            "resource_version": 1,
            "resource_name_zh": "机动车登记统计信息",
            "open_type": "conditional_open",
            "entry_fields": ENTRY_FIELDS,
            "fields": ["plate_no", "vehicle_type"],
            "purpose": "交通出行研究",
            "delivery": "download",
            **fields,
        },
        directory=dict(DIRECTORY),
    )
    answer = await case_service.start_case(client, task_queue, registry.OPEN_DATA_APPLICATION, inp)
    return case_id, answer


async def ask_correction(env, client, task_queue, resource_id: str, **fields) -> tuple[str, CaseAnswer]:
    case_id = f"OC-T{uuid.uuid4().hex[:8].upper()}"
    inp = case_service.new_case_input(
        registry.OPEN_CATALOG_CORRECTION,
        case_id=case_id,
        profile_id="luoyang",
        submitted_at=await env.get_current_time(),
        submitted_by=CITIZEN,
        platform_department="bdb",
        department_names=NAMES,
        person_names=PERSONS,
        fields={
            "applicant": applicant(),
            "provider_department": "gaj",
            "resource_id": resource_id,
            "resource_version": 1,
            "resource_name_zh": "机动车登记统计信息",
            "correction": {"open_type": "open", "description": "按月汇总的机动车登记数量"},
            "current": {"open_type": "conditional_open", "description": ""},
            "reason": "统计数据不含个人信息,应为无条件开放",
            "legal_basis_needed": "",
            **fields,
        },
        directory=dict(DIRECTORY),
    )
    answer = await case_service.start_case(client, task_queue, registry.OPEN_CATALOG_CORRECTION, inp)
    return case_id, answer


def terms(**kw) -> dict:
    return {
        "scope": "交通出行研究,成果仅发表汇总数据",
        "fields": ["plate_no"],
        "use_conditions": "不得用于识别个人,不得向第三方提供",
        "delivery": "api",
        "valid_until": "2099-12-31T00:00:00+08:00",
        **kw,
    }


def published_entry(engine, **entry) -> str:
    """A conditionally open entry of 公安局, published in the register (version 1)."""
    resource_id = f"gaj-open-{uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        for code, name in (("gaj", "市公安局"), ("bdb", "市大数据局")):
            if session.get(Department, code) is None:
                session.add(Department(code=code, name_zh=name, created_at=datetime.now(UTC)))
        session.flush()
        catalog.publish(
            session,
            [
                {
                    "id": resource_id,
                    "name_zh": "机动车登记统计信息",
                    "name_en": "Vehicle registration statistics",
                    "provider_department": "gaj",
                    "share_type": "unconditional",
                    "fields": list(ENTRY_FIELDS),
                    "sharing_modes": ["online_query"],
                    "open_type": "conditional_open",
                    "legal_basis": "《中华人民共和国个人信息保护法》第十三条",
                    **entry,
                }
            ],
            department="gaj",
            now=datetime.now(UTC),
        )
        session.commit()
    return resource_id


# -- the conditional open-data application (33) ------------------------------------------------------
async def test_a_grant_with_valid_terms_opens_the_data_and_bad_terms_are_refused(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await apply(env, client, task_queue)
    (task,) = answer.open_tasks
    assert (task.step, task.working_days, task.article) == ("conditional_open_application", 10, "33")
    assert (task.assignee.department, task.assignee.role) == ("gaj", "provider")
    current = await state(client, case_id)
    assert Party("", "citizen", "P-DEMO-CITIZEN") in current.parties
    grant = DecisionRequest(GAJ, "grant", task_id=task.task_id)
    for bad in (
        terms(fields=["citizen_id"]),  # not a field of the entry
        terms(fields=["registered_on"]),  # the entry's, but not applied for
        terms(use_conditions="  "),  # a conditional opening states its conditions
        terms(delivery="fax"),
        terms(valid_until="2000-01-01T00:00:00+08:00"),  # already past
        terms(sharing_mode="online_query"),  # a sharing grant's term, not an open-data one
        terms(fields="plate_no"),  # malformed
    ):
        grant.payload = bad
        assert await refused(client, case_id, grant) == "Invalid", bad
    # Only the provider grants.
    assert (
        await refused(client, case_id, DecisionRequest(SCJGJ, "grant", task_id=task.task_id, payload=terms()))
        == "Forbidden"
    )
    assert (await state(client, case_id)).tasks[0].status == "open"
    grant.payload = terms(scope="", delivery="")  # scope and delivery default to what was applied for
    answer = await decide(client, case_id, grant)
    assert (answer.status, answer.result) == ("granted", "granted")
    current = await state(client, case_id)
    kept = current.tasks[0].decision.payload
    assert kept == {
        "scope": "交通出行研究",
        "fields": ["plate_no"],
        "use_conditions": "不得用于识别个人,不得向第三方提供",
        "delivery": "download",
        "valid_until": "2099-12-31T00:00:00+08:00",
    }
    assert current.header.attributes["terms"] == kept
    assert current.tasks[0].decision.grant is None  # not the sharing application's GrantTerms
    # The citizen is told, by its identity reference (never a department's notice).
    await until(lambda s: s.header.status == "granted", client, case_id)
    with Session(sqlite_engine) as session:
        told = session.exec(
            select(Notification).where(
                Notification.case_id == case_id, Notification.recipient_role == "citizen"
            )
        ).all()
    assert told and all(n.recipient_person == "P-DEMO-CITIZEN" for n in told)
    assert any("同意开放" in n.text_zh for n in told)


async def test_a_refusal_without_its_basis_is_refused(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await apply(env, client, task_queue)
    (task,) = answer.open_tasks
    no_reason = DecisionRequest(GAJ, "refuse", task_id=task.task_id, payload={"basis": "《保守国家秘密法》"})
    assert await refused(client, case_id, no_reason) == "Invalid"
    for payload in (None, {}, {"basis": " "}, {"basis": "x", "note": "y"}, {"basis": ["a"]}):
        req = DecisionRequest(GAJ, "refuse", task_id=task.task_id, reason="涉及个人信息", payload=payload)
        assert await refused(client, case_id, req) == "Invalid", payload
    assert (await state(client, case_id)).header.status == "in_progress"
    basis = "《中华人民共和国个人信息保护法》第十三条"
    answer = await decide(
        client,
        case_id,
        DecisionRequest(GAJ, "refuse", task_id=task.task_id, reason="含车主姓名", payload={"basis": basis}),
    )
    assert (answer.status, answer.result) == ("refused", "refused")
    current = await state(client, case_id)
    assert current.tasks[0].decision.payload == {"basis": basis}
    assert current.header.attributes["refusal"] == {"reason": "含车主姓名", "basis": basis}
    assert current.header.result_reason == f"含车主姓名。依据:{basis}"
    assert current.header.result_article == "33"


async def test_the_heads_extension_of_the_answer_moves_the_deadline(
    time_skipping_env, run_worker, ts_client, task_queue
) -> None:
    env, client = time_skipping_env, ts_client
    case_id, answer = await apply(env, client, task_queue)
    (task,) = answer.open_tasks
    # More than 10 WD (33): refused.
    too_long = ClockRequest(GAJ, task.task_id, "extension", 11, "数据量大")
    with pytest.raises(Exception) as err:
        await handle(client, case_id).execute_update("adjust_clock", too_long, result_type=CaseAnswer)
    assert err.value.cause.type == "Invalid"  # type: ignore[attr-defined]
    await handle(client, case_id).execute_update(
        "adjust_clock", ClockRequest(GAJ, task.task_id, "extension", 7, "需脱敏处理"), result_type=CaseAnswer
    )
    current = await state(client, case_id)
    approval = next(t for t in current.tasks if t.approves == task.task_id)
    assert (approval.assignee.department, approval.assignee.role, approval.article) == (
        "gaj",
        "principal_head",
        "33",
    )
    assert current.tasks[0].deadline.due_at == task.due_at  # asked, not yet granted
    await decide(client, case_id, DecisionRequest(GAJ_HEAD, "approve", task_id=approval.task_id))
    current = await state(client, case_id)
    answering = current.tasks[0]
    last_day = CAL.add_working_days(answering.clock[0].starts_at, 10).due_date
    expected = CAL.add_working_days(datetime.combine(last_day, time(12), SHANGHAI), 7)
    assert answering.deadline.due_at == expected.due_at and answering.deadline.due_at > task.due_at
    entry = answering.clock[-1]
    assert (entry.kind, entry.article, entry.working_days, entry.approver_name) == (
        "extension",
        "33",
        7,
        "市公安局主要负责人",
    )
    # The provider still answers its own task.
    answer = await decide(
        client, case_id, DecisionRequest(GAJ, "grant", task_id=task.task_id, payload=terms())
    )
    assert answer.result == "granted"


# -- the correction of the open catalog (32) ---------------------------------------------------------
async def test_a_correction_agreed_then_changed_by_the_platform_changes_the_entry(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    env, client = time_skipping_env, ts_client
    resource_id = published_entry(sqlite_engine)
    case_id, answer = await ask_correction(env, client, task_queue, resource_id)
    (task,) = answer.open_tasks
    assert (task.step, task.working_days, task.article) == ("open_catalog_correction", 10, "32")
    # The platform cannot answer for the provider.
    assert await refused(client, case_id, DecisionRequest(BDB, "agree", task_id=task.task_id)) == "Forbidden"
    answer = await decide(client, case_id, DecisionRequest(GAJ, "agree", task_id=task.task_id))
    (change,) = answer.open_tasks
    assert (change.step, change.assignee.department, change.due_at) == ("open_catalog_change", "bdb", None)
    with Session(sqlite_engine) as session:  # agreed, not yet changed
        assert session.get(Resource, resource_id).open_type == "conditional_open"
    answer = await decide(client, case_id, DecisionRequest(BDB, "change", task_id=change.task_id))
    assert (answer.status, answer.result) == ("corrected", "corrected")
    with Session(sqlite_engine) as session:
        row = session.get(Resource, resource_id)
        assert (row.open_type, row.description, row.version) == ("open", "按月汇总的机动车登记数量", 2)
        versions = session.exec(
            select(ResourceVersion)
            .where(ResourceVersion.resource_id == resource_id)
            .order_by(col(ResourceVersion.version))
        ).all()
        assert [(v.version, v.change, v.case_id, v.published_by) for v in versions] == [
            (1, "new", "", "gaj"),
            (2, "changed", case_id, "bdb"),
        ]
        assert versions[1].data["open_type"] == "open"
    # The description's words are searchable at once (the register's terms follow the version).
    with Session(sqlite_engine) as session:
        hits, _total = catalog.search(session, q="按月汇总")
        assert resource_id in [h.id for h in hits]
    current = await state(client, case_id)
    changed = {
        "resource_id": resource_id,
        "version": 2,
        "changed": {
            "open_type": {"from": "conditional_open", "to": "open"},
            "description": {"from": "", "to": "按月汇总的机动车登记数量"},
        },
    }
    assert current.tasks[-1].decision.payload == changed
    assert current.header.attributes["changed"] == changed

    # Retried after it committed (same case): the same answer, no second version.
    effect = OpenCatalogActivities(sqlite_engine)
    again = effect.change_open_catalog(_effect_request(case_id, resource_id, {"open_type": "open"}))
    assert (again.refusal_en, again.data) == ("", changed)
    with Session(sqlite_engine) as session:
        assert session.get(Resource, resource_id).version == 2


async def test_a_correction_to_conditional_needs_a_legal_basis_and_a_gone_entry_is_not_changed(
    time_skipping_env, run_worker, ts_client, task_queue, sqlite_engine
) -> None:
    env, client = time_skipping_env, ts_client
    resource_id = published_entry(sqlite_engine, open_type="open", legal_basis="")
    case_id, answer = await ask_correction(
        env,
        client,
        task_queue,
        resource_id,
        correction={"open_type": "not_open"},
        current={"open_type": "open"},
        legal_basis_needed="31",
    )
    (task,) = answer.open_tasks
    # 31: not open needs a legal basis; the entry has none, so the agreement must give it.
    assert await refused(client, case_id, DecisionRequest(GAJ, "agree", task_id=task.task_id)) == "Invalid"
    basis = "《中华人民共和国数据安全法》第二十一条"
    answer = await decide(
        client, case_id, DecisionRequest(GAJ, "agree", task_id=task.task_id, payload={"legal_basis": basis})
    )
    (change,) = answer.open_tasks
    # Withdrawn meanwhile: the platform's change is refused, nothing written, the task stays open.
    with Session(sqlite_engine) as session:
        catalog.publish(
            session, [{"id": resource_id, "change": "withdrawn"}], department="gaj", now=datetime.now(UTC)
        )
        session.commit()
    assert await refused(client, case_id, DecisionRequest(BDB, "change", task_id=change.task_id)) == "Invalid"
    current = await state(client, case_id)
    assert current.tasks[-1].status == "open" and current.header.status == "in_progress"
    with Session(sqlite_engine) as session:
        assert session.get(Resource, resource_id).open_type == "open"
        assert not session.exec(select(ResourceVersion).where(ResourceVersion.case_id == case_id)).all()
    # Published again: the change goes through, with the basis the provider gave.
    with Session(sqlite_engine) as session:
        row = session.get(Resource, resource_id)
        catalog.publish(
            session,
            [{**catalog.entry_data(row), "change": "changed"}],
            department="gaj",
            now=datetime.now(UTC),
        )
        session.commit()
    answer = await decide(client, case_id, DecisionRequest(BDB, "change", task_id=change.task_id))
    assert answer.result == "corrected"
    with Session(sqlite_engine) as session:
        row = session.get(Resource, resource_id)
        assert (row.open_type, row.legal_basis) == ("not_open", basis)


def test_the_effect_refuses_what_breaks_a_rule_the_entry_kept(sqlite_engine) -> None:
    """An entry already without a legal basis stays correctable (for what the correction touches);
    a correction that would break rule 31 itself is refused, with the rule and its article."""
    resource_id = published_entry(sqlite_engine, open_type="open", legal_basis="")
    effect = OpenCatalogActivities(sqlite_engine)
    refused_ = effect.change_open_catalog(
        _effect_request(f"OC-X{uuid.uuid4().hex[:6]}", resource_id, {"open_type": "conditional_open"})
    )
    assert refused_.refusal_zh and refused_.problems
    assert (refused_.problems[0]["field"], refused_.problems[0]["article"]) == ("legal_basis", "31")
    done = effect.change_open_catalog(
        _effect_request(f"OC-X{uuid.uuid4().hex[:6]}", resource_id, {"description": "更正后的摘要"})
    )
    assert done.refusal_en == "" and done.data["changed"] == {
        "description": {"from": "", "to": "更正后的摘要"}
    }
    gone = effect.change_open_catalog(_effect_request("OC-X0", "no-such-entry", {"open_type": "open"}))
    assert gone.refusal_en and "no longer" in gone.refusal_en


def _effect_request(case_id: str, resource_id: str, correction: dict) -> EffectRequest:
    return EffectRequest(
        effect="change_open_catalog",
        case_id=case_id,
        workflow_id=f"OpenCatalogCorrection:{case_id}",
        case_type="open_catalog_correction",
        profile_id="luoyang",
        profile_version="1.7",
        task_id=f"{case_id}/2",
        step="open_catalog_change",
        action="change",
        department="bdb",
        role="platform",
        user="operator",
        at=datetime.now(UTC) + timedelta(seconds=1),
        input={"resource_id": resource_id, "correction": correction, "legal_basis": ""},
    )
