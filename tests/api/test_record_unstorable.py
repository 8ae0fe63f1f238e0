"""The last line behind the door's text checks: a step whose text a database cannot store is still
recorded (the offending characters replaced by U+FFFD, the case row marked), never retried forever;
what can never be stored fails as ``RecordRejected`` (not retried) and the case row is marked.
On SQLite and on PostgreSQL (which refuses NUL in text and lone surrogates in UTF-8)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest
from pg import SKIP_ENV
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError

from activities.records import RecordActivities, storable
from govshare.core import models
from govshare.core.db import init_schema, make_engine
from workflows.case import (
    RECORD_REJECTED,
    Actor,
    AuditEvent,
    CaseDelta,
    CaseHeader,
    Notice,
    Party,
    RecordFailure,
)
from workflows.legacy.shapes import CaseRecord, CaseState

DATABASES = ["sqlite"] if os.environ.get(SKIP_ENV) == "1" else ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('unstorable') / 'app.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"unstorable_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    init_schema(engine)
    yield engine
    engine.dispose()


def _record(reason: str, case_type: str = "sharing_application") -> CaseRecord:
    case_id = f"SA-TEST-{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC)
    actor = Actor("bdb", "platform", "operator")
    state = CaseState(
        case_id=case_id,
        case_type=case_type,
        workflow_id=f"SharingApplication:{case_id}",
        profile_id="hubei",
        profile_version="1.1",
        profile_digest="x",
        profile_name_zh="湖北省",
        parties={"consumer": "rsj", "provider": "gaj", "platform": "bdb"},
        submitted_at=now,
        submitted_by=Actor("rsj", "consumer", "clerk"),
        result_reason=reason,
        revision=1,
    )
    event = AuditEvent(case_id, 1, now, "decision", actor, f"规范性检查:不予受理。理由:{reason}", "reject")
    notice = Notice(case_id, f"{case_id}:1:decided:rsj:consumer", Party("rsj", "consumer"), "decided")
    return CaseRecord(state=state, events=[event], notices=[notice])


@pytest.mark.parametrize("reason", ["理由\x00", "理由\ud800"], ids=["nul", "lone-surrogate"])
def test_unstorable_text_is_recorded_replaced_and_marked(engine, reason: str) -> None:
    record = _record(reason)
    RecordActivities(engine).record(record)  # returns: no endless retry
    with Session(engine) as session:
        row = session.get(models.Case, record.state.case_id)
        event = session.exec(
            select(models.AuditEvent).where(models.AuditEvent.case_id == record.state.case_id)
        ).one()
        assert row is not None and row.revision == 1
    if engine.dialect.name == "postgresql" or "\ud800" in reason:
        # The database could not take it as it was: stored with U+FFFD, and the row says so.
        assert event.summary_zh.endswith("理由:理由\ufffd")
        assert "U+FFFD" in row.record_error
    else:  # SQLite stores NUL in text as it is
        assert event.summary_zh.endswith(reason) and row.record_error == ""


def test_what_can_never_be_stored_is_rejected_not_retried(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce column lengths")
    # case_type is VARCHAR(32) on PostgreSQL: no replacement of characters makes this fit.
    record = _record("理由", case_type="x" * 40)
    with pytest.raises(ApplicationError) as raised:
        RecordActivities(engine).record(record)
    assert raised.value.type == RECORD_REJECTED and raised.value.non_retryable


def test_a_failed_record_marks_the_case_row(engine) -> None:
    activities = RecordActivities(engine)
    record = _record("理由")
    activities.record(record)
    failure = RecordFailure(record.state.case_id, record.state.workflow_id, 2, "value too long\x00")
    assert activities.mark_record_failed(failure) is True
    with Session(engine) as session:
        row = session.get(models.Case, record.state.case_id)
        assert row.record_error == storable("revision 2: not recorded (value too long\x00)")
    assert activities.mark_record_failed(RecordFailure("SA-NONE", "x", 1, "e")) is False


def _marked_ids(engine) -> set[str]:
    """The cases the database shows as not recorded exactly (what an operator would query)."""
    with Session(engine) as session:
        return set(session.exec(select(models.Case.id).where(models.Case.record_error != "")))


def test_the_mark_stays_through_later_writes(engine) -> None:
    """Defect 4: the next write used to set ``record_error`` back to "" although the audit event it
    marked still holds U+FFFD. The mark stays, with the revision it first happened at; a write that
    needs the fallback again adds nothing, a refused write adds its own kind."""
    activities = RecordActivities(engine)
    first = _record("理由\ud800")  # a lone surrogate: unstorable on SQLite and PostgreSQL alike
    case_id = first.state.case_id
    activities.record(first)
    later = _record("理由")
    later.state.case_id, later.state.workflow_id, later.state.revision = case_id, first.state.workflow_id, 2
    later.events = [AuditEvent(case_id, 2, datetime.now(UTC), "decision", None, "受理", "accept")]
    activities.record(later)  # clean text, stored exactly
    with Session(engine) as session:
        row = session.get(models.Case, case_id)
        assert row.revision == 2
        marks = row.record_error.splitlines()
    assert len(marks) == 1 and marks[0].startswith("revision 1: ") and "U+FFFD" in marks[0]
    assert case_id in _marked_ids(engine)

    again = _record("理由\ud800")
    again.state.case_id, again.state.workflow_id, again.state.revision = case_id, first.state.workflow_id, 3
    again.events, again.notices = [], []
    activities.record(again)  # the fallback once more: the first mark says it already
    failure = RecordFailure(case_id, first.state.workflow_id, 4, "value too long")
    assert activities.mark_record_failed(failure) is True
    with Session(engine) as session:
        row = session.get(models.Case, case_id)
        assert row.revision == 3
        assert row.record_error.splitlines() == [marks[0], "revision 4: not recorded (value too long)"]


def _header(case_id: str, reason: str, status: str = "in_progress") -> CaseHeader:
    return CaseHeader(
        case_id=case_id,
        case_type="sharing_application",
        workflow_id=f"SharingApplication:{case_id}",
        workflow_type="SharingApplicationV2",
        profile_id="hubei",
        profile_version="1.1",
        profile_digest="x",
        profile_name_zh="湖北省",
        submitted_at=datetime.now(UTC),
        submitted_by=Actor("rsj", "consumer", "clerk"),
        status=status,
        result_reason=reason,
    )


def test_the_mark_stays_through_later_deltas(engine) -> None:
    """The same for second-generation cases: a later delta, even a full one that stores every text
    exactly, leaves the mark (the event stored with U+FFFD is never rewritten)."""
    activities = RecordActivities(engine)
    case_id = f"SA-TEST-{uuid.uuid4().hex[:8].upper()}"
    workflow_id = f"SharingApplication:{case_id}"
    parties = [
        Party(role="consumer", department="rsj"),
        Party(role="provider", department="gaj"),
        Party(role="platform", department="bdb"),
    ]
    now = datetime.now(UTC)
    actor = Actor("bdb", "platform", "operator")
    activities.record_delta(
        CaseDelta(
            case_id,
            workflow_id,
            1,
            header=_header(case_id, "理由\ud800"),
            parties=parties,
            events=[AuditEvent(case_id, 1, now, "decision", actor, "不予受理。理由:理由\ud800", "reject")],
        )
    )
    assert case_id in _marked_ids(engine)
    activities.record_delta(
        CaseDelta(
            case_id,
            workflow_id,
            2,
            header=_header(case_id, "理由", status="withdrawn"),
            events=[AuditEvent(case_id, 2, now, "withdrawn", actor, "撤回", "withdrawn")],
        )
    )
    activities.record_delta(
        CaseDelta(case_id, workflow_id, 3, header=_header(case_id, "理由"), parties=parties, full=True)
    )
    with Session(engine) as session:
        row = session.get(models.Case, case_id)
        event = session.exec(
            select(models.AuditEvent).where(models.AuditEvent.case_id == case_id, models.AuditEvent.seq == 1)
        ).one()
        assert row.revision == 3 and row.status == "in_progress"
        assert row.record_error.startswith("revision 1: unstorable characters replaced by U+FFFD")
        assert "\ufffd" in event.summary_zh  # what the mark is about: still there
    assert case_id in _marked_ids(engine)
