"""deploy/ (issue 24): what an operator runs on a Temporal cluster with PostgreSQL.

Static checks, fast and without network or Docker: ``compose.yaml`` parses and its services agree
with each other, with the Dockerfile and with the settings; the systemd units parse (and pass
``systemd-analyze verify`` where it exists); every name in ``govshare.env.example`` is a field of
``Settings`` and every secret in it a placeholder the processes refuse; the Dockerfile copies what
``pip install .`` needs and runs an entry point that exists; the README and ``temporal-setup.sh``
register exactly the search attributes of ``workflows/engine/attributes.py``.

One real check: ``temporal-setup.sh`` against a local Temporal dev server, then a worker and an API
process started as the units start them (``--worker-only``; ``--api-only --port N``) with the example
file's settings — production — pointed at that server and a throwaway PostgreSQL: the worker polls the
task queue, ``/healthz`` answers 200, and both stop cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import contextlib
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from dotenv import dotenv_values
from factories import binary
from pydantic import SecretStr

from govshare.core.keys import ServerKeyError, parse_key
from govshare.core.settings import Settings
from govshare.ops import launcher
from workflows.engine import attributes, signing

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / "govshare.env.example"
UNITS = {
    "worker": DEPLOY / "systemd" / "govshare-worker@.service",
    "api": DEPLOY / "systemd" / "govshare-api@.service",
}
SETUP_SCRIPT = DEPLOY / "temporal-setup.sh"
FIELDS = Settings.model_fields
PLACEHOLDER = "CHANGE_ME"
#: Settings whose value is a secret: typed SecretStr, named so, or carrying a password.
SECRETS = {
    name
    for name, f in FIELDS.items()
    if f.annotation is SecretStr or "secret" in name or name == "database_url"
}
#: What an unquoted value in the example may hold: the same for sh, systemd and docker compose.
PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@,=+%-]*$")
ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
SEARCH_ATTRIBUTE = re.compile(r"--name\s+(\w+)\s+--type\s+(\w+)")


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def env_entries() -> list[tuple[str, str, bool]]:
    """The example's assignments: (NAME, value without its double quotes, active), in file order;
    ``# NAME=value`` lines are the inactive ones."""
    entries = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            value = match.group(3)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            entries.append((match.group(2), value, match.group(1) is None))
    return entries


def active_env() -> dict[str, str]:
    return {name: value for name, value, active in env_entries() if active}


def launcher_args(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed as ``python -m govshare.ops.launcher`` parses it."""
    parser = argparse.ArgumentParser(prog="python -m govshare.ops.launcher", exit_on_error=False)
    launcher.add_run_arguments(parser)
    try:
        args, unknown = parser.parse_known_args(argv)
    except argparse.ArgumentError as err:
        raise AssertionError(f"the launcher refuses {argv}: {err}") from None
    assert not unknown, f"the launcher does not take {unknown}"
    return args


def launcher_command(command: list[str]) -> argparse.Namespace:
    """A command that runs the launcher: ``python -m govshare.ops.launcher ARGS``, its ARGS parsed."""
    assert Path(command[0]).name.startswith("python"), command
    assert command[1:3] == ["-m", "govshare.ops.launcher"], command
    spec = importlib.util.find_spec(command[2])
    assert spec is not None and spec.origin and Path(spec.origin).is_file()
    return launcher_args(command[3:])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting from the test run's environment (conftest sets a few): only what a test passes."""
    for name in FIELDS:
        monkeypatch.delenv(name.upper(), raising=False)


def example_settings(**overrides: object) -> Settings:
    """The settings a process reads from the example file alone (python-dotenv, as pydantic does)."""
    return Settings(_env_file=ENV_EXAMPLE, **overrides)


# --------------------------------------------------------------------------------------------------
# govshare.env.example
# --------------------------------------------------------------------------------------------------


def test_env_example_names_every_setting_once_and_nothing_else() -> None:
    names = [name for name, _value, _active in env_entries()]
    assert len(names) == len(set(names)), f"named twice: {sorted(n for n in names if names.count(n) > 1)}"
    unknown = {n for n in names if n.lower() not in FIELDS}
    assert not unknown, f"not fields of govshare.core.settings.Settings: {sorted(unknown)}"
    missing = {n.upper() for n in FIELDS} - set(names)
    assert not missing, f"settings the example does not show: {sorted(missing)}"


def test_env_example_reads_the_same_in_sh_systemd_and_compose() -> None:
    """No comment after a value, and a value with anything but plain characters in double quotes:
    then sh (``set -a; . file``), systemd's EnvironmentFile= and compose's env_file agree."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for line in text.splitlines():
        match = ASSIGNMENT.match(line.strip())
        if not match:
            continue
        raw = match.group(3)
        quoted = len(raw) >= 2 and raw[0] == raw[-1] == '"' and '"' not in raw[1:-1]
        assert quoted or PLAIN_VALUE.match(raw), f"quote this value (or drop what follows it): {line!r}"
    # The active lines and, uncommented, every other one: read by sh exactly as written.
    every = "\n".join(re.sub(r"^#\s*(?=[A-Z][A-Z0-9_]*=)", "", line) for line in text.splitlines())
    for content, expected in (
        (text, active_env()),
        (every, {n: v for n, v, _active in env_entries()}),
    ):
        result = subprocess.run(
            ["sh", "-c", "set -a; . /dev/stdin; env -0"],
            input=content,
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"]},
            check=True,
        )
        seen = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
        assert {n: seen.get(n) for n in expected} == expected, result.stderr
    # python-dotenv (what pydantic-settings reads a file with) agrees too.
    assert dotenv_values(ENV_EXAMPLE) == active_env()


def test_env_example_is_production_and_its_inactive_lines_are_the_defaults(clean_env: None) -> None:
    settings = example_settings()
    assert settings.is_production and not settings.seed_demo and settings.cookie_secure
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.log_format == "json"
    assert settings.temporal_tls_cert and settings.temporal_tls_key and settings.temporal_tls_ca
    for name, value, active in env_entries():
        field = FIELDS[name.lower()]
        if active or field.default in ("", None) or PLACEHOLDER in value:
            continue  # set here, or an example of a setting that is off by default
        assert getattr(Settings(**{name.lower(): value}), name.lower()) == field.default, (
            f"# {name}={value} is not the default {field.default!r}"
        )


def test_every_secret_is_a_placeholder_a_process_refuses(clean_env: None, tmp_path: Path) -> None:
    values = {name.lower(): value for name, value, _active in env_entries()}
    for name in SECRETS:
        assert PLACEHOLDER in values[name], f"{name.upper()} must be a {PLACEHOLDER} placeholder"
    password = urlsplit(values["database_url"]).password
    assert password is not None and PLACEHOLDER in password
    for name in ("actor_signing_key", "token_hash_key"):
        with pytest.raises(ServerKeyError):
            parse_key(values[name], name.upper())
    # As the worker and the API start: refused in one line, no key file made in its place.
    settings = example_settings(var_dir=tmp_path)
    with pytest.raises(signing.SigningKeyError, match="ACTOR_SIGNING_KEY"):
        signing.key_from_settings(settings)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_installs_the_package_and_runs_the_launcher() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = [args for op, args in steps if op == "RUN"]
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in runs), runs
    copied = {
        src for op, args in steps if op == "COPY" for src in args.split()[:-1] if not src.startswith("--")
    }
    # Everything pyproject.toml packages (its package folders, modules and readme) is in the image.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    folders = {pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]}
    needed = {"pyproject.toml", project["project"]["readme"]} | folders
    needed |= {f"{module}.py" for module in setuptools.get("py-modules", [])}
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    for source in copied:
        assert (ROOT / source).exists(), source
    cmd = [args for op, args in steps if op == "CMD"]
    assert len(cmd) == 1
    assert launcher_command(json.loads(cmd[0])).worker_only
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert ".venv" in ignored and "var" in ignored


def dockerfile_installed_commands() -> dict[str, str]:
    """What the Dockerfile puts on PATH from deploy/: {command name: source file}."""
    found = {}
    for op, args in dockerfile():
        parts = args.split()
        if op == "COPY" and len(parts) == 2 and parts[1].startswith("/usr/local/bin/"):
            found[Path(parts[1]).name] = parts[0]
    return found


# --------------------------------------------------------------------------------------------------
# compose.yaml
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def govshare_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if "build" in s}


def interpolated(value: str) -> set[str]:
    """The variables a compose value takes from the shell or deploy/.env: ``${NAME...}``."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", str(value)))


def substituted(value: object, values: dict[str, str]) -> str:
    """``value`` as compose hands it to the container: each ``${NAME}`` / ``${NAME:?message}`` replaced."""
    return re.sub(r"\$\{([A-Z][A-Z0-9_]*)[^}]*\}", lambda m: values[m.group(1)], str(value))


def test_compose_services_images_and_commands(compose: dict) -> None:
    services = compose["services"]
    assert {
        "postgresql",
        "temporal-postgresql",
        "temporal",
        "temporal-setup",
        "govshare-worker",
        "govshare-api",
        "temporal-ui",
    } <= set(services)
    ours = govshare_services(compose)
    assert set(ours) == {"temporal-setup", "govshare-worker", "govshare-api"}
    installed = dockerfile_installed_commands()
    for name, service in ours.items():
        build = service["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile", name
        assert service["image"] == ours["govshare-worker"]["image"], "one image for every govshare service"
        for env_file in service["env_file"]:
            assert (DEPLOY / env_file).resolve() == ENV_EXAMPLE, name
        for depends in service.get("depends_on", {}):
            assert depends in services, f"{name} depends on an unknown service {depends}"
        command = service["command"]
        if command[0] in installed:
            assert (ROOT / installed[command[0]]).resolve() == SETUP_SCRIPT
        else:
            launcher_command(command)
    assert launcher_command(ours["govshare-worker"]["command"]).worker_only
    assert ours["govshare-worker"]["deploy"]["replicas"] == 2
    assert launcher_command(ours["govshare-api"]["command"]).api_only
    assert ours["temporal-setup"]["command"] == ["govshare-temporal-setup"]
    assert ours["temporal-setup"]["restart"] == "no"
    for name in ("govshare-worker", "govshare-api"):
        assert ours[name]["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/auto-setup:")
    assert temporal["environment"]["DB"] == "postgres12"
    assert temporal["environment"]["POSTGRES_SEEDS"] in services
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert services["temporal-ui"]["profiles"] == ["ui"]
    for name, service in services.items():
        for depends, how in service.get("depends_on", {}).items():
            assert depends in services, f"{name} → {depends}"
            assert how["condition"] in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[depends], f"{depends} has no healthcheck"


def test_compose_environment_is_settings_that_point_at_its_services(compose: dict, clean_env: None) -> None:
    services = compose["services"]
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    values = {name: secrets.token_hex(32) for name in interpolated(text)}
    for name, service in govshare_services(compose).items():
        environment = service["environment"]
        unknown = {key for key in environment if key.lower() not in FIELDS}
        assert not unknown, f"{name}: not settings: {sorted(unknown)}"
        # The app database: the postgresql service, its user, database and password.
        url = urlsplit(substituted(environment["DATABASE_URL"], values))
        db = services[url.hostname]["environment"]
        assert url.username == db["POSTGRES_USER"] and url.path == f"/{db['POSTGRES_DB']}"
        assert url.password == substituted(db["POSTGRES_PASSWORD"], values)
        # Temporal: the temporal service's frontend, without TLS inside the compose network.
        host, port = launcher.split_address(environment["TEMPORAL_ADDRESS"])
        assert host == "temporal" and port == 7233
        assert services[host]["environment"]["TEMPORAL_ADDRESS"] == environment["TEMPORAL_ADDRESS"]
        assert all(environment[f"TEMPORAL_TLS_{part}"] == "" for part in ("CERT", "KEY", "CA"))
        # The secrets come from deploy/.env, refused by compose when missing (${NAME:?…}).
        for secret in ("ACTOR_SIGNING_KEY", "TOKEN_HASH_KEY"):
            assert re.fullmatch(r"\$\{" + secret + r":\?[^}]+\}", environment[secret]), secret
        # What a process in the container ends up with is valid production settings.
        settings = example_settings(**{key.lower(): substituted(v, values) for key, v in environment.items()})
        assert settings.is_production and settings.api_host == "0.0.0.0"
        signing.key_from_settings(settings)
    temporal_env = services["temporal"]["environment"]
    seeds = services[temporal_env["POSTGRES_SEEDS"]]["environment"]
    assert temporal_env["POSTGRES_USER"] == seeds["POSTGRES_USER"]
    assert substituted(temporal_env["POSTGRES_PWD"], values) == substituted(
        seeds["POSTGRES_PASSWORD"], values
    )
    # The UI opens on govshare's namespace; the API's health check asks its port.
    assert (
        services["temporal-ui"]["environment"]["TEMPORAL_DEFAULT_NAMESPACE"]
        == active_env()["TEMPORAL_NAMESPACE"]
    )
    api = services["govshare-api"]
    port = api["environment"]["API_PORT"]
    assert any(str(p).endswith(f":{port}") for p in api["ports"])
    assert f"127.0.0.1:{port}/healthz" in " ".join(api["healthcheck"]["test"])


def test_every_compose_variable_is_documented(compose: dict) -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    variables = interpolated(body)
    assert variables == {
        "GOVSHARE_DB_PASSWORD",
        "TEMPORAL_DB_PASSWORD",
        "ACTOR_SIGNING_KEY",
        "TOKEN_HASH_KEY",
    }
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for variable in variables:
        assert re.search(rf"^{variable}=\$\(openssl rand -hex \d+\)$", readme, re.M), variable
        assert re.search(rf"^#\s+{variable}=\$\(openssl rand -hex \d+\)$", text, re.M), variable


# --------------------------------------------------------------------------------------------------
# systemd units
# --------------------------------------------------------------------------------------------------


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser


@pytest.mark.parametrize("kind", sorted(UNITS))
def test_systemd_unit(kind: str) -> None:
    path = UNITS[kind]
    assert path.name.endswith("@.service"), "a template: K instances"
    parsed = unit(path)
    assert parsed.sections() == ["Unit", "Service", "Install"]
    service = parsed["Service"]
    assert service["User"] == "govshare"
    assert service["EnvironmentFile"] == "/etc/govshare/govshare.env"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["Restart"] == "on-failure"
    var_dir = active_env()["VAR_DIR"]
    assert var_dir in service["ReadWritePaths"].split()
    assert service["WorkingDirectory"] == var_dir
    assert parsed["Install"]["WantedBy"] == "multi-user.target"
    command = shlex.split(service["ExecStart"])
    args = launcher_command([command[0], *[a.replace("%i", "8001") for a in command[1:]]])
    if kind == "api":
        assert args.api_only and args.port == 8001, "govshare-api@PORT listens on PORT"
    else:
        assert args.worker_only


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on an instance of each unit, the venv's python in ExecStart: no
    unknown key, no value it cannot parse."""
    instances = []
    for kind, path in UNITS.items():
        text = path.read_text(encoding="utf-8")
        command = shlex.split(unit(path)["Service"]["ExecStart"])
        instance = tmp_path / path.name.replace("@.", f"@{8001 if kind == 'api' else 1}.")
        (tmp_path / path.name).write_text(text.replace(command[0], sys.executable), encoding="utf-8")
        instances.append(str(instance))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *instances],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    ours = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
    assert result.returncode == 0 and not ours, result.stderr


# --------------------------------------------------------------------------------------------------
# README and temporal-setup.sh
# --------------------------------------------------------------------------------------------------


def test_search_attributes_and_retention_are_the_codes() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    script = SETUP_SCRIPT.read_text(encoding="utf-8")
    for text in (readme, script):
        assert dict(SEARCH_ATTRIBUTE.findall(text)) == attributes.TYPE_NAMES
    # The retention `govshare run` sets (launcher._set_retention: days x 24 h).
    days = FIELDS["temporal_retention_days"].default
    assert active_env()["TEMPORAL_RETENTION_DAYS"] == str(days)
    assert f"--retention {days * 24}h" in readme
    assert "TEMPORAL_RETENTION_DAYS * 24" in script
    assert os.access(SETUP_SCRIPT, os.X_OK)
    for mention in ("bench/scale_out.py", "2 workers per task queue", "one API process per"):
        assert mention in " ".join(readme.split()), mention
    assert "## What was not run on this machine" in readme


# --------------------------------------------------------------------------------------------------
# The real check: setup, a worker and an API with the example's settings, on a local dev server
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child with its output in a file; stopped with SIGTERM (then SIGKILL) by :meth:`stop`."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def app_database(stack: contextlib.ExitStack, tmp_path: Path) -> str:
    """A throwaway PostgreSQL (tests/pg.py), as in production; SQLite when the suite skips PostgreSQL."""
    from pg import SKIP_ENV, PostgresServer, PostgresUnavailable

    if os.environ.get(SKIP_ENV) == "1":
        return f"sqlite:///{tmp_path / 'govshare.db'}"
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    stack.callback(server.stop)
    return server.create_database("govshare_deploy")


async def wait_for(what: str, check, deadline: float, *processes: Process):
    """``await check()`` until it returns something true; fails when a process exits or at ``deadline``."""
    while True:
        for process in processes:
            if process.process.poll() is not None:
                pytest.fail(
                    f"{process.log.stem} exited {process.process.returncode} before {what}:\n"
                    f"{process.output()}"
                )
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.log.stem}\n{p.output()}" for p in processes)
            pytest.fail(f"no {what} in time:\n{logs}")
        await asyncio.sleep(0.2)


async def test_setup_worker_and_api_with_the_example_settings(tmp_path: Path) -> None:
    from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
    from temporalio.client import Client
    from temporalio.service import RPCError

    temporal = binary("temporal")
    port = free_port()
    address = f"127.0.0.1:{free_port()}"
    with contextlib.ExitStack() as stack:  # stopped in reverse: API, worker, PostgreSQL, Temporal
        dev_server = Process(
            [
                temporal,
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                address.rsplit(":", 1)[1],
                "--log-level",
                "error",
            ],
            dict(os.environ),
            tmp_path / "temporal.log",
            tmp_path,
        )
        stack.callback(dev_server.stop)

        # The example's settings, as systemd's EnvironmentFile= hands them to a unit, and nothing from
        # this test run's environment; replaced only what differs on this machine: the addresses, no
        # TLS (the dev server has none), real keys; and a 1 s heartbeat (the worker may skip its first
        # beat, made before its Temporal worker runs: /healthz would wait one whole interval).
        env = {k: v for k, v in os.environ.items() if k.lower() not in FIELDS}
        env.update(active_env())
        env.update(
            TEMPORAL_ADDRESS=address,
            TEMPORAL_TLS_CERT="",
            TEMPORAL_TLS_KEY="",
            TEMPORAL_TLS_CA="",
            ACTOR_SIGNING_KEY=secrets.token_hex(32),
            TOKEN_HASH_KEY=secrets.token_hex(32),
            VAR_DIR=str(tmp_path / "var"),
            WORKER_HEARTBEAT_INTERVAL_S="1",
            PATH=f"{Path(temporal).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
        )
        namespace, task_queue = env["TEMPORAL_NAMESPACE"], env["TASK_QUEUE"]
        assert env["ENVIRONMENT"] == "production" and env["SEED_DEMO"] == "false"

        def setup_namespace() -> subprocess.CompletedProcess[str]:
            deadline = time.monotonic() + 30
            while not launcher.port_open(*launcher.split_address(address)):
                assert dev_server.process.poll() is None, dev_server.output()
                assert time.monotonic() < deadline, "the Temporal dev server did not open its port"
                time.sleep(0.1)
            return subprocess.run(
                ["sh", str(SETUP_SCRIPT)],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

        # The namespace is set up while PostgreSQL starts.
        setup, database_url = await asyncio.gather(
            asyncio.to_thread(setup_namespace),
            asyncio.to_thread(app_database, stack, tmp_path),
            return_exceptions=True,
        )
        for outcome in (setup, database_url):
            if isinstance(outcome, BaseException):
                raise outcome
        assert setup.returncode == 0, setup.stdout + setup.stderr
        env["DATABASE_URL"] = database_url

        # As the units start them: `--worker-only`; `--api-only --port N` (govshare-api@N).
        worker = Process(
            [sys.executable, "-m", "govshare.ops.launcher", "--worker-only"],
            env,
            tmp_path / "worker.log",
            tmp_path,
        )
        stack.callback(worker.stop)
        api = Process(
            [sys.executable, "-m", "govshare.ops.launcher", "--api-only", "--port", str(port)],
            env,
            tmp_path / "api.log",
            tmp_path,
        )
        stack.callback(api.stop)

        # What the setup script made: the namespace's retention and the case search attributes.
        client = await Client.connect(address, namespace=namespace)
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
        assert retention == timedelta(days=int(env["TEMPORAL_RETENTION_DAYS"]))
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        registered = {
            name: IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_")
            for name, kind in listed.custom_attributes.items()
        }
        expected = {
            name: re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()
            for name, kind in attributes.TYPE_NAMES.items()
        }
        assert {name: registered.get(name) for name in expected} == expected

        deadline = time.monotonic() + 60

        async def polling() -> bool:
            try:
                response = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=namespace,
                        task_queue=TaskQueue(name=task_queue),
                        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                    )
                )
            except RPCError:  # a dev server under load may cancel one; ask again
                return False
            return any(p.identity.startswith(f"{worker.process.pid}@") for p in response.pollers)

        await wait_for("worker polling the task queue", polling, deadline, worker, api)

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def healthy() -> httpx.Response | None:
                with contextlib.suppress(httpx.HTTPError):
                    response = await http.get("/healthz")
                    if response.status_code == 200:
                        return response
                return None

            response = await wait_for("/healthz 200", healthy, deadline, worker, api)
        body = response.json()
        assert (body["database"], body["temporal"], body["worker"]) == ("ok", "ok", "ok")
        assert "strict-transport-security" in response.headers  # ENVIRONMENT=production

        # Both stop cleanly on SIGTERM: exit 0, or (uvicorn re-raises the signal once it has shut
        # down) killed by SIGTERM, which systemd counts as a clean stop: Restart=on-failure leaves
        # them stopped.
        for child in (api, worker):
            assert child.stop() in (0, -signal.SIGTERM), child.output()
