"""``govshare departments|users|tokens``: the people who sign in and the tokens issued to them.

Read and written on ``DATABASE_URL`` (brought to the newest schema first, as every start does) through
``govshare.core.users``. A password never goes on the command line (it would stay in the shell's
history and in the process list): it is typed at a prompt (twice) or read from the first line of
standard input (``--password-stdin``). A token is printed once, when it is issued — only its keyed
digest (HMAC-SHA256 under ``TOKEN_HASH_KEY``) is stored, so nobody can show it again::

    govshare departments create fgw --name-zh 市发展和改革委员会 --name-en "Development and Reform Commission"
    govshare users create zhangwei --name 张伟 --department rsj --role consumer --password-prompt
    printf '%s\\n' "$PW" | govshare users passwd zhangwei --password-stdin
    govshare users roles zhangwei --role consumer --role provider
    govshare users disable zhangwei
    TOKEN=$(govshare tokens issue zhangwei --role consumer --days 30 --label 夜间同步)
    govshare tokens list --user zhangwei
    govshare tokens revoke 42

Exit codes as everywhere: 0 done; 2 refused input (an unknown user, a short password …); 1 the
database unavailable. Lists take ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from govshare.ops.cli import CliError, Handler, _directory_session, _Parser, _width, command

_SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Where the command's output goes: the standard output the handler was called with. While a handler
#: runs, ``sys.stdout`` is standard error, so log lines (structlog prints to stdout until the logging is
#: configured; e.g. "schema migrated", "token_issued") never mix with what a script reads
#: (``TOKEN=$(govshare tokens issue …)``, ``--json``).
_outputs: list[TextIO] = []


def _echo(text: str = "") -> None:
    print(text, file=_outputs[-1] if _outputs else sys.stdout)


def _echo_json(value: Any) -> None:
    _echo(json.dumps(value, ensure_ascii=False, indent=2))


def _output_kept_apart(handler: Handler) -> Handler:
    def handle(args: argparse.Namespace) -> int:
        _outputs.append(sys.stdout)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return handler(args)
        finally:
            _outputs.pop()

    return handle


def _local(moment: datetime | None) -> str:
    """A moment as people here read it: Asia/Shanghai, to the minute ("—" for none)."""
    if moment is None:
        return "—"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(_SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns aligned on the terminal (a Chinese character takes two), the last one left ragged."""
    widths = [max(_width(h), *(_width(r[i]) for r in rows)) for i, h in enumerate(headers[:-1])]
    for line in [headers, *rows]:
        cells = [cell + " " * (width - _width(cell)) for cell, width in zip(line, widths, strict=False)]
        _echo("  ".join([*cells, line[-1]]).rstrip())


def _refused(err: ValueError) -> CliError:
    return CliError(str(err))


def _password_from(args: argparse.Namespace, *, required: bool) -> str | None:
    """The new password: the first line of stdin (``--password-stdin``), or typed twice at a prompt
    (``--password-prompt``, or when ``required`` and stdin is not given)."""
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise CliError("标准输入中没有密码 / no password on standard input (--password-stdin)")
        return password
    if getattr(args, "password_prompt", False) or required:
        try:
            first = getpass.getpass("新密码 new password: ")
            second = getpass.getpass("再次输入 again: ")
        except (EOFError, KeyboardInterrupt):
            raise CliError("未输入密码 / no password given") from None
        if first != second:
            raise CliError("两次输入的密码不一致 / the two passwords differ")
        return first
    return None


def _add_password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help="从标准输入第一行读取密码 / read the password from the first line of standard input",
    )
    group.add_argument(
        "--password-prompt",
        action="store_true",
        help="在提示符下输入密码(两次)/ type the password at a prompt, twice",
    )


# --------------------------------------------------------------------------------------------------
# govshare departments
# --------------------------------------------------------------------------------------------------


@command("departments", help="部门:新建、列出 / departments: create, list")
def departments_command(parser: argparse.ArgumentParser) -> Handler:
    parser.epilog = (
        "examples:\n"
        "  govshare departments create fgw --name-zh 市发展和改革委员会 --name-en 'Development and Reform'\n"
        "  govshare departments list --json"
    )
    sub = parser.add_subparsers(dest="departments_action", metavar="<action>", parser_class=_Parser)
    sub.required = True
    create = sub.add_parser("create", help="新建部门 / create a department")
    create.add_argument("code", metavar="CODE", help="部门代码:2–32 位小写字母或数字 / e.g. fgw")
    create.add_argument("--name-zh", required=True, help="中文名称 / Chinese name")
    create.add_argument("--name-en", default="", help="英文名称 / English name")
    listing = sub.add_parser("list", help="列出部门 / list the departments")
    listing.add_argument("--json", action="store_true", help="print JSON")

    def handle(args: argparse.Namespace) -> int:
        from govshare.core import users

        with _directory_session() as session:
            if args.departments_action == "create":
                try:
                    department = users.create_department(session, args.code, args.name_zh, args.name_en)
                except users.UserError as err:
                    raise _refused(err) from None
                _echo(
                    f"已新建部门 department created: {department.code} {department.name_zh}"
                    + (f" / {department.name_en}" if department.name_en else "")
                )
                return 0
            departments = users.list_departments(session)
            counts: dict[str, int] = {}
            for user in users.list_users(session):
                if user.department_code:
                    counts[user.department_code] = counts.get(user.department_code, 0) + 1
        if args.json:
            _echo_json(
                [
                    {
                        "code": d.code,
                        "name_zh": d.name_zh,
                        "name_en": d.name_en,
                        "users": counts.get(d.code, 0),
                        "created_at": _iso(d.created_at),
                    }
                    for d in departments
                ]
            )
            return 0
        if not departments:
            _echo("没有部门 / no departments")
            return 0
        _table(
            ("代码 code", "用户 users", "名称 name"),
            [
                (
                    d.code,
                    str(counts.get(d.code, 0)),
                    d.name_zh + (f" / {d.name_en}" if d.name_en else ""),
                )
                for d in departments
            ],
        )
        return 0

    return _output_kept_apart(handle)


# --------------------------------------------------------------------------------------------------
# govshare users
# --------------------------------------------------------------------------------------------------


def _user_dict(user: Any) -> dict[str, Any]:
    """What lists show of a user: never its password hash."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "department": user.department_code,
        "roles": list(user.roles),
        "person_id": user.person_id,
        "has_password": bool(user.password_hash),
        "oidc": user.oidc_subject is not None,
        "disabled": user.disabled_at is not None,
        "created_at": _iso(user.created_at),
        "password_changed_at": _iso(user.password_changed_at),
        "disabled_at": _iso(user.disabled_at),
    }


def _describe(user: Any) -> str:
    where = user.department_code or "无部门 no department"
    state = "  已停用 disabled" if user.disabled_at is not None else ""
    return f"{user.username} {user.display_name} ({where}; {', '.join(user.roles)}){state}"


@command("users", help="用户:新建、列出、改密码、停用/启用、角色 / users who sign in")
def users_command(parser: argparse.ArgumentParser) -> Handler:
    parser.epilog = (
        "examples:\n"
        "  govshare users create zhangwei --name 张伟 --department rsj --role consumer --password-prompt\n"
        "  govshare users create wangfang --name 王芳 --role citizen --password-stdin < pw.txt\n"
        "  govshare users list --department rsj\n"
        "  govshare users passwd zhangwei              (asks twice; or --password-stdin)\n"
        "  govshare users disable zhangwei\n"
        "  govshare users roles zhangwei --role consumer --role provider\n"
        "\n"
        "A user of a department holds one or more of its roles (consumer, provider, platform,\n"
        "leading_group, coordinator, government_office, auditor, principal_head); a user without\n"
        "department (a citizen, a company) holds citizen only. Passwords: at least 10 characters,\n"
        "never on the command line."
    )
    sub = parser.add_subparsers(dest="users_action", metavar="<action>", parser_class=_Parser)
    sub.required = True

    create = sub.add_parser("create", help="新建用户 / create a user")
    create.add_argument("username", metavar="USERNAME", help="登录名 / e.g. zhangwei (lowercase)")
    create.add_argument("--name", required=True, help="姓名(显示名)/ display name, e.g. 张伟")
    create.add_argument("--department", help="所属部门代码 / department code (none: a citizen)")
    create.add_argument(
        "--role", action="append", required=True, metavar="ROLE", help="角色,可重复 / role (repeatable)"
    )
    create.add_argument(
        "--kind",
        default="person",
        choices=("person", "legal_person", "organisation"),
        help="无部门用户的当事人类别 / for a user without department: who it is (default person)",
    )
    create.add_argument(
        "--person-id",
        metavar="P-…",
        help="关联已有身份 / link an existing party identity instead of creating one",
    )
    _add_password_options(create)

    listing = sub.add_parser("list", help="列出用户 / list the users")
    listing.add_argument("--department", help="仅此部门 / only this department's")
    listing.add_argument("--json", action="store_true", help="print JSON")

    passwd = sub.add_parser("passwd", help="设置新密码 / set a new password (signs the user out)")
    passwd.add_argument("username", metavar="USERNAME")
    passwd.add_argument(
        "--password-stdin",
        action="store_true",
        help="从标准输入第一行读取密码 / read it from the first line of standard input",
    )

    for action, text in (
        ("disable", "停用用户(其令牌随之失效)/ disable a user: no sign-in, its tokens refused"),
        ("enable", "启用用户 / enable a disabled user again"),
    ):
        sub.add_parser(action, help=text).add_argument("username", metavar="USERNAME")

    roles = sub.add_parser(
        "roles", help="设置用户的角色(替换原有角色)/ set a user's roles (replacing its roles)"
    )
    roles.add_argument("username", metavar="USERNAME")
    roles.add_argument(
        "--role", action="append", required=True, metavar="ROLE", help="角色,可重复 / role (repeatable)"
    )

    def handle(args: argparse.Namespace) -> int:
        from govshare.core import users

        action = args.users_action
        # The password is read before the database is opened: a prompt does not hold a connection.
        password = None
        if action == "create":
            password = _password_from(args, required=False)
        elif action == "passwd":
            password = _password_from(args, required=True)
        if password is not None:
            try:
                users.check_new_password(password)
            except users.UserError as err:
                raise _refused(err) from None
        with _directory_session() as session:
            try:
                if action == "create":
                    user = users.create_user(
                        session,
                        username=args.username,
                        display_name=args.name,
                        department=args.department,
                        roles=args.role,
                        password=password,
                        kind=args.kind,
                        person_id=args.person_id,
                    )
                    _echo(f"已新建用户 user created: {_describe(user)}")
                    if password is None:
                        _echo(
                            "未设置密码,尚不能用密码登录 / no password yet: set one with "
                            f"'govshare users passwd {user.username}'"
                        )
                elif action == "list":
                    return _users_list(session, args)
                elif action == "passwd":
                    assert password is not None
                    user = users.set_password(session, args.username, password)
                    _echo(f"已设置新密码 password set: {user.username} (已登出其浏览器 / signed out)")
                elif action == "disable":
                    user = users.disable_user(session, args.username)
                    _echo(f"已停用 disabled: {_describe(user)};其令牌不再可用 / its tokens are refused")
                elif action == "enable":
                    user = users.enable_user(session, args.username)
                    _echo(f"已启用 enabled: {_describe(user)}")
                else:
                    user = users.set_roles(session, args.username, args.role)
                    _echo(f"已设置角色 roles set: {_describe(user)}")
            except users.UserError as err:
                raise _refused(err) from None
        return 0

    return _output_kept_apart(handle)


def _users_list(session: Any, args: argparse.Namespace) -> int:
    from govshare.core import users

    rows = users.list_users(session, department=args.department)
    if args.json:
        _echo_json([_user_dict(u) for u in rows])
        return 0
    if not rows:
        _echo("没有用户 / no users")
        return 0
    _table(
        ("用户名 username", "部门 department", "状态 state", "密码 password", "角色 roles", "姓名 name"),
        [
            (
                u.username,
                u.department_code or "—",
                "停用 disabled" if u.disabled_at is not None else "正常 active",
                "有 yes" if u.password_hash else "无 no",
                ",".join(u.roles),
                u.display_name,
            )
            for u in rows
        ],
    )
    return 0


# --------------------------------------------------------------------------------------------------
# govshare tokens
# --------------------------------------------------------------------------------------------------


def _token_id(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a token id (a number: see govshare tokens list)")
    return value


def _days(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of days") from None


_STATES = {"active": "有效 active", "expired": "过期 expired", "revoked": "吊销 revoked"}


@command("tokens", help="访问令牌:签发、列出、吊销 / bearer tokens of users: issue, list, revoke")
def tokens_command(parser: argparse.ArgumentParser) -> Handler:
    parser.epilog = (
        "examples:\n"
        "  TOKEN=$(govshare tokens issue zhangwei --role consumer --days 30 --label 夜间同步)\n"
        "  govshare tokens list --user zhangwei\n"
        "  govshare tokens revoke 42\n"
        "\n"
        "The token is printed once (standard output; its details on standard error): only its keyed\n"
        "digest (HMAC-SHA256 under TOKEN_HASH_KEY) is stored. It acts as the user in one of its roles\n"
        "until it expires (1–366 days), is revoked, or the user is disabled."
    )
    sub = parser.add_subparsers(dest="tokens_action", metavar="<action>", parser_class=_Parser)
    sub.required = True

    issue = sub.add_parser("issue", help="为用户签发令牌 / issue a token to a user")
    issue.add_argument("username", metavar="USERNAME")
    issue.add_argument("--role", required=True, metavar="ROLE", help="令牌的角色 / the role it acts in")
    issue.add_argument("--days", type=_days, default=90, help="有效天数 / valid this many days (1–366, 90)")
    issue.add_argument("--label", default="", help="用途说明 / what it is for")
    issue.add_argument("--json", action="store_true", help="print one JSON object (with the token)")

    listing = sub.add_parser("list", help="列出令牌(不显示令牌本身)/ list tokens (never the token)")
    listing.add_argument("--user", metavar="USERNAME", help="仅此用户的 / only this user's")
    listing.add_argument("--json", action="store_true", help="print JSON")

    revoke = sub.add_parser("revoke", help="吊销令牌 / revoke a token")
    revoke.add_argument("token_id", metavar="ID", type=_token_id, help="编号,见 tokens list / its id")

    def handle(args: argparse.Namespace) -> int:
        from govshare.core import users

        with _directory_session() as session:
            try:
                if args.tokens_action == "issue":
                    token, credential = users.issue_token(
                        session, username=args.username, role=args.role, days=args.days, label=args.label
                    )
                    info = users.list_tokens(session, args.username)
                    issued = next(t for t in info if t.id == credential.id)
                    if args.json:
                        _echo_json({"token": token, **issued.to_dict()})
                        return 0
                    _echo(token)
                    print(
                        f"令牌仅显示这一次,请妥善保存 / the token is shown this once: keep it safe\n"
                        f"编号 id {issued.id} · 用户 user {issued.username} · 角色 role {issued.role} · "
                        f"有效至 expires {_local(issued.expires_at)} (Asia/Shanghai)",
                        file=sys.stderr,
                    )
                    return 0
                if args.tokens_action == "list":
                    return _tokens_list(session, args)
                if users.revoke_token(session, args.token_id):
                    _echo(f"已吊销令牌 token revoked: {args.token_id}")
                else:
                    _echo(f"令牌早已吊销 token {args.token_id} was revoked already")
                return 0
            except users.UserError as err:
                raise _refused(err) from None

    return _output_kept_apart(handle)


def _tokens_list(session: Any, args: argparse.Namespace) -> int:
    from govshare.core import users

    rows = users.list_tokens(session, args.user)
    if args.json:
        _echo_json([t.to_dict() for t in rows])
        return 0
    if not rows:
        _echo("没有令牌 / no tokens")
        return 0
    _table(
        (
            "编号 id",
            "用户 user",
            "部门 department",
            "角色 role",
            "状态 state",
            "签发 created",
            "到期 expires",
            "说明 label",
        ),
        [
            (
                str(t.id),
                t.username or "—",
                t.department or "—",
                t.role,
                _STATES[t.state()],
                _local(t.created_at),
                _local(t.expires_at),
                t.label,
            )
            for t in rows
        ],
    )
    return 0
