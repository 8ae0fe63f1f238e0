"""Start-up brings an older database up to the models: new tables, new columns with defaults."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from govshare.db import init_schema, make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("postgres").create_database(
        f"govshare_evolve_{tmp_path.name[-8:].lower()}"
    )


def test_missing_columns_and_tables_are_added(fresh_url):
    engine = make_engine(fresh_url)
    init_schema(engine)
    # Make it look like a database written by an older release.
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE task DROP COLUMN provisional"))
        conn.execute(text('ALTER TABLE "case" DROP COLUMN next_due_at'))
        conn.execute(text("DROP TABLE idempotencykey"))
    assert "provisional" not in {c["name"] for c in inspect(engine).get_columns("task")}

    init_schema(engine)

    inspector = inspect(engine)
    assert "provisional" in {c["name"] for c in inspector.get_columns("task")}
    assert "next_due_at" in {c["name"] for c in inspector.get_columns("case")}
    assert inspector.has_table("idempotencykey")
    init_schema(engine)  # idempotent
    engine.dispose()
