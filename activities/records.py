"""Writing what the workflows decide into the database: the case projection, the audit trail, the
notifications. Every write is idempotent, because Temporal retries an activity until it succeeds:

- the case row carries the workflow's revision, and an older revision never overwrites a newer one;
- audit events are unique per (case, seq) and a replayed seq is skipped;
- notifications are unique per key.

``record`` writes all three in one transaction. Current workflows run it as a *regular* activity:
Temporal dispatches it only after the workflow task that scheduled it is committed to the history,
so the database never shows a step the history does not hold; it may lag the history by the time of
one write, and a server crash in between only delays that write (the retry writes the same revision
with the same content). Cases started before that change ran it as a local activity, inside the
uncommitted workflow task, which let a crashed server leave the database ahead of the history
(issue 13, defect 1); their histories still replay that way. ``record_case`` and ``send_notices`` are
the two separate activities of the first generation, kept so those histories replay too.

What can go wrong in a write, and what happens:

- the database is down, locked or times out: the activity fails and Temporal retries it, for as long
  as it takes (the projection lags, nothing is lost);
- the database can never store the data (PostgreSQL refuses NUL in text, a lone surrogate cannot be
  encoded, a value is too long): retrying would never end, so the write is made once more with the
  offending characters replaced by U+FFFD and the case row marked ``record_error``, logged as an
  error; if even that is refused, the activity fails with ``RecordRejected`` (not retried) and the
  workflow marks the case through ``mark_record_failed``. The API refuses such text at the door, so
  this is the last line, not the first.

The mark stays: a later write never clears ``record_error``, it only adds its own mark (each says the
revision it happened at), so ``record_error <> ''`` finds every case whose projection is not exactly
what its history holds (:func:`_marked`).
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import TypeAdapter
from sqlalchemy import Connection, Engine, Row, bindparam, exc
from sqlalchemy import delete as sa_delete
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.messages import render_notice
from govshare.core import audit_trail, models
from workflows.case import (
    RECORD_REJECTED,
    CaseDelta,
    CaseHeader,
    Notice,
    Party,
    RecordFailure,
    Task,
)
from workflows.legacy.shapes import CaseRecord, CaseState

log = structlog.get_logger("govshare.activities")
_STATE_JSON = TypeAdapter(CaseState)
_RECORD_JSON = TypeAdapter(CaseRecord)
_DELTA_JSON = TypeAdapter(CaseDelta)
_HEADER_JSON = TypeAdapter(CaseHeader)
_TASK_JSON = TypeAdapter(Task)

#: Errors that no retry can cure: the data itself cannot be stored (SQLAlchemy's DataError wraps
#: psycopg's "PostgreSQL text fields cannot contain NUL"; encoding errors come from lone surrogates).
_UNSTORABLE = (exc.DataError, UnicodeError, ValueError)

#: The task row's ``claimed_by`` and ``decided_by`` columns (a person's claimed and done lists)
#: hold an identity reference (``P-…``) or a credential's label; a label longer than the column is
#: kept clipped there rather than refused (the task's ``detail`` keeps it whole).
_CLAIMED_BY_MAX = models.Task.__table__.c.claimed_by.type.length  # type: ignore[attr-defined]
_DECIDED_BY_MAX = models.Task.__table__.c.decided_by.type.length  # type: ignore[attr-defined]

# The tables the steps are written to, as SQLAlchemy Core tables.
_CASE = models.Case.__table__  # type: ignore[attr-defined]
_TASK = models.Task.__table__  # type: ignore[attr-defined]
_PARTY = models.CaseParty.__table__  # type: ignore[attr-defined]
_LINK = models.CaseLink.__table__  # type: ignore[attr-defined]
_EVENT = models.AuditEvent.__table__  # type: ignore[attr-defined]
_NOTICE = models.Notification.__table__  # type: ignore[attr-defined]

# The statements of every step, built once (building one costs more than running it on SQLite).
_CASE_REVISION = sa_select(_CASE.c.revision, _CASE.c.record_error).where(_CASE.c.id == bindparam("case_id"))
_CASE_UPDATE = sa_update(_CASE).where(_CASE.c.id == bindparam("case_id"))
_TASK_DETAILS = sa_select(_TASK.c.id, _TASK.c.detail).where(_TASK.c.id.in_(bindparam("ids", expanding=True)))
_TASK_UPDATE = sa_update(_TASK).where(_TASK.c.id == bindparam("task_id"))
_OPEN_TASKS = sa_select(_TASK.c.overdue, _TASK.c.due_at).where(
    _TASK.c.case_id == bindparam("case_id"), _TASK.c.status == "open"
)
_EVENT_SEQS = sa_select(_EVENT.c.seq).where(
    _EVENT.c.case_id == bindparam("case_id"), _EVENT.c.seq.in_(bindparam("seqs", expanding=True))
)
_EVENT_BEFORE = (
    sa_select(_EVENT.c.hash)
    .where(_EVENT.c.case_id == bindparam("case_id"), _EVENT.c.seq < bindparam("seq"))
    .order_by(_EVENT.c.seq.desc())
    .limit(1)
)
_NOTICE_KEYS = sa_select(_NOTICE.c.key).where(_NOTICE.c.key.in_(bindparam("keys", expanding=True)))


def task_people(task: Task) -> tuple[str, str]:
    """What the task row's ``claimed_by`` and ``decided_by`` columns hold for ``task``: who claimed
    it (签收) and who decided it (the decision's ``actor.user``), "" for none."""
    decided_by = task.decision.actor.user if task.decision is not None else ""
    return task.claimed_by[:_CLAIMED_BY_MAX], decided_by[:_DECIDED_BY_MAX]


#: Characters no database text column takes; replaced by U+FFFD in the fallback write.
_REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (what PostgreSQL and UTF-8 accept)."""
    if "\x00" not in text and text.isascii():
        return text
    return "".join(_REPLACEMENT if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in text)


#: The longest ``record_error`` kept (a row holds at most one mark of each kind: a few hundred chars).
_MARK_MAX = 2000


def _marked(existing: str, mark: str) -> str:
    """The case row's ``record_error`` once ``mark`` (maybe "") is added to what it holds.

    Never cleared by a later write. What a mark reports cannot be undone by one: the audit trail is
    append-only, so an event stored with U+FFFD keeps it, and the events and notices of a refused
    write are not sent again (the next write carries the whole case, but only that step's events);
    and the case's own text — held by its history, which replays the same — gives the same
    replacement at every later write that carries it. A full write that stores exactly would still
    leave the trail as it is, so the row says so for as long as it exists; an operator who has dealt
    with it (``govshare replay`` shows the history as it was) clears it by hand.

    Marks are ``revision N: what (error)``, one a line; the first of each kind is kept (the revision
    it first happened at: the text that caused it stays in every later write, and each occurrence is
    logged, ``projection_write_unstorable`` / ``projection_record_failed``), a new kind is added.
    """
    if not mark:
        return existing
    marks = existing.splitlines()
    if any(_mark_kind(m) == _mark_kind(mark) for m in marks):
        return existing
    merged = "\n".join([*marks, mark])
    return merged if len(merged) <= _MARK_MAX else merged[: _MARK_MAX - 1] + "…"


def _mark_kind(mark: str) -> str:
    """``unstorable characters replaced by U+FFFD`` of ``revision 3: unstorable … (error)``."""
    return mark.partition(": ")[2].partition(" (")[0]


def _storable_tree(value):
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [_storable_tree(v) for v in value]
    if isinstance(value, dict):
        return {storable(k) if isinstance(k, str) else k: _storable_tree(v) for k, v in value.items()}
    return value


class RecordActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # SQLite takes one writer at a time, and a writer that finds the file locked sleeps in its
        # busy handler before retrying; queueing the worker's own writes on a lock instead keeps
        # each write at its few milliseconds under concurrency. PostgreSQL needs no such thing.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()

    @activity.defn(name="record")
    def record(self, record: CaseRecord) -> int:
        """Projection, audit events and notices of one step, in one transaction. Returns the number
        of notices newly written."""
        state = record.state
        return _write_storably(
            record, _RECORD_JSON, self._record, state.case_id, state.workflow_id, state.revision
        )

    def _record(self, record: CaseRecord, *, record_error: str) -> int:
        now = datetime.now(UTC)
        with self._write_lock, Session(self._engine) as session:
            self._write_case(session, record, now, record_error)
            written = self._write_notices(session, record.notices, now, record.state.workflow_id)
            session.commit()
        self._log_recorded(record)
        return written

    @activity.defn(name="record_delta")
    def record_delta(self, delta: CaseDelta) -> int:
        """One step of a second-generation case: only what changed, in one transaction.

        Deltas arrive in revision order (the workflow writes them one after another). A delta whose
        revision the row already holds is a retry: its events and notices are re-offered (each is
        unique) and nothing else is touched. Returns the number of notices newly written.
        """
        return _write_storably(
            delta, _DELTA_JSON, self._record_delta, delta.case_id, delta.workflow_id, delta.revision
        )

    def _record_delta(self, delta: CaseDelta, *, record_error: str) -> int:
        # SQLAlchemy Core on one connection, one transaction: the ORM's unit of work cost a step about
        # 5 ms of the worker's CPU, most of it bookkeeping for rows written once (bench/record_bench.py).
        now = datetime.now(UTC)
        with self._write_lock, self._engine.begin() as db:
            current = db.execute(_CASE_REVISION, {"case_id": delta.case_id}).first()
            fresh = current is None or current.revision < delta.revision or delta.full
            if fresh:
                self._write_header(db, current, delta, now, record_error)
                self._write_parties(db, delta)
                self._write_tasks(db, delta)
                self._write_links(db, delta)
            self._append_event_rows(db, delta.case_id, delta.events, now)
            written = self._write_notices(db, delta.notices, now, delta.workflow_id)
        log.info(
            "case recorded",
            case_id=delta.case_id,
            workflow_id=delta.workflow_id,
            department=delta.header.submitted_by.department if delta.header else None,
            revision=delta.revision,
            tasks=len(delta.tasks),
            events=len(delta.events),
            duplicate=not fresh,
        )
        return written

    @staticmethod
    def _write_header(
        db: Connection, current: Row | None, delta: CaseDelta, now: datetime, record_error: str
    ) -> None:
        header = delta.header
        values: dict[str, Any] = {"revision": delta.revision, "updated_at": now}
        if header is not None:
            values.update(
                status=header.status,
                result=header.result,
                summary=dict(header.summary),
                subject_zh=header.subject_zh,
                subject_en=header.subject_en,
                closed_at=header.closed_at,
                detail=_HEADER_JSON.dump_python(header, mode="json"),
            )
        if current is None:
            if header is None:
                raise ValueError(f"case {delta.case_id}: first write without its header")
            db.execute(
                sa_insert(_CASE),
                {
                    **values,
                    "id": header.case_id,
                    "workflow_id": header.workflow_id,
                    "case_type": header.case_type,
                    "profile_id": header.profile_id,
                    "profile_version": header.profile_version,
                    "submitted_at": header.submitted_at,
                    "engine": 2,
                    "workflow_type": header.workflow_type,
                    "overdue": False,
                    "next_due_at": None,
                    "record_error": _marked("", record_error),
                },
            )
            return
        values["record_error"] = _marked(current.record_error or "", record_error)
        db.execute(_CASE_UPDATE, {**values, "case_id": delta.case_id})

    @staticmethod
    def _write_parties(db: Connection | Session, delta: CaseDelta) -> None:
        if delta.parties is None:
            return
        existing = {
            (p.role, p.department, p.person): p.id
            for p in db.execute(
                sa_select(_PARTY.c.id, _PARTY.c.role, _PARTY.c.department, _PARTY.c.person).where(
                    _PARTY.c.case_id == delta.case_id
                )
            )
        }
        wanted = {(p.role, p.department, p.person) for p in delta.parties}
        gone = [row_id for key, row_id in existing.items() if key not in wanted]
        if gone:
            db.execute(sa_delete(_PARTY).where(_PARTY.c.id.in_(gone)))
        new = sorted(wanted - set(existing))
        if new:
            db.execute(
                sa_insert(_PARTY),
                [
                    {"case_id": delta.case_id, "role": role, "department": department, "person": person}
                    for role, department, person in new
                ],
            )

    @staticmethod
    def _write_tasks(db: Connection, delta: CaseDelta) -> None:
        if not delta.tasks and not delta.task_patches:
            return
        ids = [t.task_id for t in delta.tasks] + [p.task_id for p in delta.task_patches]
        existing = {row.id: row.detail for row in db.execute(_TASK_DETAILS, {"ids": ids})}
        tasks = list(delta.tasks)
        for patch in delta.task_patches:
            # Only the fields that changed travelled: merge them into the task the row holds (its
            # deadline record, sent once when the task opened, stays as it is).
            detail = existing.get(patch.task_id)
            if not detail:
                raise ValueError(f"task {patch.task_id}: a change arrived before the task itself")
            # The values arrive as plain JSON (the converter decoded dict[str, Any] as such).
            tasks.append(_TASK_JSON.validate_python({**detail, **patch.fields}))
        for task in tasks:
            deadline = task.deadline
            claimed_by, decided_by = task_people(task)
            values = {
                "status": task.status,
                "due_at": deadline.due_at if deadline and task.suspended_at is None else None,
                "working_days": deadline.working_days if deadline else None,
                "provisional": deadline.provisional if deadline else False,
                "article": task.clock[-1].article if task.clock else task.article,
                "limit_basis": task.limit_basis,
                "overdue": task.overdue,
                "action": task.decision.action if task.decision else "",
                "closed_at": task.closed_at,
                "group": task.group,
                "suspended": task.suspended_at is not None,
                "claimed_by": claimed_by,
                "decided_by": decided_by,
                "detail": _TASK_JSON.dump_python(task, mode="json"),
            }
            if task.task_id in existing:
                db.execute(_TASK_UPDATE, {**values, "task_id": task.task_id})
            else:
                existing[task.task_id] = values["detail"]
                db.execute(
                    sa_insert(_TASK),
                    {
                        **values,
                        "id": task.task_id,
                        "case_id": delta.case_id,
                        "seq": task.seq,
                        "step": task.step,
                        "name_zh": task.name_zh,
                        "name_en": task.name_en,
                        "assignee_department": task.assignee.department,
                        "assignee_role": task.assignee.role,
                        "opened_at": task.opened_at,
                    },
                )
        # The case row's summary of its open tasks (lists filter and sort on these).
        open_rows = db.execute(_OPEN_TASKS, {"case_id": delta.case_id}).all()
        dues = [row.due_at for row in open_rows if row.due_at is not None]
        db.execute(
            _CASE_UPDATE,
            {
                "case_id": delta.case_id,
                "overdue": any(row.overdue for row in open_rows),
                "next_due_at": min(dues) if dues else None,
            },
        )

    @staticmethod
    def _write_links(db: Connection, delta: CaseDelta) -> None:
        def link_id(case_id: str, linked_case_id: str, relation: str) -> int | None:
            return db.execute(
                sa_select(_LINK.c.id).where(
                    _LINK.c.case_id == case_id,
                    _LINK.c.linked_case_id == linked_case_id,
                    _LINK.c.relation == relation,
                )
            ).scalar()

        for link in delta.links:
            values = {
                "reason_zh": link.reason_zh,
                "reason_en": link.reason_en,
                "wait": link.wait,
                "status": link.status,
                "result": link.result,
            }
            row_id = link_id(delta.case_id, link.case_id, link.relation)
            if row_id is None:
                db.execute(
                    sa_insert(_LINK),
                    {
                        **values,
                        "case_id": delta.case_id,
                        "linked_case_id": link.case_id,
                        "linked_workflow_id": link.workflow_id,
                        "case_type": link.case_type,
                        "relation": link.relation,
                        "at": link.at,
                    },
                )
            else:
                db.execute(sa_update(_LINK).where(_LINK.c.id == row_id).values(**values))
            # The other case's side of the link (it may have closed: its history cannot take it, its
            # timeline shows it from here).
            if (
                link.relation == "linked"
                and delta.header is not None
                and link_id(link.case_id, delta.case_id, "linked_from") is None
            ):
                db.execute(
                    sa_insert(_LINK),
                    {
                        "case_id": link.case_id,
                        "linked_case_id": delta.case_id,
                        "linked_workflow_id": delta.workflow_id,
                        "case_type": delta.header.case_type,
                        "relation": "linked_from",
                        "at": link.at,
                        "reason_zh": link.reason_zh,
                        "reason_en": link.reason_en,
                        "wait": False,
                        "status": "",
                        "result": "",
                    },
                )

    @activity.defn(name="mark_record_failed")
    def mark_record_failed(self, failure: RecordFailure) -> bool:
        """Mark the case row whose step could not be recorded (the history holds it; the row lags)."""
        note = storable(f"revision {failure.revision}: not recorded ({failure.error})")[:2000]
        with self._write_lock, Session(self._engine) as session:
            row = session.get(models.Case, failure.case_id)
            if row is not None:
                row.record_error = _marked(row.record_error or "", note)
                session.add(row)
                session.commit()
        log.error(
            "projection_record_failed",
            case_id=failure.case_id,
            workflow_id=failure.workflow_id,
            revision=failure.revision,
            error=failure.error,
            marked=row is not None,
        )
        return row is not None

    @activity.defn(name="record_case")
    def record_case(self, record: CaseRecord) -> None:
        now = datetime.now(UTC)
        with self._write_lock, Session(self._engine) as session:
            self._write_case(session, record, now)
            session.commit()
        self._log_recorded(record)

    @activity.defn(name="send_notices")
    def send_notices(self, notices: list[Notice]) -> int:
        now = datetime.now(UTC)
        with self._write_lock, Session(self._engine) as session:
            written = self._write_notices(session, notices, now, "")
            session.commit()
        return written

    # -- the writes -------------------------------------------------------------------------------
    @classmethod
    def _write_case(cls, session: Session, record: CaseRecord, now: datetime, record_error: str = "") -> None:
        state = record.state
        row = session.get(models.Case, state.case_id)
        if row is not None and row.revision >= state.revision:
            # A retried or late write: the database already holds this revision or a newer one.
            cls._append_events(session, record, now)
            return
        open_task = state.open_task
        values = {
            "workflow_id": state.workflow_id,
            "case_type": state.case_type,
            "profile_id": state.profile_id,
            "profile_version": state.profile_version,
            "status": state.status,
            "result": state.result,
            # The first generation ran sharing applications only: their summary fields.
            "summary": {
                "resource_id": state.resource.id if state.resource else "",
                "consumer_department": state.parties.get("consumer", ""),
                "provider_department": state.parties.get("provider", ""),
            },
            "subject_zh": state.resource.name_zh if state.resource else "",
            "submitted_at": state.submitted_at,
            "closed_at": state.closed_at,
            "overdue": any(t.overdue and t.status == "open" for t in state.tasks),
            "next_due_at": open_task.deadline.due_at if open_task and open_task.deadline else None,
            "revision": state.revision,
            "updated_at": now,
            "detail": _STATE_JSON.dump_python(state, mode="json"),
            "record_error": _marked(row.record_error if row is not None else "", record_error),
        }
        if row is None:
            row = models.Case(id=state.case_id, **values)
        else:
            for key, value in values.items():
                setattr(row, key, value)
        session.add(row)
        session.flush()  # the case row before the party rows that refer to it (written with Core)
        # The party table that lists and visibility read, for first-generation cases too.
        parties = [Party(role=role, department=dept) for role, dept in state.parties.items()]  # type: ignore[arg-type]
        cls._write_parties(
            session,
            CaseDelta(
                case_id=state.case_id, workflow_id=state.workflow_id, revision=state.revision, parties=parties
            ),
        )
        existing_tasks = {
            t.id: t for t in session.exec(select(models.Task).where(models.Task.case_id == state.case_id))
        }
        for task in state.tasks:
            task_row = existing_tasks.get(task.task_id) or models.Task(
                id=task.task_id,
                case_id=state.case_id,
                seq=task.seq,
                step=task.step,
                name_zh=task.name_zh,
                name_en=task.name_en,
                assignee_department=task.assignee.department,
                assignee_role=task.assignee.role,
                status=task.status,
                opened_at=task.opened_at,
            )
            task_row.status = task.status
            task_row.due_at = task.deadline.due_at if task.deadline else None
            task_row.working_days = task.deadline.working_days if task.deadline else None
            task_row.provisional = task.deadline.provisional if task.deadline else False
            task_row.article = task.article
            task_row.limit_basis = task.limit_basis
            task_row.overdue = task.overdue
            task_row.action = task.decision.action if task.decision else ""
            task_row.closed_at = task.closed_at
            task_row.claimed_by, task_row.decided_by = task_people(task)
            session.add(task_row)
        cls._append_events(session, record, now)

    @classmethod
    def _append_events(cls, session: Session, record: CaseRecord, now: datetime) -> None:
        cls._append_event_rows(session, record.state.case_id, record.events, now)

    @staticmethod
    def _append_event_rows(db: Connection | Session, case_id: str, events: list, now: datetime) -> None:
        """Append a case's new events, each chained to the one before it (``hash``, ``prev_hash``:
        ``govshare.core.audit_trail``). A seq the table holds is a retry and skipped. The first event
        written after 0008 (or the case's first) follows ``GENESIS``; a case's writes are serialized
        by its workflow, and (case_id, seq) is unique, so the chain cannot fork."""
        if not events:
            return
        seqs = [e.seq for e in events]
        existing = set(db.execute(_EVENT_SEQS, {"case_id": case_id, "seqs": seqs}).scalars())
        fresh = sorted((e for e in events if e.seq not in existing), key=lambda e: e.seq)
        if not fresh:
            return
        prev_hash = (
            db.execute(_EVENT_BEFORE, {"case_id": case_id, "seq": fresh[0].seq}).scalar()
            or audit_trail.GENESIS
        )
        rows = []
        for event in fresh:
            row = {
                "case_id": case_id,
                "seq": event.seq,
                "at": event.at,
                "kind": event.kind,
                "actor_department": event.actor.department if event.actor else "",
                "actor_role": event.actor.role if event.actor else "system",
                "actor_user": event.actor.user if event.actor else "",
                "summary_zh": event.summary_zh,
                "summary_en": event.summary_en,
                "data": audit_trail.json_value(event.data),
                "recorded_at": now,
                "prev_hash": prev_hash,
            }
            row["hash"] = prev_hash = audit_trail.audit_hash(row, prev_hash)
            rows.append(row)
        db.execute(sa_insert(_EVENT), rows)

    @staticmethod
    def _write_notices(
        db: Connection | Session, notices: list[Notice], now: datetime, workflow_id: str
    ) -> int:
        """Deliver notices to the departments' inboxes, and to a person's (a citizen: no department,
        its identity reference in ``recipient_person``). Rendering happens here, not in the
        workflow, so wording can improve without touching histories. The log names a person by its
        opaque reference only (the ID number never reaches a notice)."""
        if not notices:
            return 0
        keys = [n.key for n in notices]
        existing = set(db.execute(_NOTICE_KEYS, {"keys": keys}).scalars())
        rows = []
        for notice in notices:
            if notice.key in existing:
                continue
            existing.add(notice.key)
            text_zh, text_en = render_notice(notice.kind, notice.params)
            rows.append(
                {
                    "key": notice.key,
                    "case_id": notice.case_id,
                    "recipient_department": notice.recipient.department,
                    "recipient_role": notice.recipient.role,
                    "recipient_person": notice.recipient.person or "",
                    "kind": notice.kind,
                    "text_zh": text_zh,
                    "text_en": text_en,
                    "created_at": now,
                    "read_at": None,
                }
            )
            log.info(
                "notice sent",
                case_id=notice.case_id,
                workflow_id=workflow_id,
                department=notice.recipient.department,
                role=notice.recipient.role,
                person=notice.recipient.person or "",
                kind=notice.kind,
            )
        if rows:
            db.execute(sa_insert(_NOTICE), rows)
        return len(rows)

    @staticmethod
    def _log_recorded(record: CaseRecord) -> None:
        state = record.state
        log.info(
            "case recorded",
            case_id=state.case_id,
            workflow_id=state.workflow_id,
            department=state.parties.get("consumer"),
            status=state.status,
            revision=state.revision,
            events=len(record.events),
        )


def _one_line(err: BaseException) -> str:
    return storable(" ".join(str(err).split()))[:500]


def _write_storably(
    payload, adapter: TypeAdapter, write, case_id: str, workflow_id: str, revision: int
) -> int:
    """``write(payload)``; if the database can never store it, once more with what it cannot store
    replaced by U+FFFD and the case row marked; if even that is refused, RECORD_REJECTED (not retried)."""
    try:
        return write(payload, record_error="")
    except _UNSTORABLE as err:
        log.error(
            "projection_write_unstorable",
            case_id=case_id,
            workflow_id=workflow_id,
            revision=revision,
            error=_one_line(err),
        )
        cleaned = adapter.validate_python(_storable_tree(adapter.dump_python(payload, mode="json")))
        note = f"revision {revision}: unstorable characters replaced by U+FFFD ({_one_line(err)})"
        try:
            return write(cleaned, record_error=note)
        except _UNSTORABLE as again:
            raise ApplicationError(
                f"the database refuses this case's record: {_one_line(again)}",
                type=RECORD_REJECTED,
                non_retryable=True,
            ) from again
