"""A throwaway PostgreSQL server for tests: initdb in a temp dir, pg_ctl start, drop it all at the end.

PostgreSQL refuses to run as root, so when the tests run as root the server commands run as the
``postgres`` user (``runuser``), with the data directory in a temp dir owned by it. The server
listens on 127.0.0.1 on a free port with its unix socket in the same temp dir, so it never meets a
system cluster. Durability is switched off (fsync, synchronous_commit): the data dies with the test.

    with PostgresServer.start() as pg:
        url = pg.create_database("govshare_test")   # postgresql+psycopg://postgres@127.0.0.1:PORT/…
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
SKIP_ENV = "GOVSHARE_SKIP_PG"


class PostgresUnavailable(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """The PostgreSQL binaries: $GOVSHARE_PG_BIN, else the Debian layout (15 first), else PATH."""
    candidates = [os.environ.get("GOVSHARE_PG_BIN", ""), *DEFAULT_BIN_DIRS]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    raise PostgresUnavailable(
        "PostgreSQL binaries (initdb, pg_ctl) not found in "
        f"{', '.join(DEFAULT_BIN_DIRS)} or PATH; install postgresql-15, set GOVSHARE_PG_BIN, "
        f"or set {SKIP_ENV}=1 to skip the PostgreSQL half of the suite"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    run_as: str | None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    # -- lifecycle ------------------------------------------------------------------------------
    @classmethod
    def start(cls, bin_dir: Path | None = None) -> PostgresServer:
        bin_dir = bin_dir or find_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="govshare-pg-"))
        run_as = None
        if os.geteuid() == 0:
            run_as = "postgres"
            try:
                user = pwd.getpwnam(run_as)
            except KeyError:
                shutil.rmtree(root, ignore_errors=True)
                raise PostgresUnavailable(
                    "running as root and there is no 'postgres' user to run the server as"
                ) from None
            os.chown(root, user.pw_uid, user.pw_gid)
        server = cls(bin_dir=bin_dir, root=root, port=free_port(), run_as=run_as)
        try:
            server._initdb()
            server._pg_ctl_start()
        except BaseException:
            server.stop()
            raise
        return server

    def _cmd(self, *args: str) -> list[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *command] if self.run_as else command

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True, cwd=self.root, check=False)
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}\n{log[-2000:]}"
            )

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )

    def _pg_ctl_start(self) -> None:
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=100",
            ]
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.1)
        raise PostgresUnavailable(f"PostgreSQL did not listen on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(
                self._cmd("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30", "stop"),
                capture_output=True,
                cwd=self.root,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ------------------------------------------------------------------------------
    def create_database(self, name: str) -> str:
        """Create ``name`` (dropping any leftover) and return its SQLAlchemy URL (psycopg 3)."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
