"""Sign-in through OpenID Connect (``api/pages/oidc.py``) against a fake provider on loopback.

The provider is an ``http.server`` in a thread: its discovery document, its JWKS (an RSA key made
here) and a token endpoint that checks the client, the redirect URI and the PKCE verifier (S256)
before it answers with the ID token the test made. The browser's visit to the provider is played by
:meth:`FakeProvider.authorize` (it registers a code for the authorization request's parameters). The
app runs in-process with a temporary SQLite database and no Temporal server (the lifespan tolerates
it); none of the Temporal fixtures of ``tests/api/conftest.py`` is used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm
from sqlmodel import Session, func, select

from api.main import create_app
from api.pages import oidc, sessions
from govshare.core.models import PartyIdentity, UserAccount, WebSession
from govshare.core.settings import Settings

BASE = "http://govshare.test"
REDIRECT_URI = f"{BASE}/ui/oidc/callback"
CLIENT_ID = "govshare"
CLIENT_SECRET = "s3cret"
KID = "test-key-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Grant:
    """One authorization the fake provider gave: what the token endpoint must see, what it answers."""

    challenge: str
    client_id: str
    redirect_uri: str
    id_token: str
    used: bool = False


@dataclass
class FakeProvider:
    issuer: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    grants: dict[str, Grant] = field(default_factory=dict)
    #: Every token request: its form and whether the PKCE verifier matched the challenge.
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def claims(self, for_nonce: str, **overrides: Any) -> dict[str, Any]:
        """The default claims of a sign-in whose nonce is ``for_nonce``; an override of None drops one."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "u-100",
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "nonce": for_nonce,
            "department": "rsj",
            "roles": ["consumer", "provider", "citizen", "janitor"],
            "name": "王小明",
            "preferred_username": "wangxm",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], key: Any = None, algorithm: str = "RS256") -> str:
        return jwt.encode(claims, key or self.key, algorithm=algorithm, headers={"kid": KID})

    def authorize(self, query: dict[str, str], id_token: str, challenge: str | None = None) -> str:
        """The browser at the provider: a code for this authorization request, answered later with
        ``id_token`` (``challenge`` replaces the request's, to see a wrong verifier refused)."""
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            challenge=challenge or query["code_challenge"],
            client_id=query["client_id"],
            redirect_uri=query["redirect_uri"],
            id_token=id_token,
        )
        return code

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = self.grants.get(form.get("code", ""))
        verifier = form.get("code_verifier", "")
        pkce_ok = grant is not None and b64(hashlib.sha256(verifier.encode()).digest()) == grant.challenge
        self.token_requests.append({**form, "pkce_ok": pkce_ok})
        if (
            grant is None
            or grant.used
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != grant.client_id
            or form.get("client_secret") != CLIENT_SECRET
            or form.get("redirect_uri") != grant.redirect_uri
            or not pkce_ok
        ):
            return 400, {"error": "invalid_grant"}
        grant.used = True
        return 200, {
            "access_token": "at",
            "token_type": "Bearer",
            "expires_in": 60,
            "id_token": grant.id_token,
        }


def serve(provider: FakeProvider) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/.well-known/openid-configuration":
                self.answer(200, provider.discovery())
            elif path == "/jwks":
                self.answer(200, provider.jwks())
            else:
                self.answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/token":
                self.answer(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            self.answer(*provider.token(form))

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    server = serve(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def settings_for(tmp: Path, issuer: str) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp / 'govshare.db'}",
        temporal_address=f"127.0.0.1:{free_port()}",  # nothing listens: the app starts without it
        seed_demo=True,
        oidc_issuer=issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_redirect_uri=REDIRECT_URI,
    )


def with_oidc_routes(app: FastAPI) -> FastAPI:
    """The lead's ``create_app`` includes the router; until it does, the test adds it."""
    if not any(getattr(route, "path", None) == "/ui/oidc/callback" for route in app.routes):
        app.include_router(oidc.router)
    return app


@pytest.fixture(scope="module")
async def app(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    application = with_oidc_routes(create_app(settings_for(tmp_path_factory.mktemp("oidc"), provider.issuer)))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh browser (its own cookies) for each test."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


@dataclass
class Started:
    response: httpx.Response
    query: dict[str, str]


async def start(http: httpx.AsyncClient, next_page: str = "/ui/inbox") -> Started:
    response = await http.get("/ui/login/oidc", params={"next": next_page})
    assert response.status_code == 303, response.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    return Started(response, query)


async def sign_in(
    http: httpx.AsyncClient,
    provider: FakeProvider,
    make_token: Callable[[str], str] | None = None,
    *,
    next_page: str = "/ui/inbox",
    state: str | None = None,
    challenge: str | None = None,
    **claims: Any,
) -> httpx.Response:
    """The whole round: start, the provider's code (with the token ``make_token(nonce)``, or one
    signed from the default claims and ``claims``), the callback."""
    started = await start(http, next_page)
    nonce = started.query["nonce"]
    id_token = make_token(nonce) if make_token else provider.sign(provider.claims(nonce, **claims))
    code = provider.authorize(started.query, id_token, challenge=challenge)
    return await http.get(
        "/ui/oidc/callback", params={"code": code, "state": state or started.query["state"]}
    )


def refused_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.msg["reason"]
        for r in caplog.records
        if r.name == "govshare.pages" and isinstance(r.msg, dict) and r.msg.get("event") == "oidc_refused"
    ]


def count(app: FastAPI, model: Any, *where: Any) -> int:
    with Session(app.state.engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def user_by_subject(app: FastAPI, subject: str) -> UserAccount | None:
    with Session(app.state.engine) as session:
        return session.exec(select(UserAccount).where(UserAccount.oidc_subject == subject)).first()


def cookie_header(response: httpx.Response, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


# -- the start ---------------------------------------------------------------------------------------


async def test_start_redirects_with_state_nonce_and_pkce(
    http: httpx.AsyncClient, provider: FakeProvider
) -> None:
    started = await start(http)
    location = urlsplit(started.response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.issuer}/authorize"
    query = started.query
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["scope"].split() == ["openid", "profile"]
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32 and query["state"] != query["nonce"]
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256
    # The cookie holds the state, nonce and verifier: HttpOnly, Lax, only for /ui, short-lived.
    flow = cookie_header(started.response, oidc.FLOW_COOKIE)
    attributes = flow.lower()
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/ui" in attributes
    assert "max-age=600" in attributes
    assert "secure" not in attributes  # development: plain http
    value = flow.split(";", 1)[0].split("=", 1)[1]
    state, nonce, verifier, _next = value.split(".")
    assert (state, nonce) == (query["state"], query["nonce"])
    assert b64(hashlib.sha256(verifier.encode()).digest()) == query["code_challenge"]
    # Each start is a new sign-in.
    again = await start(http)
    assert again.query["state"] != query["state"] and again.query["code_challenge"] != query["code_challenge"]


# -- signing in --------------------------------------------------------------------------------------


async def test_a_good_token_signs_in_and_creates_the_user(
    app: FastAPI, http: httpx.AsyncClient, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    subject = f"{provider.issuer}|u-100"
    before = len(provider.token_requests)
    response = await sign_in(http, provider)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui/inbox"
    session_cookie = cookie_header(response, sessions.COOKIE)
    attributes = [part.strip().lower() for part in session_cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert not any(a.startswith(("max-age", "expires")) for a in attributes)  # the server ends it
    assert "max-age=0" in cookie_header(response, oidc.FLOW_COOKIE).lower()  # the flow cookie is gone
    # The token endpoint got the client's secret and the verifier matching the challenge.
    [request] = provider.token_requests[before:]
    assert request["pkce_ok"] and request["client_secret"] == CLIENT_SECRET
    assert request["redirect_uri"] == REDIRECT_URI

    user = user_by_subject(app, subject)
    assert user is not None
    assert user.username == "wangxm" and user.display_name == "王小明"
    assert user.department_code == "rsj"
    assert user.roles == ["consumer", "provider"]  # citizen and unknown roles are not taken
    assert user.password_hash is None
    with Session(app.state.engine) as session:
        identity = session.get(PartyIdentity, user.person_id)
        assert identity is not None and identity.department == "rsj" and identity.kind == "person"
        [web] = session.exec(select(WebSession).where(WebSession.user_id == user.id)).all()
    assert web.method == "oidc" and web.role == "consumer"
    token = session_cookie.split(";", 1)[0].split("=", 1)[1]
    signed_in = sessions.load(app.state.engine, app.state.settings, token)
    assert signed_in is not None and signed_in.username == "wangxm" and signed_in.method == "oidc"
    assert signed_in.caller.department == "rsj"
    # No token, code or secret in the log.
    logged = "\n".join(str(r.msg) for r in caplog.records)
    assert request["code"] not in logged and CLIENT_SECRET not in logged and token not in logged
    assert provider.grants[request["code"]].id_token not in logged

    # The second sign-in finds the same user; its roles and name follow the provider.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as other:
        again = await sign_in(other, provider, next_page="//evil.example/x", roles="auditor", name="王晓明")
    assert again.status_code == 303 and again.headers["location"] == "/ui/"  # never off-site
    assert count(app, UserAccount, UserAccount.oidc_subject == subject) == 1
    refreshed = user_by_subject(app, subject)
    assert refreshed is not None and refreshed.id == user.id
    assert refreshed.roles == ["auditor"] and refreshed.display_name == "王晓明"
    assert refreshed.username == "wangxm" and refreshed.department_code == "rsj"
    assert count(app, WebSession, WebSession.user_id == user.id, WebSession.method == "oidc") == 2
    # The first session acted as consumer, a role the user no longer holds: it has ended.
    assert sessions.load(app.state.engine, app.state.settings, token) is None


async def test_a_taken_or_unusable_username_falls_back(app: FastAPI, provider: FakeProvider) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        first = await sign_in(client, provider, sub="u-199", preferred_username="zhang.san")
    assert first.status_code == 303 and user_by_subject(app, f"{provider.issuer}|u-199") is not None
    for sub, preferred in (("u-200", "zhang.san"), ("u-201", "Not A Name!")):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            response = await sign_in(client, provider, sub=sub, preferred_username=preferred, name=None)
        assert response.status_code == 303 and response.headers["location"] == "/ui/inbox"
        subject = f"{provider.issuer}|{sub}"
        user = user_by_subject(app, subject)
        expected = "oidc-" + hashlib.sha256(subject.encode()).hexdigest()[:12]
        assert user is not None and user.username == expected and user.display_name == expected


# -- refusals ----------------------------------------------------------------------------------------


def other_key_token(provider: FakeProvider) -> Callable[[str], str]:
    other = rsa.generate_private_key(65537, 2048)
    return lambda nonce: provider.sign(provider.claims(nonce, sub="u-300"), key=other)


def unsigned_token(provider: FakeProvider) -> Callable[[str], str]:
    def make(nonce: str) -> str:
        header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": KID}).encode())
        body = b64(json.dumps(provider.claims(nonce, sub="u-301")).encode())
        return f"{header}.{body}."

    return make


def hmac_token(provider: FakeProvider) -> Callable[[str], str]:
    secret = CLIENT_SECRET.encode() * 6  # the client secret (padded to HS256's minimum length)
    return lambda nonce: provider.sign(provider.claims(nonce, sub="u-302"), key=secret, algorithm="HS256")


def claims_token(provider: FakeProvider, **overrides: Any) -> Callable[[str], str]:
    return lambda nonce: provider.sign(provider.claims(nonce, **overrides))


REFUSALS: dict[str, tuple[Callable[[FakeProvider], Callable[[str], str]], str, str]] = {
    "wrong audience": (
        lambda p: claims_token(p, sub="u-400", aud="someone-else"),
        "token_invalid",
        "wrong_audience",
    ),
    "expired": (
        lambda p: claims_token(p, sub="u-401", exp=int(time.time()) - 120, iat=int(time.time()) - 400),
        "token_invalid",
        "expired",
    ),
    "bad signature": (other_key_token, "token_invalid", "bad_signature"),
    "wrong issuer": (
        lambda p: claims_token(p, sub="u-402", iss="http://127.0.0.1:1"),
        "token_invalid",
        "wrong_issuer",
    ),
    "wrong nonce": (
        lambda p: lambda _nonce: p.sign(p.claims("another-sign-in", sub="u-403")),
        "token_invalid",
        "wrong_nonce",
    ),
    "no nonce": (lambda p: claims_token(p, sub="u-404", nonce=None), "token_invalid", "wrong_nonce"),
    "alg none": (unsigned_token, "token_invalid", "algorithm_refused"),
    "alg HS256": (hmac_token, "token_invalid", "algorithm_refused"),
    "issued long ago": (
        lambda p: claims_token(p, sub="u-405", iat=int(time.time()) - 3600),
        "token_invalid",
        "issued_too_long_ago",
    ),
    "other azp": (lambda p: claims_token(p, sub="u-406", azp="someone-else"), "token_invalid", "wrong_azp"),
    "unknown department": (lambda p: claims_token(p, sub="u-407", department="nowhere"), "no_department", ""),
    "no department": (lambda p: claims_token(p, sub="u-408", department=None), "no_department", ""),
    "no usable roles": (lambda p: claims_token(p, sub="u-409", roles=["citizen", "janitor"]), "no_roles", ""),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_bad_token_is_refused(
    case: str,
    app: FastAPI,
    http: httpx.AsyncClient,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    make, code, reason = REFUSALS[case]
    users, web_sessions = count(app, UserAccount), count(app, WebSession)
    response = await sign_in(http, provider, make(provider))
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/login?oidc_error={code}"
    assert sessions.COOKIE not in response.cookies
    assert "max-age=0" in cookie_header(response, oidc.FLOW_COOKIE).lower()
    assert provider.token_requests[-1]["pkce_ok"]  # the exchange itself was fine: the token was not
    if reason:
        assert refused_reasons(caplog)[-1] == reason
    assert (count(app, UserAccount), count(app, WebSession)) == (users, web_sessions)


async def test_a_wrong_state_is_refused(
    app: FastAPI, http: httpx.AsyncClient, provider: FakeProvider
) -> None:
    web_sessions = count(app, WebSession)
    requests = len(provider.token_requests)
    response = await sign_in(http, provider, state="forged-by-another-site", sub="u-500")
    assert response.headers["location"] == "/ui/login?oidc_error=state_mismatch"
    assert len(provider.token_requests) == requests  # the code was never exchanged
    # A callback without a sign-in started in this browser (no flow cookie) is refused the same way.
    started = await start(http)
    http.cookies.clear()
    response = await http.get("/ui/oidc/callback", params={"code": "x", "state": started.query["state"]})
    assert response.headers["location"] == "/ui/login?oidc_error=state_mismatch"
    assert count(app, WebSession) == web_sessions


async def test_a_wrong_code_verifier_is_refused_by_the_provider(
    http: httpx.AsyncClient, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    other_challenge = b64(hashlib.sha256(b"not the verifier").digest())
    response = await sign_in(http, provider, challenge=other_challenge, sub="u-501")
    assert response.headers["location"] == "/ui/login?oidc_error=token_invalid"
    assert provider.token_requests[-1]["pkce_ok"] is False
    assert refused_reasons(caplog)[-1] == "token_endpoint_refused"


async def test_the_provider_answers_an_error(http: httpx.AsyncClient) -> None:
    started = await start(http)
    response = await http.get(
        "/ui/oidc/callback", params={"error": "access_denied", "state": started.query["state"]}
    )
    assert response.headers["location"] == "/ui/login?oidc_error=provider_error"


async def test_a_disabled_user_is_refused(
    app: FastAPI, http: httpx.AsyncClient, provider: FakeProvider
) -> None:
    assert (await sign_in(http, provider, sub="u-600", preferred_username="li.si")).headers[
        "location"
    ] == "/ui/inbox"
    with Session(app.state.engine) as session:
        user = session.exec(select(UserAccount).where(UserAccount.username == "li.si")).one()
        user.disabled_at = datetime.now(UTC)
        session.add(user)
        session.commit()
        user_id = user.id
    response = await sign_in(http, provider, sub="u-600", preferred_username="li.si")
    assert response.headers["location"] == "/ui/login?oidc_error=user_disabled"
    assert count(app, WebSession, WebSession.user_id == user_id) == 1


async def test_an_unreachable_provider(tmp_path: Path) -> None:
    app = with_oidc_routes(create_app(settings_for(tmp_path, f"http://127.0.0.1:{free_port()}")))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        response = await client.get("/ui/login/oidc")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?oidc_error=provider_unreachable"


async def test_oidc_off(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "")
    assert not oidc.oidc_enabled(settings) and oidc.oidc_enabled(settings_for(tmp_path, "https://id.example"))
    app = with_oidc_routes(create_app(settings))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        start_page = await client.get("/ui/login/oidc")
        callback = await client.get("/ui/oidc/callback", params={"code": "x", "state": "y"})
    for response in (start_page, callback):
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?oidc_error=disabled"
