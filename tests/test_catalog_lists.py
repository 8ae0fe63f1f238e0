"""The lists compiled with the catalog (``govshare.core.catalog_lists``): the responsibility list kept
from published versions, its fulfilment figure (Luoyang 13), the demand list (Luoyang 12) — and the
demo seed's realistic catalog, valid under the profiles' rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from govshare.core import catalog, catalog_lists
from govshare.core.catalog_lists import DemandError
from govshare.core.db import init_schema, make_engine
from govshare.core.models import Department, Resource, ResponsibilityItem
from govshare.core.seed import CATALOG, DEMANDS, RESOURCES, seed_demo
from regulations import load_profile
from regulations.catalog_rules import KINDS, SHARE_TYPES, SHARING_MODES, UPDATE_PERIODS, check_entry

NOW = datetime(2026, 9, 1, 9, 30, tzinfo=UTC)


def entry(resource_id: str, department: str = "d1", **overrides: Any) -> dict[str, Any]:
    return {
        "id": resource_id,
        "name_zh": "人口基础信息",
        "provider_department": department,
        "fields": ["name", "citizen_id"],
        "share_type": "unconditional",
        "sharing_modes": ["online_query"],
        "update_period": "daily",
        **overrides,
    }


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'lists.db'}")
    init_schema(engine)
    with Session(engine) as session:
        for code in ("d1", "d2", "bdb"):
            session.add(Department(code=code, name_zh=f"部门{code}", created_at=NOW))
        session.commit()
    yield engine
    engine.dispose()


def open_items(session: Session, department: str) -> list[str]:
    rows = session.exec(
        select(ResponsibilityItem).where(
            ResponsibilityItem.department == department,
            ResponsibilityItem.removed_at.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    return sorted(row.resource_id for row in rows)


def publish(session: Session, drafts: list[dict[str, Any]], *, case_id: str = "", now: datetime = NOW):
    versions = catalog.publish(session, drafts, department="d1", case_id=case_id, now=now)
    catalog_lists.sync_responsibilities(session, "d1", versions, now)
    return versions


# ==================================================================================================
# Responsibility list (责任清单, Luoyang 13–14)
# ==================================================================================================


def test_sync_adds_new_entries_and_closes_withdrawn_ones(engine: Engine) -> None:
    with Session(engine) as session:
        publish(session, [entry("a"), entry("b")], case_id="case-1")
        assert open_items(session, "d1") == ["a", "b"]
        item = session.exec(select(ResponsibilityItem).where(ResponsibilityItem.resource_id == "a")).one()
        assert (item.case_id, item.added_at.replace(tzinfo=UTC), item.removed_at) == ("case-1", NOW, None)

        # A changed entry stays on the list once; a new one joins it.
        later = NOW + timedelta(days=1)
        publish(session, [entry("a", fields=["name"]), entry("c")], now=later)
        assert open_items(session, "d1") == ["a", "b", "c"]
        assert len(session.exec(select(ResponsibilityItem)).all()) == 3

        # A withdrawn entry leaves the list; its item is closed, not deleted.
        publish(session, [{"id": "b", "change": "withdrawn"}], case_id="case-2", now=later)
        assert open_items(session, "d1") == ["a", "c"]
        closed = session.exec(select(ResponsibilityItem).where(ResponsibilityItem.resource_id == "b")).one()
        assert closed.removed_at is not None and closed.removed_at.replace(tzinfo=UTC) == later

        # Published again, it is back on the list with a new item.
        publish(session, [entry("b")], now=later)
        assert open_items(session, "d1") == ["a", "b", "c"]
        assert len(session.exec(select(ResponsibilityItem)).all()) == 4
        session.commit()  # the helper never committed: the caller does


def test_sync_is_idempotent_and_follows_the_provider(engine: Engine) -> None:
    with Session(engine) as session:
        versions = publish(session, [entry("a")])
        assert catalog_lists.sync_responsibilities(session, "d1", versions, NOW) == []
        assert catalog_lists.sync_responsibilities(session, "d1", [], NOW) == []
        assert open_items(session, "d1") == ["a"]
        # The entry moves to another department: it leaves d1's list and joins d2's.
        publish(session, [entry("a", department="d2")])
        assert open_items(session, "d1") == [] and open_items(session, "d2") == ["a"]


def test_fulfilment_counts_published_entries_not_overdue(engine: Engine) -> None:
    with Session(engine) as session:
        publish(
            session,
            [
                entry("fresh"),  # daily: due NOW + 1 day
                entry("stale"),
                entry("no-period", update_period="none"),  # never due
                entry("gone"),
            ],
        )
        session.get(Resource, "stale").next_refresh_due = NOW - timedelta(hours=1)  # type: ignore[union-attr]
        # Withdrawn without its item closed (not synced): on the list, not fulfilled.
        catalog.publish(session, [{"id": "gone", "change": "withdrawn"}], department="d1", now=NOW)
        session.commit()

        entries, figure = catalog_lists.responsibility_list(session, "d1", NOW)
        assert {e.item.resource_id: e.fulfilled for e in entries} == {
            "fresh": True,
            "gone": False,
            "no-period": True,
            "stale": False,
        }
        assert (figure.count, figure.fulfilled, figure.ratio) == (4, 2, 0.5)
        # A day later the daily entry is overdue too.
        _, later = catalog_lists.responsibility_list(session, "d1", NOW + timedelta(days=2))
        assert (later.fulfilled, later.ratio) == (1, 0.25)

        overview = catalog_lists.fulfilment_by_department(session, NOW)
        assert [(f.department, f.count, f.fulfilled) for f in overview] == [("d1", 4, 2)]
        _, empty = catalog_lists.responsibility_list(session, "d2", NOW)
        assert (empty.count, empty.fulfilled, empty.ratio) == (0, 0, None)


# ==================================================================================================
# Demand list (需求清单, Luoyang 12)
# ==================================================================================================


def test_demands_open_answered_withdrawn(engine: Engine) -> None:
    with Session(engine) as session:
        publish(session, [entry("a"), entry("b")])
        catalog.publish(session, [{"id": "b", "change": "withdrawn"}], department="d1", now=NOW)
        one = catalog_lists.create_demand(session, department="d2", title="人口信息", now=NOW)
        two = catalog_lists.create_demand(
            session, department="d2", title="户籍", provider_department="d1", now=NOW
        )
        assert one.id and two.id and one.status == "open"
        for resource_id in ("b", "missing"):
            with pytest.raises(DemandError) as err:
                catalog_lists.answer_demand(
                    session, one.id, resource_id=resource_id, reviewed_by="bdb", now=NOW
                )
            assert err.value.kind == "invalid"
        answered = catalog_lists.answer_demand(session, one.id, resource_id="a", reviewed_by="bdb", now=NOW)
        assert (answered.status, answered.answered_by_resource, answered.reviewed_by) == (
            "answered",
            "a",
            "bdb",
        )
        with pytest.raises(DemandError) as err:
            catalog_lists.answer_demand(session, one.id, resource_id="a", reviewed_by="bdb", now=NOW)
        assert err.value.kind == "conflict"
        with pytest.raises(DemandError) as err:
            catalog_lists.withdraw_demand(session, two.id, department="d1", now=NOW)
        assert err.value.kind == "forbidden"
        with pytest.raises(DemandError) as err:
            catalog_lists.withdraw_demand(session, 999, department="d2", now=NOW)
        assert err.value.kind == "not_found"

        # d1 sees the demand addressed to it; d2 both of its own.
        assert [d.id for d in catalog_lists.visible_demands(session, viewer="d1")[0]] == [two.id]
        assert catalog_lists.visible_demands(session, viewer="d2")[1] == 2
        summary = catalog_lists.demand_summary(session)
        assert [(c.department, c.open, c.answered) for c in summary] == [("d2", 1, 1)]
        catalog_lists.withdraw_demand(session, two.id, department="d2", now=NOW)
        assert catalog_lists.visible_demands(session, viewer=None, status="open")[1] == 0


# ==================================================================================================
# The demo seed: a realistic catalog
# ==================================================================================================


def test_seed_catalog_is_realistic_and_valid(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'seed.db'}")
    init_schema(engine)
    seed_demo(engine)
    with Session(engine) as session:
        rows = session.exec(select(Resource)).all()
        assert len(rows) == len(RESOURCES) + len(CATALOG) and 40 <= len(rows) <= 60
        entries = [catalog.entry_data(row) for row in rows]
        for profile_id in ("hubei", "luzhou"):
            profile = load_profile(profile_id)
            broken = {e["id"]: check_entry(profile, e) for e in entries if check_entry(profile, e)}
            assert broken == {}, (profile_id, broken)
        assert {e["share_type"] for e in entries} == set(SHARE_TYPES)
        assert {m for e in entries for m in e["sharing_modes"]} == set(SHARING_MODES)
        assert {e["kind"] for e in entries} == set(KINDS)
        assert {e["update_period"] for e in entries} == set(UPDATE_PERIODS)
        assert all(e["legal_basis"] for e in entries if e["share_type"] == "not_shared")
        assert len({e["provider_department"] for e in entries}) >= 8

        # Searchable (adopted into the register), on the responsibility lists, demands open.
        found, total = catalog.search(session, "不动产")
        assert total >= 1 and "zrzyj-real-estate-registration" in [r.id for r in found]
        figures = catalog_lists.fulfilment_by_department(session, datetime.now(UTC))
        assert sum(f.count for f in figures) == len(rows)
        assert all(f.fulfilled == f.count for f in figures)
        summary = catalog_lists.demand_summary(session)
        assert sum(c.open for c in summary) == len(DEMANDS) and 2 <= len(DEMANDS) <= 3
    engine.dispose()
