"""The forms that open the other case types by hand (``api/pages/create.py``), in-process on SQLite
and on PostgreSQL: a data objection, an open-data application and an open-catalog correction, a
dispute (over a refused application, and over a not-shared entry), a complaint, a rectification
order.

For each: the form is drawn (its required fields marked), a good form opens the case through the
API's own create and lands on its page (303), a form missing a required field is drawn again with the
words and 422 and opens nothing, a role the API refuses is answered 403 with the API's words, a form
without its CSRF token is refused 403. Driven through ``httpx.ASGITransport`` against the suite's
running system (a real worker and Temporal dev server).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from api_helpers import CONSUMER, LEADING_GROUP, PLATFORM, SCJGJ, auth
from conftest import System
from sqlalchemy import func
from sqlmodel import Session, select

from calendars import SHANGHAI
from govshare.core import catalog
from govshare.core.models import Case

PASSWORD = "govshare-demo"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')
CITIZEN = "demo-citizen"
NOT_SHARED = "gaj-criminal-investigation"
ENTRY = "gaj-household-members"


def client(api: System) -> httpx.AsyncClient:
    """A browser of its own (its own cookie jar) on the same app as ``api.http``."""
    return httpx.AsyncClient(transport=api.http._transport, base_url="http://govshare.test")


async def sign_in(api: System, username: str, password: str = PASSWORD) -> tuple[httpx.AsyncClient, str]:
    """A client signed in as ``username`` through the sign-in form; returns it and its CSRF token."""
    http = client(api)
    form = await http.get("/ui/login")
    token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    response = await http.post(
        "/ui/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/ui/"},
    )
    assert response.status_code == 303, response.text
    inbox = await http.get("/ui/")
    assert inbox.status_code == 200, inbox.text
    return http, CSRF.search(inbox.text).group(1)  # type: ignore[union-attr]


def count(api: System, case_type: str) -> int:
    with Session(api.engine) as session:
        return session.exec(select(func.count()).select_from(Case).where(Case.case_type == case_type)).one()


async def drawn(http: httpx.AsyncClient, path: str, form_id: str) -> str:
    """GET the form: 200, the form with its required fields marked; returns its form key."""
    page = await http.get(path)
    assert page.status_code == 200, page.text
    assert f'id="{form_id}"' in page.text and 'id="required-note"' in page.text
    assert "required" in page.text and 'name="csrf_token"' in page.text
    return FORM_KEY.search(page.text).group(1)  # type: ignore[union-attr]


def opened(response: httpx.Response, kind: str) -> str:
    """The case a good form opened: 303 to its page."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    match = re.fullmatch(rf"/ui/cases/([^?]+)\?done={kind}", location)
    assert match, location
    return match.group(1)


async def case_of(api: System, token: str, case_id: str) -> dict[str, Any]:
    response = await api.http.get(f"/cases/{case_id}", headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()


def parties(case: dict[str, Any]) -> dict[str, str]:
    return {p["role"]: p["code"] or p.get("person", "") for p in case["party_list"]}


async def refused_without_token(http: httpx.AsyncClient, path: str, data: dict[str, Any]) -> None:
    missing = await http.post(path, data=data)
    assert missing.status_code == 403 and "安全校验" in missing.text, (path, missing.status_code)
    wrong = await http.post(path, data={**data, "csrf_token": "not-the-token"})
    assert wrong.status_code == 403, path


async def until_page(http: httpx.AsyncClient, path: str, wanted: str, tries: int = 200) -> str:
    """The page once it shows ``wanted`` (the projection the page reads is written just after the
    API's answer)."""
    text = ""
    for _ in range(tries):
        response = await http.get(path)
        text = response.text
        if response.status_code == 200 and wanted in text:
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path}: {wanted!r} not shown; last page {text[:2000]}")


def open_entry(api: System, open_type: str = "conditional_open") -> str:
    """An entry of 公安局 in the open catalog for this test (the demo catalog has none conditionally
    open)."""
    resource_id = f"gaj-odp-{uuid.uuid4().hex[:6]}"
    with Session(api.engine) as session:
        catalog.publish(
            session,
            [
                {
                    "id": resource_id,
                    "name_zh": "二手房交易统计信息",
                    "name_en": "Second-hand housing transactions",
                    "provider_department": "gaj",
                    "share_type": "unconditional",
                    "fields": ["district", "deal_month", "average_price"],
                    "sharing_modes": ["online_query"],
                    "open_type": open_type,
                    "legal_basis": "《中华人民共和国个人信息保护法》第十三条" if open_type != "open" else "",
                }
            ],
            department="gaj",
            now=datetime.now(UTC),
        )
        session.commit()
    return resource_id


# --------------------------------------------------------------------------------------------------
# 数据疑义
# --------------------------------------------------------------------------------------------------


async def test_a_data_objection_from_a_catalog_entry(api: System) -> None:
    http, csrf = await sign_in(api, "rsj-clerk")
    entry_page = await http.get(f"/ui/catalog/{ENTRY}")
    assert f"/ui/catalog/{ENTRY}/objection" in entry_page.text
    path = f"/ui/catalog/{ENTRY}/objection"
    key = await drawn(http, path, "objection")
    page = (await http.get(path)).text
    assert 'name="fields" value="members"' in page and 'name="problem" required' in page
    assert 'value="hubei" selected' in page  # the deployment's default, where a consumer may report
    form = {
        "csrf_token": csrf,
        "form_key": key,
        "records": "户号 4103020001\n\n户号 4103020002\n",
        "fields": ["members"],
        "problem": "家庭成员信息缺少新生儿",
        "evidence": "出生医学证明",
        "found_on": (datetime.now(SHANGHAI).date() - timedelta(days=1)).isoformat(),
        "profile": "hubei",
    }
    before = count(api, "data_objection")
    # A required field missing: the form again, the model's words, 422; nothing opened.
    missing = await http.post(path, data={**form, "problem": ""})
    assert missing.status_code == 422 and 'id="objection"' in missing.text
    assert "填写内容不符合要求" in missing.text and "problem" in missing.text
    assert "家庭成员信息缺少新生儿" not in missing.text or 'id="problem"' in missing.text
    future = (datetime.now(SHANGHAI).date() + timedelta(days=3)).isoformat()
    later = await http.post(path, data={**form, "found_on": future})
    assert later.status_code == 422 and "不能晚于今天" in later.text
    # A field the entry does not have: the API's own words.
    unknown = await http.post(path, data={**form, "fields": ["salary"]})
    assert unknown.status_code == 422 and "没有数据项" in unknown.text and "salary" in unknown.text
    assert count(api, "data_objection") == before
    await refused_without_token(http, path, {k: v for k, v in form.items() if k != "csrf_token"})
    assert count(api, "data_objection") == before

    case_id = opened(await http.post(path, data=form), "objection")
    case = await case_of(api, CONSUMER, case_id)
    assert case["case_type"] == "data_objection" and case["profile"]["id"] == "hubei"
    assert parties(case)["consumer"] == "rsj" and parties(case)["provider"] == "gaj"
    assert case["open_tasks"][0]["assignee"]["code"] == "gaj"
    assert case["attributes"]["report"]["records"] == ["户号 4103020001", "户号 4103020002"]
    assert case["attributes"]["report"]["fields"] == ["members"]
    # A double click: the same form again is the same case.
    assert opened(await http.post(path, data=form), "objection") == case_id
    assert count(api, "data_objection") == before + 1
    assert (await http.get(f"/ui/cases/{case_id}")).status_code == 200
    await http.aclose()


async def test_a_citizen_reports_under_luoyang_and_an_auditor_is_refused(api: System) -> None:
    http, csrf = await sign_in(api, "liming")
    path = f"/ui/catalog/{ENTRY}/objection"
    key = await drawn(http, path, "objection")
    assert 'value="luoyang" selected' in (await http.get(path)).text  # where a citizen may report
    form = {"csrf_token": csrf, "form_key": key, "problem": "户籍地址有误", "profile": "hubei"}
    # Under Hubei a citizen does not report: the API's 403, in its words, on the form.
    refused = await http.post(path, data=form)
    assert (
        refused.status_code == 403
        and "只能由以下角色提出" in refused.text
        and 'id="objection"' in refused.text
    )
    case_id = opened(await http.post(path, data={**form, "profile": "luoyang"}), "objection")
    case = await case_of(api, CITIZEN, case_id)
    assert case["case_type"] == "data_objection" and case["submitted_by"]["person_name"] == "李明"
    await http.aclose()
    auditor, csrf = await sign_in(api, "sjj-clerk")
    assert (await auditor.get(path)).status_code == 403
    posted = await auditor.post(path, data={"csrf_token": csrf, "problem": "x", "profile": "hubei"})
    assert posted.status_code == 403
    await auditor.aclose()


# --------------------------------------------------------------------------------------------------
# 有条件开放数据申请, 开放目录更正
# --------------------------------------------------------------------------------------------------


async def test_a_citizen_applies_for_open_data_from_the_open_catalog(api: System) -> None:
    rid = open_entry(api)
    http, csrf = await sign_in(api, "liming")
    inbox = await http.get("/ui/")
    assert 'href="/ui/open-data/new"' in inbox.text and "申请开放数据" in inbox.text
    listing = await http.get("/ui/open-data/new", params={"q": "二手房"})
    assert listing.status_code == 200 and rid in listing.text
    assert f"/ui/open-data/new?resource_id={rid}" in listing.text
    assert f"/ui/open-data/correction/new?resource_id={rid}" in listing.text
    path = f"/ui/open-data/new?resource_id={rid}"
    key = await drawn(http, path, "open-data")
    page = (await http.get(path)).text
    assert 'name="fields" value="district"' in page and 'value="luoyang" selected' in page
    form = {
        "csrf_token": csrf,
        "form_key": key,
        "resource_id": rid,
        "fields": ["district", "average_price"],
        "purpose": "住房市场研究,仅发表汇总结果",
        "delivery": "download",
        "profile": "luoyang",
    }
    before = count(api, "open_data_application")
    missing = await http.post("/ui/open-data/new", data={**form, "purpose": "  "})
    assert missing.status_code == 422 and "purpose" in missing.text and 'id="open-data"' in missing.text
    assert count(api, "open_data_application") == before
    await refused_without_token(
        http, "/ui/open-data/new", {k: v for k, v in form.items() if k != "csrf_token"}
    )
    case_id = opened(await http.post("/ui/open-data/new", data=form), "open-data")
    case = await case_of(api, CITIZEN, case_id)
    assert case["case_type"] == "open_data_application" and case["submitted_by"]["person_name"] == "李明"
    assert case["open_tasks"][0]["assignee"]["code"] == "gaj"
    assert case["attributes"]["request"]["fields"] == ["district", "average_price"]
    # An open entry is taken directly: the API says so on the form.
    open_rid = open_entry(api, "open")
    direct = await http.post("/ui/open-data/new", data={**form, "resource_id": open_rid, "fields": []})
    assert direct.status_code == 422 and "无需申请" in direct.text
    await http.aclose()
    # A department does not apply for open data: no link, the form 403, the API's 403.
    clerk, csrf = await sign_in(api, "rsj-clerk")
    assert 'href="/ui/open-data/new"' not in (await clerk.get("/ui/")).text
    assert (await clerk.get(path)).status_code == 403
    refused = await clerk.post("/ui/open-data/new", data={**form, "csrf_token": csrf})
    assert refused.status_code == 403 and "只能由以下角色提出" in refused.text
    assert count(api, "open_data_application") == before + 1
    await clerk.aclose()


async def test_a_citizen_asks_to_correct_the_open_catalog(api: System) -> None:
    rid = open_entry(api)
    http, csrf = await sign_in(api, "company")
    path = f"/ui/open-data/correction/new?resource_id={rid}"
    key = await drawn(http, path, "correction")
    assert "district、deal_month、average_price" in (await http.get(path)).text  # the fields now
    form = {
        "csrf_token": csrf,
        "form_key": key,
        "resource_id": rid,
        "open_type": "",
        "fields": "",
        "description": "",
        "reason": "开放目录中的资源摘要缺失,无法判断所含内容",
        "profile": "luoyang",
    }
    before = count(api, "open_catalog_correction")
    nothing = await http.post("/ui/open-data/correction/new", data=form)
    assert nothing.status_code == 422 and "至少指明一项更正内容" in nothing.text
    no_reason = await http.post(
        "/ui/open-data/correction/new", data={**form, "reason": "", "description": "按区县、月份统计"}
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    assert "按区县、月份统计" in no_reason.text  # what was written stays on the form
    assert count(api, "open_catalog_correction") == before
    await refused_without_token(
        http, "/ui/open-data/correction/new", {"resource_id": rid, "reason": "x", "description": "y"}
    )
    good = {**form, "description": "按区县、月份统计的二手房成交均价", "fields": "district\ndeal_month\n"}
    case_id = opened(await http.post("/ui/open-data/correction/new", data=good), "correction")
    case = await case_of(api, "demo-company", case_id)
    assert case["case_type"] == "open_catalog_correction"
    assert case["attributes"]["request"]["correction"] == {
        "fields": ["district", "deal_month"],
        "description": "按区县、月份统计的二手房成交均价",
    }
    await http.aclose()
    clerk, csrf = await sign_in(api, "rsj-clerk")
    assert (await clerk.get(path)).status_code == 403
    refused = await clerk.post("/ui/open-data/correction/new", data={**good, "csrf_token": csrf})
    assert refused.status_code == 403
    await clerk.aclose()


# --------------------------------------------------------------------------------------------------
# 共享争议
# --------------------------------------------------------------------------------------------------


async def test_a_refused_application_is_disputed_from_its_page(api: System) -> None:
    case = await api.apply()
    app_id = case["id"]
    http, csrf = await sign_in(api, "rsj-clerk")
    assert 'id="dispute-link"' not in (await http.get(f"/ui/cases/{app_id}")).text  # still in progress
    await api.decide(PLATFORM, app_id, "platform_check", "accept")
    await api.decide(SCJGJ, app_id, "provider_authorization", "refuse", reason="超出履职需要")
    await api.decide(PLATFORM, app_id, "notify_consumer", "inform")  # Hubei 20: then it is refused
    page = await until_page(http, f"/ui/cases/{app_id}", 'class="status refused" id="case-status"')
    assert f'href="/ui/cases/{app_id}/dispute"' in page and "提出异议(争议)" in page
    path = f"/ui/cases/{app_id}/dispute"
    key = await drawn(http, path, "dispute")
    form = {
        "csrf_token": csrf,
        "form_key": key,
        "matter": "提供部门以超出履职需要为由拒绝,但社保登记确需核验",
        "purpose": "社会保险登记时核验用人单位信息",
        "profile": "hubei",
    }
    before = count(api, "dispute")
    missing = await http.post(path, data={**form, "matter": ""})
    assert missing.status_code == 422 and "matter" in missing.text and 'id="dispute"' in missing.text
    assert count(api, "dispute") == before
    await refused_without_token(http, path, {"matter": "x", "profile": "hubei"})
    dispute_id = opened(await http.post(path, data=form), "dispute")
    dispute = await case_of(api, CONSUMER, dispute_id)
    assert dispute["case_type"] == "dispute"
    assert dispute["attributes"]["application_id"] == app_id
    assert {"rsj", "scjgj"} <= {p["code"] for p in dispute["party_list"]}
    assert any(link["case_id"] == app_id for link in dispute["links"])
    await http.aclose()
    # The provider does not open a dispute: no form, and the API's 403 on a post.
    provider, csrf = await sign_in(api, "scjgj-clerk")  # acts as provider first
    assert 'id="dispute-link"' not in (await provider.get(f"/ui/cases/{app_id}")).text
    assert (await provider.get(path)).status_code == 403
    refused = await provider.post(path, data={**form, "csrf_token": csrf})
    assert refused.status_code == 403 and "只能由以下角色提出" in refused.text
    assert count(api, "dispute") == before + 1
    await provider.aclose()


async def test_a_not_shared_entry_needed_for_duties_is_disputed(api: System) -> None:
    http, csrf = await sign_in(api, "rsj-clerk")
    entry_page = await http.get(f"/ui/catalog/{NOT_SHARED}")
    assert f'href="/ui/catalog/{NOT_SHARED}/dispute"' in entry_page.text
    assert "/dispute" not in (await http.get(f"/ui/catalog/{ENTRY}")).text  # a shareable entry
    path = f"/ui/catalog/{NOT_SHARED}/dispute"
    key = await drawn(http, path, "dispute")
    assert 'name="duty" required' in (await http.get(path)).text
    form = {"csrf_token": csrf, "form_key": key, "matter": "履职确需", "duty": "", "profile": "hubei"}
    before = count(api, "dispute")
    no_duty = await http.post(path, data=form)
    assert no_duty.status_code == 422 and "履职依据" in no_duty.text
    assert count(api, "dispute") == before
    case_id = opened(await http.post(path, data={**form, "duty": "刑罚执行衔接"}), "dispute")
    dispute = await case_of(api, CONSUMER, case_id)
    assert dispute["case_type"] == "dispute" and dispute["attributes"]["duty"] == "刑罚执行衔接"
    assert parties(dispute)["provider"] == "gaj"
    # A shareable entry: the API's words, on the form.
    shareable = await http.post(
        f"/ui/catalog/{ENTRY}/dispute", data={**form, "form_key": "other", "duty": "履职"}
    )
    assert shareable.status_code == 422 and "请直接申请" in shareable.text
    await http.aclose()


# --------------------------------------------------------------------------------------------------
# 投诉, 整改通知
# --------------------------------------------------------------------------------------------------


async def test_a_complaint_from_my_cases(api: System) -> None:
    http, csrf = await sign_in(api, "rsj-clerk")
    mine = await http.get("/ui/mine")
    assert 'href="/ui/complaints/new"' in mine.text and 'href="/ui/orders/new"' not in mine.text
    path = "/ui/complaints/new"
    key = await drawn(http, path, "complaint")
    page = (await http.get(path)).text
    assert 'value="luzhou" selected' in page  # the only profile with complaints
    assert 'value="scjgj"' in page and 'value="rsj"' not in page  # not against oneself
    form = {
        "csrf_token": csrf,
        "form_key": key,
        "respondent_department": "scjgj",
        "addressed_to": "leading_group",
        "conduct": "无正当理由拖延办理本局的数据共享申请,超过规定时限仍未授权",
        "concerns": "",
        "profile": "luzhou",
    }
    before = count(api, "complaint")
    missing = await http.post(path, data={**form, "conduct": ""})
    assert missing.status_code == 422 and "conduct" in missing.text and 'id="complaint"' in missing.text
    nowhere = await http.post(path, data={**form, "concerns": "SA-NOWHERE-1"})
    assert nowhere.status_code == 422 and "未找到所涉及的案件" in nowhere.text
    assert "SA-NOWHERE-1" in nowhere.text  # kept on the form
    assert count(api, "complaint") == before
    await refused_without_token(http, path, {k: v for k, v in form.items() if k != "csrf_token"})
    case_id = opened(await http.post(path, data=form), "complaint")
    assert opened(await http.post(path, data=form), "complaint") == case_id  # a double click
    case = await case_of(api, CONSUMER, case_id)
    assert case["case_type"] == "complaint" and case["profile"]["id"] == "luzhou"
    assert {k: v for k, v in parties(case).items() if k != "platform"} == {
        "complainant": "rsj",
        "respondent": "scjgj",
        "investigator": "lgo",
    }
    assert count(api, "complaint") == before + 1
    await http.aclose()
    # The leading group office does not complain: no link, the form 403, the API's 403.
    office, csrf = await sign_in(api, "lgo-clerk")
    assert 'href="/ui/complaints/new"' not in (await office.get("/ui/mine")).text
    assert (await office.get(path)).status_code == 403
    refused = await office.post(path, data={**form, "csrf_token": csrf})
    assert refused.status_code == 403 and "只能由以下角色提出" in refused.text
    await office.aclose()


async def test_a_rectification_order_issued_by_hand(api: System) -> None:
    http, csrf = await sign_in(api, "lgo-clerk")
    assert 'href="/ui/orders/new"' in (await http.get("/ui/mine")).text
    path = "/ui/orders/new"
    key = await drawn(http, path, "order")
    page = (await http.get(path)).text
    assert 'value="31(2)"' in page and 'name="period_working_days"' in page  # Hubei's grounds
    luzhou = await http.get(path, params={"profile": "luzhou"})
    assert 'value="42(1)"' in luzhou.text and 'value="31(2)"' not in luzhou.text
    form = {
        "csrf_token": csrf,
        "form_key": key,
        "profile": "hubei",
        "respondent_department": "gaj",
        "grounds": ["31(2)"],
        "period_working_days": "10",
        "description": "人口基本信息未按目录规定时限向共享平台提供,请按期整改并报送整改报告",
        "concerns": "",
    }
    before = count(api, "rectification_order")
    no_period = await http.post(path, data={**form, "period_working_days": ""})
    assert no_period.status_code == 422 and "period_working_days" in no_period.text
    no_ground = await http.post(path, data={k: v for k, v in form.items() if k != "grounds"})
    assert no_ground.status_code == 422 and "grounds" in no_ground.text
    assert count(api, "rectification_order") == before
    await refused_without_token(http, path, {k: v for k, v in form.items() if k != "csrf_token"})
    case_id = opened(await http.post(path, data=form), "order")
    case = await case_of(api, LEADING_GROUP, case_id)
    assert case["case_type"] == "rectification_order"
    assert parties(case)["respondent"] == "gaj" and parties(case)["issuer"] == "lgo"
    (task,) = case["open_tasks"]
    assert task["assignee"]["code"] == "gaj" and task["working_days"] == 10
    await http.aclose()
    # A consumer does not issue orders: no link, the form 403, the API's 403.
    clerk, csrf = await sign_in(api, "rsj-clerk")
    assert (await clerk.get(path)).status_code == 403
    refused = await clerk.post(path, data={**form, "csrf_token": csrf})
    assert refused.status_code == 403 and "只能由以下角色提出" in refused.text
    assert count(api, "rectification_order") == before + 1
    await clerk.aclose()


async def test_the_forms_speak_english_when_asked(api: System) -> None:
    http, _ = await sign_in(api, "rsj-clerk")
    http.cookies.set("govshare_lang", "en")
    page = await http.get("/ui/complaints/new")
    assert page.status_code == 200 and "File a complaint" in page.text and "投诉事项" not in page.text
    await http.aclose()
