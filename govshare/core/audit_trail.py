"""The tamper-evident audit trail (issue 21; Hubei 27, Luzhou 34–35): hash chains over the two
append-only tables, the chain heads an anchor records, and the checks ``govshare audit verify`` runs.

The hash, exactly (what an auditor recomputes by hand)
------------------------------------------------------
A row's ``hash`` is the lowercase hex SHA-256 of the UTF-8 bytes of one JSON object, written as::

    json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)

``access_event`` — one chain over the whole table, in ``id`` order (ids 1, 2, 3 … without gaps)::

    obj = {"chain": "access_event", "v": 1, "id": …, "at": …, "department": …, "role": …,
           "user": …, "person": …, "method": …, "path": …, "subject_type": …, "subject_id": …,
           "query": …, "status": …, "client": …, "prev_hash": …}

``auditevent`` (the state changes) — one chain per case, in ``seq`` order::

    obj = {"chain": "audit_event", "v": 1, "case_id": …, "seq": …, "at": …, "kind": …,
           "actor_department": …, "actor_role": …, "actor_user": …, "summary_zh": …,
           "summary_en": …, "data": …, "recorded_at": …, "prev_hash": …}

Each value is the column as the row holds it: text as a JSON string, ``id`` / ``seq`` / ``status``
as integers, ``data`` as its JSON value, instants (``at``, ``recorded_at``) as ISO 8601 in UTC with
six decimals (``"2026-09-01T09:30:00.000000+00:00"``). ``prev_hash`` is the ``hash`` of the row
before it in its chain, or :data:`GENESIS` (64 zeros) for the first row of a chain — for a case, its
first event written after migration 0008, whatever unchained rows (``hash`` NULL, written before
0008) come before it. ``auditevent.id`` is not hashed (a surrogate key; a case's order is ``seq``).
``"chain"`` keeps a row of one table from passing for a row of the other; ``"v"`` is this format.

Anchors: the head of each chain is written where the application database cannot rewrite it (the
``AuditAnchor`` workflow's history, ``workflows/audit_anchor.py``): the access chain's last ``id``
and ``hash``, and for the state changes a digest of every case's last event (:func:`audit_digest`)
as of an instant a little in the past (rows still being committed are not yet in it).

What is pure here: the hashing, the walk of a chain (:func:`check_chain`), the anchor and history
comparisons. What reads or writes the database: :func:`append_access_events`, :func:`read_heads`,
:func:`access_rows`, :func:`audit_rows`, :func:`audit_digest_as_of`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: ``prev_hash`` of the first row of a chain.
GENESIS = "0" * 64
#: The format version hashed with every row (``"v"``).
CHAIN_VERSION = 1

ACCESS_CHAIN = "access_event"
AUDIT_CHAIN = "audit_event"

#: The hashed fields of an ``access_event`` row besides ``chain``, ``v`` and ``prev_hash``.
ACCESS_FIELDS = (
    "id",
    "at",
    "department",
    "role",
    "user",
    "person",
    "method",
    "path",
    "subject_type",
    "subject_id",
    "query",
    "status",
    "client",
)
#: The hashed fields of an ``auditevent`` row besides ``chain``, ``v`` and ``prev_hash``.
AUDIT_FIELDS = (
    "case_id",
    "seq",
    "at",
    "kind",
    "actor_department",
    "actor_role",
    "actor_user",
    "summary_zh",
    "summary_en",
    "data",
    "recorded_at",
)
_INSTANTS = frozenset({"at", "recorded_at"})

#: How far in the past the state-change digest of an anchor is taken: a write that began before
#: then has been committed by now (a ``record_delta`` attempt lasts at most 10 s).
AUDIT_DIGEST_GRACE = timedelta(seconds=60)

#: The longest ``path`` / ``query`` an access event keeps (longer ones are cut, marked with "…").
TEXT_MAX = 2000


# -- the hash ------------------------------------------------------------------------------------
def canonical_json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def instant(value: datetime | str) -> str:
    """An instant as hashed: ISO 8601 in UTC with microseconds (a naive value is taken as UTC, which
    is how SQLite returns what was stored in UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _content(chain: str, names: Sequence[str], row: Mapping[str, Any], prev_hash: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"chain": chain, "v": CHAIN_VERSION, "prev_hash": prev_hash}
    for name in names:
        value = row[name]
        obj[name] = instant(value) if name in _INSTANTS else value
    return obj


def access_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    """``hash`` of an ``access_event`` row (``row`` holds :data:`ACCESS_FIELDS`)."""
    return hashlib.sha256(canonical_json(_content(ACCESS_CHAIN, ACCESS_FIELDS, row, prev_hash))).hexdigest()


def audit_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    """``hash`` of an ``auditevent`` row (``row`` holds :data:`AUDIT_FIELDS`; ``data`` as stored: a
    JSON value)."""
    return hashlib.sha256(canonical_json(_content(AUDIT_CHAIN, AUDIT_FIELDS, row, prev_hash))).hexdigest()


def json_value(value: Any) -> Any:
    """``value`` as a JSON column gives it back (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, ensure_ascii=False))


_REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (what PostgreSQL and UTF-8 take)."""
    if "\x00" not in text and text.isascii():
        return text
    return "".join(_REPLACEMENT if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in text)


def storable_tree(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_tree(v) for v in value]
    if isinstance(value, dict):
        return {storable(k) if isinstance(k, str) else k: storable_tree(v) for k, v in value.items()}
    return value


def _cut(text: str, limit: int = TEXT_MAX) -> str:
    text = storable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- appending to the access chain ---------------------------------------------------------------
@dataclass(frozen=True)
class AccessRecord:
    """One read, as the API saw it: who (``department``, ``role``, ``user`` — the credential's label
    —, ``person``: "" when unauthenticated), what (``method``, ``path``, the case or resource it
    names, ``query``), when (``at``), from where (``client``) and the answer's ``status``."""

    at: datetime
    method: str
    path: str
    status: int
    client: str = ""
    query: str = ""
    subject_type: str = ""
    subject_id: str = ""
    department: str = ""
    role: str = ""
    user: str = ""
    person: str = ""

    def row(self) -> dict[str, Any]:
        """The columns as stored (text made storable and bounded)."""
        return {
            "at": self.at.astimezone(UTC),
            "department": _cut(self.department, 64),
            "role": _cut(self.role, 32),
            "user": _cut(self.user, 200),
            "person": _cut(self.person, 64),
            "method": _cut(self.method, 16),
            "path": _cut(self.path),
            "subject_type": _cut(self.subject_type, 16),
            "subject_id": _cut(self.subject_id, 128),
            "query": _cut(self.query),
            "status": int(self.status),
            "client": _cut(self.client, 64),
        }


#: pg_advisory_xact_lock key of the access chain's append: sha256("govshare access chain")[:8].
ACCESS_CHAIN_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"govshare access chain").digest()[:8], "big", signed=True
)


def append_access_events(engine: Any, records: Sequence[AccessRecord]) -> tuple[int, str]:
    """Append ``records`` to the access chain in one transaction; returns the new head (id, hash).

    The append is serialized across processes: PostgreSQL takes a transaction-scoped advisory lock
    before it reads the head, SQLite its write lock (``BEGIN IMMEDIATE``, waited for up to the
    engine's busy timeout) before it reads. Each row's ``id`` is the head's plus one, given here, so
    the primary key itself refuses a second row at the same place: two writers never fork the chain."""
    from sqlalchemy import insert, select

    from govshare.core.models import AccessEvent

    table = AccessEvent.__table__  # type: ignore[attr-defined]
    rows = [r.row() for r in records]
    if not rows:
        return read_access_head(engine)
    with _chain_transaction(engine) as conn:
        head = conn.execute(select(table.c.id, table.c.hash).order_by(table.c.id.desc()).limit(1)).first()
        last_id, prev = (int(head[0]), head[1]) if head is not None else (0, GENESIS)
        for row in rows:
            last_id += 1
            row["id"] = last_id
            row["prev_hash"] = prev
            row["hash"] = prev = access_hash(row, prev)
        conn.execute(insert(table), rows)
    return last_id, prev


@contextmanager
def _chain_transaction(engine: Any) -> Iterator[Any]:
    """A connection inside a transaction that holds the access chain's append lock; committed when
    the block ends, rolled back if it raises."""
    from sqlalchemy import text

    dialect = engine.dialect.name
    with engine.connect() as conn:
        if dialect != "sqlite":
            with conn.begin():
                if dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ACCESS_CHAIN_LOCK_KEY})
                yield conn
            return
        raw = conn.connection.driver_connection
        isolation = raw.isolation_level
        # pysqlite would BEGIN (deferred) only at the first write, after the head was read: take
        # over, so that one BEGIN IMMEDIATE (the write lock) covers the read and the insert.
        raw.isolation_level = None
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            if raw.in_transaction:
                raw.rollback()
            raw.isolation_level = isolation


# -- reading the tables ----------------------------------------------------------------------------
def read_access_head(engine: Any) -> tuple[int, str]:
    """The access chain's last (id, hash); (0, GENESIS) when empty."""
    from sqlalchemy import select

    from govshare.core.models import AccessEvent

    table = AccessEvent.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        head = conn.execute(select(table.c.id, table.c.hash).order_by(table.c.id.desc()).limit(1)).first()
    return (int(head[0]), head[1]) if head is not None else (0, GENESIS)


def audit_digest(heads: Iterable[tuple[str, int, str | None]]) -> str:
    """The digest of the state-change chains: SHA-256 (hex) of one line per case, sorted by case id
    (code points), each ``<case_id> TAB <last seq> TAB <its hash, "" if unchained> LF``."""
    digest = hashlib.sha256()
    for case_id, seq, row_hash in sorted(heads):
        digest.update(f"{case_id}\t{seq}\t{row_hash or ''}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class AuditHeads:
    """Every case's last event as of an instant (``recorded_at`` ≤ ``as_of``)."""

    as_of: datetime
    cases: int
    events: int
    digest: str


def audit_digest_as_of(engine: Any, as_of: datetime) -> AuditHeads:
    """:func:`audit_digest` over the ``auditevent`` rows recorded at or before ``as_of``."""
    from sqlalchemy import and_, func, select

    from govshare.core.models import AuditEvent

    t = AuditEvent.__table__  # type: ignore[attr-defined]
    last = (
        select(t.c.case_id, func.max(t.c.seq).label("seq"))
        .where(t.c.recorded_at <= as_of)
        .group_by(t.c.case_id)
        .subquery()
    )
    with engine.connect() as conn:
        heads = [
            (case_id, int(seq), row_hash)
            for case_id, seq, row_hash in conn.execute(
                select(t.c.case_id, t.c.seq, t.c.hash).join(
                    last, and_(t.c.case_id == last.c.case_id, t.c.seq == last.c.seq)
                )
            )
        ]
        events = conn.execute(
            select(func.count()).select_from(t).where(t.c.recorded_at <= as_of)
        ).scalar_one()
    return AuditHeads(as_of=as_of, cases=len(heads), events=int(events), digest=audit_digest(heads))


def read_heads(
    engine: Any, *, now: datetime | None = None, grace: timedelta = AUDIT_DIGEST_GRACE
) -> dict[str, Any]:
    """What an anchor records (the fields of ``workflows.audit_anchor.Anchor`` but ``source``): the
    access chain's head, and the state-change digest as of ``now - grace``."""
    now = now or datetime.now(UTC)
    access_id, access_head = read_access_head(engine)
    audit = audit_digest_as_of(engine, now - grace)
    return {
        "at": now,
        "access_id": access_id,
        "access_hash": access_head,
        "audit_as_of": audit.as_of,
        "audit_cases": audit.cases,
        "audit_events": audit.events,
        "audit_digest": audit.digest,
    }


def access_rows(engine: Any, batch: int = 2000) -> Iterator[ChainRow]:
    """The access chain in id order, streamed in batches (keyset pagination: no long read)."""
    from sqlalchemy import select

    from govshare.core.models import AccessEvent

    t = AccessEvent.__table__  # type: ignore[attr-defined]
    after = -1
    while True:
        with engine.connect() as conn:
            rows = (
                conn.execute(select(t).where(t.c.id > after).order_by(t.c.id).limit(batch)).mappings().all()
            )
        if not rows:
            return
        for r in rows:
            yield ChainRow(
                pos=int(r["id"]),
                hash=r["hash"],
                prev_hash=r["prev_hash"],
                fields={name: r[name] for name in ACCESS_FIELDS},
            )
        after = int(rows[-1]["id"])


def access_hashes_at(engine: Any, ids: Iterable[int]) -> dict[int, str | None]:
    from sqlalchemy import select

    from govshare.core.models import AccessEvent

    t = AccessEvent.__table__  # type: ignore[attr-defined]
    wanted = sorted(set(ids))
    found: dict[int, str | None] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found.update(
                {int(i): h for i, h in conn.execute(select(t.c.id, t.c.hash).where(t.c.id.in_(chunk)))}
            )
    return found


def audit_rows(
    engine: Any, case_ids: Sequence[str] | None = None, batch: int = 2000
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Each case's ``auditevent`` rows in seq order, case by case (``case_ids``: those only)."""
    from sqlalchemy import select, tuple_

    from govshare.core.models import AuditEvent

    t = AuditEvent.__table__  # type: ignore[attr-defined]
    current: str | None = None
    rows: list[dict[str, Any]] = []
    after: tuple[str, int] | None = None
    while True:
        query = select(t).order_by(t.c.case_id, t.c.seq).limit(batch)
        if case_ids is not None:
            query = query.where(t.c.case_id.in_(list(case_ids)))
        if after is not None:
            query = query.where(tuple_(t.c.case_id, t.c.seq) > tuple_(*after))
        with engine.connect() as conn:
            page = [dict(r) for r in conn.execute(query).mappings()]
        if not page:
            break
        for r in page:
            if r["case_id"] != current:
                if current is not None:
                    yield current, rows
                current, rows = r["case_id"], []
            rows.append(r)
        after = (page[-1]["case_id"], int(page[-1]["seq"]))
    if current is not None:
        yield current, rows


def audit_chain_rows(rows: Iterable[Mapping[str, Any]]) -> list[ChainRow]:
    return [
        ChainRow(
            pos=int(r["seq"]),
            hash=r["hash"],
            prev_hash=r["prev_hash"],
            fields={name: r[name] for name in AUDIT_FIELDS},
        )
        for r in rows
    ]


# -- findings ----------------------------------------------------------------------------------------
#: A finding's ``severity``: ``tampered`` (the trail does not hold), ``unverified`` (a witness could
#: not be read: not clean either), ``note`` (said, not a failure: rows from before 0008 …).
FAILING = frozenset({"tampered", "unverified"})


@dataclass(frozen=True)
class Finding:
    """One thing verify reports. ``kind``: edited | deleted | swapped | moved | broken_link |
    cut_short | anchor_mismatch | unchained_in_chain | inserted | history_differs | not_in_history |
    digest_mismatch | anchors_unavailable | history_unavailable | unchained | never_written |
    not_compared | no_anchors | truncated. ``where`` names the first event concerned."""

    kind: str
    severity: str
    chain: str  # "access" | "case:<id>" | "anchors"
    where: str
    zh: str
    en: str
    position: int = 0

    @property
    def failing(self) -> bool:
        return self.severity in FAILING

    def line(self) -> str:
        return f"[{self.kind}] {self.zh} / {self.en}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChainRow:
    """A row of a chain: its position (``id`` or ``seq``), stored hashes, and hashed fields."""

    pos: int
    hash: str | None
    prev_hash: str | None
    fields: Mapping[str, Any]


@dataclass
class ChainReport:
    findings: list[Finding] = field(default_factory=list)
    rows: int = 0
    chained: int = 0
    unchained: int = 0
    head: tuple[int, str] | None = None


def _names(chain: str) -> tuple[str, str, str, str]:
    """(zh subject, en subject, zh position name, en position name) of a chain."""
    if chain == "access":
        return "访问日志", "access log", "id", "id"
    case_id = chain.removeprefix("case:")
    return f"案件 {case_id} 的审计事件", f"case {case_id} event", "seq", "seq"


def _span(first: int, last: int) -> str:
    return f"{first}" if first == last else f"{first}–{last}"


def check_chain(
    rows: Iterable[ChainRow],
    *,
    chain: str,
    rehash: Callable[[Mapping[str, Any], str], str],
    position_field: str,
    unchained_allowed: bool,
    gaps_are_deletions: bool,
    window: int = 16,
    max_findings: int = 50,
) -> ChainReport:
    """Walk one chain in position order and report what does not hold (pure).

    - a row whose content does not give its ``hash``: **edited** — unless it gives it with another
      position within ``window`` (the row was written there): two such rows are **swapped**, one
      alone **moved**;
    - a row whose ``prev_hash`` is not its predecessor's ``hash``: the events before it were
      **deleted** (a position gap, or the first row of the chain does not start from GENESIS), or
      the predecessor was replaced (**broken_link**: its hash was recomputed);
    - a position gap whose link holds was never written (``gaps_are_deletions`` false: a case's
      refused write, noted) or was removed with the chain re-linked (true: deleted);
    - a row without hash: before 0008 (noted) if no hashed row came before it and
      ``unchained_allowed``, else **unchained_in_chain**.

    A chain cut short at its end is not visible here: the anchors and the workflow histories tell.
    """
    zh_subject, en_subject, zh_pos, en_pos = _names(chain)
    report = ChainReport()
    found: list[Finding] = []
    prev_hash_stored = GENESIS  # the stored hash of the row before, GENESIS before the first
    prev_pos = 0  # positions start at 1
    prev_moved = False
    started = False
    pending_moves: dict[int, int] = {}  # position now → position written at
    first_unchained: int | None = None

    def add(kind: str, pos: int, zh: str, en: str, severity: str = "tampered") -> None:
        found.append(
            Finding(
                kind,
                severity,
                chain,
                f"{en_pos} {pos}",
                f"{zh_subject} {zh_pos} {pos}:{zh}",
                f"{en_subject} {en_pos} {pos}: {en}",
                pos,
            )
        )

    for row in rows:
        report.rows += 1
        pos = row.pos
        if row.hash is None or row.prev_hash is None:
            if started or not unchained_allowed:
                add(
                    "unchained_in_chain",
                    pos,
                    "没有哈希(在链中插入的记录,或哈希被抹去)",
                    "has no hash (inserted into the chain, or its hash erased)",
                )
            else:
                report.unchained += 1
                first_unchained = pos if first_unchained is None else first_unchained
            prev_pos = pos
            continue
        report.chained += 1
        moved_from: int | None = None
        if rehash({**row.fields, position_field: pos}, row.prev_hash) != row.hash:
            for other in sorted(range(pos - window, pos + window + 1), key=lambda p: abs(p - pos)):
                if (
                    other != pos
                    and other > 0
                    and rehash({**row.fields, position_field: other}, row.prev_hash) == row.hash
                ):
                    moved_from = other
                    break
            if moved_from is None:
                add(
                    "edited",
                    pos,
                    "内容与其哈希不符(记录被修改)",
                    "its content does not match its hash (edited)",
                )
        if moved_from is not None:
            if pending_moves.get(moved_from) == pos:
                del pending_moves[moved_from]
                first, second = sorted((pos, moved_from))
                add(
                    "swapped",
                    first,
                    f"与 {zh_pos} {second} 互换了位置(各自的哈希对应对方的位置)",
                    f"swapped with {en_pos} {second} (each one's hash holds at the other's place)",
                )
            else:
                pending_moves[pos] = moved_from
        link_ok = row.prev_hash == prev_hash_stored
        expected = prev_pos + 1
        gap = pos != expected
        if moved_from is not None or prev_moved:
            pass  # the move explains the link
        elif not started and row.prev_hash != GENESIS:
            first_missing = prev_pos + 1
            missing = f"{_span(first_missing, pos - 1)}" if first_missing < pos else ""
            add(
                "deleted",
                first_missing if missing else pos,
                f"它之前的事件已被删除({zh_pos} {missing} 缺失;链的首条记录应接续 64 个 0)"
                if missing
                else "它所接续的事件已不存在(被删除,或其哈希被抹去)",
                f"events before it were deleted ({en_pos} {missing} missing; a chain's first row follows "
                "64 zeros)"
                if missing
                else "the event it follows is gone (deleted, or its hash erased)",
            )
        elif gap and not link_ok:
            missing = _span(expected, pos - 1)
            add(
                "deleted",
                expected,
                f"已被删除({zh_pos} {missing} 缺失;{zh_pos} {pos} 接续的记录已不存在)",
                f"deleted ({en_pos} {missing} missing; {en_pos} {pos} follows an event that is gone)",
            )
        elif gap and gaps_are_deletions:
            add(
                "deleted",
                expected,
                f"已被删除({zh_pos} {_span(expected, pos - 1)} 缺失,链被重新衔接)",
                f"deleted ({en_pos} {_span(expected, pos - 1)} missing, the chain re-linked)",
            )
        elif gap:
            add(
                "never_written",
                expected,
                f"从未写入({zh_pos} {_span(expected, pos - 1)};写入被拒,见案件的 record_error)",
                f"never written ({en_pos} {_span(expected, pos - 1)}; a refused write, see the case's "
                "record_error)",
                severity="note",
            )
        elif not link_ok:
            add(
                "broken_link",
                prev_pos if prev_pos is not None else pos,
                f"其后的 {zh_pos} {pos} 接续的不是它(它被替换,哈希被重算)",
                f"is not the event {en_pos} {pos} follows (replaced, its hash recomputed)",
            )
        started = True
        prev_hash_stored = row.hash
        prev_pos = pos
        prev_moved = moved_from is not None
        report.head = (pos, row.hash)
    for pos, written_at in sorted(pending_moves.items()):
        add(
            "moved",
            pos,
            f"原写在 {zh_pos} {written_at}(位置被改动)",
            f"was written at {en_pos} {written_at} (moved)",
        )
    if report.unchained and first_unchained is not None:
        found.append(
            Finding(
                "unchained",
                "note",
                chain,
                f"{en_pos} {first_unchained}",
                f"{zh_subject}:{report.unchained} 条无哈希(0008 之前写入,未入链)",
                f"{en_subject}s: {report.unchained} unchained (before 0008)",
                first_unchained,
            )
        )
    found.sort(key=lambda f: (f.position, f.kind))
    if len(found) > max_findings:
        rest = len(found) - max_findings
        found = [
            *found[:max_findings],
            Finding(
                "truncated",
                "note",
                chain,
                "",
                f"{zh_subject}:另有 {rest} 处未列出",
                f"{en_subject}s: {rest} more not listed",
            ),
        ]
    report.findings = found
    return report


def check_access_chain(rows: Iterable[ChainRow], **kw: Any) -> ChainReport:
    return check_chain(
        rows,
        chain="access",
        rehash=access_hash,
        position_field="id",
        unchained_allowed=False,
        gaps_are_deletions=True,
        **kw,
    )


def check_audit_chain(case_id: str, rows: Iterable[ChainRow], **kw: Any) -> ChainReport:
    return check_chain(
        rows,
        chain=f"case:{case_id}",
        rehash=audit_hash,
        position_field="seq",
        unchained_allowed=True,
        gaps_are_deletions=False,
        **kw,
    )


# -- anchors -----------------------------------------------------------------------------------------
def check_access_anchors(
    anchors: Sequence[Mapping[str, Any]], head: tuple[int, str], hashes_at: Mapping[int, str | None]
) -> list[Finding]:
    """Each anchor's access head must still be in the table (pure). ``head``: the table's last (id,
    hash); ``hashes_at``: the stored hash of each anchored id found. The first anchor that does not
    hold is named: ahead of the table (**cut_short**) or a different hash there (**anchor_mismatch**:
    the chain was rewritten from there on)."""
    findings: list[Finding] = []
    for anchor in sorted(anchors, key=lambda a: (int(a.get("access_id") or 0), instant(a["at"]))):
        anchored = int(anchor.get("access_id") or 0)
        if anchored <= 0:
            continue
        when = instant(anchor["at"])
        if anchored > head[0]:
            findings.append(
                Finding(
                    "cut_short",
                    "tampered",
                    "access",
                    f"id {head[0] + 1}",
                    f"访问日志被截短:{when} 的锚点记录到 id {anchored},表中只到 id {head[0]}"
                    f"(id {_span(head[0] + 1, anchored)} 已被删除)",
                    f"access log cut short: the anchor of {when} holds id {anchored}, the table ends at id "
                    f"{head[0]} (id {_span(head[0] + 1, anchored)} deleted)",
                    head[0] + 1,
                )
            )
            break
        stored = hashes_at.get(anchored)
        if stored != anchor.get("access_hash"):
            findings.append(
                Finding(
                    "anchor_mismatch",
                    "tampered",
                    "access",
                    f"id {anchored}",
                    f"访问日志 id {anchored} 与 {when} 的锚点不符(该处之前的链被改写或删除)",
                    f"access log id {anchored} does not match the anchor of {when} (the chain up to there "
                    "was rewritten or deleted)",
                    anchored,
                )
            )
            break
    return findings


def check_audit_anchor(anchor: Mapping[str, Any], recomputed: AuditHeads) -> list[Finding]:
    """The newest anchor's state-change digest against the table as of the same instant (pure)."""
    if not anchor.get("audit_digest"):
        return []
    when = instant(anchor["audit_as_of"])
    cases, events = int(anchor.get("audit_cases") or 0), int(anchor.get("audit_events") or 0)
    if recomputed.digest == anchor["audit_digest"]:
        return []
    if recomputed.events < events:
        kind, zh, en = (
            "cut_short",
            f"审计事件被删除:截至 {when} 锚点记有 {cases} 个案件的 {events} 条事件,表中只有 "
            f"{recomputed.cases} 个案件的 {recomputed.events} 条",
            f"state changes deleted: as of {when} the anchor holds {events} events of {cases} cases, the "
            f"table {recomputed.events} of {recomputed.cases}",
        )
    else:
        kind, zh, en = (
            "digest_mismatch",
            f"审计事件与截至 {when} 的锚点不符(某案件的最后事件被改写)",
            f"state changes do not match the anchor as of {when} (a case's last events were rewritten)",
        )
    return [
        Finding(
            kind,
            "tampered",
            "anchors",
            f"as of {when}",
            zh + ";用 --all 逐案对照工作流历史以指明事件",
            en + "; run with --all to name the events against the workflow histories",
        )
    ]


# -- the workflow history as witness -------------------------------------------------------------------
def _event_view(event: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an event that the row must hold, from a recorded ``AuditEvent`` (history JSON)."""
    actor = event.get("actor") or None
    return {
        "at": instant(event["at"]),
        "kind": event.get("kind", ""),
        "actor_department": actor.get("department", "") if actor else "",
        "actor_role": actor.get("role", "") if actor else "system",
        "actor_user": actor.get("user", "") if actor else "",
        "summary_zh": event.get("summary_zh", ""),
        "summary_en": event.get("summary_en", ""),
        "data": json_value(event.get("data") or {}),
    }


def _row_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "at": instant(row["at"]),
        "kind": row["kind"],
        "actor_department": row["actor_department"],
        "actor_role": row["actor_role"],
        "actor_user": row["actor_user"],
        "summary_zh": row["summary_zh"],
        "summary_en": row["summary_en"],
        "data": json_value(row["data"]),
    }


def compare_with_history(
    case_id: str,
    rows: Sequence[Mapping[str, Any]],
    recorded: Sequence[Mapping[str, Any]],
    *,
    pending: Iterable[int] = (),
) -> list[Finding]:
    """A case's ``auditevent`` rows against the events its workflow recorded (pure).

    ``recorded``: the events of the record activities that completed, in history order (a seq seen
    twice keeps the first); ``pending``: seqs of record activities not (yet) completed, compared in
    neither direction. A value stored with U+FFFD where the history has what no database takes (the
    case's ``record_error``) matches."""
    chain = f"case:{case_id}"
    zh_subject, en_subject, _, _ = _names(chain)
    expected: dict[int, dict[str, Any]] = {}
    for event in recorded:
        expected.setdefault(int(event["seq"]), _event_view(event))
    have = {int(r["seq"]): _row_view(r) for r in rows}
    skip = set(pending)
    findings: list[Finding] = []
    last = max(have, default=0)

    def add(kind: str, seq: int, zh: str, en: str) -> None:
        findings.append(
            Finding(
                kind,
                "tampered",
                chain,
                f"seq {seq}",
                f"{zh_subject} seq {seq}:{zh}",
                f"{en_subject} seq {seq}: {en}",
                seq,
            )
        )

    for seq in sorted(set(expected) - set(have) - skip):
        if seq > last:
            add(
                "cut_short",
                seq,
                "缺失(工作流记录了它,审计表在此之前截止:末尾被截短)",
                "missing (the workflow recorded it; the trail ends before it: cut short)",
            )
        else:
            add(
                "deleted",
                seq,
                "缺失(工作流历史记录了它:被删除)",
                "missing (the workflow history recorded it: deleted)",
            )
    for seq in sorted(set(have) - set(expected) - skip):
        add(
            "not_in_history",
            seq,
            "工作流历史中没有这条事件(伪造或插入)",
            "the workflow history holds no such event (forged or inserted)",
        )
    for seq in sorted(set(have) & set(expected)):
        row, event = have[seq], expected[seq]
        differing = [
            name for name in row if row[name] != event[name] and row[name] != storable_tree(event[name])
        ]
        if differing:
            add(
                "history_differs",
                seq,
                f"与工作流历史不符(字段:{'、'.join(differing)})",
                f"differs from the workflow history (fields: {', '.join(differing)})",
            )
    findings.sort(key=lambda f: (f.position, f.kind))
    return findings
