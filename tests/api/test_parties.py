"""Parties who are not departments: citizens, legal persons, and persons of a department.

A citizen's token has no department: it sees exactly the cases a party row names its identity in,
and the notices addressed to it — never a department's. A principal head is a person of its
department: it sees its department's cases. A person is shown by reference and name, never by ID
number (only ``/me`` shows it, to the identity itself, masked). Idempotency keys are scoped per
caller (``Caller.principal``), so two citizens never share a scope.

No case type opens citizen cases yet, so visibility rows are written directly where needed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from api_helpers import AUDITOR, CONSUMER, GAJ, auth
from sqlmodel import Session, col, select

from activities.records import RecordActivities
from api import idempotency
from api.acting import _update_id, actor_of
from api.deps import Caller, can_see_case, visible_condition
from api.errors import ApiError
from api.requests import WithdrawalCreate
from api.views import CaseView, case_out, person_names
from govshare.core.db import init_schema, make_engine
from govshare.core.models import Case, CaseParty, Credential, Notification, PartyIdentity, UserAccount
from govshare.core.seed import seed_demo
from govshare.core.tokens import token_digest
from workflows.case import Actor, CaseHeader, Decision, Notice, Party, Task

CITIZEN = "demo-citizen"
COMPANY = "demo-company"
GAJ_HEAD = "demo-gaj-head"
CITIZEN_ID = "P-DEMO-CITIZEN"
CITIZEN_NUMBER = "410302199001011234"
COMPANY_NUMBER = "91410300MA44B2R37Q"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def new_citizen(api, name: str = "王芳") -> tuple[str, str, str]:
    """A citizen of its own (identity, token), so what it sees is exact: (identity id, token, number)."""
    person = f"P-{uuid.uuid4().hex[:10]}"
    token = f"test-citizen-{uuid.uuid4().hex[:8]}"
    number = f"4103{uuid.uuid4().int % 10**14:014d}"
    with Session(api.engine) as session:
        session.add(
            PartyIdentity(
                id=person, kind="person", name=name, id_type="resident_id", id_number=number, created_at=NOW
            )
        )
        session.flush()
        session.add(
            Credential(
                token_sha256=token_digest(token),
                person_id=person,
                role="citizen",
                label=f"test citizen {person}",
                created_at=NOW,
            )
        )
        session.commit()
    return person, token, number


def citizen_caller(person: str, name: str = "王芳") -> Caller:
    return Caller(
        department="",
        department_name_zh="",
        department_name_en="",
        role="citizen",
        label="",
        person=person,
        person_name=name,
        party_kind="person",
    )


def add_case(api, *parties: CaseParty) -> str:
    """A case row with only ``parties`` (enough for lists and visibility; not for its detail)."""
    case_id = f"CT-{uuid.uuid4().hex[:8].upper()}"
    with Session(api.engine) as session:
        session.add(
            Case(
                id=case_id,
                workflow_id=f"Test:{case_id}",
                case_type="data_objection",
                profile_id="luoyang",
                profile_version="1.0",
                status="in_progress",
                subject_zh="数据异议",
                submitted_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
                engine=2,
            )
        )
        session.flush()
        for party in parties:
            party.case_id = case_id
            session.add(party)
        session.commit()
    return case_id


async def _get(api, token: str, path: str, **params):
    return await api.http.get(path, headers=auth(token), params=params)


# -- who am I ----------------------------------------------------------------------------------------
async def test_citizen_company_and_head_authenticate_and_see_themselves(api):
    response = await _get(api, CITIZEN, "/me")
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["department"] == "" and me["department_name_zh"] == ""
    assert (me["role"], me["party_kind"], me["person"], me["person_name"]) == (
        "citizen",
        "person",
        CITIZEN_ID,
        "李明",
    )
    assert (me["id_type"], me["id_number_masked"]) == ("resident_id", "410***********1234")
    assert CITIZEN_NUMBER not in response.text

    company = (await _get(api, COMPANY, "/me")).json()
    assert (company["party_kind"], company["person"], company["person_name"]) == (
        "legal_person",
        "P-DEMO-COMPANY",
        "洛阳数智科技有限公司",
    )
    assert company["id_type"] == "unified_social_credit_code"
    assert company["id_number_masked"] == "914***********R37Q"

    head = (await _get(api, GAJ_HEAD, "/me")).json()
    assert (head["department"], head["department_name_zh"], head["role"], head["party_kind"]) == (
        "gaj",
        "市公安局",
        "principal_head",
        "department_person",
    )
    assert (head["person"], head["person_name"]) == ("P-DEMO-GAJ-HEAD", "市公安局主要负责人")

    # A department's token has no identity: nothing of anyone's number, masked or not.
    dept = await _get(api, GAJ, "/me")
    assert dept.json()["party_kind"] == "department" and dept.json()["person"] == ""
    assert dept.json()["id_type"] == dept.json()["id_number_masked"] == ""
    assert "1234" not in dept.text and "R37Q" not in dept.text


async def test_a_credential_that_names_no_one_is_refused(api):
    token = f"test-nobody-{uuid.uuid4().hex[:8]}"
    with Session(api.engine) as session:
        session.add(Credential(token_sha256=token_digest(token), role="citizen", label="", created_at=NOW))
        session.commit()
    response = await _get(api, token, "/me")
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


async def test_a_citizen_may_not_use_a_department_route(api):
    response = await api.http.post(
        "/applications",
        json={"resource_id": "gaj-household-members", "purpose": "x", "reason": "y"},
        headers=auth(CITIZEN),
    )
    assert response.status_code == 403 and response.json()["code"] == "role_not_allowed"
    assert "李明" in response.json()["detail"]


# -- visibility ----------------------------------------------------------------------------------
async def test_citizen_sees_no_department_case(api):
    _person, token, _number = new_citizen(api)
    case = await api.apply(CONSUMER)
    for path in ("/cases", "/applications"):
        listed = await _get(api, token, path, limit=100)
        assert listed.status_code == 200, listed.text
        assert listed.json()["total"] == 0 and listed.json()["items"] == []
    for path in (f"/cases/{case['id']}", f"/applications/{case['id']}", f"/cases/{case['id']}/events"):
        response = await _get(api, token, path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "case_not_found"
    assert (await _get(api, token, "/tasks")).json()["items"] == []


async def test_citizen_sees_exactly_the_cases_it_is_party_to(api):
    person, token, number = new_citizen(api, name="赵敏")
    _other, other_token, _ = new_citizen(api)
    case = await api.apply(CONSUMER)
    with Session(api.engine) as session:
        session.add(CaseParty(case_id=case["id"], role="citizen", department="", person=person))
        session.commit()

    listed = (await _get(api, token, "/cases", limit=100)).json()
    assert [c["id"] for c in listed["items"]] == [case["id"]] and listed["total"] == 1
    response = await _get(api, token, f"/cases/{case['id']}")
    assert response.status_code == 200, response.text
    shown = [p for p in response.json()["party_list"] if p["role"] == "citizen"]
    assert shown == [
        {"code": "", "name_zh": "", "name_en": "", "role": "citizen", "person": person, "person_name": "赵敏"}
    ]
    assert number not in response.text
    # The department parties see the citizen by name as well, never by number.
    seen_by_consumer = await _get(api, CONSUMER, f"/cases/{case['id']}")
    assert any(p["person_name"] == "赵敏" for p in seen_by_consumer.json()["party_list"])
    assert number not in seen_by_consumer.text
    # Another citizen sees none of it.
    assert (await _get(api, other_token, f"/cases/{case['id']}")).status_code == 404
    assert (await _get(api, other_token, "/cases")).json()["total"] == 0


async def test_a_citizen_row_makes_no_department_a_party(api):
    person, token, _ = new_citizen(api)
    only_citizen = add_case(api, CaseParty(role="citizen", department="", person=person))

    # The rsj consumer is not party: not listed, 404 (never revealed). The auditor sees everything.
    assert (await _get(api, CONSUMER, f"/cases/{only_citizen}")).status_code == 404
    assert only_citizen not in {
        c["id"] for c in (await _get(api, CONSUMER, "/cases", limit=100)).json()["items"]
    }
    assert only_citizen in {c["id"] for c in (await _get(api, token, "/cases")).json()["items"]}
    assert only_citizen in {c["id"] for c in (await _get(api, AUDITOR, "/cases", limit=100)).json()["items"]}

    # An empty department or person never matches a citizen's row (department ""): a caller with
    # neither sees nothing; a department caller matches only its own code.
    nobody = Caller(department="", department_name_zh="", department_name_en="", role="consumer", label="")
    rsj = Caller(department="rsj", department_name_zh="", department_name_en="", role="consumer", label="")
    with Session(api.engine) as session:
        row = session.get(Case, only_citizen)
        assert row is not None
        assert not can_see_case(session, nobody, row)
        assert not can_see_case(session, rsj, row)
        assert can_see_case(session, citizen_caller(person), row)
        for caller, expected in ((nobody, False), (rsj, False), (citizen_caller(person), True)):
            found = session.exec(
                select(Case.id).where(Case.id == only_citizen, visible_condition(caller))
            ).all()
            assert (found == [only_citizen]) is expected, caller


async def test_principal_head_sees_its_departments_cases(api):
    case = await api.apply(CONSUMER, resource_id="gaj-household-members")  # gaj is the provider
    response = await _get(api, GAJ_HEAD, f"/cases/{case['id']}")
    assert response.status_code == 200, response.text
    # … and not another department's.
    other = await api.apply(CONSUMER, resource_id="scjgj-administrative-penalty")
    assert (await _get(api, GAJ_HEAD, f"/cases/{other['id']}")).status_code == 404


# -- notifications -------------------------------------------------------------------------------
async def test_citizen_inbox_holds_only_its_own_notices(api):
    person, token, _ = new_citizen(api)
    other, other_token, _ = new_citizen(api)
    case_id = add_case(
        api,
        CaseParty(role="citizen", department="", person=person),
        CaseParty(role="consumer", department="rsj", person=""),
    )

    def notice(key: str, recipient: Party) -> Notice:
        return Notice(
            case_id=case_id,
            key=f"{case_id}:{key}",
            recipient=recipient,
            kind="task_assigned",
            params={"case_id": case_id, "step_zh": "数据核查", "step_en": "Data check", "article": "20"},
        )

    # Through the recorder, as a case's step delivers them: the person's reference is kept.
    written = RecordActivities(api.engine).send_notices(
        [
            notice("dept", Party(department="rsj", role="consumer")),
            notice("mine", Party(department="", role="citizen", person=person)),
            notice("theirs", Party(department="", role="citizen", person=other)),
        ]
    )
    assert written == 3
    with Session(api.engine) as session:
        rows = {
            n.key.rsplit(":", 1)[1]: n
            for n in session.exec(select(Notification).where(Notification.case_id == case_id)).all()
        }
    assert (rows["mine"].recipient_department, rows["mine"].recipient_person) == ("", person)
    assert rows["dept"].recipient_person == ""

    inbox = (await _get(api, token, "/notifications")).json()
    assert [n["id"] for n in inbox["items"]] == [rows["mine"].id] and inbox["total"] == 1
    assert inbox["items"][0]["recipient_person"] == person
    assert [n["id"] for n in (await _get(api, other_token, "/notifications")).json()["items"]] == [
        rows["theirs"].id
    ]
    # The department sees its own notice of the case, not the citizens'.
    dept = (await _get(api, CONSUMER, "/notifications", case_id=case_id)).json()
    assert [n["id"] for n in dept["items"]] == [rows["dept"].id]

    # Marking read follows the same rule: someone else's notice is 404.
    own = await api.http.post(f"/notifications/{rows['mine'].id}/read", headers=auth(token))
    assert own.status_code == 200 and own.json()["read_at"]
    for key in ("dept", "theirs"):
        response = await api.http.post(f"/notifications/{rows[key].id}/read", headers=auth(token))
        assert response.status_code == 404, key
    assert (
        await api.http.post(f"/notifications/{rows['mine'].id}/read", headers=auth(CONSUMER))
    ).status_code == 404


# -- idempotency and acting ------------------------------------------------------------------------
async def test_each_citizen_has_its_own_idempotency_scope(api):
    first, second = citizen_caller(new_citizen(api)[0]), citizen_caller(new_citizen(api)[0])
    assert first.principal == f"~{first.person}" and first.principal != second.principal
    key = f"k-{uuid.uuid4().hex[:8]}"
    one = await idempotency.bind(api.engine, first, key, "a" * 64, case_id="CT-X")
    # The same key from another citizen with another request is that citizen's own key …
    two = await idempotency.bind(api.engine, second, key, "b" * 64, case_id="CT-X")
    assert one.claimed and two.claimed
    # … while the same citizen reusing it for another request is refused.
    with pytest.raises(ApiError) as refused:
        await idempotency.bind(api.engine, first, key, "b" * 64, case_id="CT-X")
    assert refused.value.status == 422
    # A create's case id and an Update's id are per caller too.
    ids = [
        (await idempotency.bind(api.engine, c, f"{key}-c", "c" * 64, case_type="sharing_application")).case_id
        for c in (first, second)
    ]
    assert ids[0] != ids[1]
    body = WithdrawalCreate(reason="不再需要")
    assert _update_id("withdrawal", first, key, body) != _update_id("withdrawal", second, key, body)


async def test_principal_and_actor_of_each_kind_of_caller(api):
    department = Caller("gaj", "市公安局", "", "provider", "demo: 市公安局 provider")
    head = Caller(
        "gaj",
        "市公安局",
        "",
        "principal_head",
        "demo",
        person="P-DEMO-GAJ-HEAD",
        party_kind="department_person",
    )
    citizen = citizen_caller(CITIZEN_ID)
    # A department's scope is its code, as before (its keys and case ids do not change).
    assert [c.principal for c in (department, head, citizen)] == [
        "gaj",
        "gaj/P-DEMO-GAJ-HEAD",
        "~P-DEMO-CITIZEN",
    ]
    assert actor_of(department) == Actor("gaj", "provider", "demo: 市公安局 provider")
    assert actor_of(head) == Actor("gaj", "principal_head", "P-DEMO-GAJ-HEAD")
    assert actor_of(citizen) == Actor("", "citizen", CITIZEN_ID)


# -- how a case shows persons ------------------------------------------------------------------------
def test_case_view_names_persons_and_never_their_number(api):
    with Session(api.engine) as session:
        names = person_names(session, {CITIZEN_ID, "P-DEMO-GAJ-HEAD", "demo: 市公安局 provider", ""})
    assert names == {CITIZEN_ID: "李明", "P-DEMO-GAJ-HEAD": "市公安局主要负责人"}
    head = Party(department="gaj", role="principal_head", person="P-DEMO-GAJ-HEAD")
    task = Task(
        task_id="CT-1/1",
        seq=1,
        step="extension_approval",
        name_zh="延期审批",
        name_en="Extension approval",
        assignee=head,
        actions=["approve"],
        opened_at=NOW,
        article="22",
        limit_basis="none",
        status="done",
        closed_at=NOW,
        decision=Decision(
            action="approve", actor=Actor("gaj", "principal_head", "P-DEMO-GAJ-HEAD"), decided_at=NOW
        ),
    )
    header = CaseHeader(
        case_id="CT-1",
        case_type="data_objection",
        workflow_id="Test:CT-1",
        workflow_type="Test",
        profile_id="luoyang",
        profile_version="1.0",
        profile_digest="",
        profile_name_zh="洛阳市政务数据管理办法",
        submitted_at=NOW,
        submitted_by=Actor("", "citizen", CITIZEN_ID),
    )
    view = CaseView(header, [Party("", "citizen", CITIZEN_ID), head], [task], 3, 2, person_names=names)
    out = case_out(view, {}, NOW)
    assert out.submitted_by.person_name == "李明"
    assert [(p.person, p.person_name) for p in out.party_list] == [
        (CITIZEN_ID, "李明"),
        ("P-DEMO-GAJ-HEAD", "市公安局主要负责人"),
    ]
    step = out.timeline[0]
    assert (step.assignee.person, step.assignee.person_name) == ("P-DEMO-GAJ-HEAD", "市公安局主要负责人")
    assert step.decision is not None and step.decision.actor.person_name == "市公安局主要负责人"
    assert CITIZEN_NUMBER not in out.model_dump_json()


# -- the seed ----------------------------------------------------------------------------------------
def test_seed_adds_the_parties_to_a_database_seeded_before_and_keeps_what_is_there(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'seed.db'}")
    try:
        init_schema(engine)
        seed_demo(engine)
        # As a database seeded before the demo had parties: no identity, no person's token (and no
        # user: users came later still, each is an identity).
        with Session(engine) as session:
            for credential in session.exec(select(Credential).where(col(Credential.person_id).is_not(None))):
                session.delete(credential)
            for user in session.exec(select(UserAccount)):
                session.delete(user)
            session.flush()
            for identity in session.exec(select(PartyIdentity)):
                session.delete(identity)
            session.commit()
            departments_tokens = len(session.exec(select(Credential)).all())

        tokens = {t.token: t for t in seed_demo(engine)}
        assert tokens[CITIZEN].person == CITIZEN_ID and tokens[CITIZEN].department == ""
        assert tokens[CITIZEN].department_name_zh == "公民 李明"
        assert tokens[GAJ_HEAD].role == "principal_head" and tokens[GAJ_HEAD].person == "P-DEMO-GAJ-HEAD"
        assert tokens[GAJ_HEAD].department == "gaj"
        assert {"demo-scjgj-head", "demo-mzj-head", COMPANY} <= set(tokens)
        assert "demo-rsj-head" not in tokens  # rsj provides nothing in the demo
        heads = sum(t.role == "principal_head" for t in tokens.values())
        with Session(engine) as session:
            assert session.get(PartyIdentity, CITIZEN_ID).id_number == CITIZEN_NUMBER
            assert session.get(PartyIdentity, "P-DEMO-GAJ-HEAD").department == "gaj"
            assert len(session.exec(select(Credential)).all()) == departments_tokens + 2 + heads
            # An operator revokes the citizen's demo token and renames the company.
            citizen = session.exec(
                select(Credential).where(Credential.token_sha256 == token_digest(CITIZEN))
            ).one()
            citizen.revoked_at = NOW
            session.add(citizen)
            company = session.get(PartyIdentity, "P-DEMO-COMPANY")
            company.name = "洛阳数智科技股份有限公司"
            session.add(company)
            session.commit()

        again = {t.token for t in seed_demo(engine)}  # nothing added twice, nothing overwritten
        assert again == set(tokens) - {CITIZEN}
        with Session(engine) as session:
            assert len(session.exec(select(Credential)).all()) == departments_tokens + 2 + heads
            assert session.get(PartyIdentity, "P-DEMO-COMPANY").name == "洛阳数智科技股份有限公司"
    finally:
        engine.dispose()
