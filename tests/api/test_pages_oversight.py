"""The oversight pages in a real headless Chromium (issue 22): every case, the leading group's view,
a case rebuilt from its history and replayed, the published statistics.

- an auditor finds a case in 全部案件 (the filters, the id box), opens its history beside the
  projection and replays it: it passes; the raw history downloads; a replay posted without its CSRF
  token is refused;
- the statistics of this month show as tables, the chart image loads (drawn by the API's own chart
  function), the CSV answers; a department reads its own figures only, a citizen none;
- a late application climbs the ladder: the leading group office sees the order to issue with the
  breach it follows (detected, article, next rung), the orders counted by status, its tasks to decide;
- a consumer is refused the oversight page and the history page; the platform, which the API's
  ``/oversight`` routes do not admit, is refused the oversight page too.

Screenshots go to ``var/artifacts/pages/`` (``oversight.png``, ``history.png``, ``statistics.png`` …).
Runs once, on SQLite (the browser fixture skips itself on the PostgreSQL run).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from api_helpers import AUDITOR, PLATFORM, auth
from browser import SHOTS, Site
from sqlmodel import Session

from api.reading import department_names
from calendars import SHANGHAI
from govshare.cases import service as case_service
from govshare.core.directory import read_directory
from govshare.core.models import Resource
from workflows import registry
from workflows.case import Actor, ResourceSnapshot


async def eventually(site: Site, token: str, case_id: str, check=lambda case: True) -> dict[str, Any]:
    """The case over the API once it is visible and ``check`` holds (the worker writes it a moment later)."""
    case: dict[str, Any] = {}
    for _ in range(300):
        response = await site.system.http.get(f"/cases/{case_id}", headers=auth(token))
        if response.status_code == 200:
            case = response.json()
            if check(case):
                return case
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id}: never as expected; last seen {case}")


async def late_application(site: Site) -> str:
    """A sharing application submitted a month ago: its platform check is long overdue at once, and
    the breach starts the escalation ``ES-<id>-T1`` (Hubei 26)."""
    system = site.system
    submitted_at = datetime.now(UTC) - timedelta(days=30)
    kind = registry.SHARING_APPLICATION
    with Session(system.engine) as session:
        directory = read_directory(session)
        names = {code: ref.name_zh for code, ref in department_names(session).items()}
        resource = session.get(Resource, "scjgj-legal-entity-basic")
        assert resource is not None
        snapshot = ResourceSnapshot(
            id=resource.id,
            version=resource.version,
            name_zh=resource.name_zh,
            name_en=resource.name_en,
            provider_department=resource.provider_department,
            share_type=resource.share_type,
            controlled_parameters=resource.controlled_parameters,
            sharing_modes=list(resource.sharing_modes),
            legal_basis=resource.legal_basis,
            fields=list(resource.fields),
        )
    case_id = f"SA-{submitted_at:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}"
    inp = case_service.new_case_input(
        kind,
        case_id=case_id,
        profile_id="hubei",
        submitted_at=submitted_at,
        submitted_by=Actor(department="rsj", role="consumer", user="test"),
        platform_department="bdb",
        department_names=names,
        directory=directory,
        fields={
            "consumer_department": "rsj",
            "resource": snapshot,
            "purpose": "社会保险登记时核验用人单位信息",
            "reason": "依据《社会保险法》办理用人单位社会保险登记",
            "requested_fields": ["entity_name"],
            "requested_mode": "",
        },
    )
    await case_service.start_case(
        system.env.client, system.settings.task_queue, kind, inp, settle_timeout_s=20
    )
    return case_id


async def test_an_auditor_finds_a_case_reads_its_history_and_replays_it(site: Site) -> None:
    case_id = (await site.system.apply())["id"]
    context, page = await site.person("sjj-clerk")

    # 全部案件: every case, newest first; filtered by type, the new case is on the first page.
    await page.click("nav a[href='/ui/cases']")
    await page.wait_for_selector("#case-filters")
    await page.select_option("#f-type", "sharing_application")
    await page.select_option("#f-status", "in_progress")
    await page.click("#case-filters button[type=submit]")
    await page.wait_for_url(re.compile(r".*/ui/cases\?.*case_type=sharing_application.*"))
    row = page.locator(f"#cases tr[data-case='{case_id}']")
    await row.wait_for()
    assert "办理中" in await row.inner_text()
    await page.screenshot(path=str(SHOTS / "cases.png"), full_page=True)

    # The id box jumps to the case; the auditor's case page links to its history.
    await page.fill("#jump-id", f"  {case_id} ")
    await page.click("#case-jump button[type=submit]")
    await page.wait_for_selector("#case-status")
    assert urlsplit(page.url).path == f"/ui/cases/{case_id}"
    await page.click(f"a[href='/ui/cases/{case_id}/history']")
    await page.wait_for_selector("#agreement")
    assert "一致" in await page.inner_text("#agreement")
    assert "不一致" not in await page.inner_text("#agreement")
    compare = await page.inner_text("#compare")
    assert f"{case_id}/1" in compare and "一致" in compare, compare
    assert "case_submitted" in await page.inner_text("#rebuilt")
    raw = await page.request.get(f"{site.base}/ui/cases/{case_id}/history.json")
    assert raw.status == 200 and "events" in (await raw.json())

    # The replay: the current code reproduces the history.
    await page.click("#replay-form button[type=submit]")
    await page.wait_for_selector("#replay-result")
    flash = await page.inner_text("#flash")
    assert "重放通过" in flash, flash
    assert "重放通过" in await page.inner_text("#replay-result")
    await page.screenshot(path=str(SHOTS / "history.png"), full_page=True)

    # A case that is not there: said on the page, the replay form beside it.
    response = await page.goto(f"{site.base}/ui/cases/SA-20000101-NOSUCH/history")
    assert response is not None and response.status == 404
    assert "未找到" in await page.inner_text("#flash")
    assert await page.locator("#replay-form").count() == 1

    # A replay posted without its CSRF token is refused.
    refused = await page.request.post(f"{site.base}/ui/cases/{case_id}/replay", form={"x": "1"})
    assert refused.status == 403 and "安全校验" in await refused.text()

    # The history at a phone's width: no sideways scrolling.
    phone = await site.context(width=390, height=844)
    await phone.add_cookies(await context.cookies())
    small = await phone.new_page()
    await small.goto(f"{site.base}/ui/cases/{case_id}/history")
    await small.wait_for_selector("#agreement")
    assert await small.evaluate("document.documentElement.scrollWidth") <= 400
    await phone.close()
    await context.close()
    assert site.outside == [], site.outside


async def test_the_statistics_show_a_table_a_chart_and_a_csv(site: Site) -> None:
    await site.system.apply()
    month = datetime.now(SHANGHAI).strftime("%Y-%m")
    context, page = await site.person("bdb-clerk")
    await page.click("nav a[href='/ui/statistics']")
    await page.wait_for_selector("#stat-form")
    await page.select_option("#s-period", month)
    await page.select_option("#s-type", "sharing_application")
    await page.click("#stat-form button[type=submit]")
    await page.wait_for_url(re.compile(rf".*/ui/statistics\?.*period={month}.*"))
    table = await page.inner_text("#stat-sharing_application")
    assert "收到" in table and "合计" in table and "同意授权" in table, table

    # The chart is the API's own PNG, through the session; it loads.
    chart = page.locator("#chart")
    await chart.scroll_into_view_if_needed()
    await page.wait_for_function("document.getElementById('chart').complete")
    assert await chart.evaluate("img => img.naturalWidth") > 0
    src = await chart.get_attribute("src")
    assert src and src.startswith("/ui/statistics/chart.png?") and f"period={month}" in src
    png = await page.request.get(f"{site.base}{src}")
    assert png.status == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["cache-control"] == "no-store"

    # The CSV of the same query.
    href = await page.get_attribute("#csv-link", "href")
    assert href and f"period={month}" in href
    csv = await page.request.get(f"{site.base}{href}")
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "收到 received" in await csv.text()
    await page.screenshot(path=str(SHOTS / "statistics.png"), full_page=True)

    # From–to dates; a wrong range is shown as words, not a stack.
    await page.goto(f"{site.base}/ui/statistics?period=range&from=2026-03-01&to=2026-02-01")
    assert "早于" in await page.inner_text("#flash")

    # At a phone's width the figures fold into lines: no sideways scrolling.
    phone = await site.context(width=390, height=844)
    await phone.add_cookies(await context.cookies())
    small = await phone.new_page()
    await small.goto(f"{site.base}/ui/statistics?period={month}")
    await small.wait_for_selector("#stat-form")
    assert await small.evaluate("document.documentElement.scrollWidth") <= 400
    await small.screenshot(path=str(SHOTS / "statistics-phone.png"), full_page=True)
    await phone.close()
    await context.close()


async def test_the_leading_group_sees_breaches_orders_and_what_to_decide(site: Site) -> None:
    case_id = await late_application(site)
    escalation_id = f"ES-{case_id}-T1"
    escalation = await eventually(site, AUDITOR, escalation_id, lambda c: bool(c["open_tasks"]))
    rung = escalation["open_tasks"][0]["step"]
    # The platform reports the breach (rung 1); the ladder's next rung is the office's order.
    response = await site.system.http.post(
        f"/cases/{escalation_id}/decisions", json={"step": rung, "action": "done"}, headers=auth(PLATFORM)
    )
    assert response.status_code == 200, response.text
    order_id = f"RO-{escalation_id}-O"
    await eventually(site, AUDITOR, order_id, lambda c: bool(c["open_tasks"]))

    context, page = await site.person("lgo-clerk")
    await page.click("nav a[href='/ui/oversight']")
    await page.wait_for_selector("#escalations")
    assert "待本办决定的督办事项" in await page.inner_text("#to-decide")
    row = page.locator(f"#escalation-list tr[data-case='{order_id}']")
    await row.wait_for()
    text = await row.inner_text()
    # The breach it follows: the application's platform check, when detected, the article, next rung.
    assert case_id in text and "第" in text and "条" in text, text
    assert "非超期引起" not in text, text
    assert await row.locator(f"a[href='/ui/cases/{case_id}']").count() >= 1
    counts = await page.inner_text("#order-counts")
    assert "办理中" in counts and "已整改" in counts, counts
    # The orders by status: the new one is in progress.
    await page.select_option("#f-order-status", "in_progress")
    await page.click("#orders form button[type=submit]")
    await page.wait_for_url(re.compile(r".*status=in_progress.*"))
    assert order_id in await page.inner_text("#order-list")
    await page.screenshot(path=str(SHOTS / "oversight.png"), full_page=True)
    # … and in English.
    await page.click("a.lang")
    await page.wait_for_selector("#escalations")
    assert "Breaches and escalations" in await page.inner_text("#escalations")
    assert "Rectified" in await page.inner_text("#order-counts")
    await page.screenshot(path=str(SHOTS / "oversight-en.png"), full_page=True)
    await page.click("a.lang")
    await page.wait_for_selector("#escalations")
    await page.select_option("#f-order-status", "rectified")
    await page.click("#orders form button[type=submit]")
    await page.wait_for_url(re.compile(r".*status=rectified.*"))
    assert order_id not in await page.inner_text("#orders")

    # The auditor sees the same order with its breach (it reads every department's).
    auditor, apage = await site.person("sjj-clerk")
    await apage.goto(f"{site.base}/ui/oversight")
    arow = apage.locator(f"#escalation-list tr[data-case='{order_id}']")
    await arow.wait_for()
    assert await apage.locator("#to-decide").count() == 0  # an auditor decides nothing
    for ctx in (context, auditor):
        await ctx.close()


async def test_roles_the_api_refuses_are_refused_here(site: Site) -> None:
    case_id = (await site.system.apply())["id"]
    context, page = await site.person("rsj-clerk")
    for path in ("/ui/oversight", f"/ui/cases/{case_id}/history", f"/ui/cases/{case_id}/history.json"):
        response = await page.goto(f"{site.base}{path}")
        assert response is not None and response.status == 403, path
        assert "无权办理" in await page.inner_text("h1"), path
        assert "Traceback" not in await page.content()
    # No oversight link in a consumer's header; statistics (its own figures), as the API admits it.
    assert await page.locator("nav a[href='/ui/oversight']").count() == 0
    assert await page.locator("nav a[href='/ui/statistics']").count() == 1
    # Statistics as the API gives them: a department reads its own figures only.
    response = await page.goto(f"{site.base}/ui/statistics")
    assert response is not None and response.status == 200
    assert await page.locator("#s-dept").count() == 0
    response = await page.goto(f"{site.base}/ui/statistics?department=gaj")
    assert response is not None and response.status == 403
    assert "本部门" in await page.inner_text("#flash")
    chart = await page.request.get(f"{site.base}/ui/statistics/chart.png?department=gaj")
    assert chart.status == 403
    # A replay posted as a consumer, with its token: refused for the role.
    await page.goto(f"{site.base}/ui/cases/{case_id}")
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = await page.request.post(
        f"{site.base}/ui/cases/{case_id}/replay", form={"csrf_token": token or ""}
    )
    assert refused.status == 403
    await context.close()

    # A citizen reads no statistics; the platform, which /oversight does not admit, no oversight page.
    citizen, cpage = await site.person("liming")
    response = await cpage.goto(f"{site.base}/ui/statistics")
    assert response is not None and response.status == 403
    await citizen.close()
    platform, ppage = await site.person("bdb-clerk")
    response = await ppage.goto(f"{site.base}/ui/oversight")
    assert response is not None and response.status == 403
    response = await ppage.goto(f"{site.base}/ui/cases/{case_id}/history")
    assert response is not None and response.status == 200  # the API's history admits the platform
    await platform.close()
