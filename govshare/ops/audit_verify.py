"""``govshare audit verify`` and ``govshare audit anchor``: is the audit trail what was written?

``verify`` walks the hash chains (``govshare.core.audit_trail``: the access log, one chain per case),
the anchors the ``AuditAnchor`` workflow holds in its history (a trail cut short at its end), and for
state changes the workflow histories themselves: every ``auditevent`` row must be an event a
``record_delta`` (or first-generation ``record``) activity of its case's history carried, and every
event such an activity carried — once it completed — must be in the table. It names the first event
that does not hold in each chain, one line per finding, Chinese first then English (``--json``: one
object). Exit 0: the trail holds (notes — rows from before 0008, writes the database refused — are
said, not failures); 1: a finding, or a witness that could not be read.

What is checked:

- no option: the access log and its anchors, every case's chain, the newest anchor's digest;
- ``--case ID`` (repeatable): those cases' chains, each against its workflow history;
- ``--all``: everything, and every case against its history (``--concurrency`` histories at once);
- ``--access``: the access log and its anchors alone.

``anchor`` reads the chains' heads now and signals them to the anchor workflow (a cron job, before a
backup; the API anchors by itself as it logs reads). Both read ``DATABASE_URL``, ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE`` and ``TASK_QUEUE`` (the anchor workflow is ``govshare-audit-anchor:<queue>``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from govshare.ops.audit_cli import action
from govshare.ops.cli import CliError, Handler

#: The activities whose input carries a step's audit events (``events``).
RECORD_ACTIVITIES = frozenset({"record_delta", "record", "record_case"})
#: Cases read from the database at a time under ``--all`` (their rows, then their histories).
CHUNK = 200


# -- reading the witnesses ---------------------------------------------------------------------------
def _json_payload(payload: Any) -> Any:
    encoding = payload.metadata.get("encoding", b"")
    if encoding != b"json/plain":
        raise ValueError(f"payload encoding {encoding!r} is not json/plain")
    return json.loads(payload.data)


def recorded_events(events: Iterable[Any]) -> tuple[list[dict[str, Any]], set[int], bool]:
    """From a case's history: the audit events of the record activities that completed (history
    order), the seqs of those that did not (yet), and whether the history has record activities at
    all (a first-generation case that recorded through a local activity has none)."""
    scheduled: dict[int, list[dict[str, Any]]] = {}
    completed: set[int] = set()
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name in RECORD_ACTIVITIES and attrs.input.payloads:
                scheduled[event.event_id] = list(_json_payload(attrs.input.payloads[0]).get("events") or [])
        elif event.HasField("activity_task_completed_event_attributes"):
            completed.add(event.activity_task_completed_event_attributes.scheduled_event_id)
    recorded = [e for event_id in sorted(scheduled) if event_id in completed for e in scheduled[event_id]]
    pending = {int(e["seq"]) for event_id, evs in scheduled.items() if event_id not in completed for e in evs}
    return recorded, pending, bool(scheduled)


def anchors_in(events: Iterable[Any], signal: str) -> list[dict[str, Any]]:
    """The anchors an anchor workflow's history holds: those its run started with, then each signal."""
    anchors: list[dict[str, Any]] = []
    for event in events:
        if event.HasField("workflow_execution_started_event_attributes"):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            if payloads:
                anchors.extend(_json_payload(payloads[0]).get("carried") or [])
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            attrs = event.workflow_execution_signaled_event_attributes
            if attrs.signal_name == signal and attrs.input.payloads:
                anchors.append(_json_payload(attrs.input.payloads[0]))
    return anchors


async def read_anchors(client: Any, task_queue: str) -> list[dict[str, Any]] | None:
    """The anchors of the deployment's anchor workflow (its current run); None: there is none yet."""
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.audit_anchor import SIGNAL, anchor_workflow_id

    try:
        history = await client.get_workflow_handle(anchor_workflow_id(task_queue)).fetch_history()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return anchors_in(history.events, SIGNAL)


# -- the check ----------------------------------------------------------------------------------------
@dataclass
class Verification:
    findings: list[Any] = field(default_factory=list)
    checked: dict[str, int] = field(
        default_factory=lambda: {
            "access_events": 0,
            "cases": 0,
            "audit_events": 0,
            "unchained": 0,
            "anchors": 0,
            "histories": 0,
        }
    )

    #: The checks that ran (keys of ``checked``).
    ran: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not any(f.failing for f in self.findings)


def _finding(kind: str, chain: str, where: str, zh: str, en: str, severity: str = "unverified") -> Any:
    from govshare.core.audit_trail import Finding

    return Finding(kind, severity, chain, where, zh, en)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _case_workflows(engine: Any, case_ids: Sequence[str] | None) -> dict[str, str]:
    from sqlalchemy import select

    from govshare.core.models import Case

    query = select(Case.id, Case.workflow_id)
    with engine.connect() as conn:
        if case_ids is None:
            return dict(conn.execute(query).all())
        found: dict[str, str] = {}
        for chunk in _chunks(list(case_ids), 500):
            found.update(dict(conn.execute(query.where(Case.id.in_(list(chunk)))).all()))
        return found


def _audited_case_ids(engine: Any) -> set[str]:
    from sqlalchemy import select

    from govshare.core.models import AuditEvent

    with engine.connect() as conn:
        return set(conn.execute(select(AuditEvent.case_id).distinct()).scalars())


def _check_case_chains(engine: Any, result: Verification, case_ids: Sequence[str] | None) -> dict[str, list]:
    """Every selected case's chain; returns each case's rows (only when ``case_ids`` is given)."""
    from govshare.core import audit_trail

    kept: dict[str, list] = {}
    result.ran.update({"cases", "audit_events", "unchained"})
    for case_id, rows in audit_trail.audit_rows(engine, case_ids):
        report = audit_trail.check_audit_chain(case_id, audit_trail.audit_chain_rows(rows))
        result.findings.extend(report.findings)
        result.checked["cases"] += 1
        result.checked["audit_events"] += report.rows
        result.checked["unchained"] += report.unchained
        if case_ids is not None:
            kept[case_id] = rows
    return kept


async def _compare_case(
    client: Any, case_id: str, workflow_id: str | None, rows: list, gate: asyncio.Semaphore
) -> list[Any]:
    from temporalio.service import RPCError

    from govshare.core import audit_trail

    chain = f"case:{case_id}"
    if workflow_id is None:
        return [
            _finding(
                "history_unavailable",
                chain,
                "",
                f"案件 {case_id}:投影表中没有此案件,无法对照工作流历史",
                f"case {case_id}: no case row, so no workflow history to compare with",
            )
        ]
    async with gate:
        try:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        except RPCError as err:
            return [
                _finding(
                    "history_unavailable",
                    chain,
                    "",
                    f"案件 {case_id}:读不到工作流 {workflow_id} 的历史({err.message})",
                    f"case {case_id}: the history of {workflow_id} cannot be read ({err.message})",
                )
            ]
    try:
        recorded, pending, any_records = recorded_events(history.events)
    except ValueError as err:
        return [
            _finding(
                "history_unavailable",
                chain,
                "",
                f"案件 {case_id}:历史中的记录无法解读({err})",
                f"case {case_id}: the history's records cannot be read ({err})",
            )
        ]
    if not any_records:
        return [
            _finding(
                "not_compared",
                chain,
                "",
                f"案件 {case_id}:历史中没有记录活动的输入(第一代,本地活动记录),未对照",
                f"case {case_id}: the history carries no record inputs (first generation, local record): "
                "not compared",
                severity="note",
            )
        ]
    return audit_trail.compare_with_history(case_id, rows, recorded, pending=pending)


async def _connect(settings: Any) -> Any:
    from govshare.core.temporal_client import connect_client

    return await connect_client(settings)


async def verify(
    engine: Any,
    settings: Any,
    *,
    cases: Sequence[str] = (),
    all_cases: bool = False,
    access_only: bool = False,
    concurrency: int = 8,
    client: Any = None,
) -> Verification:
    """The whole check (the command's work, callable from tests).

    The anchors are read before the tables are walked: an API that logs reads meanwhile only makes
    the table longer than what they hold, never shorter."""
    from govshare.core import audit_trail

    result = Verification()
    check_access = access_only or all_cases or not cases
    check_all_chains = all_cases or (not cases and not access_only)
    histories = list(cases) if cases and not all_cases else None

    if client is None:
        try:
            client = await _connect(settings)
        except Exception as err:
            result.findings.append(
                _finding(
                    "anchors_unavailable",
                    "anchors",
                    "",
                    f"流程引擎不可达,锚点与工作流历史无法读取({err})",
                    f"the workflow engine cannot be reached: no anchors, no histories ({err})",
                )
            )
    anchors: list[dict[str, Any]] | None = None
    if client is not None and (check_access or check_all_chains):
        anchors = await _read_anchors(client, settings, result)

    head = (0, audit_trail.GENESIS)
    if check_access:
        report = audit_trail.check_access_chain(audit_trail.access_rows(engine))
        result.findings.extend(report.findings)
        result.checked["access_events"] = report.rows
        result.ran.add("access_events")
        head = report.head or head

    rows_of: dict[str, list] = {}
    if check_all_chains and not (all_cases and client is not None):
        _check_case_chains(engine, result, None)  # --all with histories: chunk by chunk, below
    elif histories is not None:
        rows_of = _check_case_chains(engine, result, histories)

    if anchors:
        _check_anchors(engine, anchors, result, head, check_access, check_all_chains)

    if client is not None and (histories is not None or all_cases):
        result.ran.add("histories")
        gate = asyncio.Semaphore(max(1, concurrency))
        if all_cases:
            workflows = _case_workflows(engine, None)
            ids = sorted(set(workflows) | _audited_case_ids(engine))
            for chunk in _chunks(ids, CHUNK):
                rows_of = _check_case_chains(engine, result, list(chunk))
                found = await asyncio.gather(
                    *(_compare_case(client, c, workflows.get(c), rows_of.get(c, []), gate) for c in chunk)
                )
                result.checked["histories"] += len(chunk)
                result.findings.extend(f for group in found for f in group)
        else:
            assert histories is not None
            workflows = _case_workflows(engine, histories)
            found = await asyncio.gather(
                *(_compare_case(client, c, workflows.get(c), rows_of.get(c, []), gate) for c in histories)
            )
            result.checked["histories"] += len(histories)
            result.findings.extend(f for group in found for f in group)
    return result


async def _read_anchors(client: Any, settings: Any, result: Verification) -> list[dict[str, Any]] | None:
    result.ran.add("anchors")
    try:
        anchors = await read_anchors(client, settings.task_queue)
    except Exception as err:
        result.findings.append(
            _finding(
                "anchors_unavailable",
                "anchors",
                "",
                f"锚点无法读取({err})",
                f"the anchors cannot be read ({err})",
            )
        )
        return None
    if not anchors:
        result.findings.append(
            _finding(
                "no_anchors",
                "anchors",
                "",
                "尚无锚点(API 记录读取后或 govshare audit anchor 会写入),截短末尾无法察觉",
                "no anchors yet (the API sends them as it logs reads; or govshare audit anchor): a trail cut "
                "short at its end cannot be seen",
                severity="note",
            )
        )
        return None
    result.checked["anchors"] = len(anchors)
    return anchors


def _check_anchors(
    engine: Any,
    anchors: list[dict[str, Any]],
    result: Verification,
    head: tuple[int, str],
    check_access: bool,
    check_digest: bool,
) -> None:
    from govshare.core import audit_trail

    if check_access:
        hashes = audit_trail.access_hashes_at(engine, [int(a.get("access_id") or 0) for a in anchors])
        result.findings.extend(audit_trail.check_access_anchors(anchors, head, hashes))
    if check_digest:
        newest = max(
            (a for a in anchors if a.get("audit_digest") and a.get("audit_as_of")),
            key=lambda a: audit_trail.instant(a["audit_as_of"]),
            default=None,
        )
        if newest is not None:
            as_of = datetime.fromisoformat(audit_trail.instant(newest["audit_as_of"]))
            recomputed = audit_trail.audit_digest_as_of(engine, as_of)
            result.findings.extend(audit_trail.check_audit_anchor(newest, recomputed))


# -- the commands -----------------------------------------------------------------------------------
def _engine() -> Any:
    from govshare.core.db import make_engine
    from govshare.core.settings import get_settings

    return make_engine(get_settings().database_url)


def _database_error(err: Exception) -> CliError:
    orig = getattr(err, "orig", None) or err
    return CliError(
        f"数据库不可读或未迁移到 0008 / the database cannot be read or is not at revision 0008: {orig}",
        exit_code=1,
    )


def _print(result: Verification, as_json: bool) -> None:
    ordered = sorted(result.findings, key=lambda f: (f.chain != "anchors", f.chain, f.position, f.kind))
    if as_json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "checked": {k: v for k, v in result.checked.items() if k in result.ran},
                    "findings": [f.as_dict() for f in ordered if f.failing],
                    "notes": [f.as_dict() for f in ordered if not f.failing],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for finding in ordered:
        print(finding.line())
    c = result.checked
    zh: list[str] = []
    en: list[str] = []
    if "access_events" in result.ran:
        zh.append(f"访问日志 {c['access_events']} 条")
        en.append(f"{c['access_events']} access events")
    if "cases" in result.ran:
        zh.append(f"案件 {c['cases']} 个(审计事件 {c['audit_events']} 条,其中无哈希 {c['unchained']} 条)")
        en.append(f"{c['cases']} cases ({c['audit_events']} events, {c['unchained']} unchained)")
    if "anchors" in result.ran:
        zh.append(f"锚点 {c['anchors']} 个")
        en.append(f"{c['anchors']} anchors")
    if "histories" in result.ran:
        zh.append(f"工作流历史 {c['histories']} 份")
        en.append(f"{c['histories']} workflow histories")
    failing = sum(f.failing for f in ordered)
    print(
        f"{'通过' if result.ok else '未通过'}:{','.join(zh)};问题 {failing} 处 / "
        f"{'ok' if result.ok else 'FAILED'}: {', '.join(en)}; {failing} finding(s)"
    )


@action("verify", help="校验审计记录 / verify the audit trail: hash chains, anchors, workflow histories")
def verify_action(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument(
        "--case", action="append", default=[], metavar="ID", help="this case only, against its history"
    )
    parser.add_argument(
        "--all", action="store_true", help="everything, and every case against its workflow history"
    )
    parser.add_argument("--access", action="store_true", help="the access log and its anchors only")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="histories fetched at once (--all; default 8)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")

    def handle(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        from govshare.core.settings import get_settings

        if args.concurrency < 1:
            raise CliError("--concurrency must be at least 1")
        engine = _engine()
        try:
            result = asyncio.run(
                verify(
                    engine,
                    get_settings(),
                    cases=args.case,
                    all_cases=args.all,
                    access_only=args.access and not args.case and not args.all,
                    concurrency=args.concurrency,
                )
            )
        except SQLAlchemyError as err:
            raise _database_error(err) from None
        finally:
            engine.dispose()
        _print(result, args.json)
        return 0 if result.ok else 1

    return handle


@action(
    "anchor", help="写入锚点 / anchor the chains' heads now in the anchor workflow (cron, before a backup)"
)
def anchor_action(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument(
        "--grace-seconds",
        type=float,
        default=60.0,
        help="the state-change digest is taken this long ago (writes still committing; default 60)",
    )
    parser.add_argument("--json", action="store_true", help="the anchor as JSON")

    def handle(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        from govshare.core import audit_trail
        from govshare.core.settings import get_settings
        from workflows.audit_anchor import Anchor, anchor_workflow_id, send_anchor

        if args.grace_seconds < 0:
            raise CliError("--grace-seconds must not be negative")
        settings = get_settings()
        engine = _engine()
        try:
            heads = audit_trail.read_heads(
                engine, now=datetime.now(UTC), grace=timedelta(seconds=args.grace_seconds)
            )
        except SQLAlchemyError as err:
            raise _database_error(err) from None
        finally:
            engine.dispose()
        anchor = Anchor(source="cli", **heads)

        async def go() -> None:
            client = await _connect(settings)
            await send_anchor(client, settings.task_queue, anchor)

        try:
            asyncio.run(go())
        except Exception as err:
            raise CliError(f"锚点未写入 / the anchor was not sent: {err}", exit_code=1) from None
        if args.json:
            print(
                json.dumps(
                    {
                        "workflow_id": anchor_workflow_id(settings.task_queue),
                        **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in heads.items()},
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            print(
                f"已写入锚点 {anchor_workflow_id(settings.task_queue)}:访问日志至 id {anchor.access_id},"
                f"截至 {audit_trail.instant(heads['audit_as_of'])} 的 {anchor.audit_cases} 个案件 "
                f"{anchor.audit_events} 条审计事件 / anchored: access log to id {anchor.access_id}; "
                f"{anchor.audit_events} events of {anchor.audit_cases} cases as of "
                f"{audit_trail.instant(heads['audit_as_of'])}"
            )
        return 0

    return handle
