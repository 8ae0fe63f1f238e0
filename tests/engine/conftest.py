"""The engine's workflow tests skip weeks of time: each module here gets a time-skipping test server,
an app DB and a worker of its own (module-scoped, overriding the suite's session fixtures), so the
other workflow tests keep a clock close to the wall clock their cases are recorded at."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from factories import binary
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from govshare.core.db import init_schema, make_engine
from workflows.engine.signing import SigningInterceptor


@pytest.fixture(scope="module")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    signer = SigningInterceptor()  # the tests' own Updates and starts, signed at the server's time
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        interceptors=[signer],
    )
    signer.clock = env.get_current_time
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
def ts_client(time_skipping_env: WorkflowEnvironment) -> Client:
    return time_skipping_env.client


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('engine') / 'app.db'}")
    init_schema(engine)
    return engine


@pytest.fixture(scope="module")
async def run_worker(ts_client: Client, task_queue: str, sqlite_engine) -> AsyncIterator[None]:
    from govshare.ops.worker_build import build_worker

    async with build_worker(ts_client, task_queue=task_queue, engine=sqlite_engine):
        yield
