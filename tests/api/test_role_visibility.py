"""Who sees what (issue 23; README, Security, "Who sees what"): visibility is per role, not per
department.

A department's credential acting in role R sees a case iff the case has a party row of its department
in role R, or in a case-only role (respondent, issuer, complainant, investigator) that the department
answers with any of its acting credentials — as the engine decides who may act
(``workflows.engine.decisions.is_assignee``). A principal head sees every case of its department; a
person (a citizen, a web user) also sees the cases that name it; the oversight roles see every case.
Notices and the inbox follow the same rule. Over HTTP against the running system (SQLite and
PostgreSQL), one page check in-process, and the rule's table checked row by row on
``api.deps.can_see_case`` / ``visible_condition`` (``test_the_rule_table``).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from api_helpers import AUDITOR, CONSUMER, GAJ, GAJ_CONSUMER, LEADING_GROUP, PLATFORM, auth
from sqlmodel import Session, select

from api.deps import ALL_ROLES, Caller, can_see_case, visible_condition
from govshare.core import users
from govshare.core.models import Case, CaseParty, Notification

CITIZEN = "demo-citizen"
GAJ_HEAD = "demo-gaj-head"
SCJGJ_HEAD = "demo-scjgj-head"
PASSWORD = "govshare-demo"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# -- helpers ---------------------------------------------------------------------------------------
async def get(api, token: str, path: str, expect: int = 200, **params: Any) -> dict[str, Any]:
    response = await api.http.get(path, headers=auth(token), params=params)
    assert response.status_code == expect, (path, response.text)
    return response.json()


async def post(api, token: str, path: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    response = await api.http.post(path, json=body, headers=auth(token))
    assert response.status_code == expect, (path, response.text)
    return response.json()


async def own_resource(api, code: str, provider_token: str) -> str:
    """A conditional entry of department ``code`` (its provider authorizes, Hubei 12)."""
    entry = f"{code}-vis"
    row = {
        "id": entry,
        "name_zh": "社会组织登记信息",
        "name_en": "Social organisation registration",
        "provider_department": code,
        "kind": "departmental",
        "fields": ["name", "credit_code"],
        "update_period": "monthly",
        "share_type": "conditional",
        "sharing_modes": ["online_query"],
    }
    await post(api, provider_token, "/resources/import", [row])  # type: ignore[arg-type]
    return entry


async def sees(api, token: str, case_id: str) -> bool:
    """Whether ``token`` reads the case — and the answer is the same on every read path."""
    detail = await api.http.get(f"/cases/{case_id}", headers=auth(token))
    events = await api.http.get(f"/cases/{case_id}/events", headers=auth(token))
    listed = await get(api, token, "/cases", limit=100)
    assert detail.status_code in (200, 404) and events.status_code == detail.status_code
    if detail.status_code == 404:
        assert detail.json()["code"] == "case_not_found"
    in_list = case_id in {c["id"] for c in listed["items"]}
    assert in_list == (detail.status_code == 200), (token, case_id)
    return detail.status_code == 200


async def notices(api, token: str, case_id: str) -> list[dict[str, Any]]:
    return (await get(api, token, "/notifications", case_id=case_id, limit=100))["items"]


async def mark_read(api, token: str, notice_id: int) -> int:
    return (await api.http.post(f"/notifications/{notice_id}/read", headers=auth(token))).status_code


def notice_rows(api, case_id: str) -> list[Notification]:
    with Session(api.engine) as session:
        return list(session.exec(select(Notification).where(Notification.case_id == case_id)).all())


# -- a department with a consumer and a provider credential ------------------------------------------
async def test_a_consumer_credential_does_not_see_its_departments_provider_cases(api):
    code, tokens = api.new_department("consumer", "provider")
    consumer, provider = tokens["consumer"], tokens["provider"]
    entry = await own_resource(api, code, provider)
    # rsj applies for the department's entry: the department is only its provider.
    case_id = (await api.apply(CONSUMER, resource_id=entry))["id"]
    opened = await api.decide(PLATFORM, case_id, "platform_check", "accept")
    assert opened["open_task"]["step"] == "provider_authorization"

    # The provider credential sees it everywhere: detail, events, /cases, /applications, its inbox,
    # the provider's notice, which it may mark read.
    assert await sees(api, provider, case_id)
    await get(api, provider, f"/applications/{case_id}")
    assert case_id in {c["id"] for c in (await get(api, provider, "/applications", limit=100))["items"]}
    assert case_id in {t["case_id"] for t in await api.inbox(provider)}
    mine = await notices(api, provider, case_id)
    assert mine and {(n["recipient_department"], n["recipient_role"]) for n in mine} == {(code, "provider")}

    # The consumer credential of the same department sees none of it: 404, never listed, no task,
    # no notice, and the provider's notice cannot be marked read.
    assert not await sees(api, consumer, case_id)
    await get(api, consumer, f"/applications/{case_id}", expect=404)
    assert (await get(api, consumer, "/applications", limit=100))["total"] == 0
    assert (await get(api, consumer, "/cases", limit=100))["total"] == 0
    assert await api.inbox(consumer) == []
    assert await notices(api, consumer, case_id) == []
    assert (await get(api, consumer, "/notifications"))["total"] == 0
    provider_notice = next(n for n in notice_rows(api, case_id) if n.recipient_role == "provider")
    assert await mark_read(api, consumer, provider_notice.id) == 404
    assert provider_notice.read_at is None
    assert await mark_read(api, provider, provider_notice.id) == 200
    # Nor may it decide (404: it is not shown the case at all).
    await api.decide(consumer, case_id, "provider_authorization", "grant", expect=404)

    # And the other way round: what the department applies for as consumer, its provider does not see.
    applied = (await api.apply(consumer, resource_id="gaj-household-members"))["id"]
    assert await sees(api, consumer, applied)
    assert not await sees(api, provider, applied)
    assert (await get(api, provider, "/applications", limit=100))["total"] == 1  # its own provider case
    # The consumer's own notices of its application are its own (at least the acknowledgement, if any).
    assert all(n["recipient_role"] == "consumer" for n in await notices(api, consumer, applied))
    assert await notices(api, provider, applied) == []

    # Oversight roles see both; a citizen neither.
    for token in (PLATFORM, LEADING_GROUP, AUDITOR):
        assert await sees(api, token, case_id) and await sees(api, token, applied)
    for case in (case_id, applied):
        await get(api, CITIZEN, f"/cases/{case}", expect=404)


# -- a role played in one case only ------------------------------------------------------------------
async def test_a_respondent_sees_and_answers_an_order_with_any_acting_role(api):
    code, tokens = api.new_department("consumer", "provider")
    _other, strangers = api.new_department("consumer", "provider")
    body = {
        "respondent_department": code,
        "grounds": ["31(2)"],
        "period_working_days": 10,
        "description": "未按目录规定时限向共享平台提供数据,请按期整改",
        "profile": "hubei",
    }
    order_id = (await post(api, LEADING_GROUP, "/rectification-orders", body, 201))["id"]

    # The respondent is the department, whatever credential it uses: both see the order, list it,
    # have its task in their inbox and read the respondent's notices.
    for token in (tokens["consumer"], tokens["provider"]):
        assert await sees(api, token, order_id)
        inbox = [t for t in await api.inbox(token) if t["case_id"] == order_id]
        assert [t["step"] for t in inbox] == ["rectification"]
        told = await notices(api, token, order_id)
        assert told and {(n["recipient_department"], n["recipient_role"]) for n in told} == {
            (code, "respondent")
        }
    # Another department's credentials see nothing of it.
    for token in strangers.values():
        assert not await sees(api, token, order_id)
        assert await notices(api, token, order_id) == []

    # Either credential may mark the department's notice read, and report.
    notice = next(n for n in notice_rows(api, order_id) if n.recipient_department == code)
    assert await mark_read(api, strangers["consumer"], notice.id) == 404
    assert await mark_read(api, tokens["consumer"], notice.id) == 200
    reported = await post(
        api,
        tokens["consumer"],
        f"/cases/{order_id}/decisions",
        {"step": "rectification", "action": "report", "reason": "已整改"},
    )
    assert reported["open_tasks"][0]["step"] == "rectification_review"
    # The issuer (the leading group office, also an oversight role) sees it; the auditor too.
    assert await sees(api, LEADING_GROUP, order_id) and await sees(api, AUDITOR, order_id)
    await get(api, CITIZEN, f"/cases/{order_id}", expect=404)


# -- a principal head (Luoyang 19: it approves its department's extensions) ---------------------------
async def test_a_principal_head_sees_its_departments_cases_and_only_its_own_notices(api):
    report = {
        "resource_id": "gaj-household-members",
        "records": ["户号 4103020001"],
        "fields": ["members"],
        "problem": "家庭成员信息缺少新生儿",
        "evidence": "出生医学证明",
        "profile": "luoyang",
    }
    case = await post(api, CONSUMER, "/data-objections", report, 201)
    case_id = case["id"]
    (task,) = case["open_tasks"]
    asked = await post(
        api,
        GAJ,
        f"/cases/{case_id}/tasks/{task['seq']}/clock",
        {"kind": "extension", "working_days": 5, "reason": "需调取历史档案"},
    )
    approval = next(t for t in asked["open_tasks"] if t["assignee"]["role"] == "principal_head")

    # gaj is the provider here: its head sees the case (the approval task is the head's, not a party
    # row's); gaj's consumer credential does not; another department's head does not.
    assert await sees(api, GAJ_HEAD, case_id)
    assert approval["task_id"] in {t["task_id"] for t in await api.inbox(GAJ_HEAD)}
    assert not await sees(api, GAJ_CONSUMER, case_id)
    assert not await sees(api, SCJGJ_HEAD, case_id)
    assert approval["task_id"] not in {t["task_id"] for t in await api.inbox(GAJ)}  # not the provider's

    # Notices: the head reads the approval's notice and not the provider's; the provider the reverse.
    head_notices = await notices(api, GAJ_HEAD, case_id)
    assert head_notices and {n["recipient_role"] for n in head_notices} == {"principal_head"}
    provider_notices = await notices(api, GAJ, case_id)
    assert provider_notices and {n["recipient_role"] for n in provider_notices} == {"provider"}
    assert await notices(api, GAJ_CONSUMER, case_id) == []
    assert await mark_read(api, GAJ_HEAD, provider_notices[0]["id"]) == 404
    assert await mark_read(api, GAJ, head_notices[0]["id"]) == 404

    approved = await post(
        api, GAJ_HEAD, f"/cases/{case_id}/decisions", {"task_id": approval["task_id"], "action": "approve"}
    )
    assert all(t["assignee"]["role"] != "principal_head" for t in approved["open_tasks"])
    # A head sees every case of its department, not another department's.
    other = (await api.apply(CONSUMER, resource_id="scjgj-administrative-penalty"))["id"]
    assert not await sees(api, GAJ_HEAD, other) and await sees(api, SCJGJ_HEAD, other)


# -- the pages: a web user of the department --------------------------------------------------------
async def sign_in(api, username: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(transport=api.http._transport, base_url="http://govshare.test")
    form = await http.get("/ui/login")
    token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    response = await http.post(
        "/ui/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/ui/"}
    )
    assert response.status_code == 303, response.text
    return http


async def test_a_case_page_follows_the_same_rule(api):
    code, tokens = api.new_department("consumer", "provider")
    entry = await own_resource(api, code, tokens["provider"])
    case_id = (await api.apply(CONSUMER, resource_id=entry))["id"]
    names = {}
    with Session(api.engine) as session:
        for role in ("consumer", "provider"):
            names[role] = f"u{uuid.uuid4().hex[:10]}"
            users.create_user(
                session,
                username=names[role],
                display_name=f"测试{role}",
                department=code,
                roles=[role],
                password=PASSWORD,
            )
    clerk, reviewer = await sign_in(api, names["consumer"]), await sign_in(api, names["provider"])
    try:
        hidden = await clerk.get(f"/ui/cases/{case_id}")
        assert hidden.status_code == 404 and "未找到" in hidden.text
        shown = await reviewer.get(f"/ui/cases/{case_id}")
        assert shown.status_code == 200 and case_id in shown.text
        listed = await clerk.get("/ui/cases")
        assert listed.status_code == 200 and case_id not in listed.text
    finally:
        await clerk.aclose()
        await reviewer.aclose()


# -- the table, row by row ---------------------------------------------------------------------------
def _case(session: Session, *parties: tuple[str, str, str]) -> Case:
    """A case row with only these party rows (role, department, person): enough for visibility."""
    now = datetime.now(UTC)
    case = Case(
        id=f"CV-{uuid.uuid4().hex[:8].upper()}",
        workflow_id=f"Test:{uuid.uuid4().hex}",
        case_type="rectification_order",
        profile_id="hubei",
        profile_version="1",
        status="in_progress",
        submitted_at=now,
        updated_at=now,
        engine=2,
    )
    session.add(case)
    session.flush()
    for role, department, person in parties:
        session.add(CaseParty(case_id=case.id, role=role, department=department, person=person))
    session.commit()
    return case


def _caller(department: str, role: str, person: str = "") -> Caller:
    return Caller(department, "", "", role, "test", person=person)


def test_the_rule_table(api):
    """Each row of README's "Who sees what", on the one rule (``can_see_case`` and the list filter
    ``visible_condition`` agree on every caller)."""
    d = f"v{uuid.uuid4().hex[:7]}"
    person, other_person = f"P-{uuid.uuid4().hex[:10]}", f"P-{uuid.uuid4().hex[:10]}"
    with Session(api.engine) as session:
        cases = {
            "consumer": _case(session, ("consumer", d, ""), ("provider", "zz", ""), ("platform", "bdb", "")),
            "provider": _case(session, ("consumer", "zz", ""), ("provider", d, ""), ("platform", "bdb", "")),
            "respondent": _case(
                session, ("issuer", "lgo", ""), ("respondent", d, ""), ("platform", "bdb", "")
            ),
            "coordinator": _case(session, ("coordinator", d, ""), ("platform", "bdb", "")),
            "government_office": _case(session, ("government_office", d, "")),
            "citizen": _case(session, ("citizen", "", person), ("provider", "zz", "")),
            "nobody": _case(session, ("provider", "zz", ""), ("platform", "bdb", "")),
        }
        acting = ("consumer", "provider", "coordinator", "government_office")
        expected: dict[Caller, set[str]] = {
            # A department credential: the cases in its role, and the respondent's (a case-only role).
            **{_caller(d, role): {role, "respondent"} for role in acting},
            # Oversight roles: every case.
            **{_caller(d, role): set(cases) for role in ("platform", "leading_group", "auditor")},
            # A principal head: every case of its department, whatever role the department plays.
            _caller(d, "principal_head", other_person): {
                "consumer",
                "provider",
                "respondent",
                "coordinator",
                "government_office",
            },
            # A web user of the department acting as consumer, named in the citizen's case as a person.
            _caller(d, "consumer", person): {"consumer", "respondent", "citizen"},
            # A citizen: exactly its own; another citizen: nothing.
            _caller("", "citizen", person): {"citizen"},
            _caller("", "citizen", other_person): set(),
            # Another department: nothing of these.
            **{_caller("zy", role): set() for role in acting},
        }
        assert {c.role for c in expected} == set(ALL_ROLES)
        for caller, wanted in expected.items():
            seen = {name for name, case in cases.items() if can_see_case(session, caller, case)}
            assert seen == wanted, (caller, seen)
            condition = visible_condition(caller)
            ids = {case.id for case in cases.values()}
            listed = set(
                session.exec(
                    select(Case.id).where(Case.id.in_(ids), *([condition] if condition is not None else []))  # type: ignore[attr-defined]
                ).all()
            )
            assert listed == {cases[name].id for name in wanted}, caller
