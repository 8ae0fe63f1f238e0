"""Constants and small helpers shared by the API tests: the demo tokens of ``govshare.core.seed``, and real
child processes (a uvicorn API, ``python worker.py``) for the load and fault tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CONSUMER = "demo-rsj-consumer"
CONSUMER2 = "demo-mzj-consumer"
PLATFORM = "demo-bdb-platform"
GAJ = "demo-gaj-provider"
GAJ_CONSUMER = "demo-gaj-consumer"
SCJGJ = "demo-scjgj-provider"
LEADING_GROUP = "demo-lgo-leading_group"
AUDITOR = "demo-sjj-auditor"


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


# --------------------------------------------------------------------------------------------------
# Real processes for the fault and load tests: a uvicorn API, a ``python worker.py`` (issue 13)
# --------------------------------------------------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(settings, **overrides: object) -> dict[str, str]:
    """The environment a child process reads its ``Settings`` from: the test's settings, then
    ``overrides`` (e.g. ``API_MAX_IN_FLIGHT=2``)."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.database_url,
        TEMPORAL_ADDRESS=settings.temporal_address,
        TEMPORAL_NAMESPACE=settings.temporal_namespace,
        TASK_QUEUE=settings.task_queue,
        SEED_DEMO="true",
        LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    env.update({key: str(value) for key, value in overrides.items()})
    return env


class Child:
    """A child process with its output in a file; stopped (SIGTERM, then SIGKILL) by :meth:`stop`."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return self.process.returncode


def start_api(settings, log_path: Path, **overrides: object) -> tuple[Child, str]:
    """uvicorn serving ``api.main:app`` on a free port; returns once it answers (≤ 30 s)."""
    port = free_port()
    child = Child(
        "api",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        child_env(settings, **overrides),
        log_path,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"API exited {child.process.returncode}:\n{child.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/me", headers=auth(PLATFORM), timeout=2).status_code == 200:
                return child, base
        time.sleep(0.2)
    child.stop(signal.SIGKILL)
    raise RuntimeError(f"API did not answer in 30 s:\n{child.log()}")


def start_worker(settings, log_path: Path, **overrides: object) -> Child:
    """``python worker.py`` on the settings' task queue (returns at once; it polls within seconds)."""
    return Child("worker", [sys.executable, "worker.py"], child_env(settings, **overrides), log_path)
