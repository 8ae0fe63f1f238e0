"""Catalog register: entry fields, versions, search index, data refreshes

``resource`` gets the rest of a catalog entry (description, classification, kind, format, update
period, usage requirements, open type, basic items), its status and publication instants, and its
data-refresh clock (``last_refreshed_at``, ``next_refresh_due``). New tables: ``resource_version``
(every published version, immutable), ``resource_term`` (the search index; WITHOUT ROWID on SQLite)
and ``resource_refresh`` (a provider's record of a data refresh).

Data step: every entry without a version row (all of them, on a database from before this
revision) is published as it stands: version row of its current version (change ``new``, published
by its provider at its ``created_at``, no case), ``published_at``/``updated_at`` = ``created_at``,
its search terms; the demo seed's two basic resources (population, legal entities) become kind
``basic`` with every field a basic item (they are unconditional), the rest ``departmental``. Entries
that have a version row are left alone, so it can run twice and on a database that ``create_all``
made.

The terms are written by a copy of ``govshare.core.catalog.terms_of`` as it was at this revision
(``tests/test_catalog_register.py`` checks they agree); changing how terms are made needs a revision
that rebuilds ``resource_term``.

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-12
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from alembic import context, op

from govshare.core.migrations import guards

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = structlog.get_logger("govshare.core.migrations")

#: Rows read per round of the data step.
BATCH = 500
#: The demo seed's basic resources (基础信息资源: population, legal entities — Hubei 8(2)).
DEMO_BASIC = ("gaj-population-basic", "scjgj-legal-entity-basic")
#: A constant for the NOT NULL instants of existing rows; the data step sets them to created_at.
EPOCH = "2000-01-01 00:00:00"


def upgrade() -> None:
    for column in (
        sa.Column("description", sa.String(), nullable=False, server_default=""),
        sa.Column("classification", sa.String(), nullable=False, server_default=""),
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="departmental"),
        sa.Column("format", sa.String(), nullable=False, server_default=""),
        sa.Column("update_period", sa.String(length=16), nullable=False, server_default="none"),
        sa.Column("usage_requirements", sa.String(), nullable=False, server_default=""),
        sa.Column("open_type", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("basic_items", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="published"),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, server_default=EPOCH),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=EPOCH),
        sa.Column("last_refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_refresh_due", sa.DateTime(timezone=True), nullable=True),
    ):
        guards.add_column("resource", column)
    guards.create_index("resource", "ix_resource_next_refresh_due", ["next_refresh_due"])
    guards.create_index("resource", "ix_resource_status_id", ["status", "id"])
    guards.create_index(
        "resource", "ix_resource_department_status_id", ["provider_department", "status", "id"]
    )
    guards.create_index("resource", "ix_resource_status_share_type", ["status", "share_type", "id"])
    guards.create_index("resource", "ix_resource_status_kind", ["status", "kind", "id"])

    guards.create_table(
        "resource_version",
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["resource_id"], ["resource.id"]),
        sa.PrimaryKeyConstraint("resource_id", "version"),
    )
    if not guards.has_table("resource_term"):
        # Not guards.create_table: it passes no table options, and on SQLite this table is its
        # primary key (WITHOUT ROWID: one B-tree fewer for the largest table of the database).
        op.create_table(
            "resource_term",
            sa.Column("term", sa.String(length=32), nullable=False),
            sa.Column("resource_id", sa.String(length=64), nullable=False),
            sa.Column("tier", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("term", "resource_id"),
            sqlite_with_rowid=False,
        )
    guards.create_index("resource_term", "ix_resource_term_term", ["term", "tier", "resource_id"])
    if op.get_context().dialect.name == "postgresql":
        # The planner orders a search's joins by how common each term is: let it know the 1,000
        # most common terms (the default 100 leaves most of the expensive ones out).
        op.execute("ALTER TABLE resource_term ALTER COLUMN term SET STATISTICS 1000")
    guards.create_table(
        "resource_refresh",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["resource_id"], ["resource.id"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=[("ix_resource_refresh_resource_id", ["resource_id"], False)],
    )

    if context.is_offline_mode():
        op.execute("-- 0005: publish existing resources as they stand (online only: no --sql)")
    else:
        published = publish_existing(op.get_bind())
        if published:
            log.info("catalog entries published", entries=published)


# -- the data step ---------------------------------------------------------------------------------

ENTRY_FIELDS = (
    "id",
    "name_zh",
    "name_en",
    "provider_department",
    "description",
    "classification",
    "kind",
    "fields",
    "basic_items",
    "format",
    "update_period",
    "share_type",
    "controlled_parameters",
    "sharing_modes",
    "usage_requirements",
    "open_type",
    "legal_basis",
)
_LISTS = ("fields", "basic_items", "sharing_modes")

_resource = sa.table(
    "resource",
    sa.column("id", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("name_zh", sa.String()),
    sa.column("name_en", sa.String()),
    sa.column("provider_department", sa.String()),
    sa.column("description", sa.String()),
    sa.column("classification", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("fields", sa.JSON()),
    sa.column("basic_items", sa.JSON()),
    sa.column("format", sa.String()),
    sa.column("update_period", sa.String()),
    sa.column("share_type", sa.String()),
    sa.column("controlled_parameters", sa.Boolean()),
    sa.column("sharing_modes", sa.JSON()),
    sa.column("usage_requirements", sa.String()),
    sa.column("open_type", sa.String()),
    sa.column("legal_basis", sa.String()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_version = sa.table(
    "resource_version",
    sa.column("resource_id", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("data", sa.JSON()),
    sa.column("change", sa.String()),
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("published_by", sa.String()),
    sa.column("case_id", sa.String()),
)
_term = sa.table(
    "resource_term",
    sa.column("term", sa.String()),
    sa.column("resource_id", sa.String()),
    sa.column("tier", sa.Integer()),
)


def publish_existing(conn: sa.Connection) -> int:
    """Publish, as they stand, the entries that have no version row; returns how many."""
    done = 0
    after = ""
    unversioned = ~sa.exists().where(_version.c.resource_id == _resource.c.id)
    while True:
        rows = conn.execute(
            sa.select(_resource)
            .where(_resource.c.id > after, unversioned)
            .order_by(_resource.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        versions: list[dict[str, Any]] = []
        terms: list[dict[str, Any]] = []
        for row in rows:
            entry = {name: getattr(row, name) for name in ENTRY_FIELDS}
            for name in _LISTS:
                entry[name] = list(entry[name] or [])
            entry["controlled_parameters"] = bool(entry["controlled_parameters"])
            if row.id in DEMO_BASIC and row.kind == "departmental" and row.share_type == "unconditional":
                entry["kind"] = "basic"
                entry["basic_items"] = list(entry["fields"])
            conn.execute(
                _resource.update()
                .where(_resource.c.id == row.id)
                .values(
                    kind=entry["kind"],
                    basic_items=entry["basic_items"],
                    published_at=row.created_at,
                    updated_at=row.created_at,
                )
            )
            versions.append(
                {
                    "resource_id": row.id,
                    "version": row.version,
                    "data": entry,
                    "change": "new",
                    "published_at": row.created_at,
                    "published_by": row.provider_department,
                    "case_id": "",
                }
            )
            withdrawn = row.status == "withdrawn"
            terms.extend(
                {"term": term, "resource_id": row.id, "tier": tier}
                for term, tier in terms_of(entry, withdrawn=withdrawn).items()
            )
        conn.execute(_version.insert(), versions)
        if terms:
            conn.execute(_term.insert(), terms)
        done += len(rows)
    return done


# A copy of govshare.core.catalog's term making at this revision (see the module docstring).
_CJK = (
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0002ebef\U00030000-\U0003134f"
)
_RUNS = re.compile(f"([{_CJK}]+)|([^\\W_{_CJK}]+)")
MAX_PREFIX = 20


def _text_terms(text: str) -> set[str]:
    terms: set[str] = set()
    for match in _RUNS.finditer(unicodedata.normalize("NFKC", text).lower()):
        if match.group(1):
            run = match.group(1)
            terms.update(run)
            terms.update(run[i : i + 2] for i in range(len(run) - 1))
        else:
            run = match.group(2)
            terms.update(run[:n] for n in range(1, min(len(run), MAX_PREFIX) + 1))
    return terms


def terms_of(entry: Mapping[str, Any], *, withdrawn: bool = False) -> dict[str, int]:
    name = _text_terms(" ".join(str(entry.get(k) or "") for k in ("name_zh", "name_en", "id")))
    other = _text_terms(" ".join(str(entry.get(k) or "") for k in ("description", "classification")))
    if withdrawn:
        return dict.fromkeys(name | other, 2)
    return {**dict.fromkeys(other - name, 1), **dict.fromkeys(name, 0)}


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
