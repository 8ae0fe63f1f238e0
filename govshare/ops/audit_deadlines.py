"""``govshare audit deadlines``: every recorded deadline recomputed as of its own calendar data.

    govshare audit deadlines --case SA-20261123-7K3Q9X           # from the projection (DATABASE_URL)
    govshare audit deadlines --all --json
    govshare audit deadlines --case SA-… --from-history          # the Deadline records in Temporal's history
    govshare audit deadlines --history-file SharingApplication__SA-….json   # an exported history

One line per deadline (case, task, step, article, recorded due, verdict; Chinese first, then English)
and a summary. Exit 1 when a recorded deadline does not recompute to itself with the data it names
(or that data is not found); a different date under the calendar now in force is reported and is
not a failure (expected after a notice was published or corrected). The proof is
:mod:`calendars.proof`; what was recorded is read by :mod:`govshare.cases.deadline_audit`.
"""

from __future__ import annotations

import argparse
from typing import Any

from govshare.ops.audit_cli import action
from govshare.ops.cli import CliError, Handler, _print_json

__all__ = ["deadlines_action"]


@action(
    "deadlines",
    help="期限按其日历数据重算核验 / recompute every recorded deadline with its own calendar data",
)
def deadlines_action(parser: argparse.ArgumentParser) -> Handler:
    parser.epilog = (
        "examples:\n"
        "  govshare audit deadlines --case SA-20261123-7K3Q9X\n"
        "  govshare audit deadlines --all --json\n"
        "  govshare audit deadlines --case SA-20261123-7K3Q9X --from-history\n"
        "\n"
        "Each recorded deadline names the holiday notices it was computed with (year, sha256); they are\n"
        "found in calendars/notices/archive/ and the deadline is recomputed with exactly them, then with\n"
        "the calendar in force now. Exit 1 if a deadline does not recompute to itself (a new date under\n"
        "the calendar now in force is reported, not a failure). The database is DATABASE_URL."
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--case", metavar="ID", help="one case, e.g. SA-20261123-7K3Q9X")
    which.add_argument("--all", action="store_true", help="every case in the projection")
    which.add_argument(
        "--history-file",
        metavar="FILE",
        help="an exported workflow history (JSON, as the Temporal UI/CLI export it); no database",
    )
    parser.add_argument(
        "--from-history",
        action="store_true",
        help="with --case: read the Deadline records from the case's Temporal workflow history "
        "(the compute_deadline local-activity results) instead of the projection",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(args: argparse.Namespace) -> int:
        if args.from_history and not args.case:
            raise CliError("--from-history goes with --case ID (or give --history-file FILE)")
        if not (args.case or args.all or args.history_file):
            raise CliError("give --case ID, --all or --history-file FILE")
        if args.history_file:
            audit = _from_history_file(args.history_file)
        elif args.from_history:
            audit = _from_temporal(args.case)
        else:
            audit = _from_projection(args.case)
            if args.case and not audit.case_ids:
                raise CliError(f"未找到案件 no case {args.case} in the projection (DATABASE_URL)")
        if args.json:
            _print_json(audit.to_json_dict())
        else:
            _print_audit(audit)
        return 0 if audit.ok else 1

    return handle


def _from_projection(case_id: str | None) -> Any:
    from govshare.cases.deadline_audit import audit_projection
    from govshare.ops.cli import _directory_session

    with _directory_session() as session:
        return audit_projection(session, [case_id] if case_id else None)


def _from_temporal(case_id: str) -> Any:
    import asyncio

    from govshare.cases import service as case_service
    from govshare.cases.deadline_audit import audit_history
    from govshare.core.temporal_client import connect_client

    try:
        workflow_id = case_service.workflow_id_for(case_id)
    except case_service.CaseError as err:
        raise CliError(f"{err.detail_zh} / {err.detail_en}") from None

    async def fetch() -> Any:
        try:
            client = await connect_client()
        except Exception as exc:  # the connect call raises RuntimeError for transport errors
            raise CliError(f"流程引擎不可用 Temporal unavailable: {exc}", exit_code=1) from None
        try:
            return await client.get_workflow_handle(workflow_id).fetch_history()
        except Exception as exc:  # RPCError: not found, or the server went away
            raise CliError(f"无法读取工作流历史 cannot read the history of {workflow_id}: {exc}", 1) from None

    history = asyncio.run(fetch())
    return audit_history(case_id, workflow_id, history.events)


def _from_history_file(name: str) -> Any:
    from pathlib import Path

    from govshare.cases.deadline_audit import audit_history
    from govshare.ops.replay import load_history_file

    path = Path(name)
    if not path.is_file():
        raise CliError(f"no such file: {name}")
    try:
        history = load_history_file(path)
    except ValueError as exc:  # not JSON, or not a history
        raise CliError(f"{name}: not a workflow history: {exc}") from None
    case_id = history.workflow_id.split(":", 1)[-1]
    return audit_history(case_id, history.workflow_id, history.events)


def _print_audit(audit: Any) -> None:
    source_zh, source_en = audit.source_words()
    print(f"来源 source: {source_zh} / {source_en}")
    for check in audit.checks:
        words = {
            "agrees": "一致 agrees",
            "mismatch": "不一致 MISMATCH",
            "data_missing": "数据缺失 DATA MISSING",
            "unproven": "无法证明 unproven",
            "unreadable": "无法读取 UNREADABLE",
        }[check.verdict]
        due = check.recorded_due_at.isoformat() if check.recorded_due_at else "—"
        article = f"条款 art. {check.article}" if check.article else "—"
        task = check.task_id or check.what
        what = "" if check.what == "deadline" or not check.task_id else f" {check.what}"
        now = " · 现行日历下日期不同 another date now" if check.now_differs else ""
        print(f"{check.case_id}  {task}{what}  {check.step or '—'}  {article}  {due}  {words}{now}")
        zh, en = check.describe()
        if check.verdict != "agrees" or check.now_differs:
            print(f"    {zh}")
            print(f"    {en}")
    zh, en = audit.summary()
    print(zh)
    print(en)
    if not audit.ok:
        print("有期限按其记录的日历数据重算不一致 / a recorded deadline does not recompute to itself")
