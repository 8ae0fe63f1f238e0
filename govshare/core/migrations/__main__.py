"""``python -m govshare.core.migrations <command> …``: Alembic's command line on our migrations, against
``DATABASE_URL`` (or ``--url``), with no alembic.ini.

``upgrade`` takes the same path as a start (``govshare.core.db.migrate``: the lock, the adoption of a
database made before migrations); ``upgrade --sql`` and every other command (``current``,
``history``, ``heads``, ``stamp``, ``check``, ``revision --autogenerate``, …) are Alembic's own.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from alembic import command
from alembic.config import CommandLine

from govshare.core.migrations import alembic_config


def main(argv: Sequence[str] | None = None) -> int:
    cli = CommandLine(prog="python -m govshare.core.migrations")
    cli.parser.add_argument("--url", help="database URL (default: DATABASE_URL / .env, as the app reads it)")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    from govshare.core.settings import get_settings

    url = options.url or get_settings().database_url
    fn = options.cmd[0]
    if fn is command.upgrade and not options.sql:
        from govshare.core.db import make_engine, migrate

        engine = make_engine(url)
        try:
            before, after = migrate(engine, options.revision)
        finally:
            engine.dispose()
        print(f"schema: {before or 'empty'} → {after}" if before != after else f"schema: at {after}")
        return 0
    config = alembic_config(url=url)
    config.cmd_opts = options
    cli.run_cmd(config, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
