"""Schemathesis against the running system: every answer conforms to the OpenAPI document (issue 23).

Schemathesis (``st run``, its command line: the stable interface, with its own statistics) reads
``/openapi.json`` from a real uvicorn serving the API and generates requests from it — the documented
examples, the coverage phase's boundary and negative values (over-long ids, wrong types, missing
fields, undocumented methods, bodies that are not JSON), random fuzzing, and stateful sequences that
follow the ids one answer gives to the next request (apply → decide → withdraw). Every answer is
checked: no 5xx, its status documented for the operation, its content type and body matching the
documented schema, its documented headers, a 405 with a correct ``Allow``, negative data refused,
the token not ignored, and more (``--checks all``, less the one excluded below).

Several roles, in several runs (:data:`RUNS`). The *admitted* run sends each operation with the token
of a role it admits — a consumer's apply, a provider's or the platform's catalog import, the leading
group office's orders and oversight, an auditor's history and replay, a citizen's open-data
application — chosen from the route's own caller dependency, so that the generated values reach the
route (a role it refuses is answered 403 before its values are looked at). Then one run per role —
a consumer, a provider, the platform, an auditor, a citizen — sends every operation with that role's
token: what the role may do, and the refusals (403; 404 for a case it may not see) of all the rest.

The system under test is a system of its own, built as the suite's ``system`` fixture builds one (the
same ``create_app``, a real worker on the shared Temporal dev server, the same database kind — it runs
once per database like the rest of ``tests/api``), with its own freshly seeded database and task
queue: the runs write for real (cases started and decided, catalog entries imported), and those
writes must not change the catalog, the inboxes or the statistics that the suite's other tests read
from the shared system. Its rate limits are off (``0``): a run sends hundreds of requests a minute
per token and checks refused tokens on purpose, which the limits (``api/limits.py``, tested on their
own) would answer 429 after a few dozen; with them on, most of a run would test the limiter.

What is bounded, and why (nothing is excluded silently):

- ``--max-examples`` per operation and phase (:data:`RUNS`), ``--no-shrink``, a fixed seed
  (``GOVSHARE_SCHEMATHESIS_SEED`` to try another; ``GOVSHARE_SCHEMATHESIS_SCALE`` multiplies the
  examples for a deeper search by hand), one worker: the file takes about a minute per database on
  2 cores (≈ 4,700 requests). The admitted run goes through every phase; the runs as one role run
  the examples, fuzzing and stateful phases with fewer examples (the coverage phase's boundary and
  negative values are the schema's, not the token's: once, with the tokens that reach the routes).
- Every operation is tested. No operation is excluded: the writes that start cases are bounded by
  the examples per operation (a few dozen cases per run, counted and printed).
- One check is left out: ``positive_data_acceptance`` (a request valid by the schema must not be
  refused). Refusals that JSON Schema cannot express are the API's business rules — a resource that
  is not in the catalog, ``from`` given without ``to``, an Idempotency-Key already bound to another
  body, a department that does not exist — and are documented as 422 problems; the check would
  report each of them. Every other check runs, ``negative_data_rejection`` included.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from api_helpers import AUDITOR, CONSUMER, GAJ, LEADING_GROUP, PLATFORM
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from api.docs import admitted_roles
from api.main import create_app
from api.methods import flat_routes
from govshare.core.db import init_schema, make_engine
from govshare.core.heartbeat import Heartbeat
from govshare.core.models import Case
from govshare.core.seed import seed_demo
from govshare.core.settings import Settings

ST = Path(sys.executable).parent / "st"

#: The seed of every run (reproducible in CI); another one explores other values.
SEED = int(os.environ.get("GOVSHARE_SCHEMATHESIS_SEED", "20261202"))
#: Examples per operation are multiplied by this (a deeper search by hand: ``=10``).
SCALE = int(os.environ.get("GOVSHARE_SCHEMATHESIS_SCALE", "1"))

#: The only check left out (see the module docstring).
EXCLUDED_CHECKS = ("positive_data_acceptance",)

#: A demo token per role (``govshare.core.seed``), in the order a role is chosen for an operation
#: that admits several.
TOKENS = {
    "consumer": CONSUMER,
    "provider": GAJ,
    "platform": PLATFORM,
    "leading_group": LEADING_GROUP,
    "auditor": AUDITOR,
    "citizen": "demo-citizen",
    "coordinator": "demo-jxw-coordinator",
    "government_office": "demo-szfb-government_office",
    "principal_head": "demo-gaj-head",
}


@dataclass(frozen=True)
class Run:
    name: str
    #: The token of every request; None: each operation's own, of a role it admits.
    token: str | None
    phases: str
    max_examples: int


#: The admitted run goes through every phase with a token each operation admits, so that the
#: generated values reach the route (a refused role is answered 403 before its values are looked
#: at); the runs as one role each send every operation that role's token: what it may do, and the
#: refusals (403, 404 for a case it may not see) of everything else.
RUNS = (
    Run("admitted", None, "examples,coverage,fuzzing,stateful", 5),
    Run("consumer", CONSUMER, "examples,fuzzing,stateful", 2),
    Run("provider", GAJ, "examples,fuzzing,stateful", 2),
    Run("platform", PLATFORM, "examples,fuzzing,stateful", 2),
    Run("auditor", AUDITOR, "examples,fuzzing,stateful", 2),
    Run("citizen", "demo-citizen", "examples,fuzzing,stateful", 2),
)


#: Operations whose route admits fewer roles than its caller dependency (it refuses the others 403
#: itself, by what the case type allows): the role that may.
NARROWER = {
    "POST /catalog-updates": "platform",
    "POST /rectification-orders": "leading_group",
    "POST /open-data-applications": "citizen",
    "POST /open-catalog-corrections": "citizen",
}


def operation_tokens(app: Any) -> dict[str, str | None]:
    """``"METHOD /path"`` → the token of the first role (in :data:`TOKENS` order) the operation's
    caller dependency admits (:data:`NARROWER` where the route narrows it); None for an operation
    without a token (``/healthz``)."""
    tokens: dict[str, str | None] = {}
    for route in flat_routes(app):
        dependant = getattr(route, "dependant", None)
        if dependant is None or not getattr(route, "include_in_schema", False):
            continue
        roles = admitted_roles(dependant)
        token = None if roles is None else next(TOKENS[role] for role in TOKENS if role in roles)
        for method in route.methods:
            name = f"{method} {route.path_format}"
            tokens[name] = TOKENS[NARROWER[name]] if name in NARROWER else token
    return tokens


def admitted_config(app: Any) -> str:
    """A ``schemathesis.toml`` giving each operation the token of a role it admits."""
    lines = []
    for name, token in sorted(operation_tokens(app).items()):
        if token is not None:
            lines += [
                "[[operations]]",
                f"include-name = {json.dumps(name)}",
                f"headers = {{ Authorization = {json.dumps('Bearer ' + token)} }}",
                "",
            ]
    return "\n".join(lines)


@dataclass
class Served:
    base_url: str
    engine: Engine
    app: Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
async def served(
    system: Any,
    dev_server: WorkflowEnvironment,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Served]:
    """A system of its own (as ``conftest.system`` builds one, on the same database kind), served by
    uvicorn on a free local port in this event loop."""
    from govshare.ops.worker_build import build_worker

    if system.database == "postgresql":
        database_url = request.getfixturevalue("postgres").create_database("govshare_schemathesis")
    else:
        database_url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'govshare.db'}"
    engine = make_engine(database_url)
    init_schema(engine)
    seed_demo(engine)
    settings = Settings(
        database_url=database_url,
        temporal_address=dev_server.client.service_client.config.target_host,
        temporal_namespace=dev_server.client.namespace,
        task_queue=f"schemathesis-{uuid.uuid4().hex[:8]}",
        seed_demo=True,
        rate_limit_failed_auth="0",
        rate_limit_writes="0",
        rate_limit_reads="0",
    )
    worker = build_worker(dev_server.client, task_queue=settings.task_queue, engine=engine)
    heartbeat = Heartbeat(engine, settings.task_queue, interval_s=2, alive=lambda: worker.is_running)
    app = create_app(settings)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    async with worker, heartbeat.running(), app.router.lifespan_context(app):
        serving = asyncio.create_task(server.serve())
        for _ in range(200):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        try:
            yield Served(base_url=f"http://127.0.0.1:{port}", engine=engine, app=app)
        finally:
            server.should_exit = True
            await serving
    engine.dispose()


def _cases(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Case)).one()


async def run_schemathesis(served: Served, run: Run, workdir: Path) -> tuple[dict[str, Any], str]:
    """``st run`` for one run; its JSON report and its console output."""
    report_dir = workdir / "report"
    config = workdir / "schemathesis.toml"
    config.write_text(admitted_config(served.app) if run.token is None else "")
    command = [str(ST), "--config-file", str(config), "run", f"{served.base_url}/openapi.json"]
    if run.token is not None:
        command += ["--header", f"Authorization: Bearer {run.token}"]
    command += [
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--phases",
        run.phases,
        "--max-examples",
        str(run.max_examples * SCALE),
        "--seed",
        str(SEED),
        "--no-shrink",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--report",
        "json",
        "--report-dir",
        str(report_dir),
    ]
    # Its own directory: schemathesis and Hypothesis keep their example databases in the cwd.
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=workdir,
        env={**os.environ, "NO_COLOR": "1"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode("utf-8", "replace")
    reports = sorted(report_dir.glob("*.json"))
    assert reports, f"schemathesis wrote no report (exit {process.returncode}):\n{text[-6000:]}"
    return json.loads(reports[-1].read_text()), text


def test_every_operation_has_a_token_it_admits(served: Served) -> None:
    tokens = operation_tokens(served.app)
    assert len(tokens) > 45
    assert [name for name, token in tokens.items() if token is None] == ["GET /healthz"]
    assert tokens["GET /oversight/orders"] == LEADING_GROUP
    assert tokens["GET /cases/{case_id}/history"] == PLATFORM


@pytest.mark.parametrize("run", RUNS, ids=[run.name for run in RUNS])
async def test_every_answer_conforms_to_the_openapi_document(
    served: Served, run: Run, tmp_path: Path
) -> None:
    before = _cases(served.engine)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    report, output = await run_schemathesis(served, run, tmp_path)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    st_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    created = _cases(served.engine) - before
    cases = report["test_cases"]
    operations = report["operations"]
    print(
        f"\nschemathesis {report['schemathesis_version']}, {run.name} (seed {report['seed']}): "
        f"{operations['tested']}/{operations['total']} operations, {cases['generated']} test cases "
        f"generated, {cases['with_failures']} with failures, {cases['errored']} errored, "
        f"{cases['without_checks']} without checks; {created} cases created; "
        f"{report['running_time']:.1f} s ({st_cpu:.1f} s CPU in schemathesis); phases "
        + ", ".join(f"{name} {phase['status']}" for name, phase in report["phases"].items())
    )
    where = f"\n{output[-12000:]}"
    assert report["stop_reason"] == "completed", where
    assert operations["tested"] == operations["total"] == operations["selected"], where
    assert report["failures"] == [], where
    assert report["errors"] == [], where
    assert cases["errored"] == 0, where
    assert report["exit_code"] == 0, where
    if run.token is None:  # every operation reached with a token it admits: none answered only 401/403
        assert not report["warnings"].get("missing_auth"), report["warnings"]
