"""All configuration in one place (environment variables, or a ``.env`` file beside the project).

The API, the worker and the launcher read the same ``settings`` instance, so one variable changes
one thing everywhere.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Every spelling ``ENVIRONMENT`` accepts (stripped, any case) and what it means. Anything else is
#: refused at start: a typo must not turn production's checks off (issue 23).
ENVIRONMENTS: dict[str, str] = {
    "development": "development",
    "dev": "development",
    "test": "test",
    "staging": "staging",
    "production": "production",
    "prod": "production",
    "live": "production",
}


def _rate_limits(value: str) -> str:
    """A rate limit in the notation of the ``limits`` package (``20/minute``, ``60/minute;600/hour``,
    ``30 per 15 minutes``), or ``0`` / empty: no limit. Refused at start when it does not parse."""
    text = str(value).strip()
    if text in ("", "0"):
        return "0"
    from limits import parse_many

    try:
        parse_many(text)
    except ValueError as err:
        raise ValueError(
            f"not a rate limit: {text!r} (e.g. 20/minute or 60/minute;600/hour; 0: none)"
        ) from err
    return text


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    #: "development" (make run, tests), "test", "staging" or "production" (also spelled dev, prod,
    #: live; any case): normalised by ``_known_environment``. Production refuses the demo defaults.
    environment: str = "development"

    #: SQLite file under var/ by default; PostgreSQL with e.g. postgresql://user:pw@host/db.
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'govshare.db'}"

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "govshare"
    #: mTLS to a Temporal cluster's frontend: PEM files of this client's certificate and key, and the
    #: CA that signed the frontend's certificate (empty: no TLS, as the embedded dev server on loopback).
    temporal_tls_cert: str = ""
    temporal_tls_key: str = ""
    temporal_tls_ca: str = ""
    #: The key the API signs every Update's actor with and the worker checks (issue 23): at least 32
    #: bytes, hex or base64, the same for both. Empty: ``<var_dir>/actor-signing.key``, which
    #: ``govshare run`` creates (``workflows/engine/signing.py``).
    actor_signing_key: SecretStr = SecretStr("")

    #: Where `govshare run` keeps the Temporal dev server's SQLite file and logs.
    var_dir: Path = PROJECT_ROOT / "var"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_ui_port: int = 8233
    #: The dev server's SQLite pragmas. WAL + synchronous=normal is ~3.5x faster and survives a crash
    #: of any process, but a power cut may lose the last commits (README, Operations). Set to "" for
    #: the server's defaults (slower, fully synchronous).
    temporal_sqlite_pragmas: str = "journal_mode=wal,synchronous=normal"
    #: Dynamic config values for the dev server, comma-separated ``key=value``. The default lifts the
    #: history service's transfer-queue reader from 20 to 1,000 reads a second: at 20 a workflow task
    #: that follows an activity waits up to 50 ms to be dispatched, which set a one-client case's time
    #: (bench/bare_workflow.py). Set to "" for the server's defaults.
    temporal_dynamic_config: str = "history.transferProcessorMaxPollRPS=1000"
    #: Days a closed case's Temporal history is kept for replay (auditors). Luzhou 35: logs ≥ 2 years.
    temporal_retention_days: int = 3650

    #: The department that operates the sharing platform (共享平台建设运维管理部门) in this deployment.
    platform_department: str = "bdb"
    #: The profile new cases run under unless the request names one.
    default_profile: str = "hubei"
    #: Seed demo departments, resources and tokens on first start (development only).
    seed_demo: bool = True

    log_format: str = "auto"  # auto | console | json
    log_level: str = "INFO"

    # -- load: one API process (issue 13) --------------------------------------------------------
    #: Requests one API process works on at once. A request beyond that waits up to
    #: ``api_admission_wait_s`` for a free place, then is answered 503 + Retry-After (never a stall).
    api_max_in_flight: int = Field(default=64, ge=1)
    api_admission_wait_s: float = Field(default=2.0, ge=0)
    #: The ``Retry-After`` (seconds) of every overload / busy-database / pending answer.
    api_retry_after_s: int = Field(default=2, ge=1)
    #: The API's worker threads (synchronous routes and each DB step). The API's DB pool holds exactly
    #: this many connections, so a thread never waits for a connection held by a thread-less request.
    api_threads: int = Field(default=32, ge=1)
    #: How long a DB step may wait for a pooled connection before the request is answered 503.
    api_db_pool_timeout_s: float = Field(default=3.0, gt=0)
    #: How long an API write waits for SQLite's write lock (held by another process) before 503.
    api_sqlite_busy_timeout_s: float = Field(default=5.0, ge=0)
    #: How long a create / decision / withdrawal waits for the case to settle before it answers
    #: 202 (outcome pending, retry with the Idempotency-Key) instead of the settled case. Normally
    #: well under a second; 15 s outlasts the 10 s a crashed worker's cached cases wait (sticky queue
    #: schedule-to-start timeout) before another worker takes them, so a decision just after a worker
    #: restart still gets its answer.
    api_settle_timeout_s: float = Field(default=15.0, gt=0)
    #: Proxies whose ``X-Forwarded-For`` the access log believes (comma-separated addresses or
    #: networks, e.g. ``10.0.0.5,10.1.0.0/16``). A read's client is the peer's address unless the peer
    #: is listed: then the nearest address in ``X-Forwarded-For`` that is not a listed proxy. Empty
    #: (the default): the header is ignored, as anyone can send it.
    trusted_proxies: str = ""

    # -- limits (issue 23): per API process, in memory (the ``limits`` package, moving window) ----
    #: Failed bearer authentications (401) per client address; beyond it every bearer request from
    #: that address is answered 429 + Retry-After until the window has room. ``0``: no limit.
    rate_limit_failed_auth: str = "20/minute"
    #: Writes (POST, PUT, PATCH, DELETE) per authenticated caller (``Caller.principal``).
    rate_limit_writes: str = "60/minute;600/hour"
    #: Reads (GET, HEAD) per authenticated caller.
    rate_limit_reads: str = "600/minute"
    #: Failed sign-ins on the pages (``POST /ui/login``) per client address (beside the pause per
    #: username, ``WEB_LOGIN_MAX_FAILURES``).
    rate_limit_failed_sign_in: str = "30/15minutes"
    #: ``govshare run``'s uvicorn: seconds an idle keep-alive connection stays open; connections and
    #: requests at once before uvicorn itself answers 503 (``0``: no cap); the largest request head
    #: (request line and headers) in bytes h11 buffers before refusing it (400).
    api_timeout_keep_alive_s: int = Field(default=5, ge=1)
    api_limit_concurrency: int = Field(default=512, ge=0)
    api_max_header_bytes: int = Field(default=16384, ge=1024)

    # -- worker heartbeat (GET /healthz: is a worker serving the task queue?) -------------------
    #: How often a worker (``python worker.py``) writes its heartbeat row.
    worker_heartbeat_interval_s: float = Field(default=5.0, gt=0)
    #: A task queue whose newest heartbeat is older than this has no live worker (healthz 503).
    worker_heartbeat_stale_s: float = Field(default=20.0, gt=0)

    # -- the pages (issue 22): sessions and, when configured, OpenID Connect ---------------------
    #: A signed-in browser's session ends this many hours after sign-in, whatever it does.
    web_session_hours: float = Field(default=10.0, gt=0)
    #: … and after this many quiet minutes (no page asked for).
    web_session_idle_minutes: float = Field(default=60.0, gt=0)
    #: Wrong passwords for one username before sign-in pauses (per process; 15 minutes).
    web_login_max_failures: int = Field(default=10, ge=1)
    #: OIDC sign-in: the issuer (its ``/.well-known/openid-configuration`` is read), the client
    #: registered there and its secret, and the redirect the provider sends the browser back to
    #: (``<public address>/ui/oidc/callback``). Empty issuer: OIDC off, passwords only.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_redirect_uri: str = ""
    #: The claims that name the user's department and roles (a string or a list of strings), and
    #: the display name; a user signing in for the first time is created from them.
    oidc_department_claim: str = "department"
    oidc_roles_claim: str = "roles"
    oidc_name_claim: str = "name"
    oidc_scopes: str = "openid profile"

    # -- bearer tokens (issue 23) ------------------------------------------------------------------
    #: The key of the tokens' stored digests (HMAC-SHA256, ``govshare/core/tokens.py``): at least 32
    #: bytes, hex or base64. Empty: the key file ``<VAR_DIR>/token_hash.key``, made on first use
    #: (``govshare/core/keys.py``). Every process that checks or issues tokens (API, ``govshare
    #: tokens``, the seed) must have the same one.
    token_hash_key: SecretStr = SecretStr("")

    @property
    def cookie_secure(self) -> bool:
        """Session cookies are ``Secure`` (HTTPS only) everywhere but a development machine."""
        return self.environment.strip().lower() not in ("development", "dev", "test")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @field_validator("environment", mode="before")
    @classmethod
    def _known_environment(cls, value: object) -> str:
        spelled = str(value).strip().lower()
        if spelled not in ENVIRONMENTS:
            raise ValueError(
                f"ENVIRONMENT={str(value)!r} is not one of development|dev|test|staging|production|prod"
                " (live = production)"
            )
        return ENVIRONMENTS[spelled]

    @field_validator(
        "rate_limit_failed_auth", "rate_limit_writes", "rate_limit_reads", "rate_limit_failed_sign_in"
    )
    @classmethod
    def _parsed_rate_limit(cls, value: str) -> str:
        return _rate_limits(value)

    @field_validator("database_url")
    @classmethod
    def _normalise_db_url(cls, value: str) -> str:
        # One driver for PostgreSQL everywhere: psycopg 3 (the card's package).
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        import ipaddress

        entries = [e.strip() for e in value.split(",") if e.strip()]
        for entry in entries:
            ipaddress.ip_network(entry, strict=False)  # ValueError names the entry
        return ",".join(entries)

    @model_validator(mode="after")
    def _no_demo_in_production(self) -> Settings:
        if self.is_production and self.seed_demo:
            raise ValueError("SEED_DEMO must be false in production: demo tokens are public")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
