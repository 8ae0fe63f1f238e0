"""Writing what the workflows decide into the database: the case projection, the audit trail, the
notifications. Every write is idempotent, because Temporal retries an activity until it succeeds:

- the case row carries the workflow's revision, and an older revision never overwrites a newer one;
- audit events are unique per (case, seq) and a replayed seq is skipped;
- notifications are unique per key.

``record`` writes all three in one transaction (run as a local activity by current workflows);
``record_case`` and ``send_notices`` are the two separate activities that histories written before
that change still call, kept so those cases run on.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import UTC, datetime

import structlog
from pydantic import TypeAdapter
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity

from govshare import models
from govshare.messages import render_notice
from workflows.case import CaseRecord, CaseState, Notice

log = structlog.get_logger("govshare.activities")
_STATE_JSON = TypeAdapter(CaseState)


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
        now = datetime.now(UTC)
        with self._write_lock, Session(self._engine) as session:
            self._write_case(session, record, now)
            written = self._write_notices(session, record.notices, now, record.state.workflow_id)
            session.commit()
        self._log_recorded(record)
        return written

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
    def _write_case(cls, session: Session, record: CaseRecord, now: datetime) -> None:
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
            "consumer_department": state.parties.get("consumer", ""),
            "provider_department": state.parties.get("provider", ""),
            "resource_id": state.resource.id if state.resource else "",
            "subject_zh": state.resource.name_zh if state.resource else "",
            "submitted_at": state.submitted_at,
            "closed_at": state.closed_at,
            "overdue": any(t.overdue and t.status == "open" for t in state.tasks),
            "next_due_at": open_task.deadline.due_at if open_task and open_task.deadline else None,
            "revision": state.revision,
            "updated_at": now,
            "detail": _STATE_JSON.dump_python(state, mode="json"),
        }
        if row is None:
            row = models.Case(id=state.case_id, **values)
        else:
            for key, value in values.items():
                setattr(row, key, value)
        session.add(row)
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
            session.add(task_row)
        cls._append_events(session, record, now)

    @staticmethod
    def _append_events(session: Session, record: CaseRecord, now: datetime) -> None:
        if not record.events:
            return
        case_id = record.state.case_id
        seqs = [e.seq for e in record.events]
        existing = set(
            session.exec(
                select(models.AuditEvent.seq).where(
                    models.AuditEvent.case_id == case_id, models.AuditEvent.seq.in_(seqs)
                )
            )
        )
        for event in record.events:
            if event.seq in existing:
                continue
            session.add(
                models.AuditEvent(
                    case_id=case_id,
                    seq=event.seq,
                    at=event.at,
                    kind=event.kind,
                    actor_department=event.actor.department if event.actor else "",
                    actor_role=event.actor.role if event.actor else "system",
                    actor_user=event.actor.user if event.actor else "",
                    summary_zh=event.summary_zh,
                    summary_en=event.summary_en,
                    data=event.data,
                    recorded_at=now,
                )
            )

    @staticmethod
    def _write_notices(session: Session, notices: list[Notice], now: datetime, workflow_id: str) -> int:
        """Deliver notices to the departments' inboxes. Rendering happens here, not in the workflow,
        so wording can improve without touching histories."""
        if not notices:
            return 0
        keys = [n.key for n in notices]
        existing = set(session.exec(select(models.Notification.key).where(models.Notification.key.in_(keys))))
        written = 0
        for notice in notices:
            if notice.key in existing:
                continue
            text_zh, text_en = render_notice(notice.kind, notice.params)
            session.add(
                models.Notification(
                    key=notice.key,
                    case_id=notice.case_id,
                    recipient_department=notice.recipient.department,
                    recipient_role=notice.recipient.role,
                    kind=notice.kind,
                    text_zh=text_zh,
                    text_en=text_en,
                    created_at=now,
                )
            )
            written += 1
            log.info(
                "notice sent",
                case_id=notice.case_id,
                workflow_id=workflow_id,
                department=notice.recipient.department,
                role=notice.recipient.role,
                kind=notice.kind,
            )
        return written

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
