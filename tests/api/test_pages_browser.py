"""The pages as people use them, in a real headless Chromium (issue 22).

The system is the suite's own (``system``: the Temporal dev server, a real worker, the database),
served by uvicorn on a loopback port; Chromium is Debian's (``/usr/bin/chromium``, driven by the
``playwright`` package through ``executable_path``; ``.ci/run`` installs it with ``fonts-noto-cjk``).
Every request that leaves loopback is aborted: the pages must work without any outside network.

A clerk applies, the platform accepts, the provider grants with terms, the consumer sees the grant;
a refusal without reason shows the rule; a stale page's decision shows that someone acted first; a
department that is not a party gets "not found"; a post without its CSRF token is refused; each kind
of user signs in. Screenshots of the inbox and the case page are kept in ``var/artifacts/pages/``
(not in git). Runs once, on SQLite (the pages read through the same code on PostgreSQL, which the
in-process page tests cover).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser import PASSWORD, SHOTS, Site

RESOURCE = "scjgj-legal-entity-basic"


async def open_case(page: Any, site: Site, case_id: str) -> None:
    await page.goto(f"{site.base}/ui/cases/{case_id}")
    await page.wait_for_selector("#case-status")


async def choose(page: Any, form: str, action: str) -> None:
    await page.check(f"{form} input[name=action][value={action}]")


async def test_an_application_from_apply_to_grant_without_a_terminal(site: Site) -> None:
    # The consumer's clerk finds the entry in the catalog and applies.
    consumer, cpage = await site.person("rsj-clerk")
    assert "张伟" in await cpage.inner_text("header")
    await cpage.goto(f"{site.base}/ui/catalog?q=法人")
    await cpage.click(f"a[href='/ui/catalog/{RESOURCE}']")
    await cpage.fill("#purpose", "社会保险登记时核验用人单位信息")
    await cpage.fill("#reason", "依据《社会保险法》第五十七条办理用人单位社会保险登记")
    await cpage.check("input[name=fields][value=unified_social_credit_code]")
    await cpage.check("input[name=fields][value=entity_name]")
    await cpage.click("#apply button[type=submit]")
    await cpage.wait_for_url(re.compile(r".*/ui/cases/SA-[^?]+\?done=apply$"))
    case_id = urlsplit(cpage.url).path.rsplit("/", 1)[-1]
    assert "办理中" in await cpage.inner_text("#case-status")
    # Mine lists it.
    await cpage.goto(f"{site.base}/ui/mine")
    assert case_id in await cpage.inner_text("#mine")

    # The platform's reviewer sees it in the inbox, due date and article beside it, and accepts.
    platform, ppage = await site.person("bdb-clerk")
    row = ppage.locator(f"#inbox tr[data-case='{case_id}']")
    await row.wait_for()
    text = await row.inner_text()
    assert "第" in text and "条" in text, text  # the article the due date rests on
    await ppage.screenshot(path=str(SHOTS / "inbox-platform.png"), full_page=True)
    await row.locator("a").first.click()
    await ppage.wait_for_selector("form[data-decide]")
    await choose(ppage, "form[data-decide]", "accept")
    await ppage.click("form[data-decide] button[type=submit]")
    await ppage.wait_for_url(re.compile(r".*\?done=accept$"))

    # Two clerks of the provider open the case; one tries to refuse without a reason.
    provider, prov = await site.person("scjgj-clerk")
    stale_ctx, stale = await site.person("scjgj-clerk2")
    await open_case(prov, site, case_id)
    await open_case(stale, site, case_id)
    form = "form[data-decide]"
    await choose(prov, form, "refuse")
    # Shown before submitting: the reason becomes required, the mark appears.
    assert await prov.locator(f"{form} textarea[name=reason]").evaluate("e => e.required")
    assert await prov.locator(f"{form} [data-reason-mark]").is_visible()
    # Without script (no client-side check) the server refuses it and names the rule.
    nojs_ctx = await site.context(javascript=False)
    nojs = await nojs_ctx.new_page()
    await nojs.goto(f"{site.base}/ui/login")
    await nojs.fill("#username", "scjgj-clerk")
    await nojs.fill("#password", PASSWORD)
    await nojs.click("button[type=submit].primary")
    await open_case(nojs, site, case_id)
    await choose(nojs, form, "refuse")
    await nojs.click(f"{form} button[type=submit]")
    flash = await nojs.inner_text("#flash")
    assert "理由" in flash and "第" in flash, flash  # “不予共享”必须说明理由(《…》第N条)
    assert "Traceback" not in await nojs.content()
    await nojs_ctx.close()

    # The first clerk claims the task (签收): the other clerk's fresh page says who has it and
    # offers no decision form; the inbox names the claimer.
    await prov.click("button[id^=claim-]")
    await prov.wait_for_selector("text=已由我签收")
    peek_ctx, peek = await site.person("scjgj-clerk2")
    await open_case(peek, site, case_id)
    assert "已由李娜签收" in await peek.inner_text("main")
    assert await peek.locator("form[data-decide]").count() == 0
    await peek.goto(f"{site.base}/ui/")
    assert "李娜" in await peek.locator(f"#inbox tr[data-case='{case_id}']").inner_text()
    await peek_ctx.close()

    # The first clerk grants with terms.
    await choose(prov, form, "grant")
    assert await prov.locator("fieldset[data-grant]").is_visible()
    await prov.fill("input[name=grant_conditions]", "仅限社会保险登记业务使用,不得转交其他部门")
    await prov.click(f"{form} button[type=submit]")
    await prov.wait_for_url(re.compile(r".*\?done=grant$"))
    assert "仅限社会保险登记业务使用" in await prov.inner_text("#grant")

    # The second clerk's page is stale: its decision is refused as "someone acted first".
    await choose(stale, form, "grant")
    await stale.click(f"{form} button[type=submit]")
    flash = await stale.inner_text("#flash")
    assert "已有人先行办理" in flash, flash
    await stale_ctx.close()

    # The consumer sees the grant and its terms.
    await open_case(cpage, site, case_id)
    grant = await cpage.inner_text("#grant")
    assert "仅限社会保险登记业务使用" in grant and "entity_name" in grant, grant
    timeline = await cpage.inner_text("#timeline")
    assert "李娜" in timeline, timeline  # the decision names the person, not only the department
    await cpage.screenshot(path=str(SHOTS / "case-consumer.png"), full_page=True)
    # … and in English.
    await cpage.click("a.lang")
    await cpage.wait_for_selector("#case-status")
    assert "Grant" in await cpage.inner_text("#grant")
    await cpage.click("a.lang")

    # A department that is no party to the case does not see it.
    other, opage = await site.person("mzj-clerk")
    response = await opage.goto(f"{site.base}/ui/cases/{case_id}")
    assert response is not None and response.status == 404
    assert "未找到" in await opage.inner_text("h1")

    # A post without its CSRF token is refused, whoever's cookie it carries.
    refused = await prov.request.post(
        f"{site.base}/ui/cases/{case_id}/decide", form={"action": "grant", "task_id": f"{case_id}/2"}
    )
    assert refused.status == 403 and "安全校验" in await refused.text()

    # The inbox at a phone's width still shows the task list without horizontal scrolling.
    phone = await site.context(width=390, height=844)
    ppage2 = await phone.new_page()
    await ppage2.goto(f"{site.base}/ui/login")
    await ppage2.fill("#username", "scjgj-clerk")
    await ppage2.fill("#password", PASSWORD)
    await ppage2.click("button[type=submit].primary")
    await ppage2.wait_for_url(re.compile(r".*/ui/$"))
    scroll = await ppage2.evaluate("document.documentElement.scrollWidth")
    assert scroll <= 400, scroll
    await ppage2.screenshot(path=str(SHOTS / "inbox-phone.png"), full_page=True)

    for context in (consumer, platform, provider, other, phone):
        await context.close()
    assert site.outside == [], site.outside


@pytest.mark.parametrize(
    ("username", "name", "role_word"),
    [
        ("rsj-clerk", "张伟", "使用部门"),
        ("bdb-clerk", "刘洋", "共享平台管理部门"),
        ("gaj-head", "主要负责人", "主要负责人"),
        ("sjj-clerk", "黄磊", "审计部门"),
        ("lgo-clerk", "赵敏", "领导小组办公室"),
        ("liming", "李明", "申请人"),
    ],
)
async def test_each_kind_of_user_signs_in_and_out(
    site: Site, username: str, name: str, role_word: str
) -> None:
    context, page = await site.person(username)
    header = await page.inner_text("header")
    assert name in header and role_word in header, header
    assert await page.locator("h1").first.inner_text()
    await page.click("header button.link")  # sign out
    await page.wait_for_url(re.compile(r".*/ui/login\?out=1$"))
    await page.goto(f"{site.base}/ui/")
    assert "/ui/login" in page.url  # the session ended: its cookie opens nothing
    await context.close()


async def test_a_wrong_password_is_refused_with_words(site: Site) -> None:
    context = await site.context()
    page = await context.new_page()
    await page.goto(f"{site.base}/ui/login")
    await page.fill("#username", "rsj-clerk")
    await page.fill("#password", "not-the-password")
    await page.click("button[type=submit].primary")
    assert "用户名或密码错误" in await page.inner_text("#flash")
    assert "/ui/login" in page.url
    await context.close()
