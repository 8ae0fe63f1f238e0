"""Sign-in through an OpenID Connect provider (the authorization code flow with PKCE).

Configure (environment or ``.env``; ``govshare.core.settings.Settings``):

* ``OIDC_ISSUER`` — the provider's issuer URL, exactly as its discovery document names it
  (``<issuer>/.well-known/openid-configuration`` is read, and kept 10 minutes per process). Empty:
  OIDC is off and the sign-in page shows passwords only (:func:`oidc_enabled`).
* ``OIDC_CLIENT_ID`` / ``OIDC_CLIENT_SECRET`` — the client registered at the provider; the secret is
  sent in the token request's body (``client_secret_post``). A public client leaves it empty.
* ``OIDC_REDIRECT_URI`` — ``<public address>/ui/oidc/callback``, registered at the provider.
* ``OIDC_SCOPES`` (``openid profile``; ``openid`` is added if missing), and the claims read from the
  ID token: ``OIDC_DEPARTMENT_CLAIM`` (``department``: a department code known here),
  ``OIDC_ROLES_CLAIM`` (``roles``: a list, or one string of roles separated by spaces or commas) and
  ``OIDC_NAME_CLAIM`` (``name``).

The flow. ``GET /ui/login/oidc?next=/ui/…`` makes a random ``state``, ``nonce`` and PKCE verifier
(S256, RFC 7636), keeps them with ``next`` in the short-lived cookie ``govshare_oidc`` (HttpOnly,
SameSite=Lax, Secure outside development, path ``/ui``, 10 minutes) and sends the browser to the
provider. Only this site can set that cookie, so a callback whose ``state`` equals the cookie's was
started by this browser here (no login CSRF); the verifier means an intercepted code is useless to
anyone else. ``GET /ui/oidc/callback`` then exchanges the code at the token endpoint and checks the
ID token as OpenID Connect Core 1.0 §3.1.3.7 asks:

1. the signature, with the provider's key from its JWKS (``jwks_uri``, by ``kid``): only RS256 and
   ES256 are accepted, and the key must be of that algorithm — never ``none``, never an HMAC
   (HS256 would let anyone who knows the client secret, or a public key, mint tokens);
2. ``iss`` is exactly the configured issuer (and the discovery document names that issuer too);
3. ``aud`` contains the client id, and ``azp``, when present, is the client id;
4. ``exp`` has not passed and ``iat`` is neither in the future nor older than 10 minutes, each with
   60 s of leeway for clocks;
5. ``nonce`` equals the one this browser's cookie holds (the token was issued for this sign-in and
   is not replayed).

The user. The subject key is ``<iss>|<sub>`` (``UserAccount.oidc_subject``). A first sign-in creates
the user, without a password: its department is the department claim (a code that must exist here),
its roles the roles claim intersected with the departmental roles (``OIDC_ROLES``; ``citizen`` is
never taken from a provider), its username ``preferred_username`` when that is a valid, free
username, else ``oidc-`` and 12 hex of SHA-256(subject key). Later sign-ins find the user by the
subject key: a disabled user is refused; **its roles are replaced by the claim's on every sign-in —
the provider is the source of truth**, so a role withdrawn there is gone here at the next sign-in (a
session acting in a role the user lost ends at once, ``api.pages.sessions.load``); the display name
follows the name claim; the department and username never change.

Every refusal sends the browser to ``/ui/login?oidc_error=<code>`` (:data:`ERROR_CODES`) and logs the
reason on ``govshare.pages`` — never a token, a code or a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import secrets
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import jwt
import structlog
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.pages.sessions import COOKIE, open_session
from govshare.core.models import Department, PartyIdentity, UserAccount, new_party_id
from govshare.core.settings import Settings

log = structlog.get_logger("govshare.pages")

router = APIRouter(prefix="/ui", include_in_schema=False)

#: The cookie holding one sign-in's state, nonce, PKCE verifier and ``next``.
FLOW_COOKIE = "govshare_oidc"
FLOW_COOKIE_PATH = "/ui"
#: How long a sign-in at the provider may take.
FLOW_SECONDS = 600
DISCOVERY_TTL_S = 600.0
JWKS_TTL_S = 300.0
HTTP_TIMEOUT_S = 10.0
#: The largest answer read from the provider (discovery document, token response).
MAX_ANSWER_BYTES = 1_000_000
LEEWAY_S = 60
#: An ID token issued longer ago than this (plus leeway) is refused: it was just issued, or it is old.
MAX_TOKEN_AGE_S = 600
#: The only signature algorithms accepted (asymmetric; never "none", never HS*).
ALGORITHMS = ("RS256", "ES256")
#: The roles a provider may give (``citizen`` is not among them: a citizen is no department's user).
OIDC_ROLES = frozenset(
    {
        "consumer",
        "provider",
        "platform",
        "leading_group",
        "coordinator",
        "government_office",
        "auditor",
        "principal_head",
    }
)
#: The values of ``oidc_error`` this module sends to the sign-in page.
ERROR_CODES = (
    "disabled",  # OIDC not configured
    "user_disabled",  # the user is disabled here
    "state_mismatch",  # no sign-in started in this browser, or another one's answer
    "provider_error",  # the provider answered with an error (e.g. the person cancelled)
    "provider_unreachable",  # discovery, token endpoint or JWKS not reachable / not usable
    "token_invalid",  # the code was refused, or the ID token failed a check
    "no_department",  # the department claim names no department here
    "no_roles",  # the roles claim holds none of OIDC_ROLES
)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
#: ``UserAccount.oidc_subject`` is at most this long.
MAX_SUBJECT_KEY = 300
MAX_DISPLAY_NAME = 200


def oidc_enabled(settings: Settings) -> bool:
    """OIDC sign-in is offered: an issuer, a client id and a redirect URI are configured."""
    return bool(
        settings.oidc_issuer.strip()
        and settings.oidc_client_id.strip()
        and settings.oidc_redirect_uri.strip()
    )


class Refused(Exception):
    """A sign-in refused: ``code`` goes to the sign-in page, ``reason`` (and ``fields``) to the log."""

    def __init__(self, code: str, reason: str, **fields: Any) -> None:
        super().__init__(f"{code}: {reason}")
        assert code in ERROR_CODES
        self.code = code
        self.reason = reason
        self.fields = fields


# -- the provider ----------------------------------------------------------------------------------

_discovery: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_lock = threading.Lock()


def _http_json(url: str, form: dict[str, str] | None = None) -> Any:
    """GET (or, with ``form``, POST form-encoded) ``url`` and parse its JSON answer. Raises
    ``urllib.error.HTTPError`` for an error status (its body unread), ``OSError`` / ``HTTPException``
    when the provider is not reachable, ``ValueError`` for an answer that is not JSON."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    data = urllib.parse.urlencode(form).encode("ascii") if form is not None else None
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if form else "GET")
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        body = response.read(MAX_ANSWER_BYTES + 1)
    if len(body) > MAX_ANSWER_BYTES:
        raise ValueError("answer too large")
    return json.loads(body)


def _is_http_url(value: Any) -> bool:
    return isinstance(value, str) and urllib.parse.urlsplit(value).scheme in ("http", "https")


def discovery(settings: Settings) -> dict[str, Any]:
    """The provider's discovery document (OpenID Connect Discovery 1.0), cached ``DISCOVERY_TTL_S``.
    Blocking: call it in a thread."""
    issuer = settings.oidc_issuer
    now = time.monotonic()
    with _lock:
        cached = _discovery.get(issuer)
    if cached is not None and now - cached[0] < DISCOVERY_TTL_S:
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        document = _http_json(url)
    except (OSError, http.client.HTTPException) as err:  # URLError and HTTPError are OSErrors
        raise Refused("provider_unreachable", "discovery_unreachable", url=url, error=str(err)) from err
    except ValueError as err:
        raise Refused("provider_unreachable", "discovery_not_json", url=url) from err
    if not isinstance(document, dict):
        raise Refused("provider_unreachable", "discovery_not_an_object", url=url)
    # Discovery §4.3: the document's issuer is exactly the one asked for.
    if document.get("issuer") != issuer:
        raise Refused(
            "provider_unreachable", "discovery_issuer_differs", url=url, named=str(document.get("issuer"))
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not _is_http_url(document.get(name)):
            raise Refused("provider_unreachable", "discovery_incomplete", url=url, missing=name)
    with _lock:
        _discovery[issuer] = (now, document)
    return document


def _jwks_client(jwks_uri: str) -> jwt.PyJWKClient:
    with _lock:
        client = _jwks_clients.get(jwks_uri)
        if client is None:
            client = jwt.PyJWKClient(jwks_uri, lifespan=JWKS_TTL_S, timeout=HTTP_TIMEOUT_S)
            _jwks_clients[jwks_uri] = client
        return client


def _exchange_code(settings: Settings, token_endpoint: str, code: str, verifier: str) -> str:
    """The ID token for ``code`` (the token endpoint, ``client_secret_post`` and the PKCE verifier)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": settings.oidc_redirect_uri,
        "client_id": settings.oidc_client_id,
        "code_verifier": verifier,
    }
    if settings.oidc_client_secret:
        form["client_secret"] = settings.oidc_client_secret
    try:
        answer = _http_json(token_endpoint, form)
    except urllib.error.HTTPError as err:
        if err.code >= 500:
            err.close()
            raise Refused("provider_unreachable", "token_endpoint_failed", status=err.code) from err
        error = ""
        try:
            error = str(json.loads(err.read(10_000)).get("error", ""))[:64]
        except Exception:  # the refusal's body is only for the log
            pass
        finally:
            err.close()
        raise Refused("token_invalid", "token_endpoint_refused", status=err.code, error=error) from err
    except (OSError, http.client.HTTPException) as err:
        raise Refused("provider_unreachable", "token_endpoint_unreachable", error=str(err)) from err
    except ValueError as err:
        raise Refused("token_invalid", "token_answer_not_json") from err
    id_token = answer.get("id_token") if isinstance(answer, dict) else None
    if not isinstance(id_token, str) or not id_token:
        raise Refused("token_invalid", "no_id_token")
    return id_token


def verify_id_token(settings: Settings, jwks_uri: str, id_token: str, nonce: str) -> dict[str, Any]:
    """The ID token's claims, once every check of OpenID Connect Core §3.1.3.7 passed (module doc).
    Blocking (the JWKS may be fetched): call it in a thread."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as err:
        raise Refused("token_invalid", "malformed", error=type(err).__name__) from err
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise Refused("token_invalid", "algorithm_refused", alg=str(alg)[:16])
    client = _jwks_client(jwks_uri)
    kid = header.get("kid")
    try:
        if isinstance(kid, str) and kid:
            key = client.get_signing_key(kid)
        else:
            keys = client.get_signing_keys()
            if len(keys) != 1:
                raise Refused("token_invalid", "no_kid_and_several_keys")
            key = keys[0]
    except jwt.PyJWKClientConnectionError as err:
        raise Refused("provider_unreachable", "jwks_unreachable", error=str(err)) from err
    except jwt.PyJWTError as err:
        raise Refused(
            "token_invalid", "no_matching_key", kid=str(kid)[:64], error=type(err).__name__
        ) from err
    if key.algorithm_name != alg:
        raise Refused("token_invalid", "key_algorithm_differs", alg=alg, key_alg=key.algorithm_name)
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key.key,
            algorithms=[alg],
            audience=settings.oidc_client_id,
            issuer=settings.oidc_issuer,
            leeway=LEEWAY_S,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.InvalidSignatureError as err:
        raise Refused("token_invalid", "bad_signature") from err
    except jwt.ExpiredSignatureError as err:
        raise Refused("token_invalid", "expired") from err
    except jwt.InvalidAudienceError as err:
        raise Refused("token_invalid", "wrong_audience") from err
    except jwt.InvalidIssuerError as err:
        raise Refused("token_invalid", "wrong_issuer") from err
    except jwt.PyJWTError as err:
        raise Refused("token_invalid", "claims_refused", error=type(err).__name__) from err
    azp = claims.get("azp")
    if azp is not None and azp != settings.oidc_client_id:
        raise Refused("token_invalid", "wrong_azp")
    if int(claims["iat"]) < time.time() - MAX_TOKEN_AGE_S - LEEWAY_S:
        raise Refused("token_invalid", "issued_too_long_ago")
    given_nonce = claims.get("nonce")
    if not isinstance(given_nonce, str) or not hmac.compare_digest(given_nonce.encode(), nonce.encode()):
        raise Refused("token_invalid", "wrong_nonce")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Refused("token_invalid", "no_subject")
    return claims


# -- the flow cookie -------------------------------------------------------------------------------


def _local_next(value: str | None) -> str:
    """``next`` when it is a page of this site (``/ui`` or below), else ``/ui/``: never elsewhere."""
    if (
        value
        and (value == "/ui" or value.startswith(("/ui/", "/ui?")))
        and "\\" not in value
        and all(ch.isprintable() and not ch.isspace() for ch in value)
    ):
        return value
    return "/ui/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _flow_value(state: str, nonce: str, verifier: str, next_page: str) -> str:
    # token_urlsafe and base64url never hold ".": the four parts split back unambiguously.
    return ".".join((state, nonce, verifier, _b64(next_page.encode("utf-8"))))


def _parse_flow(value: str | None) -> tuple[str, str, str, str] | None:
    parts = (value or "").split(".")
    if len(parts) != 4 or not all(parts[:3]):
        return None
    state, nonce, verifier, encoded = parts
    try:
        next_page = _local_next(_unb64(encoded).decode("utf-8"))
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    return state, nonce, verifier, next_page


def _pkce_challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


# -- claims → user ---------------------------------------------------------------------------------


def _text(value: Any, limit: int) -> str:
    """A claim as storable text: a string without control characters or lone surrogates, trimmed."""
    if not isinstance(value, str):
        return ""
    kept = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cs", "Cf"))
    return kept.strip()[:limit]


def claimed_roles(settings: Settings, claims: dict[str, Any]) -> list[str]:
    """The roles claim (a list, or a string of names separated by spaces or commas) ∩ ``OIDC_ROLES``,
    in the claim's order, each once."""
    value = claims.get(settings.oidc_roles_claim)
    if isinstance(value, str):
        names: list[Any] = re.split(r"[\s,]+", value)
    elif isinstance(value, list):
        names = value
    else:
        return []
    roles: list[str] = []
    for name in names:
        if isinstance(name, str) and name in OIDC_ROLES and name not in roles:
            roles.append(name)
    return roles


def _free_username(session: Session, claims: dict[str, Any], subject_key: str) -> str:
    preferred = claims.get("preferred_username")
    candidates = []
    if isinstance(preferred, str) and USERNAME.match(preferred):
        candidates.append(preferred)
    digest = hashlib.sha256(subject_key.encode("utf-8")).hexdigest()
    candidates += [f"oidc-{digest[:12]}", f"oidc-{digest[:20]}", f"oidc-{digest[:32]}"]
    for name in candidates:
        if session.exec(select(UserAccount.id).where(UserAccount.username == name)).first() is None:
            return name
    return f"oidc-{digest[:40]}"


def _create_user(
    session: Session, *, username: str, display_name: str, department: str, roles: list[str], sub: str
) -> UserAccount:
    """A user without a password, and its party identity (a person of ``department``)."""
    now = datetime.now(UTC)
    id_number = f"oidc:{sub}"
    if len(id_number) > 64:
        id_number = "oidc:sha256:" + hashlib.sha256(sub.encode("utf-8")).hexdigest()[:52]
    identity = PartyIdentity(
        id=new_party_id(),
        kind="person",
        name=display_name,
        id_type="other",
        id_number=id_number,
        department=department,
        created_at=now,
    )
    session.add(identity)
    session.flush()
    user = UserAccount(
        username=username,
        display_name=display_name,
        department_code=department,
        person_id=identity.id,
        roles=roles,
        password_hash=None,
        created_at=now,
    )
    session.add(user)
    return user


def user_for_claims(engine: Engine, settings: Settings, claims: dict[str, Any]) -> UserAccount:
    """The user the verified claims name: found by subject key (roles and display name refreshed),
    or created. Blocking: call it in a thread."""
    subject_key = f"{claims['iss']}|{claims['sub']}"
    if len(subject_key) > MAX_SUBJECT_KEY:
        raise Refused("token_invalid", "subject_too_long")
    roles = claimed_roles(settings, claims)
    name = _text(claims.get(settings.oidc_name_claim), MAX_DISPLAY_NAME)
    for attempt in (1, 2):
        with Session(engine) as session:
            user = session.exec(select(UserAccount).where(UserAccount.oidc_subject == subject_key)).first()
            if user is not None:
                if user.disabled_at is not None:
                    raise Refused("user_disabled", "user_disabled", user=user.username)
                if not roles:
                    raise Refused("no_roles", "no_known_roles", user=user.username)
                if roles != list(user.roles):
                    log.info("oidc_roles_refreshed", user=user.username, was=list(user.roles), now=roles)
                    user.roles = roles
                if name and name != user.display_name:
                    user.display_name = name
                session.add(user)
                session.commit()
                session.refresh(user)
                return user
            department = claims.get(settings.oidc_department_claim)
            if not isinstance(department, str) or session.get(Department, department) is None:
                raise Refused("no_department", "unknown_department", department=str(department)[:64])
            if not roles:
                raise Refused("no_roles", "no_known_roles")
            username = _free_username(session, claims, subject_key)
            user = _create_user(
                session,
                username=username,
                display_name=name or username,
                department=department,
                roles=roles,
                sub=str(claims["sub"]),
            )
            user.oidc_subject = subject_key
            try:
                session.commit()
            except IntegrityError:
                # Two first sign-ins of one subject at once (or a username taken meanwhile): look again.
                session.rollback()
                if attempt == 2:
                    raise
                continue
            session.refresh(user)
            log.info("oidc_user_created", user=username, department=department, roles=roles)
            return user
    raise AssertionError("unreachable")


# -- the routes ------------------------------------------------------------------------------------


def _to_login(code: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/login?oidc_error={code}", status_code=303)


def _forget_flow(response: RedirectResponse, settings: Settings) -> RedirectResponse:
    response.delete_cookie(
        FLOW_COOKIE, path=FLOW_COOKIE_PATH, secure=settings.cookie_secure, httponly=True, samesite="lax"
    )
    return response


def _refused(refusal: Refused, settings: Settings) -> RedirectResponse:
    log.warning("oidc_refused", code=refusal.code, reason=refusal.reason, **refusal.fields)
    return _forget_flow(_to_login(refusal.code), settings)


@router.get("/login/oidc")
async def oidc_login(request: Request, next_page: str = Query("/ui/", alias="next")) -> RedirectResponse:
    """Start a sign-in at the provider (303 to its authorization endpoint)."""
    settings: Settings = request.app.state.settings
    if not oidc_enabled(settings):
        return _to_login("disabled")
    try:
        document = await run_in_threadpool(discovery, settings)
    except Refused as refusal:
        return _refused(refusal, settings)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43–128)
    scopes = settings.oidc_scopes.split()
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "redirect_uri": settings.oidc_redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": _pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    endpoint = document["authorization_endpoint"]
    response = RedirectResponse(f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        _flow_value(state, nonce, verifier, _local_next(next_page)),
        max_age=FLOW_SECONDS,
        path=FLOW_COOKIE_PATH,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/oidc/callback")
async def oidc_callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> RedirectResponse:
    """The provider's answer: check it, find or create the user, open a session."""
    settings: Settings = request.app.state.settings
    if not oidc_enabled(settings):
        return _forget_flow(_to_login("disabled"), settings)
    try:
        flow = _parse_flow(request.cookies.get(FLOW_COOKIE))
        if flow is None:
            raise Refused("state_mismatch", "no_sign_in_started")
        expected_state, nonce, verifier, next_page = flow
        if not state or not hmac.compare_digest(state.encode(), expected_state.encode()):
            raise Refused("state_mismatch", "state_differs")
        if error is not None:
            raise Refused("provider_error", "provider_answered_error", error=_text(error, 64))
        if not code:
            raise Refused("provider_error", "no_code")
        document = await run_in_threadpool(discovery, settings)
        id_token = await run_in_threadpool(
            _exchange_code, settings, document["token_endpoint"], code, verifier
        )
        claims = await run_in_threadpool(verify_id_token, settings, document["jwks_uri"], id_token, nonce)
        engine = request.app.state.engine
        user = await run_in_threadpool(user_for_claims, engine, settings, claims)
        token = await run_in_threadpool(open_session, engine, settings, user, method="oidc")
    except Refused as refusal:
        return _refused(refusal, settings)
    response = RedirectResponse(next_page, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=settings.cookie_secure, path="/")
    response.headers["Cache-Control"] = "no-store"
    return _forget_flow(response, settings)
