"""Production is production whatever its spelling, and it does not start while a public demo
credential works (issue 23).

``ENVIRONMENT`` is normalised (``Production``, `` prod ``, ``LIVE`` are production; a typo is refused
with the accepted spellings), and the API (``create_app``'s lifespan), the worker and ``govshare run``
refuse to start in production while the database holds an un-revoked demo token or a demo user whose
password is still the public demo password — a database seeded in development and then promoted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from api_helpers import PROJECT_ROOT, free_port
from pydantic import ValidationError
from sqlmodel import Session

from api.main import create_app
from govshare.core import users
from govshare.core.db import init_schema, make_engine
from govshare.core.seed import (
    DemoCredentialsInProduction,
    demo_credentials_present,
    demo_tokens_present,
    demo_users_enabled,
    refuse_demo_in_production,
    seed_if_enabled,
)
from govshare.core.settings import Settings
from govshare.ops.launcher import Launcher, LaunchError

PRODUCTION_SPELLINGS = ["production", "Production", " PRODUCTION ", "prod", "Prod", "live", "LIVE\n"]


@pytest.mark.parametrize("spelling", PRODUCTION_SPELLINGS)
def test_every_spelling_of_production_is_production(spelling: str) -> None:
    settings = Settings(environment=spelling, seed_demo=False)
    assert settings.environment == "production" and settings.is_production and settings.cookie_secure
    with pytest.raises(ValidationError, match="SEED_DEMO must be false in production"):
        Settings(environment=spelling, seed_demo=True)


@pytest.mark.parametrize(
    ("spelling", "meaning"),
    [("development", "development"), ("DEV", "development"), ("test", "test"), ("Staging", "staging")],
)
def test_the_other_spellings(spelling: str, meaning: str) -> None:
    settings = Settings(environment=spelling)
    assert settings.environment == meaning and not settings.is_production


@pytest.mark.parametrize("typo", ["prd", "production1", "", "produktion", "develop"])
def test_an_unknown_environment_is_refused_with_the_accepted_ones(typo: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(environment=typo, seed_demo=False)
    assert "development|dev|test|staging|production|prod" in str(exc.value)


# -- a database seeded with the demo ----------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    seed_if_enabled(engine, Settings(database_url=f"sqlite:///{path}", seed_demo=True))
    engine.dispose()
    return path


@pytest.fixture
def seeded_url(seeded_template: Path, tmp_path: Path) -> str:
    """A database a development system seeded, about to be run as production."""
    path = tmp_path / "govshare.db"
    shutil.copy(seeded_template, path)
    return f"sqlite:///{path}"


def production(url: str, spelling: str = "production") -> Settings:
    return Settings(
        environment=spelling,
        database_url=url,
        temporal_address=f"127.0.0.1:{free_port()}",  # not needed: the refusal comes first
        seed_demo=False,
    )


async def start(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass


def revoke_demo_tokens(url: str, settings: Settings) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        for credential_id, _token in demo_tokens_present(session, settings):
            users.revoke_token(session, credential_id)
    engine.dispose()


def end_demo_users(url: str, settings: Settings, *, change_one_password: bool = False) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        names = demo_users_enabled(session, settings)
        if change_one_password:
            users.set_password(session, names[0], "a-real-password-42")
            names = names[1:]
        for name in names:
            users.disable_user(session, name)
    engine.dispose()


@pytest.mark.parametrize("spelling", ["production", "Production", "prod", "LIVE"])
async def test_the_api_refuses_production_on_a_database_with_demo_credentials(seeded_url, spelling):
    settings = production(seeded_url, spelling)
    with pytest.raises(DemoCredentialsInProduction) as exc:
        await start(settings)
    message = str(exc.value)
    assert "\n" not in message  # one line, naming what to do
    assert "govshare tokens revoke" in message and "govshare users disable" in message
    assert "demo-bdb-platform" not in message  # ids and usernames, never the (public) tokens
    assert "rsj-clerk" in message and "生产环境拒绝启动" in message


async def test_the_same_database_starts_outside_production(seeded_url):
    await start(Settings(environment="staging", database_url=seeded_url, seed_demo=False))


async def test_production_starts_once_every_demo_credential_is_revoked_or_disabled(seeded_url):
    settings = production(seeded_url)
    engine = make_engine(seeded_url)
    with Session(engine) as session:
        found = demo_credentials_present(session, settings)
    engine.dispose()
    assert any(item.startswith("token ") for item in found) and "user rsj-clerk" in found
    revoke_demo_tokens(seeded_url, settings)
    with pytest.raises(DemoCredentialsInProduction) as exc:  # the demo users still sign in
        await start(settings)
    assert "govshare users disable" in str(exc.value) and "govshare tokens revoke" not in str(exc.value)
    end_demo_users(seeded_url, settings, change_one_password=True)  # a changed password ends it too
    await start(settings)
    engine = make_engine(seeded_url)
    with Session(engine) as session:
        assert demo_credentials_present(session, settings) == []
    engine.dispose()


async def test_tokens_alone_are_enough_to_refuse(seeded_url):
    settings = production(seeded_url)
    end_demo_users(seeded_url, settings)
    with pytest.raises(DemoCredentialsInProduction) as exc:
        await start(settings)
    assert "govshare tokens revoke" in str(exc.value) and "govshare users disable" not in str(exc.value)


def test_an_empty_production_database_is_fine(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    init_schema(engine)
    refuse_demo_in_production(engine, production(url))
    engine.dispose()


def test_govshare_run_refuses_before_starting_anything(seeded_url):
    launcher = Launcher(production(seeded_url, "prod"))
    with pytest.raises(LaunchError) as exc:
        launcher._prepare_database()
    assert "govshare tokens revoke" in str(exc.value) and "the app database failed" not in str(exc.value)


def test_the_worker_refuses_production_with_demo_credentials(seeded_url):
    env = dict(os.environ)
    env.update(
        ENVIRONMENT="Prod",
        SEED_DEMO="false",
        DATABASE_URL=seeded_url,
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        LOG_FORMAT="json",
    )
    done = subprocess.run(
        [sys.executable, "worker.py"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("worker: 生产环境拒绝启动") and "govshare tokens revoke" in last, done.stderr
