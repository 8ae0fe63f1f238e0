"""Every case type a person opens, as the fault tests drive it over HTTP (issue 23), and the lab they
run in: a Temporal dev server on a SQLite file (killable with -9 and restartable on the same port,
with the case search attributes registered), the app database on SQLite, an in-process worker that
can be stopped and replaced, and the API in-process.

A :class:`Flow` is one case type under one profile: how it is opened (route, who, body), the
decisions of its normal path (step, action, who) and the clock change its first task allows, if any.
``FLOWS`` holds the shipped profiles' flows; ``FAULTLAB_FLOWS`` the same case types under
``faultlab``, a copy of the Luzhou profile that adds what a deployment may set as local policy (a
limit on an untimed step, a suspension rule), for the two scenarios the shipped profiles cannot
stage for every case type (a deadline that has passed, a clock that may be stopped).

Writes are :class:`Write` records: every one carries an Idempotency-Key (the client's own, or the
one a 202 / 503 gave back), so it can be retried and checked against the history afterwards.
"""

from __future__ import annotations

import asyncio
import contextvars
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from calendars import SHANGHAI
from govshare.cases.history import CaseCheck, check_case
from govshare.core import catalog
from workflows.engine import attributes

BIN = Path(sys.executable).parent

CONSUMER = "demo-rsj-consumer"
PLATFORM = "demo-bdb-platform"
GAJ = "demo-gaj-provider"
GAJ_HEAD = "demo-gaj-head"
SCJGJ = "demo-scjgj-provider"
LGO = "demo-lgo-leading_group"
COORDINATOR = "demo-jxw-coordinator"
CITIZEN = "demo-citizen"
AUDITOR = "demo-sjj-auditor"

#: The Update names that are writes people send (``settled`` is the create's own wait).
WRITE_UPDATES = ("decide", "adjust_clock", "withdraw")


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------------
# The lab: servers and processes the scenarios share
# --------------------------------------------------------------------------------------------------


class TemporalServer:
    """``temporal server start-dev`` on a file, killable (-9) and restartable on the same ports, with
    the case search attributes registered (as ``govshare run`` does), so ``check_case`` also holds
    Temporal's attributes against the projection."""

    def __init__(self, db_file: Path, log: Path) -> None:
        self.db_file, self.log = db_file, log
        self.port, self.http_port, self.metrics_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--headless",
            "--db-filename",
            str(self.db_file),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
            "--metrics-port",
            str(self.metrics_port),
            "--log-level",
            "error",
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--dynamic-config-value",
            "history.transferProcessorMaxPollRPS=1000",
        ]
        for name, kind in attributes.TYPE_NAMES.items():
            command += ["--search-attribute", f"{name}={kind}"]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def client(self, timeout: float = 60) -> Client:
        deadline = time.monotonic() + timeout
        while True:
            try:
                client = await Client.connect(self.address, data_converter=pydantic_data_converter)
                if await client.service_client.check_health():
                    return client
            except Exception:
                if time.monotonic() > deadline or not self.alive():
                    raise RuntimeError(f"Temporal did not come up:\n{self.log.read_text()[-2000:]}") from None
            await asyncio.sleep(0.2)


class WriteLock:
    """Another connection holding SQLite's write lock on the app database (``BEGIN IMMEDIATE``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def hold(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


#: How far back a create is dated, in the task that sets it (see :func:`backdated`).
BACKDATE: contextvars.ContextVar[timedelta] = contextvars.ContextVar("backdate", default=timedelta(0))


class BackdatedClock(datetime):
    """``api.acting``'s clock in these tests: the wall clock, less :data:`BACKDATE` of the calling task.

    A create's record time (Hubei 22: the first task counts from it) is ``datetime.now`` in
    ``api.acting.open_case``; a task that sets ``BACKDATE`` opens its case as if recorded that long
    ago, through its real create route, so its first deadline has passed. Other tasks are unaffected
    (each asyncio task has its own context)."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return datetime.now(tz) - BACKDATE.get()


@dataclass
class Lab:
    server: TemporalServer
    engine: Any
    db_path: str
    settings: Any
    http: httpx.AsyncClient
    client: Client
    worker: Worker | None = None
    worker_run: asyncio.Task | None = None
    workers_started: int = 0

    async def start_worker(self) -> None:
        from govshare.ops.worker_build import build_worker

        assert self.worker is None
        self.worker = build_worker(self.client, task_queue=self.settings.task_queue, engine=self.engine)
        self.worker_run = asyncio.create_task(self.worker.run())
        self.workers_started += 1

    async def stop_worker(self) -> None:
        assert self.worker is not None and self.worker_run is not None
        await self.worker.shutdown()
        await asyncio.wait_for(self.worker_run, 30)
        self.worker = self.worker_run = None

    def publish_entry(self, open_type: str = "conditional_open") -> str:
        """An entry of 公安局 in the register (the demo catalog has none conditionally open)."""
        resource_id = f"gaj-fault-{uuid.uuid4().hex[:8]}"
        with Session(self.engine) as session:
            catalog.publish(
                session,
                [
                    {
                        "id": resource_id,
                        "name_zh": "二手房交易统计信息",
                        "name_en": "Second-hand housing transactions",
                        "provider_department": "gaj",
                        "share_type": "unconditional",
                        "fields": ["district", "deal_month", "average_price"],
                        "sharing_modes": ["online_query"],
                        "open_type": open_type,
                        "legal_basis": "《中华人民共和国个人信息保护法》第十三条",
                    }
                ],
                department="gaj",
                now=datetime.now(UTC),
            )
            session.commit()
        return resource_id

    async def get_case(self, case_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/cases/{case_id}", headers=auth(AUDITOR))
        assert response.status_code == 200, response.text
        return response.json()


# --------------------------------------------------------------------------------------------------
# Writes: every one keyed, retried until it has an outcome
# --------------------------------------------------------------------------------------------------


@dataclass
class Write:
    """One HTTP write and what became of it."""

    path: str
    token: str
    body: dict[str, Any]
    key: str | None = field(default_factory=lambda: f"fault-{uuid.uuid4().hex}")
    statuses: list[int] = field(default_factory=list)
    answer: dict[str, Any] | None = None

    def headers(self) -> dict[str, str]:
        return auth(self.token, **({"Idempotency-Key": self.key} if self.key else {}))

    async def send(self, http: httpx.AsyncClient, timeout: float = 30) -> int:
        """One attempt; a 202 or 503 hands back the key to retry with (one made for a keyless write)."""
        try:
            response = await asyncio.wait_for(
                http.post(self.path, json=self.body, headers=self.headers()), timeout
            )
        except (httpx.HTTPError, TimeoutError) as err:
            raise AssertionError(f"{self.path}: no answer ({err!r})") from err
        status = response.status_code
        self.statuses.append(status)
        assert status != 500, f"{self.path}: 500 {response.text}"
        if status in (202, 503):
            problem = response.json()
            given = response.headers.get("idempotency-key") or problem.get("idempotency_key")
            # A 202 always hands back the key; a 503 ``database_busy`` sent nothing (the client's
            # own key, if any, still stands for the request).
            assert given or (status == 503 and problem.get("code") == "database_busy"), (
                f"{self.path}: {status} without a key to retry with: {response.text}"
            )
            assert not given or self.key is None or given == self.key, (self.key, given)
            self.key = given or self.key
        self.answer = response.json()
        return status

    @property
    def status(self) -> int:
        return self.statuses[-1] if self.statuses else 0

    @property
    def taken(self) -> bool:
        """Taken: its outcome, once known, is 200 / 201. (A 202 is "pending": the retry with its key
        gives the outcome, which may be a refusal when the write lost a race.)"""
        return self.status in (200, 201)

    async def settle(self, http: httpx.AsyncClient, timeout: float = 60) -> int:
        """Retry with the key until the outcome is known (not 202 / 503)."""
        deadline = time.monotonic() + timeout
        status = self.status or await self.send(http)
        while status in (202, 503):
            assert time.monotonic() < deadline, f"{self.path}: still {status} after {timeout} s"
            await asyncio.sleep(0.3)
            status = await self.send(http)
        return status


def decision(case_id: str, token: str, body: dict[str, Any], key: bool = True) -> Write:
    write = Write(f"/cases/{case_id}/decisions", token, body)
    if not key:
        write.key = None
    return write


# --------------------------------------------------------------------------------------------------
# The case types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Act:
    """A decision on the normal path: who takes which action at which step (the caller's own task)."""

    token: str
    step: str
    action: str
    extra: dict[str, Any] = field(default_factory=dict)
    #: The department whose task it is (a step sent to several parties has one task each).
    assignee: str = ""

    def body(self) -> dict[str, Any]:
        return {"step": self.step, "action": self.action, **self.extra}


@dataclass(frozen=True)
class ClockAct:
    """A clock change on the first act's task: a suspension (by ``token``), or an extension the
    assignee asks and its principal head (``approver``) approves on the head's own task."""

    token: str
    body: dict[str, Any]
    approver: str = ""


Body = Callable[["Lab", str], dict[str, Any]]


@dataclass(frozen=True)
class Flow:
    code: str  # the case id prefix: SA, RO …
    case_type: str
    profile: str
    path: str  # the create route
    token: str  # who opens it
    body: Body  # the create's body (may publish a catalog entry first)
    acts: tuple[Act, ...]
    clock: ClockAct | None = None
    #: How the case is opened, when it is not by ``path`` (the escalation: by an application's breach).
    opener: Callable[[Lab, Flow], Awaitable[str]] | None = None

    @property
    def label(self) -> str:
        return f"{self.code}/{self.profile}"

    async def open(self, lab: Lab, backdate: timedelta = timedelta(0)) -> str:
        """Open a case through its create route (201); ``backdate``: recorded that long ago."""
        if self.opener is not None:
            return await self.opener(lab, self)
        token = BACKDATE.set(backdate)
        try:
            write = Write(self.path, self.token, self.body(lab, self.profile))
            status = await write.settle(lab.http)
        finally:
            BACKDATE.reset(token)
        assert status in (200, 201), f"{self.label}: create answered {status}: {write.answer}"
        assert write.answer is not None
        return write.answer["id"]


def _sa(lab: Lab, profile: str) -> dict[str, Any]:
    resource = "scjgj-legal-entity-basic" if profile == "hubei" else "gaj-household-members"
    return {
        "resource_id": resource,
        "purpose": "社会保险登记时核验",
        "reason": "办理社会保险登记",
        "profile": profile,
    }


def _ro(lab: Lab, profile: str) -> dict[str, Any]:
    return {
        "respondent_department": "gaj",
        "grounds": ["31(2)"] if profile == "hubei" else ["42(7)"],
        "period_working_days": 10,
        "description": "人口基本信息未按目录规定时限向共享平台提供,请按期整改",
        "profile": profile,
    }


def _cp(lab: Lab, profile: str) -> dict[str, Any]:
    return {
        "respondent_department": "scjgj",
        "addressed_to": "leading_group",
        "conduct": "无正当理由拖延办理本局的数据共享申请",
        "profile": profile,
    }


def _cu(lab: Lab, profile: str) -> dict[str, Any]:
    # Counted from the change (Luzhou 10): a create dated back is a change that long ago too.
    change = datetime.now(SHANGHAI).date() - timedelta(days=3) - BACKDATE.get()
    return {
        "department": "gaj",
        "reason": "law_revision",
        "change_date": change.isoformat(),
        "description": "《户口登记条例》修订,户籍信息项调整",
        "profile": profile,
    }


def _do(lab: Lab, profile: str) -> dict[str, Any]:
    return {
        "resource_id": "gaj-household-members",
        "records": ["户号 4103020001"],
        "fields": ["members"],
        "problem": "家庭成员信息缺少新生儿",
        "evidence": "出生医学证明",
        "profile": profile,
    }


def _ds(lab: Lab, profile: str) -> dict[str, Any]:
    return {
        "resource_id": "gaj-criminal-investigation",
        "matter": "履职确需",
        "duty": "刑罚执行衔接",
        "profile": profile,
    }


def _od(lab: Lab, profile: str) -> dict[str, Any]:
    return {
        "resource_id": lab.publish_entry(),
        "fields": ["district", "average_price"],
        "purpose": "住房市场研究,仅发表汇总结果",
        "delivery": "download",
        "profile": profile,
    }


def _oc(lab: Lab, profile: str) -> dict[str, Any]:
    return {
        "resource_id": lab.publish_entry(),
        "open_type": "open",
        "reason": "统计数据不含个人信息",
        "profile": profile,
    }


def change_set() -> dict[str, Any]:
    rid = f"gaj-cu-{uuid.uuid4().hex[:8]}"
    entry = {
        "name_zh": "户籍变动信息",
        "name_en": "Household registration changes",
        "share_type": "conditional",
        "kind": "departmental",
        "fields": ["name", "id_number", "change_date"],
        "sharing_modes": ["online_query"],
        "update_period": "monthly",
    }
    return {"items": [{"action": "new", "resource_id": rid, "entry": entry}]}


async def _escalation(lab: Lab, flow: Flow) -> str:
    """An application recorded 30 days ago (Hubei): its platform check (3 WD) is long overdue, the
    breach starts ``ES-<SA>-T1``; the escalation's id once its first rung is open."""
    sa_id = await FLOWS["SA"].open(lab, backdate=timedelta(days=30))
    es_id = f"ES-{sa_id}-T1"
    deadline = time.monotonic() + 30
    while True:
        response = await lab.http.get(f"/cases/{es_id}", headers=auth(AUDITOR))
        if response.status_code == 200 and response.json()["open_tasks"]:
            return es_id
        assert time.monotonic() < deadline, f"{es_id} did not open: {response.text}"
        await asyncio.sleep(0.1)


REPORT = {"reason": "已完成整改并建立自动推送"}
SUSPEND = ClockAct(PLATFORM, {"kind": "suspension", "reason": "等待补充材料"})
EXTEND = ClockAct(
    GAJ, {"kind": "extension", "working_days": 5, "reason": "需调取历史档案"}, approver=GAJ_HEAD
)

#: Every case type a person opens, under a shipped profile, and the escalation a breach starts.
FLOWS: dict[str, Flow] = {
    "SA": Flow(
        "SA",
        "sharing_application",
        "hubei",
        "/applications",
        CONSUMER,
        _sa,
        (Act(PLATFORM, "platform_check", "accept"), Act(SCJGJ, "provider_authorization", "grant")),
    ),
    "RO": Flow(
        "RO",
        "rectification_order",
        "hubei",
        "/rectification-orders",
        LGO,
        _ro,
        (Act(GAJ, "rectification", "report", REPORT), Act(LGO, "rectification_review", "accept")),
    ),
    "CP": Flow(
        "CP",
        "complaint",
        "luzhou",
        "/complaints",
        CONSUMER,
        _cp,
        (
            Act(LGO, "complaint_investigation", "unsubstantiated", {"reason": "经核查,申请材料不全"}),
            Act(LGO, "complaint_feedback", "inform", {"reason": "经调查,投诉情况不属实"}),
        ),
    ),
    "CU": Flow(
        "CU",
        "catalog_update",
        "luzhou",
        "/catalog-updates",
        PLATFORM,
        _cu,
        (
            Act(GAJ, "catalog_update", "submit", {"payload": "change_set"}),
            Act(PLATFORM, "catalog_update_publication", "publish"),
        ),
    ),
    "DO": Flow(
        "DO",
        "data_objection",
        "luoyang",
        "/data-objections",
        CONSUMER,
        _do,
        (Act(GAJ, "data_verification", "confirm", {"reason": "经核对户籍档案,数据无误"}),),
        clock=EXTEND,
    ),
    "DS": Flow(
        "DS",
        "dispute",
        "luzhou",
        "/disputes",
        CONSUMER,
        _ds,
        (
            Act(GAJ, "negotiation", "fail", {"reason": "涉及侦查秘密"}, assignee="gaj"),
            Act(COORDINATOR, "coordination", "coordinate_no_access", {"reason": "依法不予共享"}),
        ),
    ),
    "OD": Flow(
        "OD",
        "open_data_application",
        "luoyang",
        "/open-data-applications",
        CITIZEN,
        _od,
        (
            Act(
                GAJ,
                "conditional_open_application",
                "refuse",
                {"reason": "涉及个人信息", "payload": {"basis": "《中华人民共和国个人信息保护法》第十三条"}},
            ),
        ),
        clock=EXTEND,
    ),
    "OC": Flow(
        "OC",
        "open_catalog_correction",
        "luoyang",
        "/open-catalog-corrections",
        CITIZEN,
        _oc,
        (Act(GAJ, "open_catalog_correction", "agree"), Act(PLATFORM, "open_catalog_change", "change")),
        clock=EXTEND,
    ),
    "ES": Flow(
        "ES",
        "escalation",
        "hubei",
        "",
        "",
        _sa,
        (Act(PLATFORM, "rung_report_to_leading_group_office", "done"),),
        opener=_escalation,
    ),
}

#: The case types whose shipped profiles allow no clock change on a task, and whose deadline cannot
#: be made to pass by dating the create back (untimed, or counted from a decision taken now), under
#: ``faultlab``: the Luzhou profile plus a local-policy suspension by the platform on the first task
#: and a local-policy limit on the untimed first steps.
FAULTLAB_FLOWS: dict[str, Flow] = {
    "SA": Flow(
        "SA",
        "sharing_application",
        "faultlab",
        "/applications",
        CONSUMER,
        _sa,
        (Act(GAJ, "provider_acceptance", "accept"),),
        clock=SUSPEND,
    ),
    "RO": Flow(
        "RO",
        "rectification_order",
        "faultlab",
        "/rectification-orders",
        LGO,
        _ro,
        (Act(GAJ, "rectification", "report", REPORT),),
        clock=SUSPEND,
    ),
    "CP": Flow(
        "CP",
        "complaint",
        "faultlab",
        "/complaints",
        CONSUMER,
        _cp,
        (Act(LGO, "complaint_investigation", "unsubstantiated", {"reason": "经核查,申请材料不全"}),),
        clock=SUSPEND,
    ),
    "CU": Flow(
        "CU",
        "catalog_update",
        "faultlab",
        "/catalog-updates",
        PLATFORM,
        _cu,
        (Act(GAJ, "catalog_update", "submit", {"payload": "change_set"}),),
        clock=SUSPEND,
    ),
    "DS": Flow(
        "DS",
        "dispute",
        "faultlab",
        "/disputes",
        CONSUMER,
        _ds,
        (Act(GAJ, "negotiation", "fail", {"reason": "涉及侦查秘密"}, assignee="gaj"),),
        clock=SUSPEND,
    ),
}

_SUSPENSION = (
    'suspension = { by = "platform", article = "local-1", basis = "local_policy", note_zh = "等待补充材料" }'
)
#: What ``faultlab`` adds to the Luzhou profile, after each step's table header.
FAULTLAB_ADDITIONS = {
    "sharing_application.steps.provider_acceptance": [_SUSPENSION],
    "catalog_update.steps.catalog_update": [_SUSPENSION],
    "rectification_order.steps.rectification_issue": ["local_policy_working_days = 1"],
    "rectification_order.steps.rectification": [_SUSPENSION],
    "complaint.steps.complaint_investigation": ["local_policy_working_days = 5", _SUSPENSION],
    "dispute.steps.negotiation": ["local_policy_working_days = 5", _SUSPENSION],
}


def write_profiles(folder: Path) -> Path:
    """The shipped profiles, and ``faultlab`` beside them, in ``folder`` (for GOVSHARE_PROFILE_DIR)."""
    from regulations import profile_dir

    shipped = profile_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for path in shipped.glob("*.toml"):
        shutil.copy(path, folder / path.name)
    lines = (shipped / "luzhou.toml").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if line.strip() == 'id = "luzhou"':
            line = 'id = "faultlab"'
        out.append(line)
        header = line.strip()
        if header.startswith("[case_types.") and header.endswith("]"):
            out += FAULTLAB_ADDITIONS.get(header[len("[case_types.") : -1], [])
    text = "\n".join(out) + "\n"
    for key in FAULTLAB_ADDITIONS:
        assert f"[case_types.{key}]" in text, key
    (folder / "faultlab.toml").write_text(text, encoding="utf-8")
    return folder


def act_write(case_id: str, act: Act, *, key: bool = True, task_id: str = "") -> Write:
    body = act.body()
    if body.get("payload") == "change_set":
        body["payload"] = change_set()
    if task_id:
        body.pop("step")
        body["task_id"] = task_id
    return decision(case_id, act.token, body, key=key)


def open_task(case: dict[str, Any], step: str, assignee: str = "") -> dict[str, Any]:
    found = [
        t
        for t in case["open_tasks"]
        if t["step"] == step and (not assignee or t["assignee"]["code"] == assignee)
    ]
    assert len(found) == 1, (case["id"], step, assignee, case["open_tasks"])
    return found[0]


# --------------------------------------------------------------------------------------------------
# The history: what it holds of the writes, and the projection held against it
# --------------------------------------------------------------------------------------------------


@dataclass
class UpdateSeen:
    name: str
    update_id: str
    succeeded: bool | None = None  # None: accepted, not completed


def updates_in(check: CaseCheck) -> list[UpdateSeen]:
    """The write Updates the history accepted, with how each completed."""
    found: dict[str, UpdateSeen] = {}
    for event in check.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            name, update_id = request.input.name, request.meta.update_id
            if name in WRITE_UPDATES:
                assert update_id not in found, f"{check.case_id}: Update {update_id} accepted twice"
                found[update_id] = UpdateSeen(name, update_id)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            attrs = event.workflow_execution_update_completed_event_attributes
            seen = found.get(attrs.meta.update_id)
            if seen is not None:
                seen.succeeded = attrs.outcome.HasField("success")
    return list(found.values())


async def converge(lab: Lab, case_id: str, timeout: float = 45) -> CaseCheck:
    """The case's history and projection once they agree (the projection may lag one write; it may
    never lead, and it must catch up). Fails naming every difference if it does not within
    ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            checked = await check_case(lab.client, lab.engine, case_id)
        except LookupError:  # a linked case the history names, not yet in the projection
            assert time.monotonic() < deadline, f"{case_id}: never in the projection"
            await asyncio.sleep(0.25)
            continue
        ahead = [d for d in checked.differences if d.what == "revision" and d.projected > d.recorded]
        assert not ahead, f"{case_id}: the projection ran ahead of the history: {ahead[0].line()}"
        pending = [u for u in updates_in(checked) if u.succeeded is None]
        if checked.agrees and not pending:
            return checked
        if time.monotonic() > deadline:
            lines = "\n  ".join(d.line() for d in checked.differences)
            raise AssertionError(f"{case_id}: projection ≠ history after {timeout} s:\n  {lines}\n{pending}")
        await asyncio.sleep(0.25)


async def converge_all(lab: Lab, case_id: str, timeout: float = 45) -> dict[str, CaseCheck]:
    """The case and every case linked to it (an escalation a breach started, the order it started …),
    each converged and held to :func:`assert_whole`."""
    checks: dict[str, CaseCheck] = {}
    todo = [case_id]
    while todo:
        current = todo.pop()
        if current in checks:
            continue
        checked = await converge(lab, current, timeout)
        assert_whole(checked)
        checks[current] = checked
        todo += [link.case_id for link in checked.rebuilt.links if link.case_id not in checks]
    return checks


def assert_whole(check: CaseCheck) -> None:
    """No decision recorded twice, none half-recorded: each task decided at most once, by one
    ``decision`` event; a task decided exactly when an event says so; the audit trail numbered
    without a gap."""
    rebuilt = check.rebuilt
    seqs = sorted(e.seq for e in rebuilt.events)
    assert seqs == list(range(1, len(seqs) + 1)), f"{check.case_id}: audit seqs {seqs}"
    per_task: dict[str, int] = {}
    for event in rebuilt.events:
        if event.kind == "decision":
            task_id = event.data.get("task_id", "")
            per_task[task_id] = per_task.get(task_id, 0) + 1
    doubled = {t: n for t, n in per_task.items() if n > 1}
    assert not doubled, f"{check.case_id}: decided more than once: {doubled}"
    decided = {t.task_id for t in rebuilt.tasks.values() if t.decision is not None and not t.approves}
    assert decided == set(per_task), f"{check.case_id}: decided tasks {decided} ≠ decision events {per_task}"
    for task in rebuilt.tasks.values():
        assert (task.decision is not None) == (task.status == "done"), (
            check.case_id,
            task.task_id,
            task.status,
        )


def assert_taken_once(checks: dict[str, CaseCheck], writes: list[Write]) -> None:
    """Zero lost, zero doubled: every write has an outcome (a 202 / 503 was retried with its key until
    it had one); every write taken (200 / 201) is in its case's history exactly once, as one Update
    that succeeded, under the id its key names; a refused one never succeeded; and no write Update
    succeeded that no taken write accounts for."""
    by_case: dict[str, list[Write]] = {}
    for write in writes:
        case_id = write.path.split("/")[2]
        by_case.setdefault(case_id, []).append(write)
    for case_id, mine in by_case.items():
        check = checks[case_id]
        seen = updates_in(check)
        for write in mine:
            assert write.status not in (0, 202, 503), (
                f"{case_id}: {write.body} has no outcome: {write.statuses}"
            )
            named = [u for u in seen if write.key and f":{write.key}:" in u.update_id]
            if not write.taken:
                # Refused (by the validator: nothing in the history; or after acceptance, by the
                # handler's re-check: one Update that failed): never taken, never twice.
                assert len(named) <= 1 and not any(u.succeeded for u in named), (case_id, write, named)
                continue
            assert write.key, write
            assert len(named) == 1, (
                f"{case_id}: {write.body} (key {write.key}) is {len(named)} Updates: {named}"
            )
            assert named[0].succeeded, f"{case_id}: {write.body} answered {write.statuses}, refused: {named}"
        keys = {w.key for w in mine if w.taken}
        stray = [
            u
            for u in seen
            if u.succeeded
            and u.update_id.startswith(("decision:", "clock_change:", "withdrawal:"))
            and not any(f":{k}:" in u.update_id for k in keys)
        ]
        assert not stray, f"{case_id}: Updates taken that no acknowledged write accounts for: {stray}"


def decisions_of(check: CaseCheck) -> list[tuple[str, str, int]]:
    """(step, action, audit seq) of each decision, in the order the history recorded them."""
    return [
        (e.data.get("step", ""), e.data.get("action", ""), e.seq)
        for e in sorted(check.rebuilt.events, key=lambda e: e.seq)
        if e.kind == "decision"
    ]


def event_seqs(check: CaseCheck, kind: str, task_id: str = "") -> list[int]:
    return [
        e.seq
        for e in check.rebuilt.events
        if e.kind == kind and (not task_id or e.data.get("task_id") == task_id)
    ]
