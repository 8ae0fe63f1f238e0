"""The one command line: ``govshare <command> …``.

Exit codes: 0 ok; 2 bad input (a one-line ``govshare: error: …`` on stderr, never a traceback);
1 a failure that is not the caller's input (e.g. broken calendar data), also one line.

Each subcommand is one function decorated with :func:`command`: it receives its own argparse
parser, adds its arguments and returns the handler ``(args) -> int``. Heavy imports (the calendar,
the launcher and everything ``govshare run`` starts) happen inside handlers, so ``govshare profiles``
stays quick and works before the rest of the system exists.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

__all__ = ["CliError", "build_parser", "command", "main"]

PROG = "govshare"

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """Bad input: printed as one line, exit code 2 (or ``exit_code``)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is raised (one line, exit 2) rather than printed with the usage."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


@dataclass(frozen=True)
class _Command:
    name: str
    help: str
    setup: Callable[[argparse.ArgumentParser], Handler]
    #: Unparsed arguments are handed to the handler (``args.rest``) instead of being an error.
    pass_through: bool = False


_COMMANDS: list[_Command] = []


def command(
    name: str, help: str, *, pass_through: bool = False
) -> Callable[[Callable[[argparse.ArgumentParser], Handler]], Callable[[argparse.ArgumentParser], Handler]]:
    """Register a subcommand: the decorated function adds its arguments and returns its handler."""

    def register(
        setup: Callable[[argparse.ArgumentParser], Handler],
    ) -> Callable[[argparse.ArgumentParser], Handler]:
        _COMMANDS.append(_Command(name, help, setup, pass_through))
        return setup

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="govshare — approval of government data sharing (政务信息资源共享) "
        "under regulation profiles.",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    sub.required = True
    for cmd in _COMMANDS:
        sub_parser = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.help,
            add_help=not cmd.pass_through,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        handler = cmd.setup(sub_parser)
        sub_parser.set_defaults(handler=handler, pass_through=cmd.pass_through)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _tolerate_narrow_stdout()
    parser = build_parser()
    try:
        try:
            args, rest = parser.parse_known_args(argv)
        except SystemExit as exc:  # --help / --version printed their text
            return int(exc.code or 0)
        if rest and not args.pass_through:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        args.rest = rest
        return int(args.handler(args) or 0)
    except CliError as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tolerate_narrow_stdout() -> None:
    # Chinese text on a terminal that is not UTF-8 must not end in a UnicodeEncodeError traceback.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


# --------------------------------------------------------------------------------------------------
# govshare deadline
# --------------------------------------------------------------------------------------------------

_CUTOFF = re.compile(r"^(?:24:00|(?:[01]\d|2[0-3]):[0-5]\d)$")


def _instant(text: str) -> datetime:
    """ISO 8601 date-time; without an offset it is Asia/Shanghai time (the platform's clock, Hubei 22)."""
    from zoneinfo import ZoneInfo

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 date-time, e.g. 2026-09-30T16:00:00+08:00"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of working days") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: the number of working days must be 0 or more")
    return value


def _cutoff(text: str) -> str:
    if not _CUTOFF.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a time HH:MM (or 24:00)")
    return text


@command("deadline", help="compute a working-day deadline (截止时间), explained")
def deadline_command(parser: argparse.ArgumentParser) -> Handler:
    parser.epilog = (
        "examples:\n"
        "  govshare deadline --from 2026-09-30T16:00:00+08:00 --working-days 3\n"
        "  govshare deadline --profile hubei --step provider_authorization --from 2026-09-30T16:00:00+08:00\n"
        "\n"
        "Day 1 is the first working day after --from; the period ends at 24:00 (Asia/Shanghai) of the\n"
        "N-th working day unless a cut-off is given. With --profile/--step, N, the cut-off and the\n"
        "article come from the profile; --working-days and --cutoff are then refused (the profile is\n"
        "the authority). A deadline in a year whose holiday notice is not yet published is provisional."
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="DATETIME",
        required=True,
        type=_instant,
        help="start instant, ISO 8601, e.g. 2026-09-30T16:00:00+08:00 or ...Z; "
        "without an offset it is read as Asia/Shanghai time",
    )
    parser.add_argument(
        "--working-days", type=_count, metavar="N", help="number of working days (without --profile)"
    )
    parser.add_argument("--profile", metavar="ID", help="regulation profile, e.g. hubei (govshare profiles)")
    parser.add_argument("--step", metavar="STEP", help="step of the profile, e.g. provider_authorization")
    parser.add_argument(
        "--cutoff",
        type=_cutoff,
        metavar="HH:MM",
        help="office-closing cut-off instead of 24:00 (without --profile)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(args: argparse.Namespace) -> int:
        if (args.profile is None) != (args.step is None):
            raise CliError("--profile and --step go together")
        if args.profile is not None:
            if args.working_days is not None:
                raise CliError("--working-days cannot be combined with --profile/--step: the profile sets N")
            if args.cutoff is not None:
                raise CliError("--cutoff cannot be combined with --profile/--step: the profile sets it")
        elif args.working_days is None:
            raise CliError("give --working-days N, or --profile and --step")

        calendars = _import_calendars()
        try:
            calendar = calendars.WorkingDayCalendar.default()
            if args.profile is not None:
                record, extra = _profile_deadline(args, calendar)
            else:
                record = calendar.add_working_days(args.start, args.working_days, cutoff=args.cutoff)
                extra = {}
        except calendars.CalendarDataError as exc:
            raise CliError(f"calendar data: {exc}", exit_code=1) from None
        except ValueError as exc:
            raise CliError(str(exc)) from None

        data = _deadline_json(record)
        data.update(extra)
        if args.json:
            _print_json(data)
        else:
            _print_deadline(data)
        return 0

    return handle


@command(
    "working-days", help="working days elapsed between two instants (statistics: 'handled in N working days')"
)
def working_days_command(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument(
        "--from", dest="start", type=_instant, required=True, help="ISO 8601; naive = Asia/Shanghai"
    )
    parser.add_argument(
        "--to", dest="end", type=_instant, required=True, help="ISO 8601; naive = Asia/Shanghai"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(args: argparse.Namespace) -> int:
        calendar = _import_calendars().WorkingDayCalendar.default()
        count = calendar.working_days_between(args.start, args.end)
        if args.json:
            _print_json({"from": args.start.isoformat(), "to": args.end.isoformat(), "working_days": count})
        else:
            print(count)
        return 0

    return handle


def _import_calendars() -> Any:
    try:
        return importlib.import_module("calendars")
    except ImportError as exc:  # pragma: no cover - only while the calendar package is being written
        raise CliError(f"the working-day calendar is not available: {exc}", exit_code=1) from None


def _profile_deadline(args: argparse.Namespace, calendar: Any) -> tuple[Any, dict[str, Any]]:
    from regulations import find_step, load_profile, profile_digest, step_deadline

    profile = load_profile(args.profile)  # ProfileError is a ValueError: bad input
    case_type, step = find_step(profile, args.step)
    record = step_deadline(profile, args.step, args.start, calendar=calendar)
    extra = {
        "profile": profile.id,
        "profile_version": profile.version,
        "profile_digest": profile_digest(profile.id),
        "case_type": case_type,
        "step": args.step,
        "step_name_zh": step.name_zh,
        "step_name_en": step.name_en,
        "actor": step.actor,
        "article": step.article,
        "limit_basis": step.limit_basis,
        "extension": step.extension.model_dump() if step.extension else None,
    }
    return record, extra


def _deadline_json(record: Any) -> dict[str, Any]:
    # The calendar's own serialisation: instants in ISO 8601 with their +08:00 offset.
    return dict(record.to_json_dict())


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.splitlines()
    return [str(line) for line in value]


def _print_deadline(data: dict[str, Any]) -> None:
    print(data["due_at"])
    if data.get("profile"):
        basis = {"statute": "statute 法定", "local_policy": "local policy 本地规定"}.get(
            data.get("limit_basis"), data.get("limit_basis")
        )
        print(
            f"{data['profile']} {data['profile_version']} · {data['step']} "
            f"{data['step_name_zh']} / {data['step_name_en']} · "
            f"{data['working_days']} working days ({basis}, art. {data['article']})"
        )
    for line in _lines(data.get("explanation_zh")):
        print(line)
    for line in _lines(data.get("explanation_en")):
        print(line)


# --------------------------------------------------------------------------------------------------
# govshare profiles
# --------------------------------------------------------------------------------------------------


@command("profiles", help="list the regulation profiles and their steps, limits and articles")
def profiles_command(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("profile", nargs="?", metavar="ID", help="show only this profile")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")

    def handle(args: argparse.Namespace) -> int:
        from regulations import ProfileError, list_profiles, load_profile, profile_digest

        try:
            profiles = [load_profile(args.profile)] if args.profile else list_profiles()
            summaries = [_profile_summary(p, profile_digest(p.id)) for p in profiles]
        except ProfileError as exc:
            raise CliError(str(exc)) from None
        if args.json:
            _print_json(summaries)
        else:
            _print_profiles(summaries)
        return 0

    return handle


def _profile_summary(profile: Any, digest: str) -> dict[str, Any]:
    steps = []
    for case_type_id, case_type in profile.case_types.items():
        for step_id, step in case_type.steps.items():
            steps.append(
                {
                    "case_type": case_type_id,
                    "step": step_id,
                    "name_zh": step.name_zh,
                    "name_en": step.name_en,
                    "actor": step.actor,
                    "working_days": step.limit,
                    "limit_basis": step.limit_basis,
                    "article": step.article,
                    "extension": step.extension.model_dump() if step.extension else None,
                }
            )
    return {
        "id": profile.id,
        "version": profile.version,
        "digest": digest,
        "name_zh": profile.name_zh,
        "name_en": profile.name_en,
        "document": profile.document,
        "seed": profile.seed,
        "deadline_cutoff": profile.deadline_cutoff,
        "case_types": {
            ct_id: {"name_zh": ct.name_zh, "name_en": ct.name_en, "article": ct.article}
            for ct_id, ct in profile.case_types.items()
        },
        "steps": steps,
    }


def _limit_text(step: dict[str, Any]) -> str:
    if step["working_days"] is None:
        return "—"
    text = str(step["working_days"])
    if step["limit_basis"] == "local_policy":
        text += " (local)"
    ext = step["extension"]
    if ext:
        text += f" +≤{ext['max_working_days']}"
    return text


def _print_profiles(summaries: list[dict[str, Any]]) -> None:
    headers = ("case type", "step", "WD", "article", "actor", "name")
    for index, summary in enumerate(summaries):
        if index:
            print()
        print(
            f"{summary['id']}  {summary['name_zh']} / {summary['name_en']}  "
            f"(version {summary['version']}, cut-off {summary['deadline_cutoff']})"
        )
        print(f"  {summary['document']}")
        if not summary["steps"]:
            print("  (no case types: share and open types only)")
            continue
        rows = [
            (
                s["case_type"],
                s["step"],
                _limit_text(s),
                s["article"],
                s["actor"],
                f"{s['name_zh']} / {s['name_en']}",
            )
            for s in summary["steps"]
        ]
        # Names (with wide Chinese characters) go last so the ASCII columns stay aligned.
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:-1])]
        for row in [headers, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
            print("  " + "  ".join([*cells, row[-1]]).rstrip())
    print()
    print("WD: working days (— no limit: statutory none; '(local)': local policy, not statute;")
    print("    '+≤N': an approved extension of up to N more; approver and count in --json)")


# --------------------------------------------------------------------------------------------------
# govshare directory
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _directory_session() -> Any:
    """A session on ``DATABASE_URL`` (brought to the newest schema, as every start does); the engine
    is disposed of afterwards."""
    from sqlalchemy.exc import OperationalError
    from sqlmodel import Session

    from govshare.core.db import init_schema, make_engine
    from govshare.core.settings import get_settings

    engine = make_engine(get_settings().database_url)
    try:
        try:
            init_schema(engine)
        except OperationalError as exc:
            raise CliError(f"数据库不可用 database unavailable: {exc.orig or exc}", exit_code=1) from None
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal (a Chinese character takes two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _role_order(role: str) -> tuple[int, str]:
    from govshare.core.directory import ROLES

    return (ROLES.index(role) if role in ROLES else len(ROLES), role)


def _role_label(role: str) -> str:
    from govshare.core.directory import ROLE_NAMES

    zh, en = ROLE_NAMES.get(role, ("", ""))
    return f"{role} ({zh} / {en})" if zh else role


def _directory_rows(session: Any) -> list[dict[str, Any]]:
    from sqlmodel import select

    from govshare.core.models import Department, RoleAssignment

    names = {d.code: d for d in session.exec(select(Department)).all()}
    rows = []
    for row in sorted(session.exec(select(RoleAssignment)).all(), key=lambda r: _role_order(r.role)):
        department = names.get(row.department)
        rows.append(
            {
                "role": row.role,
                "department": row.department,
                "name_zh": department.name_zh if department else "",
                "name_en": department.name_en if department else "",
                "note": row.note,
                "updated_at": row.updated_at.isoformat(),
            }
        )
    return rows


@command(
    "directory",
    help="角色目录:各角色由哪个部门担任 / the role directory: which department plays each role",
)
def directory_command(parser: argparse.ArgumentParser) -> Handler:
    parser.epilog = (
        "examples:\n"
        "  govshare directory list\n"
        "  govshare directory set coordinator jxw --note '市政府令第N号'\n"
        "  govshare directory remove government_office\n"
        "  govshare directory check --profile hubei\n"
        "\n"
        "Escalation rungs and linked cases name roles (platform, leading_group, coordinator,\n"
        "government_office); which department plays each is this deployment's data, one per role.\n"
        "The database is DATABASE_URL (as the API and the worker read it)."
    )
    sub = parser.add_subparsers(dest="directory_action", metavar="<action>", parser_class=_Parser)
    sub.required = True

    list_parser = sub.add_parser(
        "list", help="列出角色目录及无人担任的角色 / who plays each role, and the roles nobody plays"
    )
    list_parser.add_argument("--json", action="store_true", help="print one JSON object")

    set_parser = sub.add_parser("set", help="设置担任角色的部门 / let DEPARTMENT play ROLE")
    set_parser.add_argument(
        "role", metavar="ROLE", help="platform | leading_group | coordinator | government_office"
    )
    set_parser.add_argument("department", metavar="DEPARTMENT", help="a department code, e.g. jxw")
    set_parser.add_argument("--note", default="", help="备注 / why, or on what authority")

    remove_parser = sub.add_parser("remove", help="移除角色的担任部门 / let no department play ROLE")
    remove_parser.add_argument("role", metavar="ROLE")

    check_parser = sub.add_parser(
        "check",
        help="检查角色目录是否完整 / exit 1 if a profile's rung or issuer names a role nobody plays",
    )
    check_parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="ID",
        help="check this profile (repeatable; default: every profile)",
    )

    def handle(args: argparse.Namespace) -> int:
        return {
            "list": _directory_list,
            "set": _directory_set,
            "remove": _directory_remove,
            "check": _directory_check,
        }[args.directory_action](args)

    return handle


def _directory_list(args: argparse.Namespace) -> int:
    from govshare.core.directory import ROLES

    with _directory_session() as session:
        rows = _directory_rows(session)
    played = {row["role"] for row in rows}
    unplayed = [role for role in ROLES if role not in played]
    if args.json:
        _print_json({"roles": rows, "unplayed": unplayed})
        return 0
    if rows:
        headers = ("角色 role", "部门 department", "名称 name", "备注 note")
        table = [(r["role"], r["department"], r["name_zh"] or "?", r["note"]) for r in rows]
        widths = [max(_width(h), *(_width(t[i]) for t in table)) for i, h in enumerate(headers[:3])]
        for line in [headers, *table]:
            cells = [cell + " " * (width - _width(cell)) for cell, width in zip(line, widths, strict=False)]
            print("  ".join([*cells, line[3]]).rstrip())
    else:
        print("角色目录为空 the role directory is empty")
    if unplayed:
        print()
        print("无部门担任的角色 roles nobody plays:")
        for role in unplayed:
            print(f"  {_role_label(role)}")
    return 0


def _directory_set(args: argparse.Namespace) -> int:
    from govshare.core.directory import assign

    with _directory_session() as session:
        try:
            assign(session, args.role, args.department, args.note)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        row = next(r for r in _directory_rows(session) if r["role"] == args.role)
    print(
        f"已设置 set: {_role_label(args.role)} → {row['department']} {row['name_zh']}"
        + (f" / {row['name_en']}" if row["name_en"] else "")
    )
    return 0


def _directory_remove(args: argparse.Namespace) -> int:
    from govshare.core.directory import ROLES, unassign

    if args.role not in ROLES:
        raise CliError(f"未知角色 unknown role '{args.role}': the directory holds {', '.join(ROLES)}")
    with _directory_session() as session:
        removed = unassign(session, args.role)
    if removed:
        print(f"已移除 removed: no department plays {_role_label(args.role)} now")
    else:
        print(f"本无部门担任 nothing to remove: no department played {_role_label(args.role)}")
    return 0


def _directory_check(args: argparse.Namespace) -> int:
    from govshare.core.directory import read_directory
    from regulations import ProfileError, list_profiles, load_profile
    from regulations.roles import unplayed_roles

    try:
        profiles = (
            [load_profile(pid) for pid in dict.fromkeys(args.profile)] if args.profile else list_profiles()
        )
    except ProfileError as exc:
        raise CliError(str(exc)) from None
    with _directory_session() as session:
        directory = read_directory(session)
    messages = [message for profile in profiles for message in unplayed_roles(profile, directory)]
    checked = ", ".join(p.id for p in profiles) or "none"
    if messages:
        for message in messages:
            print(message)
        print(f"角色目录不完整:{len(messages)} 处角色无部门担任(govshare directory set ROLE DEPARTMENT)")
        print(f"the role directory is incomplete: {len(messages)} unplayed role(s) in {checked}")
        return 1
    print(f"角色目录完整 the role directory is complete for {checked}")
    return 0


# --------------------------------------------------------------------------------------------------
# govshare run
# --------------------------------------------------------------------------------------------------


@command("run", help="start the whole system (see 'govshare run --help')", pass_through=True)
def run_command(parser: argparse.ArgumentParser) -> Handler:
    # The arguments belong to govshare.ops.launcher, imported only here: the rest of the command line
    # works without it, and `govshare deadline` does not pay for importing Temporal and the API.
    def handle(args: argparse.Namespace) -> int:
        try:
            launcher = importlib.import_module("govshare.ops.launcher")
        except ModuleNotFoundError as exc:
            if exc.name not in ("govshare.ops.launcher", "govshare"):
                raise
            raise CliError("'govshare run' is not available: govshare.ops.launcher is missing") from None
        run_parser = _Parser(prog=f"{PROG} run", description="Start the whole govshare system.")
        launcher.add_run_arguments(run_parser)
        try:
            run_args = run_parser.parse_args(args.rest)
        except SystemExit as exc:  # `govshare run --help` printed its text
            return int(exc.code or 0)
        return int(launcher.run_command(run_args) or 0)

    return handle


# --------------------------------------------------------------------------------------------------
# govshare demo-late-application
# --------------------------------------------------------------------------------------------------


@command(
    "demo-late-application",
    help="demo only: an application submitted N days ago, so its first deadline has passed and its "
    "breach climbs the ladder now (演示:已超期的数据使用申请)",
)
def demo_late_command(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("--profile", default=None, help="regulation profile (default: DEFAULT_PROFILE)")
    parser.add_argument(
        "--days-ago", type=_count, default=30, help="submitted this many days ago (default 30)"
    )
    parser.add_argument("--consumer", default="rsj", help="applying department (default rsj)")
    parser.add_argument("--resource", default="gaj-household-members", help="catalog resource id")

    def handle(args: argparse.Namespace) -> int:
        import asyncio
        import uuid
        from datetime import UTC, timedelta

        from sqlmodel import Session, select

        from govshare.cases import service as case_service
        from govshare.core.db import get_engine, init_schema
        from govshare.core.directory import read_directory
        from govshare.core.models import Department, Resource
        from govshare.core.settings import get_settings
        from govshare.core.temporal_client import connect_client
        from workflows import registry
        from workflows.case import Actor

        settings = get_settings()
        if not settings.seed_demo or settings.environment == "production":
            raise CliError("仅用于演示环境 / demo deployments only (SEED_DEMO=true, not production)")
        engine = get_engine()
        init_schema(engine)
        with Session(engine) as session:
            res = session.get(Resource, args.resource)
            if res is None:
                raise CliError(f"目录中没有资源 / no catalog resource {args.resource}")
            names = {d.code: d.name_zh for d in session.exec(select(Department)).all()}
            directory = read_directory(session)
        submitted = datetime.now(UTC) - timedelta(days=args.days_ago)
        case_id = f"SA-{submitted:%Y%m%d}-DEMO{uuid.uuid4().hex[:2].upper()}"
        inp = case_service.new_case_input(
            registry.SHARING_APPLICATION,
            case_id=case_id,
            profile_id=args.profile or settings.default_profile,
            submitted_at=submitted,
            submitted_by=Actor(args.consumer, "consumer", "demo"),
            platform_department=settings.platform_department,
            department_names=names,
            directory=directory,
            fields={
                "consumer_department": args.consumer,
                "resource": case_service.resource_snapshot(res),
                "purpose": "演示:超期申请",
                "reason": "演示逐级上报",
            },
        )

        async def go() -> int:
            client = await connect_client(settings)
            await case_service.start_case(client, settings.task_queue, registry.SHARING_APPLICATION, inp)
            print(
                f"{case_id}  提交于 submitted {submitted:%Y-%m-%d}; "
                f"首个待办已超期 first task overdue → 逐级上报 escalation ES-{case_id}-T1"
            )
            return 0

        try:
            return asyncio.run(go())
        except case_service.CaseError as err:
            raise CliError(f"{err.detail_zh} / {err.detail_en}") from None

    return handle


# --------------------------------------------------------------------------------------------------
# govshare replan-deadlines / govshare replay
# --------------------------------------------------------------------------------------------------


@command("replan-deadlines", help="after adding a holiday notice: recompute open provisional deadlines")
def replan_command(parser: argparse.ArgumentParser) -> Handler:
    def handle(args: argparse.Namespace) -> int:
        import asyncio

        from govshare.core.db import get_engine
        from govshare.core.temporal_client import connect_client
        from govshare.ops.replan import replan_open_deadlines

        async def go() -> int:
            report = await replan_open_deadlines(await connect_client(), get_engine())
            print(
                f"checked {report.checked} case(s) with provisional deadlines; changed {len(report.changed)}"
            )
            for case_id in report.changed:
                print(f"  {case_id}")
            return 0

        return asyncio.run(go())

    return handle


@command("replay", help="replay workflow histories (files or live workflow ids) with the current code")
def replay_command(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument(
        "histories", nargs="*", help="history JSON files (as exported by the Temporal UI/CLI)"
    )
    parser.add_argument("--workflow-id", action="append", default=[], help="fetch this workflow's history")
    parser.add_argument(
        "--all", action="store_true", help="every case history the engine keeps, in parallel, with a summary"
    )
    parser.add_argument("--since", type=_iso_date, help="with --all: cases started on or after YYYY-MM-DD")
    parser.add_argument("--type", dest="case_type", help="with --all: only cases of this type")
    parser.add_argument("--concurrency", type=int, default=16, help="with --all: histories fetched at once")
    parser.add_argument(
        "--processes",
        type=int,
        help="with --all: replaying processes (default: one per core from 200 histories up, else 1)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="with --all: replay outside the workflow sandbox (about 1.6x the rate). Every command is "
        "still checked against the history; NOT checked: that the code calls nothing the sandbox "
        "forbids (datetime.now, random, I/O), and a workflow stuck in a loop hangs instead of failing",
    )

    def handle(args: argparse.Namespace) -> int:
        import asyncio
        from pathlib import Path

        from govshare.ops.replay import load_history_file, replay_history

        if args.all:
            return _replay_all(args)
        if not args.histories and not args.workflow_id:
            raise CliError("give history files, --workflow-id or --all")

        async def go() -> int:
            histories = []
            for name in args.histories:
                path = Path(name)
                if not path.is_file():
                    raise CliError(f"no such file: {name}")
                histories.append(load_history_file(path))
            if args.workflow_id:
                from govshare.core.temporal_client import connect_client

                client = await connect_client()
                for wid in args.workflow_id:
                    histories.append(await client.get_workflow_handle(wid).fetch_history())
            failed = 0
            for history in histories:
                failure = await replay_history(history)
                print(
                    f"{'FAIL' if failure else 'ok  '} {history.workflow_id}"
                    + (f": {failure}" if failure else "")
                )
                failed += failure is not None
            print(f"{len(histories) - failed} replayed, {failed} failed")
            return 1 if failed else 0

        return asyncio.run(go())

    return handle


def _iso_date(text: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text}") from None


def _replay_all(args: argparse.Namespace) -> int:
    """``govshare replay --all``: every kept history replayed, with progress and a summary."""
    import asyncio

    from govshare.core.temporal_client import connect_client
    from govshare.ops.audit_history import Progress, replay_all

    async def go() -> int:
        client = await connect_client()
        bar = Progress("replay")
        summary = await replay_all(
            client,
            case_type=args.case_type,
            since=args.since,
            concurrency=args.concurrency,
            progress=bar.step,
            processes=args.processes,
            fast=args.fast,
        )
        bar.close()
        for workflow_id, failure in summary.failed:
            print(f"FAIL {workflow_id}: {_one_line(failure)}")
        print(
            f"{summary.replayed} replayed, {len(summary.failed)} failed in {summary.seconds:.1f} s "
            f"({summary.rate:.0f} histories/s, {summary.processes} process(es)"
            f"{', outside the sandbox' if summary.fast else ''})"
        )
        return 1 if summary.failed else 0

    return asyncio.run(go())


# Commands that live in modules of their own register themselves when imported.
from govshare.ops import audit_cli, statistics_cli, users_cli  # noqa: E402,F401

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
