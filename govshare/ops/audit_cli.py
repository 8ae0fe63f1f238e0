"""``govshare audit <action>``: what an auditor runs (审计). Each action lives in a module of its own
and registers itself with :func:`action`; this module gathers them under one command.

The modules in :data:`ACTION_MODULES` are imported when the parser is built, so an action costs no
import until the command line is used.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from govshare.ops.cli import Handler, _Parser, command

#: The modules that define audit actions (each calls :func:`action` at import).
ACTION_MODULES: tuple[str, ...] = (
    "govshare.ops.audit_deadlines",
    "govshare.ops.audit_history",
    "govshare.ops.audit_verify",
)


@dataclass(frozen=True)
class _Action:
    name: str
    help: str
    setup: Callable[[argparse.ArgumentParser], Handler]


_ACTIONS: list[_Action] = []


def action(name: str, help: str) -> Callable[[Callable[[argparse.ArgumentParser], Handler]], Callable]:
    """Register ``govshare audit <name>``: the decorated function adds its arguments and returns its
    handler (as :func:`govshare.ops.cli.command` does for a command)."""

    def register(setup: Callable[[argparse.ArgumentParser], Handler]) -> Callable:
        if all(a.name != name for a in _ACTIONS):
            _ACTIONS.append(_Action(name, help, setup))
        return setup

    return register


@command("audit", help="审计 / what an auditor checks: the trail, deadlines, the record from history")
def audit_command(parser: argparse.ArgumentParser) -> Handler:
    for module in ACTION_MODULES:
        importlib.import_module(module)
    sub = parser.add_subparsers(dest="audit_action", metavar="<action>", parser_class=_Parser)
    sub.required = True
    for act in _ACTIONS:
        act_parser = sub.add_parser(
            act.name,
            help=act.help,
            description=act.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        act_parser.set_defaults(audit_handler=act.setup(act_parser))

    def handle(args: argparse.Namespace) -> int:
        return int(args.audit_handler(args) or 0)

    return handle
