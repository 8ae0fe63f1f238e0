"""The tamper-evident trail's pure parts (``govshare.core.audit_trail``) and the writers on SQLite.

The hash is recomputed here by hand from its documented definition; each tampering (edit, delete,
swap, a tail cut) of either chain is named by the check that sees it; the state-change writer
(``activities/records.py``) chains a case's events across writes and retries; two concurrent writers
of the access chain never fork it. The same over HTTP, on SQLite and PostgreSQL, with the real
workflow histories and anchors (and the ``AuditAnchor`` workflow): ``tests/api/test_access_log.py``.
(Not ``test_audit_trail.py``: ``tests/api/`` has a module of that name, and pytest refuses two.)
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from activities.records import RecordActivities
from govshare.core import audit_trail as at
from govshare.core import models
from govshare.core.audit_trail import AccessRecord, ChainRow
from govshare.core.db import init_schema, make_engine
from workflows.case import Actor, AuditEvent

T0 = datetime(2027, 2, 17, 1, 2, 3, 456789, tzinfo=UTC)


# -- the definition, by hand ----------------------------------------------------------------------
def test_access_hash_is_the_documented_sha256_of_canonical_json():
    row = {
        "id": 1,
        "at": datetime(2027, 2, 17, 9, 2, 3, 456789, tzinfo=at.UTC).astimezone(),  # any zone: UTC is hashed
        "department": "sjj",
        "role": "auditor",
        "user": "审计员",
        "person": "",
        "method": "GET",
        "path": "/cases/SA-1",
        "subject_type": "case",
        "subject_id": "SA-1",
        "query": "",
        "status": 200,
        "client": "10.0.0.7",
    }
    by_hand = (
        '{"at":"2027-02-17T09:02:03.456789+00:00","chain":"access_event","client":"10.0.0.7",'
        '"department":"sjj","id":1,"method":"GET","path":"/cases/SA-1","person":"","prev_hash":"'
        + "0"
        * 64
        + '","query":"","role":"auditor","status":200,"subject_id":"SA-1","subject_type":"case",'
        '"user":"审计员","v":1}'
    )
    assert at.access_hash(row, at.GENESIS) == hashlib.sha256(by_hand.encode("utf-8")).hexdigest()


def test_audit_hash_is_the_documented_sha256_of_canonical_json():
    row = {
        "case_id": "SA-1",
        "seq": 2,
        "at": T0,
        "kind": "decision",
        "actor_department": "bdb",
        "actor_role": "platform",
        "actor_user": "",
        "summary_zh": "受理",
        "summary_en": "accepted",
        "data": {"b": [1, 2.5], "a": None},
        "recorded_at": T0.replace(tzinfo=None),  # SQLite gives UTC back without its zone
    }
    obj = {
        **{k: v for k, v in row.items() if k not in ("at", "recorded_at")},
        "at": "2027-02-17T01:02:03.456789+00:00",
        "recorded_at": "2027-02-17T01:02:03.456789+00:00",
        "chain": "audit_event",
        "v": 1,
        "prev_hash": "ab" * 32,
    }
    text_ = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert '"data":{"a":null,"b":[1,2.5]}' in text_
    assert at.audit_hash(row, "ab" * 32) == hashlib.sha256(text_.encode()).hexdigest()


# -- chains built in memory ------------------------------------------------------------------------
def access_chain(n: int) -> list[ChainRow]:
    rows, prev = [], at.GENESIS
    for i in range(1, n + 1):
        fields = AccessRecord(
            at=T0 + timedelta(seconds=i),
            method="GET",
            path=f"/cases/SA-{i}",
            status=200,
            subject_type="case",
            subject_id=f"SA-{i}",
            department="rsj",
            role="consumer",
        ).row()
        fields["id"] = i
        digest = at.access_hash(fields, prev)
        rows.append(ChainRow(i, digest, prev, fields))
        prev = digest
    return rows


def audit_chain(n: int, case_id: str = "SA-1", *, unchained: int = 0) -> list[ChainRow]:
    rows, prev = [], at.GENESIS
    for seq in range(1, n + 1):
        fields = {
            "case_id": case_id,
            "seq": seq,
            "at": T0 + timedelta(minutes=seq),
            "kind": "decision",
            "actor_department": "bdb",
            "actor_role": "platform",
            "actor_user": "",
            "summary_zh": f"事件{seq}",
            "summary_en": f"event {seq}",
            "data": {"seq": seq},
            "recorded_at": T0 + timedelta(minutes=seq),
        }
        if seq <= unchained:
            rows.append(ChainRow(seq, None, None, fields))
            continue
        digest = at.audit_hash(fields, prev)
        rows.append(ChainRow(seq, digest, prev, fields))
        prev = digest
    return rows


def kinds(report: at.ChainReport) -> list[tuple[str, str]]:
    return [(f.kind, f.where) for f in report.findings]


def swap(rows: list[ChainRow], i: int, j: int) -> list[ChainRow]:
    """Rows i and j (list indexes) exchange everything but their position (what an UPDATE of the
    content columns, or of the positions, leaves)."""
    out = list(rows)
    a, b = rows[i], rows[j]
    out[i] = replace(b, pos=a.pos, fields={**b.fields})
    out[j] = replace(a, pos=b.pos, fields={**a.fields})
    return out


def test_clean_chains_hold():
    report = at.check_access_chain(access_chain(30))
    assert report.findings == [] and report.rows == report.chained == 30
    assert report.head == (30, access_chain(30)[-1].hash)
    assert at.check_audit_chain("SA-1", audit_chain(8)).findings == []


@pytest.mark.parametrize("chain", ["access", "audit"])
def test_an_edited_event_is_named(chain: str):
    rows = access_chain(10) if chain == "access" else audit_chain(10)
    rows[4] = replace(rows[4], fields={**rows[4].fields, "path" if chain == "access" else "summary_zh": "改"})
    report = at.check_access_chain(rows) if chain == "access" else at.check_audit_chain("SA-1", rows)
    name = "id" if chain == "access" else "seq"
    assert kinds(report) == [("edited", f"{name} 5")]
    assert report.findings[0].failing and "edited" in report.findings[0].line()


def test_an_edited_event_whose_hash_was_recomputed_breaks_the_next_link():
    rows = access_chain(6)
    fields = {**rows[2].fields, "status": 404}
    rows[2] = replace(rows[2], fields=fields, hash=at.access_hash(fields, rows[2].prev_hash))
    assert kinds(at.check_access_chain(rows)) == [("broken_link", "id 3")]


@pytest.mark.parametrize("chain", ["access", "audit"])
def test_a_deleted_event_is_named(chain: str):
    rows = access_chain(10) if chain == "access" else audit_chain(10)
    del rows[6]  # position 7
    report = at.check_access_chain(rows) if chain == "access" else at.check_audit_chain("SA-1", rows)
    name = "id" if chain == "access" else "seq"
    assert kinds(report) == [("deleted", f"{name} 7")]
    assert f"{name} 7 missing" in report.findings[0].en


def test_deleted_first_events_are_named():
    assert kinds(at.check_access_chain(access_chain(5)[2:])) == [("deleted", "id 1")]
    assert kinds(at.check_audit_chain("SA-1", audit_chain(5)[1:])) == [("deleted", "seq 1")]


@pytest.mark.parametrize("chain", ["access", "audit"])
@pytest.mark.parametrize("distance", [1, 3])
def test_two_swapped_events_are_named(chain: str, distance: int):
    rows = access_chain(12) if chain == "access" else audit_chain(12)
    rows = swap(rows, 4, 4 + distance)
    report = at.check_access_chain(rows) if chain == "access" else at.check_audit_chain("SA-1", rows)
    name = "id" if chain == "access" else "seq"
    assert kinds(report) == [("swapped", f"{name} 5")]
    assert f"swapped with {name} {5 + distance}" in report.findings[0].en


def test_a_tail_cut_is_invisible_to_the_chain_and_named_by_the_anchor():
    rows = access_chain(10)
    anchor = {"at": T0, "access_id": 10, "access_hash": rows[-1].hash}
    cut = rows[:7]
    report = at.check_access_chain(cut)
    assert report.findings == []
    hashes = {r.pos: r.hash for r in cut}
    found = at.check_access_anchors([anchor], report.head, hashes)
    assert [(f.kind, f.where) for f in found] == [("cut_short", "id 8")]
    assert "id 8–10 deleted" in found[0].en
    # The whole table, as anchored: nothing.
    assert at.check_access_anchors([anchor], (10, rows[-1].hash), {r.pos: r.hash for r in rows}) == []


def test_a_chain_rewritten_from_scratch_is_caught_by_the_anchor():
    """Whoever recomputes every hash after an edit leaves a chain that holds — not the anchor."""
    rows = access_chain(6)
    anchor = {"at": T0, "access_id": 4, "access_hash": rows[3].hash}
    rewritten, prev = [], at.GENESIS
    for row in rows:
        fields = {**row.fields, "department": "lgo"} if row.pos == 2 else row.fields
        digest = at.access_hash(fields, prev)
        rewritten.append(ChainRow(row.pos, digest, prev, fields))
        prev = digest
    report = at.check_access_chain(rewritten)
    assert report.findings == []
    found = at.check_access_anchors([anchor], report.head, {r.pos: r.hash for r in rewritten})
    assert [(f.kind, f.where) for f in found] == [("anchor_mismatch", "id 4")]


def test_unchained_rows_before_0008_are_a_note_not_tampering():
    rows = audit_chain(6, unchained=3)
    report = at.check_audit_chain("SA-9", rows)
    assert [(f.kind, f.severity) for f in report.findings] == [("unchained", "note")]
    assert report.unchained == 3 and report.chained == 3
    assert "unchained (before 0008)" in report.findings[0].en
    # A hash erased after the chain began is not "before 0008".
    rows[4] = replace(rows[4], hash=None, prev_hash=None)
    assert ("unchained_in_chain", "seq 5") in kinds(at.check_audit_chain("SA-9", rows))
    # The access log began with 0008: a row without hash is never a note there.
    access = access_chain(3)
    access[0] = replace(access[0], hash=None, prev_hash=None)
    assert kinds(at.check_access_chain(access))[0] == ("unchained_in_chain", "id 1")


def test_a_refused_write_leaves_a_noted_gap_not_a_deletion():
    """The events of a write the database refused are never stored (activities/records.py): the
    next event follows the last one stored, so the gap is noted and the trail holds."""
    rows = audit_chain(3)
    fields = {**rows[2].fields, "seq": 6}
    rows.append(ChainRow(6, at.audit_hash(fields, rows[2].hash), rows[2].hash, fields))
    report = at.check_audit_chain("SA-1", rows)
    assert [(f.kind, f.where, f.severity) for f in report.findings] == [("never_written", "seq 4", "note")]


def test_findings_are_bounded():
    rows = access_chain(80)
    rows = [replace(r, fields={**r.fields, "status": 500}) for r in rows]
    report = at.check_access_chain(rows)
    assert len(report.findings) == 51 and report.findings[-1].kind == "truncated"


# -- the state-change anchor ---------------------------------------------------------------------------
def test_audit_digest_and_its_anchor():
    heads = [("SA-2", 4, "cd" * 32), ("SA-1", 7, None)]
    lines = f"SA-1\t7\t\nSA-2\t4\t{'cd' * 32}\n"
    assert at.audit_digest(heads) == hashlib.sha256(lines.encode()).hexdigest()
    anchor = {"audit_as_of": T0, "audit_cases": 2, "audit_events": 11, "audit_digest": at.audit_digest(heads)}
    same = at.AuditHeads(T0, 2, 11, at.audit_digest(heads))
    assert at.check_audit_anchor(anchor, same) == []
    fewer = at.AuditHeads(T0, 2, 10, at.audit_digest([("SA-2", 3, "ef" * 32), ("SA-1", 7, None)]))
    assert [f.kind for f in at.check_audit_anchor(anchor, fewer)] == ["cut_short"]
    rewritten = at.AuditHeads(T0, 2, 11, at.audit_digest([("SA-2", 4, "ef" * 32), ("SA-1", 7, None)]))
    assert [f.kind for f in at.check_audit_anchor(anchor, rewritten)] == ["digest_mismatch"]


# -- the workflow history as witness ---------------------------------------------------------------------
def recorded(seq: int, **changes) -> dict:
    event = {
        "case_id": "SA-1",
        "seq": seq,
        "at": (T0 + timedelta(minutes=seq)).isoformat().replace("+00:00", "Z"),
        "kind": "decision",
        "actor": {"department": "bdb", "role": "platform", "user": ""},
        "summary_zh": f"事件{seq}",
        "summary_en": f"event {seq}",
        "data": {"seq": seq},
    }
    return {**event, **changes}


def table_rows(n: int) -> list[dict]:
    return [dict(r.fields) for r in audit_chain(n)]


def history_kinds(found) -> list[tuple[str, str]]:
    return [(f.kind, f.where) for f in found]


def test_rows_that_match_the_history_hold():
    assert at.compare_with_history("SA-1", table_rows(4), [recorded(s) for s in range(1, 5)]) == []


def test_history_names_a_deleted_an_edited_and_a_cut_event():
    rows = table_rows(6)
    history = [recorded(s) for s in range(1, 8)]  # the workflow recorded 7
    del rows[2]  # seq 3 deleted
    rows[0]["summary_en"] = "forged"  # seq 1 edited
    found = at.compare_with_history("SA-1", rows, history)
    assert history_kinds(found) == [
        ("history_differs", "seq 1"),
        ("deleted", "seq 3"),
        ("cut_short", "seq 7"),
    ]
    assert "summary_en" in found[0].en


def test_history_names_a_forged_event():
    rows = [*table_rows(3), {**table_rows(3)[-1], "seq": 4}]
    found = at.compare_with_history("SA-1", rows, [recorded(s) for s in range(1, 4)])
    assert history_kinds(found) == [("not_in_history", "seq 4")]


def test_history_comparison_skips_pending_writes_and_accepts_replaced_characters():
    rows = table_rows(3)
    rows[1]["summary_zh"] = "理由\ufffd"
    history = [recorded(1), recorded(2, summary_zh="理由\x00"), recorded(3), recorded(4)]
    assert at.compare_with_history("SA-1", rows, history, pending={4}) == []
    system = recorded(1, actor=None)
    row = {**table_rows(1)[0], "actor_department": "", "actor_role": "system"}
    assert at.compare_with_history("SA-1", [row], [system]) == []


# -- the writers, on SQLite ------------------------------------------------------------------------------
@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'trail.db'}")
    init_schema(engine)
    yield engine
    engine.dispose()


def event(seq: int, case_id: str = "SA-W") -> AuditEvent:
    return AuditEvent(
        case_id,
        seq,
        T0 + timedelta(seconds=seq),
        "decision",
        Actor("bdb", "platform", "张三"),
        f"第{seq}步",
        f"step {seq}",
        {"n": seq, "t": (1, 2)},
    )


def stored(engine, case_id: str) -> list[models.AuditEvent]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(models.AuditEvent)
                .where(models.AuditEvent.case_id == case_id)
                .order_by(models.AuditEvent.seq)
            )
        )


def test_recorded_events_are_chained_across_writes_and_retries(engine):
    records = RecordActivities(engine)
    with Session(engine) as session:
        records._append_event_rows(session, "SA-W", [event(1), event(2)], T0)
        session.commit()
    with Session(engine) as session:  # a retry of the first write and the next step's event
        records._append_event_rows(session, "SA-W", [event(2), event(3)], T0 + timedelta(seconds=9))
        session.commit()
    rows = stored(engine, "SA-W")
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == at.GENESIS and rows[1].prev_hash == rows[0].hash == rows[1].prev_hash
    assert rows[2].prev_hash == rows[1].hash
    assert rows[0].data == {"n": 1, "t": [1, 2]}
    assert at.check_audit_chain("SA-W", at.audit_chain_rows(r.model_dump() for r in rows)).findings == []


def test_a_case_from_before_0008_chains_from_genesis(engine):
    with engine.begin() as conn:  # a row as an earlier release wrote it: no hash
        conn.execute(
            text(
                "INSERT INTO auditevent (case_id, seq, at, kind, actor_department, actor_role, actor_user, "
                "summary_zh, summary_en, data, recorded_at) VALUES ('SA-W', 1, :t, 'case_submitted', 'rsj', "
                "'consumer', '', '提交', 'submitted', '{}', :t)"
            ),
            {"t": T0.replace(tzinfo=None).isoformat(sep=" ")},
        )
    with Session(engine) as session:
        RecordActivities(engine)._append_event_rows(session, "SA-W", [event(2)], T0)
        session.commit()
    rows = stored(engine, "SA-W")
    assert (rows[0].hash, rows[1].prev_hash) == (None, at.GENESIS)
    report = at.check_audit_chain("SA-W", at.audit_chain_rows(r.model_dump() for r in rows))
    assert [(f.kind, f.severity) for f in report.findings] == [("unchained", "note")]


def test_the_append_only_triggers_refuse_changes_on_sqlite(engine):
    at.append_access_events(engine, [AccessRecord(at=T0, method="GET", path="/cases", status=200)])
    with Session(engine) as session:
        RecordActivities(engine)._append_event_rows(session, "SA-W", [event(1)], T0)
        session.commit()
    for statement in (
        "UPDATE access_event SET status = 500",
        "DELETE FROM access_event",
        "UPDATE auditevent SET kind = 'x'",
        "DELETE FROM auditevent",
    ):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


def test_access_events_are_stored_as_hashed(engine):
    record = AccessRecord(
        at=T0,
        method="GET",
        path="/cases/SA-\x00\ud800" + "x" * 3000,
        status=200,
        client="10.0.0.7",
        subject_type="case",
        subject_id="SA-\x00",
        department="sjj",
        role="auditor",
    )
    head = at.append_access_events(engine, [record, replace(record, status=401, department="", role="")])
    rows = list(at.access_rows(engine))
    assert head == (2, rows[-1].hash) and [r.pos for r in rows] == [1, 2]
    assert rows[0].fields["subject_id"] == "SA-\ufffd" and len(rows[0].fields["path"]) == at.TEXT_MAX
    assert at.check_access_chain(rows).findings == []


def test_two_concurrent_writers_do_not_fork_the_chain(tmp_path: Path):
    """Two engines (two processes' pools) appending at once: one chain, every event, ids 1…N."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    first = make_engine(url)
    init_schema(first)
    second = make_engine(url)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(engine, who: str) -> None:
        try:
            start.wait()
            for batch in range(40):
                at.append_access_events(
                    engine,
                    [
                        AccessRecord(at=T0, method="GET", path=f"/cases/{who}-{batch}-{i}", status=200)
                        for i in range(3)
                    ],
                )
        except BaseException as err:  # pragma: no cover - the failure under test
            errors.append(err)

    threads = [threading.Thread(target=write, args=(e, w)) for e, w in ((first, "a"), (second, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = list(at.access_rows(first))
    assert [r.pos for r in rows] == list(range(1, 241))
    assert at.check_access_chain(rows).findings == []
    first.dispose()
    second.dispose()
