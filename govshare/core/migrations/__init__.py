"""Schema migrations (Alembic), shipped inside the package and configured in code: no alembic.ini.

``govshare.core.db.init_schema`` runs ``upgrade head`` on every start (API, worker, launcher), under a
lock; ``python -m govshare.core.migrations …`` runs Alembic's commands by hand against ``DATABASE_URL``
(see README.md in this folder). Revisions live in ``versions/``, numbered ``0001``, ``0002``, ….
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Connection

#: The folder holding env.py, script.py.mako and versions/.
SCRIPT_LOCATION = Path(__file__).resolve().parent

#: The schema of commit 76b4170, the last release whose schema was made by ``create_all``.
BASELINE = "0001"


def alembic_config(*, url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for our migrations. With ``connection``, env.py runs on it (inside the
    caller's transaction and lock); else with ``url`` (or ``DATABASE_URL``) it makes its own engine."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # Revision files are named 0003_what_it_does.py (pass --rev-id 0003 to `revision`).
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config
