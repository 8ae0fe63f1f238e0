"""Issue 13, defect 5: a write that will succeed is not reported as a failure.

With no worker (or the app DB locked under it), a decision or a create used to wait 30 s and answer
500 ``internal_error`` (an uncaught WorkflowUpdateRPCTimeoutOrCancelledError), and was applied later
anyway; a client retrying a create without a key opened a second case. Now the wait is bounded
(``API_SETTLE_TIMEOUT_S``) and the answer is 202 with ``Retry-After``, the case id, ``Location`` and the
``Idempotency-Key`` to retry with; the retry gets the outcome, and nothing is done twice. ``/healthz``
reports a missing worker (heartbeat) and a locked SQLite database.

A real worker (``python worker.py``, a child process on a task queue of its own) is started and
stopped by the tests; the API runs in-process on the suite's database (SQLite and PostgreSQL) and the
shared Temporal dev server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from api_helpers import PLATFORM, Child, auth, free_port, start_worker
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from api.main import create_app
from govshare.core.settings import Settings
from govshare.core.temporal_client import connect_client

#: The API's wait for a case to settle in these tests (the default is 10 s).
SETTLE_S = 3.0
#: Heartbeats every 0.3 s; none for 1.5 s is a missing worker.
BEAT_S, STALE_S = 0.3, 1.5

RESOURCE = "scjgj-legal-entity-basic"  # provided by 市市场监督管理局: any test department may apply


@dataclass
class Lab:
    """The API (in-process) on its own task queue, and the worker of that queue, started at will."""

    http: httpx.AsyncClient
    settings: Settings
    engine: object
    log_dir: Path
    database: str
    temporal: Client
    worker: Child | None = None
    starts: int = field(default=0)

    async def start_worker(self) -> None:
        self.starts += 1
        self.worker = start_worker(
            self.settings,
            self.log_dir / f"worker-{self.starts}.log",
            WORKER_HEARTBEAT_INTERVAL_S=BEAT_S,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # ready once Temporal sees it poll the task queue
            if not self.worker.alive():
                pytest.fail(f"worker exited {self.worker.process.returncode}:\n{self.worker.log()}")
            if await self.polling(self.worker.process.pid):
                return
            await asyncio.sleep(0.2)
        pytest.fail(f"the worker did not poll in 30 s:\n{self.worker.log()}")

    def stop_worker(self, sig: int = signal.SIGTERM) -> None:
        assert self.worker is not None
        self.worker.stop(sig)
        self.worker = None

    async def polling(self, pid: int) -> bool:
        """Whether the worker process ``pid`` polls the task queue (its SDK identity is pid@host). A
        transient RPC failure (the dev server answered "operation was canceled" under load) is "not
        yet": the caller asks again until its deadline."""
        try:
            response = await self.temporal.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.temporal.namespace,
                    task_queue=TaskQueue(name=self.settings.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
        except RPCError:
            return False
        return any(poller.identity.startswith(f"{pid}@") for poller in response.pollers)

    async def apply(self, token: str, expect: int | None = 201, **headers: str) -> httpx.Response:
        body = {"resource_id": RESOURCE, "purpose": "社会保险登记核验", "reason": "办理用人单位社会保险登记"}
        response = await self.http.post("/applications", json=body, headers=auth(token, **headers))
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    async def until(self, what: str, check, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while True:
            result = await check()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout} s")
            await asyncio.sleep(0.3)


@pytest.fixture
async def lab(api, tmp_path) -> AsyncIterator[Lab]:
    settings = api.settings.model_copy(
        update={
            "task_queue": f"pending-{uuid.uuid4().hex[:8]}",
            "api_settle_timeout_s": SETTLE_S,
            "worker_heartbeat_interval_s": BEAT_S,
            "worker_heartbeat_stale_s": STALE_S,
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://govshare.test", timeout=20
        ) as http:
            lab = Lab(http, settings, api.engine, tmp_path, api.database, api.env.client)
            try:
                yield lab
            finally:
                if lab.worker is not None:
                    lab.stop_worker(signal.SIGKILL)


async def bounded(call, seconds: float = SETTLE_S + 3) -> httpx.Response:
    """The answer within ``seconds`` (the in-process transport has no timeouts of its own)."""
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(call, seconds)
    except TimeoutError:
        pytest.fail(f"no answer within {seconds} s (waited {time.perf_counter() - started:.1f} s)")


def assert_pending(response: httpx.Response, case_id: str | None, operation: str) -> str:
    """A 202 pending answer; returns its Idempotency-Key."""
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending" and body["code"] == "outcome_pending"
    assert body["operation"] == operation
    if case_id is not None:
        assert body["case_id"] == case_id
    assert response.headers["location"] == body["location"] == f"/applications/{body['case_id']}"
    assert response.headers["retry-after"].isdigit() and body["retry_after_s"] >= 1
    assert body["detail"] == body["detail_zh"] and "GET /applications/" in body["detail_en"]
    key = body["idempotency_key"]
    assert key and response.headers["idempotency-key"] == key
    assert "Idempotency-Key: " + key in body["detail_zh"] and key in body["detail_en"]
    return key


async def test_decision_without_worker_is_pending_and_its_retry_is_taken_once(lab, api):
    _code, tokens = api.new_department("consumer")
    await lab.start_worker()
    case_id = (await lab.apply(tokens["consumer"])).json()["id"]
    lab.stop_worker()

    url = f"/applications/{case_id}/decisions"
    accept = {"step": "platform_check", "action": "accept", "note": "worker down"}
    response = await bounded(lab.http.post(url, json=accept, headers=auth(PLATFORM)))
    key = assert_pending(response, case_id, "decision")
    assert "不会重复办理" in response.json()["detail_zh"]
    # Still down: the retry with the key is pending too, with the same key.
    again = await lab.http.post(url, json=accept, headers=auth(PLATFORM, **{"Idempotency-Key": key}))
    assert assert_pending(again, case_id, "decision") == key

    await lab.start_worker()

    async def retried():
        response = await lab.http.post(url, json=accept, headers=auth(PLATFORM, **{"Idempotency-Key": key}))
        assert response.status_code in (200, 202), response.text
        return response if response.status_code == 200 else None

    decided = await lab.until("the retry answers the decision", retried)
    assert decided.json()["open_task"]["step"] == "provider_authorization"
    # Once more: the same outcome, not a 409 (the step is no longer open) and not a second decision.
    replay = await lab.http.post(url, json=accept, headers=auth(PLATFORM, **{"Idempotency-Key": key}))
    assert replay.status_code == 200, replay.text
    assert replay.json()["open_task"]["task_id"] == decided.json()["open_task"]["task_id"]
    # Another decision under the same key is another request: refused, never taken (defect 3).
    reject = {"step": "platform_check", "action": "reject", "reason": "材料不全"}
    other = await lab.http.post(url, json=reject, headers=auth(PLATFORM, **{"Idempotency-Key": key}))
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused", other.text

    async def projected():
        case = (await lab.http.get(f"/applications/{case_id}", headers=auth(PLATFORM))).json()
        return case if case["open_task"] and case["open_task"]["step"] == "provider_authorization" else None

    case = await lab.until("the projection shows the decision", projected)
    decisions = [t for t in case["timeline"] if t["decision"] is not None]
    assert [(t["step"], t["decision"]["action"], t["decision"]["note"]) for t in decisions] == [
        ("platform_check", "accept", "worker down")
    ]
    events = (await lab.http.get(f"/applications/{case_id}/events", headers=auth(PLATFORM))).json()["items"]
    assert len([e for e in events if e["kind"] == "decision"]) == 1, events


async def test_create_without_worker_is_pending_with_the_case_id_and_one_case(lab, api):
    _code, tokens = api.new_department("consumer")
    token = tokens["consumer"]
    await lab.start_worker()
    await lab.apply(token)  # one case before, so the counts below start at 1
    lab.stop_worker()

    response = await bounded(lab.apply(token, expect=None))
    key = assert_pending(response, None, "application")
    case_id = response.json()["case_id"]
    assert "不会创建第二个案件" in response.json()["detail_zh"]
    # A create with a key of its own: pending, with that key.
    keyed = await lab.apply(token, expect=None, **{"Idempotency-Key": "own-key-1"})
    assert assert_pending(keyed, None, "application") == "own-key-1"
    keyed_id = keyed.json()["case_id"]

    await lab.start_worker()

    async def replayed(with_key: str):
        async def check():
            response = await lab.apply(token, expect=None, **{"Idempotency-Key": with_key})
            assert response.status_code in (200, 202), response.text
            return response if response.status_code == 200 else None

        return check

    first = await lab.until("the keyless create's retry", await replayed(key))
    assert first.json()["id"] == case_id and first.headers["idempotent-replayed"] == "true"
    second = await lab.until("the keyed create's retry", await replayed("own-key-1"))
    assert second.json()["id"] == keyed_id

    async def listed():
        response = await lab.http.get("/applications", headers=auth(token), params={"limit": 100})
        body = response.json()
        return body if body["total"] == 3 else None

    body = await lab.until("three cases in the list", listed)
    assert {case_id, keyed_id} < {item["id"] for item in body["items"]}


async def _healthy(lab) -> httpx.Response:
    async def check():
        response = await lab.http.get("/healthz")
        return response if response.status_code == 200 else None

    return await lab.until("/healthz 200 (the worker's first heartbeat)", check, timeout=10)


async def test_healthz_reports_a_missing_worker(lab):
    await lab.start_worker()
    response = await _healthy(lab)
    assert response.json() == {"status": "ok", "database": "ok", "temporal": "ok", "worker": "ok"}

    lab.stop_worker()  # a clean stop deletes its heartbeat: missing at once
    response = await lab.http.get("/healthz")
    assert response.status_code == 503, response.text
    problem = response.json()
    assert problem["code"] == "unhealthy" and response.headers["retry-after"].isdigit()
    assert problem["checks"] == {"database": "ok", "temporal": "ok", "worker": "missing"}
    assert "工作进程未运行" in problem["detail_zh"] and "worker missing" in problem["detail_en"]

    await lab.start_worker()
    await _healthy(lab)
    lab.stop_worker(signal.SIGKILL)  # no clean stop: its heartbeat goes stale

    async def missing():
        response = await lab.http.get("/healthz")
        return response if response.status_code == 503 else None

    started = time.monotonic()
    problem = (await lab.until("stale heartbeat reported", missing, timeout=STALE_S + 5)).json()
    assert time.monotonic() - started < STALE_S + 5
    assert problem["checks"]["worker"] == "missing" and problem["worker_last_seen"].endswith("+08:00")


async def test_healthz_reports_a_locked_database_and_writes_stay_bounded(lab, api):
    if api.database != "sqlite":
        pytest.skip("SQLite's database-wide write lock; PostgreSQL locks rows")
    _code, tokens = api.new_department("consumer")
    await lab.start_worker()
    case_id = (await lab.apply(tokens["consumer"])).json()["id"]
    await _healthy(lab)
    holder = sqlite3.connect(lab.settings.database_url.split("///", 1)[1], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        response = await bounded(lab.http.get("/healthz"), 3)
        assert response.status_code == 503, response.text
        assert response.json()["checks"]["database"] == "locked"
        assert "数据库被锁定" in response.json()["detail_zh"]
        # A decision meanwhile: the worker cannot record it; the answer comes within the bound.
        response = await bounded(
            lab.http.post(
                f"/applications/{case_id}/decisions",
                json={"step": "platform_check", "action": "accept"},
                headers=auth(PLATFORM),
            )
        )
        assert response.status_code in (200, 202), response.text
        if response.status_code == 202:
            assert_pending(response, case_id, "decision")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    await _healthy(lab)

    async def projected():
        case = (await lab.http.get(f"/applications/{case_id}", headers=auth(PLATFORM))).json()
        return case["open_task"] and case["open_task"]["step"] == "provider_authorization"

    await lab.until("the decision recorded once the lock is gone", projected)


async def test_a_repeated_withdrawal_with_its_key_answers_the_first_outcome(api):
    """Temporal answers a repeated Update id with its first outcome, also once the case is closed:
    a retried withdrawal is 200 again, not 409 'the case is closed'."""
    _code, tokens = api.new_department("consumer")
    token = tokens["consumer"]
    case_id = (await api.apply(token, resource_id=RESOURCE)).get("id")
    url = f"/applications/{case_id}/withdrawal"
    headers = auth(token, **{"Idempotency-Key": "withdraw-1"})
    first = await api.http.post(url, json={"reason": "业务调整"}, headers=headers)
    assert first.status_code == 200 and first.json()["status"] == "withdrawn", first.text
    again = await api.http.post(url, json={"reason": "业务调整"}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["closed_at"] == first.json()["closed_at"]
    # Without the key it is a new request, and the case is closed.
    response = await api.http.post(url, json={"reason": "业务调整"}, headers=auth(token))
    assert response.status_code == 409, response.text
    events = (await api.http.get(f"/applications/{case_id}/events", headers=auth(PLATFORM))).json()["items"]
    assert len([e for e in events if e["kind"] == "withdrawn"]) == 1, events


async def test_create_while_temporal_is_frozen_is_503_with_a_key_and_one_case(api, tmp_path):
    """The Temporal frontend stops answering mid-request (SIGSTOP): whether the case was started is
    not known. The answer is 503 + Retry-After within the bound, with the case id and a key; the
    retry with that key, once the server is back, yields exactly one case."""
    port, http_port, metrics_port = free_port(), free_port(), free_port()
    server = Child(
        "temporal",
        [
            str(Path(sys.executable).parent / "temporal"),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--http-port",
            str(http_port),
            "--metrics-port",
            str(metrics_port),
            "--log-level",
            "error",
        ],
        dict(os.environ),
        tmp_path / "temporal.log",
    )
    try:
        settings = api.settings.model_copy(
            update={
                "temporal_address": f"127.0.0.1:{port}",
                "temporal_namespace": "default",
                "task_queue": f"frozen-{uuid.uuid4().hex[:8]}",
                "api_settle_timeout_s": SETTLE_S,
            }
        )
        client = None
        deadline = time.monotonic() + 30
        while client is None:
            try:
                client = await connect_client(settings)
            except RuntimeError:
                if time.monotonic() > deadline or not server.alive():
                    pytest.fail(f"dev server did not come up:\n{server.log()}")
                await asyncio.sleep(0.3)
        _code, tokens = api.new_department("consumer")
        token = tokens["consumer"]
        body = {"resource_id": RESOURCE, "purpose": "社会保险登记核验", "reason": "办理用人单位社会保险登记"}
        from govshare.ops.worker_build import (
            build_worker,  # as the suite's conftest does: only this test needs it
        )

        app = create_app(settings)
        worker = build_worker(client, task_queue=settings.task_queue, engine=api.engine)
        async with worker, app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://govshare.test") as http:
                ok = await http.post("/applications", json=body, headers=auth(token))
                assert ok.status_code == 201, ok.text
                os.kill(server.process.pid, signal.SIGSTOP)
                try:
                    response = await bounded(http.post("/applications", json=body, headers=auth(token)))
                finally:
                    os.kill(server.process.pid, signal.SIGCONT)
                # SIGSTOP reaches the server's threads asynchronously: under load the start can land
                # just before it does, and the case is then accepted, pending (202), with the same key.
                assert response.status_code in (503, 202), response.text
                problem = response.json()
                expected = "engine_unavailable" if response.status_code == 503 else "outcome_pending"
                assert problem["code"] == expected and response.headers["retry-after"].isdigit()
                key, case_id = problem["idempotency_key"], problem["case_id"]
                assert key and response.headers["idempotency-key"] == key and case_id.startswith("SA-")
                assert f"Idempotency-Key: {key}" in problem["detail_zh"]

                async def retried():
                    again = await http.post(
                        "/applications", json=body, headers=auth(token, **{"Idempotency-Key": key})
                    )
                    assert again.status_code in (200, 201, 202, 503), again.text
                    return again if again.status_code in (200, 201) else None

                deadline = time.monotonic() + 30
                while (again := await retried()) is None:
                    assert time.monotonic() < deadline, "no case after the server came back"
                    await asyncio.sleep(0.5)
                assert again.json()["id"] == case_id
                listed = await http.get("/applications", headers=auth(token), params={"limit": 100})
                ids = [item["id"] for item in listed.json()["items"]]
                assert sorted(ids) == sorted([ok.json()["id"], case_id]), ids
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop(signal.SIGKILL)


async def test_create_while_the_database_is_locked_is_pending_with_a_key_and_one_case(lab, api):
    """Defect 5: with the app DB locked, a create without a key was answered 202 with no key (the key
    made for it was claimed in the locked database, so it was dropped) and one with a key waited out
    the busy timeout for its claim and answered 503. Now the case id is derived from the key (one made
    for the client if it sent none), so the answer is 202 with the key and the retry with it, once
    the lock is gone, gets the same case: no second one."""
    if api.database != "sqlite":
        pytest.skip("SQLite's database-wide write lock; PostgreSQL locks rows")
    _code, tokens = api.new_department("consumer")
    token = tokens["consumer"]
    await lab.start_worker()
    await lab.apply(token)  # one case before, so the counts below start at 1
    holder = sqlite3.connect(lab.settings.database_url.split("///", 1)[1], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        keyless = await bounded(lab.apply(token, expect=None))
        key = assert_pending(keyless, None, "application")
        case_id = keyless.json()["case_id"]
        keyed = await bounded(lab.apply(token, expect=None, **{"Idempotency-Key": "locked-own-1"}))
        assert assert_pending(keyed, None, "application") == "locked-own-1"
        keyed_id = keyed.json()["case_id"]
        assert keyed_id != case_id
        # The key given out stands for its request, also while the database cannot be asked.
        other = {"resource_id": RESOURCE, "purpose": "社会保险登记核验", "reason": "另一事由"}
        reused = await bounded(
            lab.http.post("/applications", json=other, headers=auth(token, **{"Idempotency-Key": key}))
        )
        assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused", reused.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    async def replayed(with_key: str):
        async def check():
            response = await lab.apply(token, expect=None, **{"Idempotency-Key": with_key})
            assert response.status_code in (200, 202), response.text
            return response if response.status_code == 200 else None

        return check

    first = await lab.until("the keyless create's retry", await replayed(key))
    assert first.json()["id"] == case_id and first.headers["idempotent-replayed"] == "true"
    # The client's key could not be claimed under the lock: another body under it is refused by the
    # case it names (its workflow holds the request it was started for), and claims nothing.
    reused = await lab.http.post(
        "/applications", json=other, headers=auth(token, **{"Idempotency-Key": "locked-own-1"})
    )
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused", reused.text
    second = await lab.until("the keyed create's retry", await replayed("locked-own-1"))
    assert second.json()["id"] == keyed_id and second.headers["idempotent-replayed"] == "true"

    response = await lab.http.get("/applications", headers=auth(token), params={"limit": 100})
    assert response.json()["total"] == 3, response.json()
    assert {case_id, keyed_id} < {item["id"] for item in response.json()["items"]}
