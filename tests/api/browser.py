"""A real browser against the running system, for the page tests (issue 22).

``site`` (module-scoped) serves the suite's own system (``system``: the Temporal dev server, a real
worker, the database) with uvicorn on a loopback port and opens Debian's Chromium through the
``playwright`` package (``executable_path``; ``.ci/run`` installs it with ``fonts-noto-cjk``). Every
request that leaves loopback is aborted and listed in ``Site.outside``: the pages must work without
any outside network. A test module uses it by name (``tests/api/conftest.py`` imports it).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.main import create_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = PROJECT_ROOT / "var" / "artifacts" / "pages"
PASSWORD = "govshare-demo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def browser_or_skip() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium fonts-noto-cjk)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


class Site:
    """The served pages and a browser; ``person(username)`` is a signed-in browser context."""

    def __init__(self, base: str, browser: Any, system: Any) -> None:
        self.base = base
        self.browser = browser
        self.system = system
        self.outside: list[str] = []

    async def context(self, *, javascript: bool = True, width: int = 1366, height: int = 768) -> Any:
        context = await self.browser.new_context(
            viewport={"width": width, "height": height}, java_script_enabled=javascript, locale="zh-CN"
        )

        async def only_loopback(route: Any) -> None:
            host = urlsplit(route.request.url).hostname or ""
            if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
                await route.continue_()
            else:
                self.outside.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_loopback)
        return context

    async def person(self, username: str, **options: Any) -> tuple[Any, Any]:
        """A new browser context signed in as ``username`` through the sign-in page."""
        context = await self.context(**options)
        page = await context.new_page()
        await page.goto(f"{self.base}/ui/")
        assert "/ui/login" in page.url  # not signed in: sent to sign in
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit].primary")
        await page.wait_for_url(re.compile(r".*/ui/$"))
        return context, page


@pytest.fixture(scope="module")
async def site(system: Any) -> AsyncIterator[Site]:
    if system.database != "sqlite":
        pytest.skip("the browser tests run once, on SQLite")
    browser_or_skip()
    import uvicorn
    from playwright.async_api import async_playwright

    port = free_port()
    app = create_app(system.settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(300):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield Site(f"http://127.0.0.1:{port}", browser, system)
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        await serving
