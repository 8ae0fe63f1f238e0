"""The catalog register: the rules of an entry under each profile (``regulations.catalog_rules``),
publishing and versions, search, data refreshes, the CSV/JSON shape of a catalog
(``govshare.core.catalog``) and revision 0005's data step — on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from pg import SKIP_ENV, PostgresServer, PostgresUnavailable
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from govshare.core import catalog
from govshare.core.db import init_schema, make_engine
from govshare.core.migrations import alembic_config
from govshare.core.models import Department, Resource, ResourceTerm, ResourceVersion
from regulations import load_profile
from regulations.catalog_rules import (
    BASIC_ITEMS_ARTICLE,
    KINDS,
    OPEN_TYPES,
    SHARE_TYPES,
    SHARING_MODES,
    UPDATE_PERIODS,
    check_entry,
)

NOW = datetime(2026, 9, 1, 9, 30, tzinfo=UTC)
DATABASES = ["sqlite"] if os.environ.get(SKIP_ENV) == "1" else ["sqlite", "postgresql"]


def entry(**overrides: Any) -> dict[str, Any]:
    """A valid departmental, unconditional entry of ``gaj``."""
    base: dict[str, Any] = {
        "id": "gaj-population-basic",
        "name_zh": "人口基础信息",
        "name_en": "Population basic information",
        "provider_department": "gaj",
        "description": "全市户籍人口的基础信息",
        "classification": "综合政务/人口信息",
        "kind": "departmental",
        "fields": ["name", "citizen_id", "birth_date"],
        "basic_items": [],
        "format": "数据库表",
        "update_period": "daily",
        "share_type": "unconditional",
        "controlled_parameters": False,
        "sharing_modes": ["online_query"],
        "usage_requirements": "",
        "open_type": "",
        "legal_basis": "",
    }
    return {**base, **overrides}


def rules(profile_id: str, **overrides: Any) -> list[tuple[str, str, str]]:
    return [(v.field, v.rule, v.article) for v in check_entry(load_profile(profile_id), entry(**overrides))]


# ==================================================================================================
# Rules (pure)
# ==================================================================================================

PROFILES = ["hubei", "jiangsu", "luoyang", "luzhou", "yongcheng"]
#: The article each profile cites for a not_shared entry's legal basis (its share_types table).
NOT_SHARED_BASIS = {
    "hubei": "8(1)",
    "jiangsu": "11(1)",
    "luoyang": "25(1)",
    "luzhou": "5(1)",
    "yongcheng": "interpretation 3(3)",
}


@pytest.mark.parametrize("profile_id", PROFILES)
def test_a_valid_entry_breaks_no_rule(profile_id: str) -> None:
    assert rules(profile_id) == []
    assert (
        rules(profile_id, share_type="not_shared", sharing_modes=[], legal_basis="《保守国家秘密法》") == []
    )


@pytest.mark.parametrize("profile_id", PROFILES)
def test_not_shared_needs_a_legal_basis(profile_id: str) -> None:
    found = rules(profile_id, share_type="not_shared", sharing_modes=[], legal_basis="  ")
    assert found == [("legal_basis", "legal_basis_required", NOT_SHARED_BASIS[profile_id])]
    violation = check_entry(load_profile(profile_id), entry(share_type="not_shared", sharing_modes=[]))[0]
    assert "法律" in violation.message_zh and "legal basis" in violation.message_en
    assert NOT_SHARED_BASIS[profile_id] in violation.message_en


def test_not_shared_cites_the_article_as_a_reader_expects() -> None:
    (violation,) = check_entry(load_profile("hubei"), entry(share_type="not_shared", sharing_modes=[]))
    assert "《湖北省政务信息资源共享管理办法》第8条第(1)项" in violation.message_zh
    assert violation.message_en.endswith("(Hubei Province, art. 8(1))")


@pytest.mark.parametrize("profile_id", PROFILES)
def test_conditional_needs_a_legal_basis_under_luoyang_only(profile_id: str) -> None:
    found = rules(profile_id, share_type="conditional", controlled_parameters=True)
    if profile_id == "luoyang":
        assert found == [("legal_basis", "legal_basis_required", "25(1)")]
    else:
        assert found == []
    assert rules(profile_id, share_type="conditional", legal_basis="《居民身份证法》") == []


@pytest.mark.parametrize("open_type", ["conditional_open", "not_open"])
def test_luoyang_conditional_or_no_opening_needs_a_legal_basis(open_type: str) -> None:
    """Luoyang 31: 有条件开放或者不予开放的,应当有法律法规或者国家有关文件作为依据."""
    assert rules("luoyang", open_type=open_type) == [("legal_basis", "open_legal_basis_required", "31")]
    assert rules("luoyang", open_type="open") == []
    assert rules("luoyang", open_type=open_type, legal_basis="《个人信息保护法》") == []
    assert rules("hubei", open_type=open_type) == []  # Hubei has no open types


@pytest.mark.parametrize("profile_id", PROFILES)
@pytest.mark.parametrize("share_type", ["conditional", "not_shared"])
def test_basic_items_of_a_basic_resource_are_unconditional(profile_id: str, share_type: str) -> None:
    basic = {
        "kind": "basic",
        "basic_items": ["name", "citizen_id"],
        "share_type": share_type,
        "legal_basis": "《居民身份证法》",
        "sharing_modes": ["online_query"],
    }
    found = rules(profile_id, **basic)
    if profile_id in BASIC_ITEMS_ARTICLE:
        assert found == [("share_type", "basic_items_unconditional", BASIC_ITEMS_ARTICLE[profile_id])]
    else:  # Yongcheng's interpretation states no such rule: nothing is invented
        assert found == []
    # Unconditional basic items pass; a basic resource that lists no basic items is not held to it.
    assert rules(profile_id, **{**basic, "share_type": "unconditional"}) == []
    assert rules(profile_id, **{**basic, "basic_items": []}) == []


def test_basic_items_articles_are_the_seeds() -> None:
    assert BASIC_ITEMS_ARTICLE == {"hubei": "8(2)", "jiangsu": "11(2)", "luoyang": "25(2)", "luzhou": "22"}
    seeds = Path("/work/shared/seeds")
    if not seeds.is_dir():
        pytest.skip("seeds not available")
    hubei = (seeds / "hubei-2018-sharing-and-it-projects.txt").read_text()
    assert "(二)人口信息、法人单位信息" in hubei and "在部门间实现无条件共享" in hubei
    luoyang = (seeds / "luoyang-2020-data-sharing.txt").read_text()
    assert "(二)自然人、法人、自然资源和空间地理、电子证照等基础数据库的基础信息项" in luoyang
    luzhou = (seeds / "luzhou-2017-sharing.txt").read_text()
    assert "第二十二條" in luzhou and "基礎信息項應無條件共享" in luzhou


@pytest.mark.parametrize("profile_id", PROFILES)
def test_basic_items_belong_to_a_basic_resource_and_its_fields(profile_id: str) -> None:
    assert ("basic_items", "basic_items_not_basic") in [
        (f, r) for f, r, _a in rules(profile_id, basic_items=["name"])
    ]
    assert rules(profile_id, kind="basic", basic_items=["name", "passport"]) == [
        ("basic_items", "basic_item_not_a_field", "")
    ]


@pytest.mark.parametrize("profile_id", PROFILES)
def test_required_fields(profile_id: str) -> None:
    empty = {
        "id": "",
        "name_zh": " ",
        "provider_department": "",
        "share_type": "",
        "fields": [],
        "sharing_modes": [],
    }
    found = {(f, r) for f, r, _a in rules(profile_id, **empty)}
    assert found == {
        ("id", "required"),
        ("name_zh", "required"),
        ("provider_department", "required"),
        ("share_type", "required"),
        ("fields", "required"),
        ("sharing_modes", "required"),  # share type "" is not not_shared
    }
    assert rules(profile_id, sharing_modes=[]) == [("sharing_modes", "required", "")]
    assert rules(profile_id, share_type="not_shared", sharing_modes=[], legal_basis="法") == []
    violation = check_entry(load_profile(profile_id), entry(name_zh=""))[0]
    assert "资源名称" in violation.message_zh and "name_zh" in violation.message_en


@pytest.mark.parametrize("profile_id", PROFILES)
def test_enumerations(profile_id: str) -> None:
    share_article = load_profile(profile_id).share_types["unconditional"].article
    assert rules(profile_id, share_type="shared") == [("share_type", "invalid_value", share_article)]
    assert rules(profile_id, kind="core") == [
        ("kind", "invalid_value", "18" if profile_id == "luzhou" else "")
    ]
    assert rules(profile_id, update_period="hourly") == [("update_period", "invalid_value", "")]
    assert [(f, r) for f, r, _a in rules(profile_id, open_type="public")] == [("open_type", "invalid_value")]
    assert rules(profile_id, sharing_modes=["email"]) == [("sharing_modes", "invalid_value", "")]
    assert rules(profile_id, sharing_modes=["online_query", "online_query"]) == [
        ("sharing_modes", "duplicate_value", "")
    ]
    assert rules(profile_id, fields=["name", "name"]) == [("fields", "duplicate_value", "")]
    assert rules(profile_id, controlled_parameters="yes") == [("controlled_parameters", "invalid_value", "")]
    assert rules(profile_id, id="有 空格") == [("id", "invalid_id", "")]
    assert rules(profile_id, fields="name") == [("fields", "invalid_value", "")]
    for kind in KINDS:
        assert rules(profile_id, kind=kind) == []
    for period in UPDATE_PERIODS:
        assert rules(profile_id, update_period=period) == []
    assert all(rules(profile_id, sharing_modes=[mode]) == [] for mode in SHARING_MODES)
    assert set(SHARE_TYPES) == {"unconditional", "conditional", "not_shared"}
    assert set(OPEN_TYPES) == {"", "open", "conditional_open", "not_open"}


def test_vocabularies_agree_with_the_register() -> None:
    assert set(UPDATE_PERIODS) == set(catalog.UPDATE_PERIODS)
    assert catalog.DEFAULTS["kind"] in KINDS


# ==================================================================================================
# Terms (pure)
# ==================================================================================================


def test_chinese_is_found_by_substring_english_by_word_prefix() -> None:
    terms = catalog.terms_of(entry())
    for q in (
        "人口",
        "基础信息",
        "人口基础信息",
        "口",
        "pop",
        "Population",
        "basic info",
        "gaj-pop",
        "ＰＯＰ",
    ):
        assert all(term in terms for term in catalog.query_terms(q)), q
    for q in ("人口登记", "opulation", "婚姻", "populations"):
        assert not all(term in terms for term in catalog.query_terms(q)), q
    assert catalog.query_terms("人口基础信息") == ["人口", "口基", "基础", "础信", "信息"]
    assert catalog.query_terms("人") == ["人"]
    assert catalog.query_terms("Basic  INFO, 人口") == ["basic", "info", "人口"]
    assert catalog.query_terms("——!!") == []


def test_name_terms_rank_before_the_rest() -> None:
    terms = catalog.terms_of(entry(description="按日更新的户籍数据"))
    assert terms["人口"] == catalog.NAME and terms["pop"] == catalog.NAME and terms["gaj"] == catalog.NAME
    assert terms["户籍"] == catalog.OTHER
    withdrawn = catalog.terms_of(entry(), withdrawn=True)
    assert set(withdrawn) == set(catalog.terms_of(entry())) and set(withdrawn.values()) == {catalog.WITHDRAWN}


def test_the_migration_makes_the_same_terms() -> None:
    migration = _revision_0005()
    for e in (
        entry(),
        entry(name_zh="ＧＤＰ统计月报2024", description="𠀀字与かな", name_en="GDP — monthly"),
    ):
        assert migration.terms_of(e) == catalog.terms_of(e)
        assert migration.terms_of(e, withdrawn=True) == catalog.terms_of(e, withdrawn=True)


def _revision_0005() -> Any:
    import importlib.util

    path = Path(catalog.__file__).parent / "migrations" / "versions" / "0005_catalog_register.py"
    spec = importlib.util.spec_from_file_location("revision_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ==================================================================================================
# Refresh due dates (pure)
# ==================================================================================================


@pytest.mark.parametrize(
    ("period", "after", "due"),
    [
        ("daily", datetime(2026, 9, 1, 1, 0, tzinfo=UTC), datetime(2026, 9, 2, 1, 0, tzinfo=UTC)),
        ("weekly", datetime(2026, 9, 1, 1, 0, tzinfo=UTC), datetime(2026, 9, 8, 1, 0, tzinfo=UTC)),
        ("monthly", datetime(2026, 9, 1, 1, 0, tzinfo=UTC), datetime(2026, 10, 1, 1, 0, tzinfo=UTC)),
        # Months count in Asia/Shanghai: 2026-01-31 20:00 UTC is 02-01 04:00 there → 03-01.
        ("monthly", datetime(2026, 1, 31, 20, 0, tzinfo=UTC), datetime(2026, 2, 28, 20, 0, tzinfo=UTC)),
        # 2026-01-30 16:00 UTC is 01-31 00:00 there → 02-28 00:00 there (the month's last day).
        ("monthly", datetime(2026, 1, 30, 16, 0, tzinfo=UTC), datetime(2026, 2, 27, 16, 0, tzinfo=UTC)),
        ("quarterly", datetime(2026, 11, 30, 2, 0, tzinfo=UTC), datetime(2027, 2, 28, 2, 0, tzinfo=UTC)),
        ("yearly", datetime(2028, 2, 29, 2, 0, tzinfo=UTC), datetime(2029, 2, 28, 2, 0, tzinfo=UTC)),
        ("realtime", NOW, None),
        ("none", NOW, None),
        ("fortnightly", NOW, None),
    ],
)
def test_next_refresh_due(period: str, after: datetime, due: datetime | None) -> None:
    assert catalog.next_due(period, after) == due


# ==================================================================================================
# CSV / JSON rows (pure)
# ==================================================================================================


def test_csv_round_trip() -> None:
    entries = [
        catalog.normalize_entry(entry()),
        catalog.normalize_entry(
            entry(
                id="gaj-x",
                name_zh='带"引号",逗号\n换行',
                kind="basic",
                basic_items=["name"],
                controlled_parameters=True,
                sharing_modes=["online_query", "data_comparison"],
            )
        ),
    ]
    text = catalog.write_csv(entries)
    assert text.splitlines()[0] == ",".join(catalog.ENTRY_FIELDS)
    rows = catalog.read_csv("\ufeff" + text)
    parsed = [catalog.parse_row(row) for row in rows]
    assert [problems for _e, problems in parsed] == [[], []]
    assert [e for e, _p in parsed] == entries


def test_rows_that_cannot_be_read() -> None:
    _e, problems = catalog.parse_row(
        {"id": ["x"], "fields": "a|b", "bogus": 1, "controlled_parameters": "maybe"}
    )
    assert {(p.field, p.rule) for p in problems} == {
        ("id", "invalid_type"),
        ("bogus", "unknown_field"),
        ("controlled_parameters", "invalid_type"),
    }
    e, problems = catalog.parse_row({"id": "x", "fields": ["a", "b"], "name_zh": "名\x00称"})
    assert e["fields"] == ["a", "b"] and [(p.field, p.rule) for p in problems] == [
        ("name_zh", "invalid_characters")
    ]
    assert catalog.parse_row(["not", "an", "object"])[1][0].rule == "invalid_row"
    assert catalog.parse_row({"id": "x", "fields": ["a|b"]})[1][0].rule == "invalid_value"
    assert catalog.parse_row({"id": "x", "kind": "", "update_period": ""})[0]["kind"] == "departmental"
    with pytest.raises(catalog.CatalogError, match="unknown columns colour"):
        catalog.read_csv("id,colour\nx,red\n")
    with pytest.raises(catalog.CatalogError, match="no id column"):
        catalog.read_csv("name_zh\nx\n")
    with pytest.raises(catalog.CatalogError) as empty:
        catalog.read_csv("")
    assert empty.value.code == "empty_csv"
    assert catalog.read_csv("id,name_zh\nx,名,extra\n\n")[0]["(column 3)"] == "extra"


# ==================================================================================================
# The register on a database
# ==================================================================================================


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as err:
        pytest.fail(f"{err}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database(f"catalog_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    init_schema(engine)
    with Session(engine) as session:
        for code, name in [("gaj", "市公安局"), ("scjgj", "市市场监督管理局"), ("bdb", "市大数据局")]:
            session.add(Department(code=code, name_zh=name, name_en=code, created_at=NOW))
        session.commit()
    yield engine
    engine.dispose()


def publish(engine: Engine, drafts: list[dict[str, Any]], at: datetime = NOW, **kw: Any) -> list[Any]:
    with Session(engine) as session:
        versions = catalog.publish(session, drafts, department=kw.pop("department", "gaj"), now=at, **kw)
        session.commit()
        return [(v.resource_id, v.version, v.change) for v in versions]


def index_of(engine: Engine, resource_id: str) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.exec(select(ResourceTerm).where(ResourceTerm.resource_id == resource_id)).all()
        return {row.term: row.tier for row in rows}


def test_publish_new_changed_withdrawn(engine: Engine) -> None:
    assert publish(engine, [entry()], case_id="CU-1") == [("gaj-population-basic", 1, "new")]
    later = NOW + timedelta(days=3)
    changed = entry(name_zh="人口综合信息", fields=["name", "citizen_id"])
    assert publish(engine, [changed], at=later) == [("gaj-population-basic", 2, "changed")]
    with Session(engine) as session:
        row = session.get(Resource, "gaj-population-basic")
        assert row is not None
        assert (row.version, row.name_zh, row.status, row.fields) == (
            2,
            "人口综合信息",
            "published",
            ["name", "citizen_id"],
        )
        assert row.created_at == NOW and row.published_at == later
        first, second = (
            session.get(ResourceVersion, ("gaj-population-basic", 1)),
            session.get(ResourceVersion, ("gaj-population-basic", 2)),
        )
        # A published version never changes: v1 still says what it said.
        assert first is not None and first.data == catalog.normalize_entry(entry())
        assert (first.change, first.case_id, first.published_by, first.published_at) == (
            "new",
            "CU-1",
            "gaj",
            NOW,
        )
        assert second is not None and second.data["name_zh"] == "人口综合信息" and second.case_id == ""
    # The terms follow the current version.
    terms = index_of(engine, "gaj-population-basic")
    assert terms == catalog.terms_of(catalog.normalize_entry(changed))
    assert terms["综合"] == catalog.NAME and terms["基础"] == catalog.OTHER  # now only in the description

    # The same entry again makes no version; a withdrawal makes one that says so.
    assert publish(engine, [changed]) == []
    assert publish(engine, [{"id": "gaj-population-basic", "change": "withdrawn"}]) == [
        ("gaj-population-basic", 3, "withdrawn")
    ]
    with Session(engine) as session:
        row = session.get(Resource, "gaj-population-basic")
        assert row is not None and (row.status, row.version, row.next_refresh_due) == ("withdrawn", 3, None)
        assert [v.version for v in catalog.history(session, "gaj-population-basic")] == [3, 2, 1]
    assert set(index_of(engine, "gaj-population-basic").values()) == {catalog.WITHDRAWN}
    # Published again: a change, version 4.
    assert publish(engine, [changed]) == [("gaj-population-basic", 4, "changed")]
    assert set(index_of(engine, "gaj-population-basic").values()) == {catalog.NAME, catalog.OTHER}


def test_a_published_version_cannot_be_updated(engine: Engine) -> None:
    publish(engine, [entry()])
    with Session(engine) as session:
        version = session.get(ResourceVersion, ("gaj-population-basic", 1))
        assert version is not None
        version.data = {**version.data, "name_zh": "改"}
        session.add(version)
        with pytest.raises(ValueError, match="never changes"):
            session.commit()


def test_change_set_items_as_a_catalog_update_case_carries_them(engine: Engine) -> None:
    publish(engine, [entry(id="gaj-a"), entry(id="gaj-b")])
    items = [
        {"action": "new", "resource_id": "gaj-c", "entry": entry(id="ignored", name_zh="新资源")},
        {"action": "change", "resource_id": "gaj-a", "entry": entry(name_zh="变更后")},
        {"action": "withdraw", "resource_id": "gaj-b", "entry": {}},
    ]
    assert publish(engine, items, case_id="CU-9") == [
        ("gaj-c", 1, "new"),
        ("gaj-a", 2, "changed"),
        ("gaj-b", 2, "withdrawn"),
    ]
    with Session(engine) as session:
        assert session.get(Resource, "gaj-c").name_zh == "新资源"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("drafts", "code"),
    [
        ([{"id": "gaj-population-basic", "change": "new", **entry()}], "resource_exists"),
        ([entry(name_zh="改名"), {"id": "gaj-none", "change": "changed"}], "unknown_resource"),
        ([{"id": "gaj-none", "change": "withdrawn"}], "unknown_resource"),
        ([entry(id="gaj-z"), entry(id="gaj-z")], "duplicate_id"),
        ([entry(id=" ")], "missing_id"),
        ([{**entry(id="gaj-q"), "change": "renamed"}], "invalid_change"),
    ],
)
def test_publish_refuses_and_writes_nothing(engine: Engine, drafts: list[dict[str, Any]], code: str) -> None:
    publish(engine, [entry()])
    with Session(engine) as session:
        with pytest.raises(catalog.CatalogError) as refused:
            catalog.publish(session, drafts, department="gaj", now=NOW)
        # Checked before anything is applied: the session holds no change either.
        assert not session.dirty and not session.new
        assert session.get(Resource, "gaj-population-basic").name_zh == "人口基础信息"  # type: ignore[union-attr]
        session.rollback()
    assert refused.value.code == code
    with Session(engine) as session:
        assert [r.id for r in session.exec(select(Resource)).all()] == ["gaj-population-basic"]
        assert len(session.exec(select(ResourceVersion)).all()) == 1


def test_publish_is_all_or_nothing_in_the_callers_transaction(engine: Engine) -> None:
    publish(engine, [entry()])
    with Session(engine) as session:
        catalog.publish(session, [entry(id="gaj-new"), entry(name_zh="改名")], department="gaj", now=NOW)
        session.rollback()
    with Session(engine) as session:
        assert session.get(Resource, "gaj-new") is None
        assert session.get(Resource, "gaj-population-basic").version == 1  # type: ignore[union-attr]
    assert index_of(engine, "gaj-new") == {}
    assert index_of(engine, "gaj-population-basic") == catalog.terms_of(entry())


def test_withdrawing_twice_is_refused(engine: Engine) -> None:
    publish(engine, [entry()])
    publish(engine, [{"id": "gaj-population-basic", "change": "withdrawn"}])
    with Session(engine) as session, pytest.raises(catalog.CatalogError) as refused:
        catalog.publish(
            session, [{"id": "gaj-population-basic", "change": "withdrawn"}], department="gaj", now=NOW
        )
    assert refused.value.code == "already_withdrawn"


# -- search ---------------------------------------------------------------------------------------


def listed(**fields: Any) -> dict[str, Any]:
    """An entry whose only text is what the test gives it."""
    return entry(**{"description": "", "classification": "", **fields})


CATALOG = [
    listed(id="gaj-population-basic", name_zh="人口基础信息", name_en="Population basic information"),
    listed(
        id="gaj-household", name_zh="户籍信息", name_en="Household registration", description="含人口迁移"
    ),
    listed(id="gaj-floating", name_zh="流动人口登记信息", name_en="Migrant population registration"),
    listed(
        id="scjgj-enterprise",
        name_zh="企业登记信息",
        name_en="Enterprise registration",
        provider_department="scjgj",
        share_type="conditional",
        kind="thematic",
    ),
    listed(
        id="scjgj-entity-basic",
        name_zh="法人单位基础信息",
        name_en="Legal entity basic information",
        provider_department="scjgj",
        kind="basic",
        basic_items=["name"],
    ),
    listed(
        id="gaj-realty",
        name_zh="不动产登记证明",
        name_en="Real estate certificate",
        classification="自然资源",
    ),
]


def found(engine: Engine, q: str | None, **kw: Any) -> tuple[list[str], int]:
    with Session(engine) as session:
        rows, total = catalog.search(session, q, **kw)
        return [r.id for r in rows], total


def test_search_chinese_by_substring(engine: Engine) -> None:
    publish(engine, CATALOG)
    # 人口: hits in the name first (by id), then the one that has it only in its description.
    assert found(engine, "人口") == (["gaj-floating", "gaj-population-basic", "gaj-household"], 3)
    assert found(engine, "基础信息") == (["gaj-population-basic", "scjgj-entity-basic"], 2)
    assert found(engine, "人口基础信息") == (["gaj-population-basic"], 1)
    assert found(engine, "登记") == (["gaj-floating", "gaj-realty", "scjgj-enterprise"], 3)
    assert found(engine, "人") == (  # 法人 has it too
        ["gaj-floating", "gaj-population-basic", "scjgj-entity-basic", "gaj-household"],
        4,
    )
    assert found(engine, "自然资源") == (["gaj-realty"], 1)  # classification
    assert found(engine, "人口 登记") == (["gaj-floating"], 1)
    assert found(engine, "婚姻") == ([], 0)
    assert found(engine, "!!") == ([], 0)


def test_search_english_and_ids_by_word_prefix(engine: Engine) -> None:
    publish(engine, CATALOG)
    assert found(engine, "pop") == (["gaj-floating", "gaj-population-basic"], 2)
    assert found(engine, "Population basic") == (["gaj-population-basic"], 1)
    assert found(engine, "regist") == (["gaj-floating", "gaj-household", "scjgj-enterprise"], 3)
    assert found(engine, "scjgj") == (["scjgj-enterprise", "scjgj-entity-basic"], 2)
    assert found(engine, "gaj-pop") == (["gaj-floating", "gaj-population-basic"], 2)  # gaj + "Migrant pop…"
    assert found(engine, "gaj-population-b") == (["gaj-population-basic"], 1)
    assert found(engine, "opulation") == ([], 0)


def test_search_filters_and_pages(engine: Engine) -> None:
    publish(engine, CATALOG)
    assert found(engine, "信息", department="scjgj") == (["scjgj-enterprise", "scjgj-entity-basic"], 2)
    assert found(engine, "基础", kind="basic") == (["scjgj-entity-basic"], 1)
    assert found(engine, "登记", share_type="conditional") == (["scjgj-enterprise"], 1)
    assert found(engine, None, department="gaj")[1] == 4
    assert found(engine, None, kind="thematic") == (["scjgj-enterprise"], 1)
    every = found(engine, "信息", limit=100)[0]
    assert len(every) == 5
    pages = [found(engine, "信息", limit=2, offset=o) for o in (0, 2, 4, 6)]
    assert [ids for ids, _t in pages] == [every[0:2], every[2:4], every[4:5], []]
    assert {total for _ids, total in pages} == {5}
    assert found(engine, None, limit=2, offset=1) == (
        ["gaj-household", "gaj-population-basic"],
        6,
    )


def test_search_by_department_drives_from_the_department(engine: Engine) -> None:
    """The department filter smaller than the rarest term: the other plan, the same answers."""
    many = [
        entry(id=f"scjgj-{n:03d}", name_zh=f"企业信息{n}", provider_department="scjgj") for n in range(30)
    ]
    publish(engine, [*CATALOG, *many])
    assert found(engine, "信息", department="gaj") == (
        ["gaj-floating", "gaj-household", "gaj-population-basic"],
        3,
    )
    assert found(engine, "信息 pop", department="gaj") == (["gaj-floating", "gaj-population-basic"], 2)
    assert found(engine, "企业", department="scjgj", limit=3)[1] == 31


def test_search_status(engine: Engine) -> None:
    publish(engine, CATALOG)
    publish(engine, [{"id": "gaj-household", "change": "withdrawn"}])
    assert found(engine, "人口")[0] == ["gaj-floating", "gaj-population-basic"]
    assert found(engine, "人口", status="withdrawn") == (["gaj-household"], 1)
    assert found(engine, "人口", status=None)[0] == ["gaj-floating", "gaj-population-basic", "gaj-household"]
    assert found(engine, None, status="withdrawn") == (["gaj-household"], 1)
    assert found(engine, None, status=None)[1] == 6


# -- refreshes ------------------------------------------------------------------------------------


def test_refresh_sets_the_next_due_date(engine: Engine) -> None:
    publish(engine, [entry(update_period="weekly"), entry(id="gaj-live", update_period="realtime")])
    with Session(engine) as session:
        row = session.get(Resource, "gaj-population-basic")
        assert row is not None and row.next_refresh_due == NOW + timedelta(days=7)
        assert row.last_refreshed_at is None
    later = NOW + timedelta(days=9)
    with Session(engine) as session:
        refresh = catalog.record_refresh(session, "gaj-population-basic", "gaj", "同步完成", later)
        session.commit()
        assert refresh.id is not None
    with Session(engine) as session:
        row = session.get(Resource, "gaj-population-basic")
        assert row is not None and (row.last_refreshed_at, row.next_refresh_due) == (
            later,
            later + timedelta(days=7),
        )
        live = session.get(Resource, "gaj-live")
        assert live is not None and live.next_refresh_due is None
    # A new period restarts the clock from the change; an unchanged period keeps it.
    publish(engine, [entry(update_period="weekly", name_zh="人口信息")], at=later + timedelta(days=1))
    with Session(engine) as session:
        assert session.get(Resource, "gaj-population-basic").next_refresh_due == later + timedelta(days=7)  # type: ignore[union-attr]
    publish(engine, [entry(update_period="daily")], at=later + timedelta(days=2))
    with Session(engine) as session:
        assert session.get(Resource, "gaj-population-basic").next_refresh_due == later + timedelta(days=3)  # type: ignore[union-attr]
    publish(engine, [{"id": "gaj-population-basic", "change": "withdrawn"}])
    with Session(engine) as session, pytest.raises(catalog.CatalogError) as refused:
        catalog.record_refresh(session, "gaj-population-basic", "gaj", "", later)
    assert refused.value.code == "resource_withdrawn"
    with Session(engine) as session, pytest.raises(catalog.CatalogError):
        catalog.record_refresh(session, "gaj-none", "gaj", "", later)


# -- rows written straight into resource; revision 0005's data step --------------------------------


def test_rows_written_straight_into_resource_are_adopted(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Resource(**catalog.normalize_entry(entry()), version=1, created_at=NOW))
        session.commit()
    assert found(engine, "人口") == ([], 0)
    with Session(engine) as session:
        assert catalog.adopt_unversioned(session, now=NOW) == ["gaj-population-basic"]
        session.commit()
        assert catalog.adopt_unversioned(session, now=NOW) == []
    assert found(engine, "人口") == (["gaj-population-basic"], 1)
    with Session(engine) as session:
        (version,) = catalog.history(session, "gaj-population-basic")
        assert (version.version, version.change, version.published_by) == (1, "new", "gaj")


def test_revision_0005_publishes_existing_resources(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0004")
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.begin() as conn:
            conn.execute(
                meta.tables["department"].insert(),
                [{"code": c, "name_zh": c, "name_en": "", "created_at": NOW} for c in ("gaj", "scjgj")],
            )
            base = {"version": 1, "controlled_parameters": False, "legal_basis": "", "created_at": NOW}
            conn.execute(
                meta.tables["resource"].insert(),
                [
                    {
                        **base,
                        "id": "gaj-population-basic",
                        "name_zh": "人口基本信息",
                        "name_en": "Population",
                        "provider_department": "gaj",
                        "share_type": "unconditional",
                        "sharing_modes": ["online_query"],
                        "fields": ["name", "citizen_id"],
                    },
                    {
                        **base,
                        "id": "gaj-household-members",
                        "name_zh": "户籍及家庭成员关系信息",
                        "name_en": "",
                        "provider_department": "gaj",
                        "share_type": "conditional",
                        "sharing_modes": ["online_query"],
                        "fields": ["members"],
                    },
                ],
            )
        init_schema(engine)
        init_schema(engine)  # a second start: nothing more
        with Session(engine) as session:
            basic = session.get(Resource, "gaj-population-basic")
            other = session.get(Resource, "gaj-household-members")
            assert basic is not None and other is not None
            assert (basic.kind, basic.basic_items, basic.status) == (
                "basic",
                ["name", "citizen_id"],
                "published",
            )
            assert (other.kind, other.basic_items, other.update_period) == ("departmental", [], "none")
            assert basic.published_at == NOW == basic.updated_at and basic.next_refresh_due is None
            versions = session.exec(select(ResourceVersion).order_by(ResourceVersion.resource_id)).all()
            assert [(v.resource_id, v.version, v.change, v.published_by, v.case_id) for v in versions] == [
                ("gaj-household-members", 1, "new", "gaj", ""),
                ("gaj-population-basic", 1, "new", "gaj", ""),
            ]
            assert versions[1].data == catalog.entry_data(basic)
        assert found(engine, "人口") == (["gaj-population-basic"], 1)
        assert found(engine, "家庭成员") == (["gaj-household-members"], 1)
        assert index_of(engine, "gaj-population-basic") == catalog.terms_of(catalog.entry_data(basic))
    finally:
        engine.dispose()


def test_postgres_keeps_statistics_of_the_common_terms(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with engine.connect() as conn:
        target = conn.execute(
            sa.text(
                "SELECT attstattarget FROM pg_attribute "
                "WHERE attrelid = 'resource_term'::regclass AND attname = 'term'"
            )
        ).scalar_one()
    assert target == 1000
