"""The fault tests, for every case type a person opens (issue 23): each fault ends with zero lost
(every write answered 2xx or 202 is in the history and the projection, once), zero doubled (no
decision recorded twice; every acknowledged write is one Update in the history, under the id its
Idempotency-Key names; a retry with that key answers 200 again and adds nothing), and the projection
equal to the record rebuilt from the history (``govshare.cases.history.check_case``), for the case
and every case linked to it (the escalation a breach started, the order it started …).

One lab for the module (``case_kinds.py``): a Temporal dev server on a SQLite file, the app database
on SQLite, an in-process worker and the API; each scenario opens its cases of every type at once and
puts them through one fault together.

1. the worker stopped mid-decision: the decisions sent on, the app database locked so the steps they
   take wait on their record, the worker stopped, the lock released, a new worker started;
2. Temporal killed with -9 mid-decision (the app database locked meanwhile, so the step's write is
   held up), down for longer than the SDK retries a workflow task's completion, restarted on its file;
3. the app database locked by another connection while decisions arrive, keyed (503, nothing sent)
   and keyless (202, the step's write held up), then released;
4. a decision racing its deadline: cases recorded 60 days ago (their first deadline long past), the
   decision sent the moment the case is in the database; either the decision comes before the breach
   (and no breach follows), or the breach and then the decision, marked late;
5. a clock change racing a decision on the same task — a suspension, an extension request, the head's
   approval of one — sent at once to a running worker, and sent to a stopped worker so that both
   reach the case in one workflow task: the clock change is applied before the decision, or refused
   with nothing of it recorded.

After 1–3 every case takes its next step on the new worker / server / unlocked database.

The escalation (``ES``), which only a breach opens, takes part in 1–3 through an application
recorded 30 days ago (its first rung decided under the fault) and in 4 through the breaches of the
other case types (each escalation they start is checked with its case). Scenarios 4 and 5 need a
deadline that has passed and a clock that may change: where the shipped profiles have neither
(untimed steps; no suspension rule in any seed; an order's period counted from its issue, now), the
case type runs under ``faultlab`` — Luzhou plus a local-policy limit and suspension rule, as a
deployment may set them (``case_kinds.FAULTLAB_ADDITIONS``).
"""

from __future__ import annotations

import asyncio
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from case_kinds import (
    BACKDATE,
    FAULTLAB_FLOWS,
    FLOWS,
    BackdatedClock,
    Flow,
    Lab,
    TemporalServer,
    Write,
    WriteLock,
    act_write,
    assert_taken_once,
    converge_all,
    decision,
    decisions_of,
    event_seqs,
    open_task,
    write_profiles,
)
from sqlmodel import Session, col, select

import api.acting
from api.main import create_app
from govshare.cases import service as case_service
from govshare.cases.history import CaseCheck
from govshare.core.db import init_schema, make_engine
from govshare.core.models import Case, IdempotencyKey
from govshare.core.seed import seed_demo
from govshare.core.settings import Settings
from regulations import PROFILE_DIR_ENV, clear_cache
from workflows import registry
from workflows.case import Actor, DecisionRequest

#: The API's wait for a case to settle before it answers 202 (the default is 15 s).
SETTLE_S = 2.0
#: How long Temporal stays down in scenario 2: longer than the SDK's retries of a workflow task's
#: completion (about 10 s), so the task that carried the decisions is lost with the server.
DOWN_S = 12.0
#: Cases of scenario 4 are recorded this long ago: every first deadline (≤ 15 WD) has passed.
LONG_AGO = timedelta(days=60)

#: Who each demo token acts as, for a decision sent past the API (department, role, user).
ACTORS = {
    "demo-bdb-platform": ("bdb", "platform", "demo: 市政务服务和大数据管理局 platform"),
    "demo-lgo-leading_group": ("lgo", "leading_group", "demo: 数字政府建设领导小组办公室 leading_group"),
}

SUMMARY: list[str] = []
_T0 = [time.monotonic()]


def mark(what: str) -> None:
    """A phase's end, with the seconds since the last mark (printed with the summary)."""
    now = time.monotonic()
    SUMMARY.append(f"    {now - _T0[0]:5.1f} s  {what}")
    _T0[0] = now


@pytest.fixture(scope="module")
async def lab(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lab]:
    folder = tmp_path_factory.mktemp("faults")
    patch = pytest.MonkeyPatch()
    patch.setenv(PROFILE_DIR_ENV, str(write_profiles(folder / "profiles")))
    clear_cache()
    patch.setattr(api.acting, "datetime", BackdatedClock)
    server = TemporalServer(folder / "temporal.db", folder / "temporal.log")
    server.start()
    db_path = str(folder / "govshare.db")
    engine = make_engine(f"sqlite:///{db_path}")
    init_schema(engine)
    seed_demo(engine)
    settings = Settings(
        database_url=f"sqlite:///{db_path}",
        temporal_address=server.address,
        temporal_namespace="default",
        task_queue=f"faults-{uuid.uuid4().hex[:8]}",
        seed_demo=True,
        api_settle_timeout_s=SETTLE_S,
        api_sqlite_busy_timeout_s=1.0,
        api_retry_after_s=1,
        # The per-caller rate limits are not what these tests stage (every retry is a write).
        rate_limit_writes="0",
        rate_limit_reads="0",
    )
    try:
        client = await server.client()
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://govshare.test", timeout=60
            ) as http:
                lab = Lab(server, engine, db_path, settings, http, client)
                await lab.start_worker()
                mark("lab up")
                try:
                    yield lab
                finally:
                    if lab.worker is not None:
                        await lab.stop_worker()
                    print("\n".join(["", "fault scenarios × case types:", *SUMMARY]))
    finally:
        if server.alive():
            server.kill()
        engine.dispose()
        patch.undo()
        clear_cache()


async def each(
    items: Iterable[Any], label: Callable[[Any], str], run: Callable[[Any], Awaitable[Any]]
) -> list:
    """``run`` for every item at once; every failure reported, each under its case type."""
    items = list(items)
    results = await asyncio.gather(*(run(item) for item in items), return_exceptions=True)
    failures = [
        f"{label(item)}: {''.join(traceback.format_exception_only(result)).strip()}"
        for item, result in zip(items, results, strict=True)
        if isinstance(result, BaseException)
    ]
    if failures:
        raise AssertionError("\n".join(failures))
    return results


def code(flow: Flow) -> str:
    return flow.label


async def replay(lab: Lab, writes: list[Write]) -> None:
    """Every acknowledged write sent again with its key: its first outcome (200), nothing new taken."""

    async def again(write: Write) -> None:
        copy = Write(write.path, write.token, write.body, key=write.key)
        status = await copy.settle(lab.http)
        assert status == 200, (
            f"{write.path} {write.body}: the retry with its key answered {status}: {copy.answer}"
        )

    await each([w for w in writes if w.taken], lambda w: w.path, again)


def task_of(check: CaseCheck, step: str, assignee: str = "") -> Any:
    found = [
        t
        for t in check.rebuilt.tasks.values()
        if t.step == step and not t.approves and (not assignee or t.assignee.department == assignee)
    ]
    assert len(found) == 1, (check.case_id, step, assignee, list(check.rebuilt.tasks))
    return found[0]


def assert_decided(check: CaseCheck, flow: Flow, acts: int) -> None:
    """The first ``acts`` decisions of the flow's path are the case's decisions, each once."""
    for act in flow.acts[:acts]:
        task = task_of(check, act.step, act.assignee)
        assert task.decision is not None and task.decision.action == act.action, (check.case_id, task)
    taken = [(step, action) for step, action, _seq in decisions_of(check) if step != "rectification_issue"]
    assert taken == [(a.step, a.action) for a in flow.acts[:acts]], (check.case_id, taken)


def the_flows() -> list[Flow]:
    return list(FLOWS.values())


async def _check_cases(
    lab: Lab, flows: list[Flow], case_ids: list[str], writes: list[Write], timeout: float = 45
) -> None:
    """Each case (and those linked to it) whole and equal to its history, every write in it once and
    its path's decisions taken; then every write retried with its key, and all of it again."""

    async def check(item: tuple[Flow, str]) -> None:
        flow, case_id = item
        checks = await converge_all(lab, case_id, timeout)
        assert_taken_once(checks, [w for w in writes if f"/{case_id}/" in w.path])
        assert_decided(checks[case_id], flow, len(flow.acts))

    await each(zip(flows, case_ids, strict=True), lambda i: code(i[0]), check)
    mark("checked")
    await replay(lab, writes)
    await each(zip(flows, case_ids, strict=True), lambda i: code(i[0]), check)
    mark("replayed, checked")


# --------------------------------------------------------------------------------------------------
# 0. The table grows with the registry
# --------------------------------------------------------------------------------------------------


def test_every_registered_case_type_has_a_fault_flow() -> None:
    """A new case type fails here until its flow is added to ``case_kinds.FLOWS`` (and, if its
    shipped profiles cannot stage a passed deadline or a clock change, to ``FAULTLAB_FLOWS``)."""
    registered = {
        k.prefix: k.case_type for k in registry.kinds() if k.workflow.__module__.startswith("workflows.")
    }
    assert {c: f.case_type for c, f in FLOWS.items()} == registered
    deadline_staged = {"SA", "CU", "DO", "OD", "OC"}  # shipped profiles, dated back
    clock_staged = {c for c, f in FLOWS.items() if f.clock is not None}
    opened_by_people = set(registered) - {"ES"}
    assert opened_by_people <= deadline_staged | set(FAULTLAB_FLOWS)
    assert opened_by_people <= clock_staged | set(FAULTLAB_FLOWS)


# --------------------------------------------------------------------------------------------------
# 1. The worker stopped mid-case
# --------------------------------------------------------------------------------------------------


async def _claimed(lab: Lab, keys: list[str], timeout: float = 10) -> None:
    """Until the API has claimed every key (its request is past its last write before the Update)."""
    deadline = time.monotonic() + timeout
    while True:
        with Session(lab.engine) as session:
            found = session.exec(select(IdempotencyKey.key).where(col(IdempotencyKey.key).in_(keys))).all()
        if len(set(found)) == len(keys):
            return
        assert time.monotonic() < deadline, f"claimed {len(found)} of {len(keys)} keys"
        await asyncio.sleep(0.005)


async def _wave_with_worker_stopped(lab: Lab, writes: list[Write]) -> list[int]:
    """Send the writes; once the API has sent them on (their keys claimed), hold the app database's
    write lock so the steps they take cannot be recorded, stop the worker while those Updates wait
    on their record, release the lock, start a new worker: every write ends taken, once."""
    sending = [asyncio.create_task(w.send(lab.http)) for w in writes]
    await _claimed(lab, [w.key for w in writes if w.key])
    lock = WriteLock(lab.db_path)
    lock.hold()
    try:
        await asyncio.sleep(0.3)  # the Updates reach the worker; their records wait on the lock
        stopping = asyncio.create_task(lab.stop_worker())
        await asyncio.sleep(0.3)
    finally:
        lock.release()
    await stopping
    await lab.start_worker()
    first = await asyncio.gather(*sending)
    assert set(first) <= {200, 202}, first
    await each(writes, lambda w: w.path, lambda w: w.settle(lab.http))
    assert all(w.status == 200 for w in writes), [(w.path, w.statuses) for w in writes]
    return first


async def test_worker_stopped_mid_case(lab: Lab) -> None:
    mark("-")
    flows = the_flows()
    case_ids = await each(flows, code, lambda f: f.open(lab))
    mark("1: opened")
    writes = [act_write(c, f.acts[0]) for f, c in zip(flows, case_ids, strict=True)]
    first = await _wave_with_worker_stopped(lab, writes)
    SUMMARY.append(f"1 worker stopped mid-decision: first answers {first}")
    mark("1: stopped wave")
    # The next step of each case, on the new worker: every case moves on.
    second = [act_write(c, f.acts[1]) for f, c in zip(flows, case_ids, strict=True) if len(f.acts) > 1]
    await each(second, lambda w: w.path, lambda w: w.settle(lab.http))
    assert all(w.status == 200 for w in second), [(w.path, w.statuses) for w in second]
    writes += second
    await _check_cases(lab, flows, case_ids, writes)


# --------------------------------------------------------------------------------------------------
# 3. The database locked while decisions arrive
# --------------------------------------------------------------------------------------------------


async def test_database_locked_while_decisions_arrive(lab: Lab) -> None:
    mark("-")
    flows = the_flows()
    case_ids = await each(flows, code, lambda f: f.open(lab))
    mark("3: opened")
    # Half the writes carry the client's key (its claim waits for the lock: 503, nothing sent), half
    # none (sent at once, the step's write held up: 202 with a key made for it).
    writes = [
        act_write(c, f.acts[0], key=n % 2 == 0) for n, (f, c) in enumerate(zip(flows, case_ids, strict=True))
    ]
    lock = WriteLock(lab.db_path)
    lock.hold()
    try:
        first = await asyncio.gather(*(w.send(lab.http) for w in writes))
    finally:
        lock.release()
    for n, (write, status) in enumerate(zip(writes, first, strict=True)):
        assert status == (503 if n % 2 == 0 else 202), (write.path, status, write.answer)
    SUMMARY.append(f"3 database locked: first answers {first}")
    mark("3: locked wave")
    await each(writes, lambda w: w.path, lambda w: w.settle(lab.http))
    assert all(w.status == 200 for w in writes), [(w.path, w.statuses) for w in writes]
    second = [act_write(c, f.acts[1]) for f, c in zip(flows, case_ids, strict=True) if len(f.acts) > 1]
    await each(second, lambda w: w.path, lambda w: w.settle(lab.http))
    writes += second
    await _check_cases(lab, flows, case_ids, writes)


# --------------------------------------------------------------------------------------------------
# 4. A decision racing its deadline
# --------------------------------------------------------------------------------------------------

#: The flows whose first deadline passes when the case is recorded long ago: shipped profiles where
#: they time the first step from the record time (or a date the case gives), else ``faultlab``.
DEADLINE_FLOWS = [FLOWS["SA"], FLOWS["CU"], FLOWS["DO"], FLOWS["OD"], FLOWS["OC"]] + [
    FAULTLAB_FLOWS[c] for c in ("RO", "CP", "DS")
]


async def _recorded(lab: Lab, case_id: str, timeout: float = 20) -> None:
    """Until the case's first write is in the database (from then on the API takes a decision)."""
    deadline = time.monotonic() + timeout
    while True:
        with Session(lab.engine) as session:
            if session.get(Case, case_id) is not None:
                return
        assert time.monotonic() < deadline, f"{case_id} was never recorded"
        await asyncio.sleep(0.002)


async def _race_deadline(lab: Lab, flow: Flow) -> str:
    """Open the case recorded :data:`LONG_AGO` and send its first decision the moment it shows; the
    order the history took, the same in the projection."""
    if flow.code == "RO":
        # The create issues the order itself, right after the start: the issue races the issue step's
        # (local-policy) deadline, passed since the record time.
        case_id = await flow.open(lab, backdate=LONG_AGO)
        task_step, writes = "rectification_issue", []
    else:
        key = f"fault-{uuid.uuid4().hex}"
        token = BACKDATE.set(LONG_AGO)
        try:
            create = Write(flow.path, flow.token, flow.body(lab, flow.profile), key=key)
            creating = asyncio.create_task(create.settle(lab.http))
        finally:
            BACKDATE.reset(token)
        case_id = await _claimed_case(lab, key)
        await _recorded(lab, case_id)
        act = flow.acts[0]
        write = act_write(case_id, act)
        await write.settle(lab.http)
        assert await creating in (200, 201), create.answer
        assert write.status == 200, (write.statuses, write.answer)
        task_step, writes = act.step, [write]
    checks = await converge_all(lab, case_id)
    check = checks[case_id]
    assert_taken_once(checks, writes)
    await replay(lab, writes)
    checks = await converge_all(lab, case_id)
    assert_taken_once(checks, writes)
    act_assignee = flow.acts[0].assignee if flow.code != "RO" else ""
    task = task_of(check, task_step, act_assignee)
    assert task.decision is not None
    breached = event_seqs(check, "deadline_breached", task.task_id)
    decided = [
        e for e in check.rebuilt.events if e.kind == "decision" and e.data.get("task_id") == task.task_id
    ]
    assert len(decided) == 1 and len(breached) <= 1, (case_id, breached, decided)
    header = check.rebuilt.header
    assert header is not None
    breaches = [
        b
        for b in header.breaches
        if b.step == task.step and b.responsible.department == task.assignee.department
    ]
    if breached:
        # The breach, then the decision, taken late.
        assert breached[0] < decided[0].seq and task.overdue and decided[0].data["overdue"] is True, case_id
        assert len(breaches) == 1 and task.breach is not None, (case_id, breaches)
        order = "breach→decision"
    else:
        # The decision first: no breach ever follows it.
        assert not task.overdue and decided[0].data["overdue"] is False, case_id
        assert not breaches and task.breach is None, (case_id, breaches)
        order = "decision→no breach"
        # The decision reached the case before its deadline passed there.
        assert task.deadline is not None and task.decision.decided_at <= task.deadline.due_at, case_id
    linked = sorted(set(checks) - {case_id})
    if flow.code == "SA" and breached:
        assert f"ES-{case_id}-T1" in checks, (case_id, linked)
    return f"{order}{' + ' + ', '.join(linked) if linked else ''}"


async def _claimed_case(lab: Lab, key: str) -> str:
    """The case id a create's key names, once the API has claimed it."""
    for _ in range(500):
        with Session(lab.engine) as session:
            row = session.exec(select(IdempotencyKey).where(IdempotencyKey.key == key)).first()
        if row is not None:
            return row.case_id
        await asyncio.sleep(0.01)
    raise AssertionError(f"the key {key} was never claimed")


async def test_a_decision_racing_its_deadline(lab: Lab) -> None:
    mark("-")
    orders = await each(DEADLINE_FLOWS, code, lambda f: _race_deadline(lab, f))
    mark("4: raced, checked")
    for flow, order in zip(DEADLINE_FLOWS, orders, strict=True):
        SUMMARY.append(f"4 deadline race {flow.label}: {order}")


async def test_a_decision_past_its_deadline_is_recorded_late(lab: Lab) -> None:
    """A case recorded 60 days ago whose decision reaches it before the workflow task that follows
    the first record (held open here: the app database locked, so that record cannot land; the
    Update sent through the case service, the API's door to Temporal, since the API sends a decision
    only once the case is in the database): the decision comes 60 days after the due instant, so the
    breach is recorded and then the decision, marked late."""
    flows = [FLOWS["SA"], FAULTLAB_FLOWS["CP"]]
    keys = [f"fault-{uuid.uuid4().hex}" for _ in flows]
    lock = WriteLock(lab.db_path)
    lock.hold()
    try:

        async def create(flow: Flow, key: str) -> str:
            token = BACKDATE.set(LONG_AGO)
            try:
                write = Write(flow.path, flow.token, flow.body(lab, flow.profile), key=key)
                assert await write.send(lab.http) == 202, write.answer  # its first record waits
            finally:
                BACKDATE.reset(token)
            assert write.answer is not None
            return write.answer["case_id"]

        case_ids = await asyncio.gather(*(create(f, k) for f, k in zip(flows, keys, strict=True)))
        deciding = [
            asyncio.create_task(
                case_service.decide(
                    lab.client,
                    case_id,
                    DecisionRequest(
                        actor=Actor(*ACTORS[flow.acts[0].token]),
                        step=flow.acts[0].step,
                        action=flow.acts[0].action,
                        reason=flow.acts[0].extra.get("reason", ""),
                    ),
                    update_id=f"late-{case_id}",
                    settle_timeout_s=30,
                )
            )
            for flow, case_id in zip(flows, case_ids, strict=True)
        ]
        await asyncio.sleep(1.0)
    finally:
        lock.release()
    await asyncio.gather(*deciding)

    async def check(item: tuple[Flow, str]) -> None:
        flow, case_id = item
        checks = await converge_all(lab, case_id)
        check = checks[case_id]
        task = task_of(check, flow.acts[0].step)
        assert task.decision is not None and task.deadline is not None
        late = task.decision.decided_at > task.deadline.due_at
        trail = [(e.seq, e.kind) for e in sorted(check.rebuilt.events, key=lambda e: e.seq)]
        assert late, (case_id, task.decision.decided_at, task.deadline.due_at)
        assert task.overdue and task.breach is not None, (
            f"{case_id}: decided {task.decision.decided_at:%Y-%m-%d %H:%M}, due "
            f"{task.deadline.due_at:%Y-%m-%d %H:%M}, recorded overdue={task.overdue}, no breach: {trail}"
        )
        breached = event_seqs(check, "deadline_breached", task.task_id)
        assert breached and breached[0] < event_seqs(check, "decision", task.task_id)[0], trail

    await each(zip(flows, case_ids, strict=True), lambda i: code(i[0]), check)


# --------------------------------------------------------------------------------------------------
# 5. A clock change racing a decision
# --------------------------------------------------------------------------------------------------

SUSPEND_FLOWS = [FAULTLAB_FLOWS[c] for c in ("SA", "RO", "CP", "CU", "DS")]
EXTEND_FLOWS = [f for f in FLOWS.values() if f.clock is not None]


class Race:
    """A clock change and a decision on the same task, sent together; :meth:`verify` holds the
    history (and the projection, equal to it) to one of the two consistent orders."""

    name = ""

    def __init__(self, lab: Lab, flow: Flow, clock_first: bool = True) -> None:
        self.lab, self.flow, self.clock_first = lab, flow, clock_first
        self.case_id, self.task_id, self.extra = "", "", []
        self.clock: Write
        self.decide: Write

    @property
    def label(self) -> str:
        return f"{self.flow.label} {self.name}" + ("" if self.clock_first else ", decision sent first")

    async def prepare(self) -> None:
        flow = self.flow
        assert flow.clock is not None
        self.case_id = await flow.open(self.lab)
        act = flow.acts[0]
        task = open_task(await self.lab.get_case(self.case_id), act.step, act.assignee)
        self.task_id = task["task_id"]
        self.clock = Write(
            f"/cases/{self.case_id}/tasks/{task['seq']}/clock", flow.clock.token, dict(flow.clock.body)
        )
        self.decide = act_write(self.case_id, act)

    def writes(self) -> list[Write]:
        return [self.clock, self.decide] if self.clock_first else [self.decide, self.clock]

    async def verify(self) -> str:
        assert self.decide.status == 200, (self.decide.statuses, self.decide.answer)
        assert self.clock.status in (200, 409), (self.clock.statuses, self.clock.answer)
        writes = [*self.extra, self.clock, self.decide]
        checks = await converge_all(self.lab, self.case_id)
        assert_taken_once(checks, writes)
        outcome = self.outcome(checks[self.case_id])
        await replay(self.lab, writes)
        assert_taken_once(await converge_all(self.lab, self.case_id), writes)
        return outcome

    def outcome(self, check: CaseCheck) -> str:
        raise NotImplementedError


class SuspensionRace(Race):
    """The platform stops the clock of the task its assignee decides."""

    name = "suspension"

    def outcome(self, check: CaseCheck) -> str:
        done = check.rebuilt.tasks[self.task_id]
        stopped = event_seqs(check, "clock_suspension", self.task_id)
        decided = event_seqs(check, "decision", self.task_id)
        kinds = [entry.kind for entry in done.clock]
        if self.clock.status == 200:
            assert len(stopped) == 1 and stopped[0] < decided[0], (self.case_id, stopped, decided)
            assert kinds.count("suspension") == 1 and done.suspended_at is not None, (self.case_id, kinds)
            return "suspension→decision"
        assert not stopped and "suspension" not in kinds and done.suspended_at is None, (self.case_id, kinds)
        return "decision→suspension refused"


class ExtensionRequestRace(Race):
    """The assignee asks for an extension (the head's approval task opens) and decides."""

    name = "extension request"

    def outcome(self, check: CaseCheck) -> str:
        approvals = [t for t in check.rebuilt.tasks.values() if t.approves == self.task_id]
        done = check.rebuilt.tasks[self.task_id]
        assert "extension" not in [e.kind for e in done.clock], self.case_id
        assert not event_seqs(check, "extension_approved"), self.case_id
        if self.clock.status == 200:
            (approval,) = approvals
            # Taken, then the decision closed the task: the request lapsed, nobody approved it.
            assert approval.status == "cancelled" and approval.decision is None, (self.case_id, approval)
            return "request→decision, request lapsed"
        assert not approvals, (self.case_id, approvals)
        return "decision→request refused"


class ApprovalRace(Race):
    """The head approves the extension the assignee asked for, as the assignee decides the task."""

    name = "head's approval"

    async def prepare(self) -> None:
        await super().prepare()
        assert self.flow.clock is not None
        ask = self.clock
        assert await ask.settle(self.lab.http) == 200, ask.answer
        assert ask.answer is not None
        approval = next(t for t in ask.answer["open_tasks"] if t["assignee"]["role"] == "principal_head")
        self.approval_id = approval["task_id"]
        self.extra = [ask]
        self.clock = decision(
            self.case_id, self.flow.clock.approver, {"task_id": self.approval_id, "action": "approve"}
        )

    def outcome(self, check: CaseCheck) -> str:
        done = check.rebuilt.tasks[self.task_id]
        held = check.rebuilt.tasks[self.approval_id]
        approved = event_seqs(check, "extension_approved")
        extended = event_seqs(check, "clock_extension", self.task_id)
        decided = event_seqs(check, "decision", self.task_id)
        kinds = [e.kind for e in done.clock]
        trail = [(e.seq, e.kind) for e in sorted(check.rebuilt.events, key=lambda e: e.seq)]
        if self.clock.status == 200:
            assert (
                held.status == "done" and held.decision is not None and held.decision.action == "approve"
            ), held
            assert len(approved) == 1 and len(extended) == 1 and extended[0] < decided[0], trail
            assert kinds.count("extension") == 1, kinds
            return "approval→decision"
        # Refused (409 to the head): nothing of the approval may be recorded — not the head's
        # decision, not "extension approved", not the extension.
        assert not approved and not extended and "extension" not in kinds, (
            f"{self.case_id}: the head was answered {self.clock.statuses}, yet the history records "
            f"{trail}; approval task {held.status}, decision "
            f"{held.decision.action if held.decision else None}; clock {kinds}"
        )
        assert held.status == "cancelled" and held.decision is None, (self.case_id, held)
        return "decision→approval refused"


async def _run_races(lab: Lab, races: list[Race], together: bool) -> list[str]:
    """Prepare every race, send each one's two writes, verify. ``together``: with the worker stopped,
    so both writes wait at the server and reach the case in one workflow task (the clock change
    first); else sent at once to a running worker."""
    await each(races, lambda r: r.label, lambda r: r.prepare())
    if together:
        await lab.stop_worker()
        sending = []
        for race in races:
            sending.append(asyncio.create_task(race.writes()[0].send(lab.http)))
        await asyncio.sleep(0.2)
        for race in races:
            sending.append(asyncio.create_task(race.writes()[1].send(lab.http)))
        await asyncio.sleep(0.3)
        await lab.start_worker()
        await asyncio.gather(*sending)
    await each(
        races,
        lambda r: r.label,
        lambda r: asyncio.gather(*(w.settle(lab.http) for w in r.writes())),
    )
    return await each(races, lambda r: r.label, lambda r: r.verify())


async def _clock_races(lab: Lab, kinds: list[tuple[type[Race], list[Flow]]], scenario: str) -> None:
    for together in (False, True):
        races: list[Race] = []
        for kind, flows in kinds:
            for flow in flows:
                races.append(kind(lab, flow))
                if not together and kind is SuspensionRace:
                    races.append(kind(lab, flow, clock_first=False))
        mark("-")
        results = await _run_races(lab, races, together)
        how = "in one workflow task" if together else "sent at once"
        mark(f"{scenario}: raced {how}, checked")
        for race, result in zip(races, results, strict=True):
            SUMMARY.append(f"{scenario} {how}: {race.label}: {result}")


async def test_a_clock_change_racing_a_decision(lab: Lab) -> None:
    await _clock_races(lab, [(SuspensionRace, SUSPEND_FLOWS), (ExtensionRequestRace, EXTEND_FLOWS)], "5")


@pytest.mark.xfail(
    strict=True,
    reason="issue 23 finding: the head's approval is recorded though it is refused. "
    "workflows/engine/approving.py HeadApprovals.answer records the approval (task done, "
    "'extension_approved' event) before Clockwork.adjust computes the extension; when the "
    "assignee's decision closes the task meanwhile (both Updates in one workflow task), adjust's "
    "re-check refuses (409 to the head) but the approval stays recorded — history and projection "
    "say 主要负责人批准延期 with no extension. Remove this mark once fixed.",
)
async def test_the_heads_approval_racing_a_decision(lab: Lab) -> None:
    """The extension a head approves (Luoyang 19, 32, 33), approved as the assignee decides: the
    approval is taken before the decision (the task extended, then decided), or refused with
    nothing of it recorded."""
    await _clock_races(lab, [(ApprovalRace, EXTEND_FLOWS)], "5b")


# --------------------------------------------------------------------------------------------------
# 2. Temporal killed mid-decision (last: the server the others share is killed here)
# --------------------------------------------------------------------------------------------------


async def test_temporal_killed_mid_decision(lab: Lab) -> None:
    mark("-")
    flows = the_flows()
    case_ids = await each(flows, code, lambda f: f.open(lab))
    mark("2: opened")
    writes = [act_write(c, f.acts[0]) for f, c in zip(flows, case_ids, strict=True)]
    lock = WriteLock(lab.db_path)
    lock.hold()  # the step's write is held up, so the kill finds the decisions mid-way
    try:
        sending = [asyncio.create_task(w.send(lab.http, timeout=90)) for w in writes]
        await asyncio.sleep(1.0)
        lab.server.kill()
    finally:
        lock.release()
    await asyncio.sleep(DOWN_S)
    lab.server.start()
    await lab.server.client()
    first = await asyncio.gather(*sending)
    assert set(first) <= {200, 202, 503}, first
    SUMMARY.append(f"2 Temporal killed: first answers {first}")
    mark("2: killed wave answered")
    await each(writes, lambda w: w.path, lambda w: w.settle(lab.http, timeout=90))
    assert all(w.status == 200 for w in writes), [(w.path, w.statuses) for w in writes]
    second = [act_write(c, f.acts[1]) for f, c in zip(flows, case_ids, strict=True) if len(f.acts) > 1]
    await each(second, lambda w: w.path, lambda w: w.settle(lab.http))
    writes += second
    await _check_cases(lab, flows, case_ids, writes, timeout=90)
