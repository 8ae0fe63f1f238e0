"""Opening a new SQLite database from several places at once (the API and the workers start
together): switching the file to WAL must not fail with "database is locked"."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from govshare.core.db import make_engine


def test_many_first_connections_to_a_new_file_all_open_it_in_wal(tmp_path: Path) -> None:
    failures: list[BaseException] = []
    modes: list[str] = []
    for round_ in range(60):
        url = f"sqlite:///{tmp_path}/r{round_}.db"
        start = time.time() + 0.03
        engines = [make_engine(url) for _ in range(6)]

        def open_it(engine, start: float) -> None:
            while time.time() < start:  # all at the same instant
                pass
            try:
                with engine.connect() as conn:
                    modes.append(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
            except BaseException as exc:  # collected, asserted below
                failures.append(exc)

        threads = [threading.Thread(target=open_it, args=(e, start)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for e in engines:
            e.dispose()
    assert failures == []
    assert set(modes) == {"wal"} and len(modes) == 60 * 6
