"""Limits of a public-facing service (issue 23): per-caller rate limits, security headers, duplicate
JSON keys, uvicorn's options.

Each test builds its own app with small limits (``create_app(Settings(...))`` on a temporary SQLite
seeded once, Temporal unreachable: nothing here needs it), so the shared system's pace is not
throttled and no count leaks from one test to another.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from api_helpers import CONSUMER, CONSUMER2, PLATFORM, auth, free_port

from api.json_body import duplicate_key
from api.main import create_app
from govshare.core.db import init_schema, make_engine
from govshare.core.seed import seed_if_enabled
from govshare.core.settings import Settings
from govshare.ops import launcher

Client = Callable[..., httpx.AsyncClient]


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('limits') / 'govshare.db'}"
    engine = make_engine(url)
    init_schema(engine)
    seed_if_enabled(engine, Settings(database_url=url, seed_demo=True))
    engine.dispose()
    return url


def settings_for(url: str, **overrides: object) -> Settings:
    return Settings(
        database_url=url,
        temporal_address=f"127.0.0.1:{free_port()}",  # nothing listens: the API starts without it
        seed_demo=False,
        **overrides,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Client]:
    """The app, started; ``client(address)`` is an HTTP client seen as coming from ``address``."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        opened: list[httpx.AsyncClient] = []

        def client(address: str = "127.0.0.1") -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            http = httpx.AsyncClient(transport=transport, base_url="http://govshare.test")
            opened.append(http)
            return http

        try:
            yield client
        finally:
            for http in opened:
                await http.aclose()


def assert_rate_limited(response: httpx.Response) -> dict:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"].isdigit() and 1 <= int(response.headers["retry-after"]) <= 60
    problem = response.json()
    assert problem["code"] == "rate_limited" and problem["status"] == 429
    assert (
        problem["title"] == "请求过于频繁"
        and "重试" in problem["detail_zh"]
        and "retry" in problem["detail_en"]
    )
    return problem


# -- failed authentication per client address ------------------------------------------------------


async def test_failed_tokens_from_one_address_turn_into_429(seeded_url):
    async with running(settings_for(seeded_url, rate_limit_failed_auth="5/minute")) as client:
        http = client("198.51.100.7")
        answers = [(await http.get("/me", headers=auth(f"wrong-{i}"))).status_code for i in range(30)]
        assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}, answers
        problem = assert_rate_limited(await http.get("/me", headers=auth("wrong-again")))
        assert "认证失败" in problem["detail_zh"] and "5 per 1 minute" in problem["detail_en"]
        # A right token from that address is refused too (no oracle for the guessing to go on with)…
        assert_rate_limited(await http.get("/me", headers=auth(PLATFORM)))
        assert_rate_limited(await http.get("/me"))  # … and no token at all
        # … while another address is served as usual.
        other = client("198.51.100.8")
        assert (await other.get("/me", headers=auth(PLATFORM))).status_code == 200
        assert (await other.get("/me", headers=auth("wrong"))).status_code == 401


async def test_the_address_behind_a_trusted_proxy_is_the_one_limited(seeded_url):
    settings = settings_for(seeded_url, rate_limit_failed_auth="2/minute", trusted_proxies="10.0.0.1")
    async with running(settings) as client:
        proxy = client("10.0.0.1")
        attacker = {"X-Forwarded-For": "203.0.113.5"}
        for _ in range(2):
            assert (await proxy.get("/me", headers=auth("wrong", **attacker))).status_code == 401
        assert_rate_limited(await proxy.get("/me", headers=auth("wrong", **attacker)))
        # Everyone else behind the same proxy goes on.
        someone = {"X-Forwarded-For": "203.0.113.6"}
        assert (await proxy.get("/me", headers=auth(PLATFORM, **someone))).status_code == 200


async def test_zero_turns_a_limit_off(seeded_url):
    settings = settings_for(
        seeded_url, rate_limit_failed_auth="0", rate_limit_reads="0", rate_limit_writes="0"
    )
    async with running(settings) as client:
        http = client()
        for i in range(40):
            assert (await http.get("/me", headers=auth(f"wrong-{i}"))).status_code == 401
        for _ in range(40):
            assert (await http.get("/me", headers=auth(PLATFORM))).status_code == 200


# -- reads and writes per caller -----------------------------------------------------------------


async def test_reads_are_limited_per_caller(seeded_url):
    async with running(settings_for(seeded_url, rate_limit_reads="3/minute")) as client:
        http = client()
        for _ in range(3):
            assert (await http.get("/me", headers=auth(CONSUMER))).status_code == 200
        problem = assert_rate_limited(await http.get("/me", headers=auth(CONSUMER)))
        assert "查询过于频繁" in problem["detail_zh"]
        # Another caller, from the same address, has its own count.
        assert (await http.get("/me", headers=auth(CONSUMER2))).status_code == 200
        # A refused read is no failed authentication: the address is not blocked.
        assert (await http.get("/me", headers=auth(PLATFORM))).status_code == 200


async def test_writes_are_limited_per_caller_apart_from_reads(seeded_url):
    settings = settings_for(seeded_url, rate_limit_writes="2/minute;10/hour", rate_limit_reads="100/minute")
    async with running(settings) as client:
        http = client()
        for _ in range(2):  # counted whatever their outcome (here: an empty demand, 422)
            assert (await http.post("/demands", json={}, headers=auth(CONSUMER))).status_code == 422
        problem = assert_rate_limited(await http.post("/demands", json={}, headers=auth(CONSUMER)))
        assert "写操作过于频繁" in problem["detail_zh"] and "2 per 1 minute" in problem["detail_en"]
        assert (await http.get("/me", headers=auth(CONSUMER))).status_code == 200  # reads go on
        assert (await http.post("/demands", json={}, headers=auth(CONSUMER2))).status_code == 422


# -- failed sign-ins on the pages per address ---------------------------------------------------


async def test_wrong_passwords_from_one_address_pause_its_sign_in(seeded_url):
    async with running(settings_for(seeded_url, rate_limit_failed_sign_in="3/minute")) as client:
        http = client("192.0.2.44")

        async def sign_in(username: str, password: str) -> httpx.Response:
            page = await http.get("/ui/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token, page.text
            return await http.post(
                "/ui/login",
                data={"username": username, "password": password, "csrf_token": token.group(1)},
            )

        # Different usernames each time: the pause per username never fires, the one per address does.
        for name in ("rsj-clerk", "bdb-clerk", "gaj-clerk"):
            assert (await sign_in(name, "not-the-password")).status_code == 401
        paused = await sign_in("scjgj-clerk", "govshare-demo")  # the right password, too late
        assert paused.status_code == 429 and paused.headers["retry-after"].isdigit()
        assert paused.headers["content-type"].startswith("text/html") and "登录尝试过多" in paused.text
        elsewhere = client("192.0.2.45")
        page = await elsewhere.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        signed = await elsewhere.post(
            "/ui/login",
            data={"username": "scjgj-clerk", "password": "govshare-demo", "csrf_token": token.group(1)},
        )
        assert signed.status_code == 303, signed.text


# -- security headers -----------------------------------------------------------------------------


async def test_json_answers_carry_the_security_headers(seeded_url):
    async with running(settings_for(seeded_url)) as client:
        http = client()
        for response in (
            await http.get("/me", headers=auth(PLATFORM)),  # an authenticated answer
            await http.get("/me", headers=auth("wrong")),  # a problem
            await http.get("/nowhere"),
        ):
            headers = response.headers
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["x-frame-options"] == "DENY"
            assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
            assert "strict-transport-security" not in headers  # development: no HTTPS assumed
            assert "server" not in headers
        assert (await http.get("/me", headers=auth(PLATFORM))).headers["cache-control"] == "no-store"
        assert "cache-control" not in (await http.get("/nowhere")).headers
        # The docs keep their own CSP (they load their bundle); the pages keep theirs.
        docs = await http.get("/docs")
        assert "script-src 'self'" in docs.headers["content-security-policy"]
        assert docs.headers["x-content-type-options"] == "nosniff"
        page = await http.get("/ui/login")
        assert page.headers["referrer-policy"] == "same-origin"
        assert "form-action 'self'" in page.headers["content-security-policy"]
        assert (await http.get("/openapi.json")).headers["content-security-policy"].startswith("default-src")


async def test_production_answers_carry_hsts(tmp_path: Path):
    settings = Settings(
        environment="Production",
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",  # no demo data: production starts
        temporal_address=f"127.0.0.1:{free_port()}",
        seed_demo=False,
    )
    async with running(settings) as client:
        response = await client().get("/me")
        assert response.status_code == 401
        assert response.headers["strict-transport-security"] == "max-age=31536000"


# -- duplicate JSON keys ----------------------------------------------------------------------------


def test_duplicate_key_finds_the_key_and_its_place():
    assert duplicate_key(b'{"a": 1, "b": 2}') is None
    assert duplicate_key(b'{"a": 1, "a": 2}') == ([], "a")
    assert duplicate_key(b'{"x": {"y": [1, {"k": 1, "z": 0, "k": 2}]}}') == (["x", "y", 1], "k")
    assert duplicate_key(b'[{"a": {"a": 1}}, {"b": 1, "b": 1}]') == ([1], "b")
    assert duplicate_key(b'{"a": 1, "a": ') is None  # not JSON: the route says so
    assert duplicate_key(b"\xff\xfe") is None


async def test_a_body_with_a_key_twice_is_refused(seeded_url):
    async with running(settings_for(seeded_url)) as client:
        http = client()
        body = (
            b'{"title": "\xe4\xba\xba\xe5\x8f\xa3", "description": "a", "fields_wanted": [], '
            b'"title": "other"}'
        )
        headers = auth(CONSUMER, **{"Content-Type": "application/json"})
        response = await http.post("/demands", content=body, headers=headers)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == "duplicate_json_key"
        assert "title" in problem["detail_zh"] and "'title'" in problem["detail_en"]
        assert problem["errors"][0]["loc"] == ["body", "title"]
        assert response.headers["x-request-id"] == problem["request_id"]
        nested = b'{"step": "platform_check", "action": "accept", "grant": {"scope": "a", "scope": "b"}}'
        response = await http.post(
            "/applications/SA-1/decisions",
            content=nested,
            headers=auth(PLATFORM, **{"Content-Type": "application/json; charset=utf-8"}),
        )
        assert response.status_code == 422 and response.json()["code"] == "duplicate_json_key"
        assert response.json()["errors"][0]["loc"] == ["body", "grant", "scope"]
        assert "grant.scope" in response.json()["detail_en"]
        # +json and no content type at all are JSON to FastAPI, so here too.
        for content_type in ("application/merge-patch+json", None):
            headers = auth(CONSUMER) | ({"Content-Type": content_type} if content_type else {})
            response = await http.post("/demands", content=b'{"a": 1, "a": 2}', headers=headers)
            assert response.json()["code"] == "duplicate_json_key", (content_type, response.text)


async def test_malformed_json_and_other_bodies_keep_their_answers(seeded_url):
    async with running(settings_for(seeded_url)) as client:
        http = client()
        headers = auth(CONSUMER, **{"Content-Type": "application/json"})
        broken = await http.post("/demands", content=b'{"title": "x", "title": ', headers=headers)
        assert broken.status_code == 422 and broken.json()["code"] == "malformed_json", broken.text
        created = await http.post(
            "/demands",
            json={"title": "人口数据需求", "fields_wanted": ["citizen_id"]},
            headers=auth(CONSUMER),
        )
        assert created.status_code == 201, created.text  # the replayed body reaches the route whole
        # A form is not JSON: the sign-in form is read as before.
        assert (await http.post("/ui/login", data={"username": "a", "username2": "b"})).status_code == 403


# -- uvicorn ----------------------------------------------------------------------------------------


def test_govshare_run_gives_uvicorn_its_limits(monkeypatch: pytest.MonkeyPatch):
    seen: dict = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **options: seen.update(options, app=app))
    monkeypatch.setattr(launcher.signing, "key_from_settings", lambda settings: b"k" * 32, raising=False)
    settings = Settings(api_timeout_keep_alive_s=7, api_limit_concurrency=100, api_max_header_bytes=8192)
    assert launcher.run_api(settings) == 0
    assert seen["app"] == "api.main:app"
    assert seen["timeout_keep_alive"] == 7 and seen["limit_concurrency"] == 100
    assert seen["h11_max_incomplete_event_size"] == 8192 and seen["http"] == "h11"
    assert seen["server_header"] is False and seen["date_header"] is True and seen["proxy_headers"] is False
    assert launcher.uvicorn_limits(Settings(api_limit_concurrency=0))["limit_concurrency"] is None


async def test_a_streamed_body_past_the_limit_is_still_413(seeded_url):
    """The duplicate-key check reads the body through the size limit: a chunked body that grows past
    ``MAX_BODY_BYTES`` is answered 413 as a problem, never a 500."""

    async def chunks():
        yield b'{"title": "'
        for _ in range(12):
            yield b"x" * 100_000
        yield b'"}'

    async with running(settings_for(seeded_url)) as client:
        response = await client().post(
            "/demands", content=chunks(), headers=auth(CONSUMER, **{"Content-Type": "application/json"})
        )
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
