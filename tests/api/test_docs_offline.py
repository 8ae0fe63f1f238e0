"""The API docs pages (/docs, /redoc) work without internet: every file they load is served by the app.

Two levels. Fast, in-process: the HTML names only local paths, and each answers with the right type.
Then in a real headless Chromium against uvicorn on loopback, with every non-loopback request aborted:
Swagger UI and ReDoc must render the operations, and the pages' Content-Security-Policy may block only
outside URLs (never one of our assets, an inline script or an eval the UIs need). Neither level needs
the Temporal server nor PostgreSQL (the lifespan tolerates Temporal being down; the database is a
temporary SQLite file).

The browser is Debian's ``chromium`` (``.ci/run`` installs it with ``fonts-noto-cjk``), driven by the
``playwright`` package; ``playwright install`` is never needed. Without it this test fails under
``CI=true`` and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api.main import create_app
from govshare.core.settings import Settings

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
TITLE = "govshare API · 政务信息资源共享"
PAGES = ["/docs", "/redoc"]
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AssetLinks(HTMLParser):
    """Every URL the page loads by itself: ``<script src>``, ``<link href>``, ``<img src>`` …"""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "iframe": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


# -- fast: in-process through ASGITransport ---------------------------------------------------------


@pytest.fixture(scope="module")
async def docs_http(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('docs') / 'govshare.db'}",
        temporal_address=f"127.0.0.1:{free_port()}",  # nothing listens: the API starts without it
        seed_demo=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://govshare.test") as http:
            yield http


@pytest.mark.parametrize("page", PAGES)
async def test_docs_page_loads_only_local_files(docs_http: httpx.AsyncClient, page: str) -> None:
    response = await docs_http.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f"<title>{TITLE}</title>" in html
    # The browser itself refuses anything not from this origin (ReDoc's bundle has an outside logo).
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "https:" not in csp and "*" not in csp, csp
    # Nothing on the page is fetched from elsewhere (FastAPI's defaults load from a CDN and fonts).
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), html
    parser = AssetLinks()
    parser.feed(html)
    assert len(parser.urls) >= 2, parser.urls  # the bundle and the favicon at least
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url}"
        asset = await docs_http.get(url)
        assert asset.status_code == 200, f"{url} → {asset.status_code}"
        expected = CONTENT_TYPES[Path(urlsplit(url).path).suffix]
        assert expected in asset.headers["content-type"], f"{url}: {asset.headers['content-type']}"
        assert len(asset.content) > 1000, url


async def test_openapi_and_oauth2_redirect(docs_http: httpx.AsyncClient) -> None:
    spec = await docs_http.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == TITLE
    assert "/applications" in spec.json()["paths"]
    assert not any(path.startswith(("/docs", "/redoc")) for path in spec.json()["paths"])
    redirect = await docs_http.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "https://" not in redirect.text


async def test_root_path_prefixes_the_asset_urls(tmp_path: Path) -> None:
    """Behind a proxy that serves the API under /govshare (uvicorn --root-path), links still resolve."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'g.db'}", seed_demo=False)
    transport = httpx.ASGITransport(app=create_app(settings), root_path="/govshare")
    async with httpx.AsyncClient(transport=transport, base_url="http://govshare.test") as http:
        html = (await http.get("/docs")).text
    assert 'src="/govshare/docs/static/swagger-ui-bundle.js"' in html
    assert "url: '/govshare/openapi.json'" in html


# -- slow: a real browser, offline ------------------------------------------------------------------


def browser_or_skip() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium fonts-noto-cjk)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``uvicorn api.main:app`` as ``make run`` serves it, on a free loopback port; yields its base URL."""
    browser_or_skip()
    workdir = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'govshare.db'}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "SEED_DEMO": "false",
        "LOG_LEVEL": "WARNING",
    }
    log_path = workdir / "uvicorn.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"uvicorn exited {proc.returncode}:\n{log_path.read_text()}", pytrace=False)
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not answer in 30 s:\n{log_path.read_text()}", pytrace=False)
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True  # in-page, never the network
    return parts.hostname == "127.0.0.1"


# Collects what the page's Content-Security-Policy refused (an URL, or "inline" / "eval").
RECORD_CSP = """
window.__cspBlocked = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspBlocked.push(e.blockedURI));
"""

# Per page: the selector that appears once the UI has rendered the spec's operations.
RENDERED = {"/docs": ".opblock", "/redoc": "[data-section-id^='tag/applications/operation']"}


@pytest.mark.parametrize("page_path", PAGES)
def test_docs_render_in_an_offline_browser(
    served: str, page_path: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from playwright.sync_api import sync_playwright

    aborted: list[str] = []
    requested: list[str] = []
    failed: dict[str, str | None] = {}
    errors: list[str] = []

    def route(route, request) -> None:  # type: ignore[no-untyped-def]
        if is_loopback(request.url):
            route.continue_()
        else:
            aborted.append(request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
            context.route("**/*", route)
            context.add_init_script(RECORD_CSP)
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.on("requestfailed", lambda request: failed.update({request.url: request.failure}))
            response = page.goto(served + page_path, wait_until="load")
            assert response is not None and response.status == 200
            page.wait_for_selector(RENDERED[page_path], timeout=30_000)
            page.wait_for_load_state("networkidle")
            text = page.inner_text("body")
            shots = tmp_path_factory.mktemp("screens")
            shot = shots / f"{page_path.strip('/')}.png"
            page.screenshot(path=str(shot), full_page=False)
            print(f"screenshot: {shot}")
            assert page.title() == TITLE
            csp_blocked = page.evaluate("window.__cspBlocked")
        finally:
            browser.close()

    assert aborted == [], f"{page_path} tried to reach the internet: {aborted}"
    # An outside URL the page asked for was refused by the browser itself (CSP), before any network.
    outside = {url: failed.get(url) for url in requested if not is_loopback(url)}
    assert all(reason == "csp" for reason in outside.values()), outside
    assert not [url for url in failed if is_loopback(url)], failed
    assert errors == [], errors
    # Blocked only outside URLs (ReDoc: its footer logo), never our assets, inline code or eval.
    assert all(url.startswith(("http://", "https://")) and not is_loopback(url) for url in csp_blocked), (
        csp_blocked
    )
    if csp_blocked:
        print(f"{page_path}: the CSP refused {csp_blocked}")
    assert "/applications" in text
    assert "政务信息资源共享" in text
