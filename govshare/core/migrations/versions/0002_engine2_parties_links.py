"""Second-generation engine: parties, links, task detail; worker heartbeats

The case's workflow type and engine, per-task detail, parties (``case_party``) and links
(``case_link``); first-generation cases get their parties filled in. Also the workers' heartbeats
(``worker_heartbeat``, read by ``GET /healthz``).

Everything added since the baseline (76b4170). A database that ran this release's code before
migrations existed may already have some of it (``create_all`` made the new tables, the old
add-column code the new columns): each step skips what exists, and the party fill-in adds only the
rows that are missing, so running it there loses nothing and duplicates nothing.

New NOT NULL columns carry a server default so existing rows take the model's default (the models
declare none; the default only fills rows that predate the column).

Revision ID: 0002
Revises: 0001
Create Date: 2026-10-20
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from alembic import context, op

from govshare.core.migrations import guards

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = structlog.get_logger("govshare.core.migrations")

#: Rows read per round of the party fill-in.
BATCH = 500


def upgrade() -> None:
    guards.add_column("case", sa.Column("record_error", sa.String(), nullable=False, server_default=""))
    guards.add_column(
        "case",
        sa.Column("workflow_type", sa.String(length=64), nullable=False, server_default="SharingApplication"),
    )
    guards.add_column("case", sa.Column("engine", sa.Integer(), nullable=False, server_default=sa.text("1")))
    guards.add_column("case", sa.Column("subject_en", sa.String(), nullable=False, server_default=""))

    guards.add_column("task", sa.Column("group", sa.String(), nullable=False, server_default=""))
    guards.add_column("task", sa.Column("suspended", sa.Boolean(), nullable=False, server_default=sa.false()))
    guards.add_column("task", sa.Column("detail", sa.JSON(), nullable=True))

    guards.create_table(
        "case_party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "role", "department", "person", name="uq_case_party"),
        indexes=[
            ("ix_case_party_case_id", ["case_id"], False),
            ("ix_case_party_department", ["department", "case_id"], False),
        ],
    )
    guards.create_table(
        "case_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("linked_case_id", sa.String(length=128), nullable=False),
        sa.Column("linked_workflow_id", sa.String(length=200), nullable=False),
        sa.Column("case_type", sa.String(length=32), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason_zh", sa.String(), nullable=False),
        sa.Column("reason_en", sa.String(), nullable=False),
        sa.Column("wait", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("result", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "linked_case_id", "relation", name="uq_case_link"),
        indexes=[
            ("ix_case_link_case_id", ["case_id"], False),
            ("ix_case_link_linked_case_id", ["linked_case_id"], False),
        ],
    )

    guards.create_table(
        "worker_heartbeat",
        sa.Column("worker_id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("task_queue", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id"),
        indexes=[("ix_worker_heartbeat_task_queue", ["task_queue"], False)],
    )

    if context.is_offline_mode():
        op.execute(
            "-- 0002: fill case_party from case.detail.parties (online only: run upgrade without --sql)"
        )
    else:
        fill_first_generation_parties(op.get_bind())


_case = sa.table(
    "case",
    sa.column("id", sa.String()),
    sa.column("engine", sa.Integer()),
    sa.column("detail", sa.JSON()),
)
_party = sa.table(
    "case_party",
    sa.column("case_id", sa.String()),
    sa.column("role", sa.String()),
    sa.column("department", sa.String()),
    sa.column("person", sa.String()),
)


def fill_first_generation_parties(conn: sa.Connection) -> int:
    """One ``case_party`` row per ``role → department`` of each first-generation case (engine 1:
    ``detail`` is the whole CaseState, ``parties: {role: department}``). Second-generation cases
    write their own. Only missing rows are added; returns how many."""
    added = skipped = 0
    after = ""
    while True:
        rows = conn.execute(
            sa.select(_case.c.id, _case.c.detail)
            .where(_case.c.engine == 1, _case.c.id > after)
            .order_by(_case.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        present = {
            (r.case_id, r.role, r.department, r.person)
            for r in conn.execute(sa.select(_party).where(_party.c.case_id.in_([row.id for row in rows])))
        }
        wanted: list[dict[str, str]] = []
        for row in rows:
            parties, bad = _parties_of(row.detail)
            if bad:
                skipped += 1
                log.warning("case parties not filled", case_id=row.id, reason=bad)
            for role, department in parties:
                if (row.id, role, department, "") not in present:
                    wanted.append({"case_id": row.id, "role": role, "department": department, "person": ""})
        if wanted:
            conn.execute(sa.insert(_party), wanted)
            added += len(wanted)
    log.info("case parties filled", rows=added, cases_skipped=skipped)
    return added


def _parties_of(detail: Any) -> tuple[list[tuple[str, str]], str]:
    """The (role, department) pairs of a CaseState's ``parties``, and why any were left out."""
    if isinstance(detail, str):  # a driver that hands JSON back as text
        try:
            detail = json.loads(detail)
        except ValueError:
            return [], "detail is not JSON"
    parties = detail.get("parties") if isinstance(detail, dict) else None
    if not isinstance(parties, dict):
        return [], "detail has no parties mapping"
    pairs, bad = [], ""
    for role, department in parties.items():
        if isinstance(department, str) and department and 0 < len(role) <= 32 and len(department) <= 64:
            pairs.append((role, department))
        elif department:  # an empty department is a role not yet filled: nothing to write
            bad = f"party {role!r} → {department!r} does not fit case_party"
    return pairs, bad


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
