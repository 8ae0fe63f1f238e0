"""``govshare run`` for real: start everything, use it over HTTP, Ctrl-C, restart, the case is still there.

Runs the launcher as a subprocess (``python -m govshare.launcher``) on free ports and a temp var dir,
so it never meets a system a developer has running on the default ports.
"""

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
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                # Field 4 is the parent pid; the command name (field 2) may hold spaces, so split after ')'.
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


class Run:
    def __init__(self, env: dict[str, str], out: Path) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [sys.executable, "-m", "govshare.launcher"],
            env=env,
            stdout=out.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_banner(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.out.read_text(errors="replace")
            if "govshare is running" in text:
                return text
            if self.process.poll() is not None:
                pytest.fail(f"launcher exited {self.process.returncode}:\n{text}")
            time.sleep(0.2)
        pytest.fail(f"no banner in {timeout}s:\n{self.out.read_text(errors='replace')}")

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture
def launcher_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'govshare.db'}",
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        TEMPORAL_UI_PORT=str(free_port()),
        API_PORT=str(free_port()),
        SEED_DEMO="true",
    )
    return env


def test_run_stop_restart_keeps_cases(launcher_env, tmp_path):
    base = f"http://127.0.0.1:{launcher_env['API_PORT']}"
    consumer = {"Authorization": "Bearer demo-rsj-consumer"}

    first = Run(launcher_env, tmp_path / "run1.out")
    try:
        banner = first.wait_banner()
        for expected in (f"{base}/docs", "demo-rsj-consumer", "demo-bdb-platform", "curl", "logs", "Ctrl-C"):
            assert expected in banner, banner
        assert "var/logs/api.log" in banner and "var/logs/worker.log" in banner
        response = httpx.post(
            f"{base}/applications",
            json={"resource_id": "gaj-household-members", "purpose": "核验户籍", "reason": "办理低保审核"},
            headers=consumer,
            timeout=30,
        )
        assert response.status_code == 201, response.text
        case_id = response.json()["id"]
        children = children_of(first.process.pid)
        assert len(children) == 3  # Temporal, worker, API
    finally:
        code = first.stop(signal.SIGINT)
    assert code == 0, (tmp_path / "run1.out").read_text()
    assert not [pid for pid in children if alive(pid)], "children left running"
    logs = Path(launcher_env["VAR_DIR"]) / "logs"
    assert {"temporal.log", "worker.log", "api.log"} <= {p.name for p in logs.iterdir()}

    second = Run(launcher_env, tmp_path / "run2.out")
    try:
        second.wait_banner()
        response = httpx.get(f"{base}/applications/{case_id}", headers=consumer, timeout=30)
        assert response.status_code == 200, response.text
        case = response.json()
        assert case["open_task"]["step"] == "platform_check"
        # The workflow is still alive in Temporal: it takes the next decision.
        response = httpx.post(
            f"{base}/applications/{case_id}/decisions",
            json={"step": "platform_check", "action": "accept"},
            headers={"Authorization": "Bearer demo-bdb-platform"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["open_task"]["step"] == "provider_authorization"
    finally:
        code = second.stop(signal.SIGTERM)
    assert code == 0, (tmp_path / "run2.out").read_text()
