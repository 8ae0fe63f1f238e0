"""The catalog register (政务信息资源目录): publishing versions, history, search, data refreshes,
and the CSV/JSON shape of a department's catalog.

Every write goes through :func:`publish` (a catalog-update case's approval, an import) in the
caller's transaction: all of a change set or nothing. ``resource`` holds each entry as currently
published; ``resource_version`` every published version, never changed once written; ``resource_term``
the search index. The rules an entry must satisfy (legal basis, basic items …) are
``regulations.catalog_rules`` — this module, below that layer, checks nothing of the regulations.

Search (:func:`search`) is a portable inverted index, the same on SQLite and PostgreSQL: the terms of
an entry are every character unigram and bigram of its Chinese text (name, description,
classification) and every prefix of each word of its English name, id and other Latin text
(:func:`terms_of`). A query is split the same way (:func:`query_terms`: the bigrams of each run of
Chinese characters, a lone character as itself, whole words as prefixes) and an entry matches when it
has every one of the query's terms — so 人口 and 基础信息 both find 人口基础信息, and ``pop`` finds
"Population". (Every bigram, not the string: 基础信息 also finds an entry holding 基础, 础信 and 信息
apart — rare in catalog text, and the price of a portable index.) Hits whose every term is in the
entry's name (or id) come first, then by id. One term walks ``ix_resource_term_term`` in rank order;
several are joined on the primary key (PostgreSQL orders the joins from its statistics; on SQLite the
rarest term, or the department when it is smaller, drives and the others are probes): the cost grows
with the rarest term's entries, not with the catalog (``bench/catalog_search.py``: p50/p99 on
100,000 entries, ~98 index rows an entry).
"""

from __future__ import annotations

import calendar
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, exists, func, insert, literal, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from govshare.core.models import Resource, ResourceRefresh, ResourceTerm, ResourceVersion

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Every field of a catalog entry, in the order of an export's columns (Hubei 6, Luzhou 8: 分类、
#: 责任方、格式、属性、更新时限、共享类型、使用要求; Luzhou 18 kind; Luoyang 30 open type).
ENTRY_FIELDS: tuple[str, ...] = (
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
LIST_FIELDS = frozenset({"fields", "basic_items", "sharing_modes"})
BOOL_FIELDS = frozenset({"controlled_parameters"})
#: Defaults of the fields a draft or an import row may leave out.
DEFAULTS: dict[str, Any] = {
    "name_en": "",
    "description": "",
    "classification": "",
    "kind": "departmental",
    "fields": [],
    "basic_items": [],
    "format": "",
    "update_period": "none",
    "controlled_parameters": False,
    "sharing_modes": [],
    "usage_requirements": "",
    "open_type": "",
    "legal_basis": "",
}
#: Joins a list field's items in a CSV cell.
LIST_SEPARATOR = "|"

STATUSES = ("published", "withdrawn")
CHANGES = ("new", "changed", "withdrawn")
#: Update period → how far the next refresh is due after one (months are calendar months in
#: Asia/Shanghai); ``realtime`` and ``none`` expect no recorded refresh.
UPDATE_PERIODS: dict[str, timedelta | int | None] = {
    "realtime": None,
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": 1,
    "quarterly": 3,
    "yearly": 12,
    "none": None,
}

#: Tiers of ``resource_term``: the term is in the name (or id), elsewhere, the entry is withdrawn.
NAME, OTHER, WITHDRAWN = 0, 1, 2
#: Longest word prefix indexed (a longer query word is cut to it).
MAX_PREFIX = 20
#: Most distinct terms a query is matched on (the rest of a very long query is ignored).
MAX_QUERY_TERMS = 24
#: How far a term's entries are counted when choosing the rarest (a count stops there).
ESTIMATE_CAP = 20_000


class CatalogError(ValueError):
    """A change the register refuses: ``code`` for programs, the text in Chinese and English."""

    def __init__(self, code: str, detail_zh: str, detail_en: str, *, resource_id: str = "") -> None:
        super().__init__(detail_en)
        self.code = code
        self.detail_zh = detail_zh
        self.detail_en = detail_en
        self.resource_id = resource_id


# --------------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------------


def normalize_entry(draft: Mapping[str, Any]) -> dict[str, Any]:
    """The entry fields of ``draft`` (others dropped), defaults filled, text stripped, lists copied."""
    entry: dict[str, Any] = {}
    for name in ENTRY_FIELDS:
        value = draft.get(name, DEFAULTS.get(name, ""))
        if name in LIST_FIELDS:
            value = [str(item).strip() for item in (value or [])]
        elif name in BOOL_FIELDS:
            value = bool(value)
        elif value is None:
            value = ""
        elif isinstance(value, str):
            value = value.strip()
        entry[name] = value
    return entry


def entry_data(resource: Resource) -> dict[str, Any]:
    """The entry fields of a ``resource`` row (what a version's ``data`` holds)."""
    return normalize_entry({name: getattr(resource, name) for name in ENTRY_FIELDS})


# --------------------------------------------------------------------------------------------------
# Terms
# --------------------------------------------------------------------------------------------------

#: Han characters (CJK unified ideographs and extensions, compatibility ideographs), kana, hangul:
#: indexed by character n-grams, as they are written without spaces.
_CJK = (
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0002ebef\U00030000-\U0003134f"
)
_RUNS = re.compile(f"([{_CJK}]+)|([^\\W_{_CJK}]+)")


def _runs(text: str) -> Iterable[tuple[str, str]]:
    """``("cjk", run)`` and ``("word", run)`` of ``text``, NFKC-normalized (full-width letters and
    digits become ASCII) and lower-cased; punctuation, spaces and symbols separate them."""
    for match in _RUNS.finditer(unicodedata.normalize("NFKC", text).lower()):
        if match.group(1):
            yield "cjk", match.group(1)
        else:
            yield "word", match.group(2)


def _text_terms(text: str) -> set[str]:
    terms: set[str] = set()
    for kind, run in _runs(text):
        if kind == "cjk":
            terms.update(run)
            terms.update(run[i : i + 2] for i in range(len(run) - 1))
        else:
            terms.update(run[:n] for n in range(1, min(len(run), MAX_PREFIX) + 1))
    return terms


def terms_of(entry: Mapping[str, Any], *, withdrawn: bool = False) -> dict[str, int]:
    """The search terms of an entry and the tier of each: :data:`NAME` for a term of its Chinese or
    English name or its id, :data:`OTHER` for one only of its description, classification or
    provider; every term :data:`WITHDRAWN` for a withdrawn entry."""
    name = _text_terms(" ".join(str(entry.get(k) or "") for k in ("name_zh", "name_en", "id")))
    other = _text_terms(" ".join(str(entry.get(k) or "") for k in ("description", "classification")))
    if withdrawn:
        return dict.fromkeys(name | other, WITHDRAWN)
    return {**dict.fromkeys(other - name, OTHER), **dict.fromkeys(name, NAME)}


def query_terms(q: str) -> list[str]:
    """The terms an entry must all have to match ``q``: each Chinese run's bigrams (a run of one
    character: itself), each word whole (it is matched as a prefix). In order, without repeats."""
    terms: dict[str, None] = {}
    for kind, run in _runs(q):
        if kind == "cjk":
            grams = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
            terms.update(dict.fromkeys(grams))
        else:
            terms[run[:MAX_PREFIX]] = None
    return list(terms)[:MAX_QUERY_TERMS]


def _write_terms(
    session: Session, changes: Sequence[tuple[str, Mapping[str, int], Mapping[str, int]]]
) -> None:
    """Rewrite the terms of entries from ``old`` (what the index holds) to ``new``, for each
    ``(resource_id, old, new)``: only the differences, the inserts of all of them in one batch."""
    table = ResourceTerm.__table__
    added: list[dict[str, Any]] = []
    for resource_id, old, new in changes:
        gone = [term for term, tier in old.items() if new.get(term) != tier]
        for start in range(0, len(gone), 500):
            session.execute(
                delete(table).where(
                    table.c.resource_id == resource_id, table.c.term.in_(gone[start : start + 500])
                )
            )
        added.extend(
            {"term": term, "resource_id": resource_id, "tier": tier}
            for term, tier in new.items()
            if old.get(term) != tier
        )
    if added:
        session.execute(insert(table), added)


# --------------------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------------------


def _add_months(moment: datetime, months: int) -> datetime:
    local = moment.astimezone(SHANGHAI)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(moment.tzinfo)


def next_due(update_period: str, after: datetime) -> datetime | None:
    """When the next data refresh is due after one at ``after``: +1 day (daily), +7 days (weekly),
    +1/3/12 calendar months (monthly, quarterly, yearly; the 31st becomes the month's last day);
    None for realtime, none and an unknown period."""
    step = UPDATE_PERIODS.get(update_period)
    if step is None:
        return None
    if isinstance(step, timedelta):
        return after + step
    return _add_months(after, step)


def _load(session: Session, ids: Sequence[str]) -> dict[str, Resource]:
    found: dict[str, Resource] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in session.exec(select(Resource).where(col(Resource.id).in_(chunk))):
            found[row.id] = row
    return found


#: A change-set item's ``action`` (``{"action", "resource_id", "entry"}``) → a draft's ``change``.
_ACTIONS = {
    "new": "new",
    "change": "changed",
    "changed": "changed",
    "withdraw": "withdrawn",
    "withdrawn": "withdrawn",
}


def _flat(draft: Mapping[str, Any]) -> Mapping[str, Any]:
    """A change-set item (``{"action": new|change|withdraw, "resource_id": …, "entry": {…}}``, as a
    catalog-update case carries it) as a draft (the entry's fields and ``change``); a draft as it is."""
    if not any(key in draft for key in ("action", "resource_id", "entry")):
        return draft
    entry = dict(draft.get("entry") or {})
    action = draft.get("action") or draft.get("change") or None
    return {
        **entry,
        "id": draft.get("resource_id") or entry.get("id", ""),
        "change": _ACTIONS.get(action, action) if isinstance(action, str) else action,
    }


def publish(
    session: Session,
    drafts: Sequence[Mapping[str, Any]],
    *,
    department: str,
    case_id: str = "",
    now: datetime,
) -> list[ResourceVersion]:
    """Publish a change set in the caller's transaction (it commits or rolls back all of it).

    Each draft is an entry (:data:`ENTRY_FIELDS`) with an optional ``change``, or a change-set item
    ``{"action": "new" | "change" | "withdraw", "resource_id": …, "entry": {…}}``: ``new`` (version 1;
    refused if the id exists), ``changed`` (version n+1; refused if it does not), ``withdrawn`` (only
    ``id`` needed: the entry's status becomes withdrawn, with a version n+1 that says so). Without
    ``change`` it is ``new`` or ``changed`` by whether the id exists; a withdrawn entry published
    again is ``changed``. A draft equal to the entry as published makes no version. Every version
    written is returned (in draft order); the terms of each entry are rewritten. Raises
    :class:`CatalogError` (nothing written by it; the caller rolls back what it wrote before).
    Checks no rule of the regulations and no authorization: the callers do.
    """
    drafts = [_flat(draft) for draft in drafts]
    ids = [str(draft.get("id", "")).strip() for draft in drafts]
    seen: set[str] = set()
    for resource_id in ids:
        if not resource_id:
            raise CatalogError("missing_id", "目录条目缺少资源代码 id", "a catalog entry has no id")
        if resource_id in seen:
            raise CatalogError(
                "duplicate_id",
                f"变更中资源 {resource_id} 出现多次",
                f"resource {resource_id} appears more than once in the change set",
                resource_id=resource_id,
            )
        seen.add(resource_id)
    existing = _load(session, ids)
    # First every draft is checked (a refusal leaves the session as it was), then applied.
    changes: list[str | None] = []
    for resource_id, draft in zip(ids, drafts, strict=True):
        change = draft.get("change") or None
        current = existing.get(resource_id)
        if change not in (None, *CHANGES):
            raise CatalogError(
                "invalid_change",
                f"资源 {resource_id} 的变更类型 {change} 无效(new、changed、withdrawn)",
                f"resource {resource_id}: change {change!r} is not new, changed or withdrawn",
                resource_id=resource_id,
            )
        if current is None and change in ("changed", "withdrawn"):
            raise CatalogError(
                "unknown_resource",
                f"目录中没有资源 {resource_id},无法{'变更' if change == 'changed' else '撤销'}",
                f"no catalog resource {resource_id} to {'change' if change == 'changed' else 'withdraw'}",
                resource_id=resource_id,
            )
        if current is not None and change == "new":
            raise CatalogError(
                "resource_exists",
                f"目录中已有资源 {resource_id}",
                f"catalog resource {resource_id} already exists",
                resource_id=resource_id,
            )
        if change == "withdrawn" and current is not None and current.status == "withdrawn":
            raise CatalogError(
                "already_withdrawn",
                f"资源 {resource_id} 已撤销",
                f"resource {resource_id} is already withdrawn",
                resource_id=resource_id,
            )
        changes.append(change)

    planned: list[tuple[Resource, ResourceVersion, dict[str, int], dict[str, int]]] = []
    for resource_id, draft, change in zip(ids, drafts, changes, strict=True):
        current = existing.get(resource_id)
        if change == "withdrawn":
            assert current is not None
            data = entry_data(current)
            old_terms = terms_of(data)
            current.status = "withdrawn"
            current.next_refresh_due = None
            new_terms = terms_of(data, withdrawn=True)
        else:
            data = normalize_entry(draft)
            new_terms = terms_of(data)
            if current is None:
                change, old_terms = "new", {}
                current = Resource(**data, version=0, created_at=now, status="published")
                current.next_refresh_due = next_due(data["update_period"], now)
            else:
                was_published = current.status == "published"
                if was_published and entry_data(current) == data:
                    continue  # unchanged: no version
                change = "changed"
                old_terms = terms_of(entry_data(current), withdrawn=not was_published)
                period_changed = current.update_period != data["update_period"]
                for name, value in data.items():
                    setattr(current, name, value)
                current.status = "published"
                if period_changed or not was_published:
                    current.next_refresh_due = next_due(data["update_period"], now)
        current.version += 1
        current.published_at = now
        current.updated_at = now
        version = ResourceVersion(
            resource_id=resource_id,
            version=current.version,
            data=data,
            change=change,
            published_at=now,
            published_by=department,
            case_id=case_id,
        )
        planned.append((current, version, old_terms, new_terms))
    # Rows first (the versions refer to them; without ORM relationships the flush does not order
    # inserts across tables by itself), then the versions, then the index.
    for resource, _version, _old, _new in planned:
        session.add(resource)
    session.flush()
    for _resource, version, _old, _new in planned:
        session.add(version)
    session.flush()
    _write_terms(session, [(resource.id, old, new) for resource, _version, old, new in planned])
    return [version for _resource, version, _old, _new in planned]


def adopt_unversioned(session: Session, *, now: datetime, department: str = "") -> list[str]:
    """Entries written straight into ``resource`` (the demo seed inserts rows) get what
    :func:`publish` would have written: a version row of their current version and their search
    terms. Entries that have a version are left alone; returns the ids adopted."""
    has_version = exists().where(ResourceVersion.resource_id == Resource.id)  # type: ignore[arg-type]
    rows = session.exec(select(Resource).where(~has_version).order_by(col(Resource.id))).all()
    for row in rows:
        data = entry_data(row)
        session.add(
            ResourceVersion(
                resource_id=row.id,
                version=row.version,
                data=data,
                change="withdrawn" if row.status == "withdrawn" else "new",
                published_at=row.published_at or now,
                published_by=department or row.provider_department,
                case_id="",
            )
        )
    session.flush()
    _write_terms(
        session,
        [(row.id, {}, terms_of(entry_data(row), withdrawn=row.status == "withdrawn")) for row in rows],
    )
    return [row.id for row in rows]


def history(session: Session, resource_id: str) -> list[ResourceVersion]:
    """Every published version of an entry, newest first (empty for an unknown id)."""
    return list(
        session.exec(
            select(ResourceVersion)
            .where(ResourceVersion.resource_id == resource_id)
            .order_by(col(ResourceVersion.version).desc())
        )
    )


def get_version(session: Session, resource_id: str, version: int) -> ResourceVersion | None:
    return session.get(ResourceVersion, (resource_id, version))


def record_refresh(
    session: Session, resource_id: str, department: str, note: str, now: datetime
) -> ResourceRefresh:
    """Record that ``department`` refreshed the entry's data at ``now`` (Hubei 17, Luzhou 23): sets
    ``last_refreshed_at`` and the next refresh due under the entry's update period. Who may is the
    caller's check (the provider that owns the entry)."""
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise CatalogError(
            "unknown_resource", f"目录中没有资源 {resource_id}", f"no catalog resource {resource_id}"
        )
    if resource.status != "published":
        raise CatalogError(
            "resource_withdrawn",
            f"资源 {resource_id} 已撤销,不再记录数据更新",
            f"resource {resource_id} is withdrawn: no refresh is recorded",
            resource_id=resource_id,
        )
    resource.last_refreshed_at = now
    resource.next_refresh_due = next_due(resource.update_period, now)
    resource.updated_at = now
    refresh = ResourceRefresh(resource_id=resource_id, refreshed_at=now, department=department, note=note)
    session.add(resource)
    session.add(refresh)
    session.flush()
    return refresh


# --------------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------------


def _tier_condition(tier: Any, status: str | None) -> ColumnElement[bool]:
    if status == "published":
        return tier < WITHDRAWN
    if status == "withdrawn":
        return tier == WITHDRAWN
    return true()


def _rank(tiers: Sequence[Any]) -> Any:
    """Withdrawn last; every term in the name first; the rest between."""
    return case(
        (tiers[0] == WITHDRAWN, WITHDRAWN),
        (and_(*(tier == NAME for tier in tiers)), NAME),
        else_=OTHER,
    ).label("hit_rank")


def _page(session: Session, query: Any) -> tuple[list[Resource], int] | None:
    """The entries of a page query whose rows are ``(id, rank, total)``, and the total; None when
    the page is empty (no match, or past the last page)."""
    rows = session.execute(query).all()
    if rows:
        return _rows_in_order(session, [row[0] for row in rows]), rows[0][2]
    return None


def search(
    session: Session,
    q: str | None = None,
    *,
    department: str | None = None,
    share_type: str | None = None,
    kind: str | None = None,
    status: str | None = "published",
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Resource], int]:
    """Entries matching ``q`` (every term of :func:`query_terms`) and the filters, ranked (all
    terms in the name first), then by id; with the number of matches in all pages. ``status``:
    published (default), withdrawn, or None for both. Without ``q`` (or a blank one): every entry
    matching the filters, by id. A ``q`` that holds no letter, digit or character matches nothing.

    The same index and the same answers on every backend; the statement's shape differs where the
    planners do: PostgreSQL is given the terms as joins (it has per-term statistics and picks the
    order and a merge or hash join itself), SQLite — whose planner does not know how common a term
    is — is driven from the rarest term (counted first) or the department, with a primary-key probe
    per entry for each other term."""
    r = Resource.__table__
    t = ResourceTerm.__table__
    filters: list[ColumnElement[bool]] = []
    if department is not None:
        filters.append(r.c.provider_department == department)
    if share_type is not None:
        filters.append(r.c.share_type == share_type)
    if kind is not None:
        filters.append(r.c.kind == kind)
    # The status is the terms' tier too: a term-driven search needs no look at the row for it.
    by_status = [r.c.status == status] if status is not None else []

    terms = query_terms(q) if q and q.strip() else None
    if terms is None:
        where = and_(true(), *filters, *by_status)
        total = session.execute(select(func.count()).select_from(r).where(where)).scalar_one()
        ids = list(session.exec(select(r.c.id).where(where).order_by(r.c.id).limit(limit).offset(offset)))
        return _rows_in_order(session, ids), total
    if not terms:
        return [], 0

    def in_rows(resource_id: Any) -> ColumnElement[bool]:
        return exists(select(literal(1)).select_from(r).where(r.c.id == resource_id, *filters))

    if len(terms) == 1 and department is None:
        # One term: its entries in rank order straight off ix_resource_term_term (term, tier, id).
        driver = t.alias("driver")
        where = and_(driver.c.term == terms[0], _tier_condition(driver.c.tier, status))
        if filters:
            where = and_(where, in_rows(driver.c.resource_id))
        total = session.execute(select(func.count()).select_from(driver).where(where)).scalar_one()
        if offset >= total:
            return [], total
        page = select(driver.c.resource_id).where(where)
        page = page.order_by(driver.c.tier, driver.c.resource_id).limit(limit).offset(offset)
        return _rows_in_order(session, list(session.exec(page))), total

    if session.get_bind().dialect.name == "postgresql":
        # Every term a join on (term, resource_id); the planner orders them from its statistics.
        probes = [t.alias(f"t{n}") for n in range(len(terms))]
        first = probes[0]
        source: Any = first
        for probe, term in zip(probes[1:], terms[1:], strict=True):
            source = source.join(
                probe, and_(probe.c.term == term, probe.c.resource_id == first.c.resource_id)
            )
        where = and_(first.c.term == terms[0], _tier_condition(first.c.tier, status))
        if filters:
            source = source.join(r, r.c.id == first.c.resource_id)
            where = and_(where, *filters)
        rid, rank = first.c.resource_id, _rank([probe.c.tier for probe in probes])
        page = select(rid, rank, func.count().over().label("total")).select_from(source).where(where)
        found = _page(session, page.order_by(rank, rid).limit(limit).offset(offset))
        if found is not None:
            return found
        if offset == 0:
            return [], 0
        return [], session.execute(select(func.count()).select_from(source).where(where)).scalar_one()

    # SQLite: how many entries each term has (counted up to ESTIMATE_CAP), and the department's.
    def capped(where: ColumnElement[bool], table: Any) -> Any:
        inner = select(literal(1)).select_from(table).where(where).limit(ESTIMATE_CAP).subquery()
        return select(func.count()).select_from(inner).scalar_subquery()

    estimates = [capped(and_(t.c.term == term, _tier_condition(t.c.tier, status)), t) for term in terms]
    if department is not None:
        estimates.append(capped(and_(*filters, *by_status), r))
    counts = list(session.execute(select(*estimates)).one())
    by_term = dict(zip(terms, counts[: len(terms)], strict=True))
    if min(by_term.values()) == 0:
        return [], 0
    ordered = sorted(terms, key=lambda term: by_term[term])  # rarest first

    def tier_of(term: str, resource_id: Any) -> Any:
        probe = t.alias()
        return (
            select(probe.c.tier)
            .where(probe.c.term == term, probe.c.resource_id == resource_id)
            .scalar_subquery()
        )

    if department is not None and counts[-1] < by_term[ordered[0]]:
        # Driven by the department's entries: each term is a probe on the primary key.
        rid = r.c.id
        probed = ordered[1:]
        candidates = select(rid.label("rid"), tier_of(ordered[0], rid).label("t0")).where(
            *filters, *by_status
        )
    else:
        # Driven by the rarest term's entries; the other terms, and the filters, are probes per entry.
        driver = t.alias("driver")
        rid = driver.c.resource_id
        where = and_(driver.c.term == ordered[0], _tier_condition(driver.c.tier, status))
        if filters:
            where = and_(where, in_rows(rid))
        probed = ordered[1:]
        candidates = select(rid.label("rid"), driver.c.tier.label("t0")).where(where)
    # Each candidate's tier of every other term, probed once (NULL: it lacks the term), in a
    # materialized CTE — inlined, the probes would run again for the rank. Then one pass over the
    # matches: the rank, the total beside the page.
    candidates = candidates.add_columns(
        *(tier_of(term, rid).label(f"t{n}") for n, term in enumerate(probed, start=1))
    )
    cte = candidates.cte("candidates").prefix_with("MATERIALIZED")
    tiers = [cte.c[f"t{n}"] for n in range(len(probed) + 1)]
    rank = _rank(tiers)
    matched = and_(*(tier.is_not(None) for tier in tiers))
    page = select(cte.c.rid, rank, func.count().over().label("total")).where(matched)
    found = _page(session, page.order_by(rank, cte.c.rid).limit(limit).offset(offset))
    if found is not None:
        return found
    if offset == 0:
        return [], 0
    return [], session.execute(select(func.count()).select_from(cte).where(matched)).scalar_one()


def _rows_in_order(session: Session, ids: list[str]) -> list[Resource]:
    if not ids:
        return []
    rows = _load(session, ids)
    return [rows[i] for i in ids if i in rows]


# --------------------------------------------------------------------------------------------------
# Import and export: a department's catalog as CSV or JSON
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    """Why an import row could not be read as an entry (before any rule is checked)."""

    field: str
    rule: str
    message_zh: str
    message_en: str


#: What no database column can hold: NUL and lone surrogates (``api.requests.UNSTORABLE``).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TRUE = {"true", "1", "yes", "y", "是", "需要"}
_FALSE = {"false", "0", "no", "n", "否", "不需要", ""}
MAX_TEXT = 2000
MAX_ITEM = 100


def _problem(field: str, rule: str, zh: str, en: str) -> RowProblem:
    return RowProblem(field=field, rule=rule, message_zh=zh, message_en=en)


def _text(field: str, value: Any, problems: list[RowProblem]) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.append(_problem(field, "invalid_type", f"{field} 应为文本", f"{field} must be text"))
        return ""
    text = str(value).strip()
    if _UNSTORABLE.search(text):
        problems.append(
            _problem(
                field,
                "invalid_characters",
                f"{field} 含有无法保存的字符(空字符或孤立的代理项)",
                f"{field} holds characters that cannot be stored (NUL or a lone surrogate)",
            )
        )
        return ""
    if len(text) > MAX_TEXT:
        problems.append(
            _problem(
                field, "too_long", f"{field} 超过 {MAX_TEXT} 个字符", f"{field} exceeds {MAX_TEXT} characters"
            )
        )
        return text[:MAX_TEXT]
    return text


def _list(field: str, value: Any, problems: list[RowProblem]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(LIST_SEPARATOR)
    if not isinstance(value, list):
        problems.append(
            _problem(
                field,
                "invalid_type",
                f"{field} 应为列表(CSV 中以 | 分隔)",
                f"{field} must be a list (in CSV: items joined by |)",
            )
        )
        return []
    items: list[str] = []
    for item in value:
        if not isinstance(item, str):
            problems.append(
                _problem(field, "invalid_type", f"{field} 的各项应为文本", f"{field} items must be text")
            )
            return []
        text = _text(field, item, problems)
        if LIST_SEPARATOR in text or len(text) > MAX_ITEM:
            problems.append(
                _problem(
                    field,
                    "invalid_value",
                    f"{field} 的项 {text[:40]} 含有 | 或超过 {MAX_ITEM} 个字符",
                    f"{field} item {text[:40]!r} holds | or exceeds {MAX_ITEM} characters",
                )
            )
            return []
        if text:
            items.append(text)
    return items


def _bool(field: str, value: Any, problems: list[RowProblem]) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    problems.append(
        _problem(
            field,
            "invalid_type",
            f"{field} 应为 true 或 false",
            f"{field} must be true or false",
        )
    )
    return False


def parse_row(raw: Any) -> tuple[dict[str, Any], list[RowProblem]]:
    """An import row (a JSON object, or a CSV row as ``{column: cell}``) as an entry, with what could
    not be read. Unknown keys, wrong types and unstorable text are problems; missing fields take
    their defaults (the rules then say which were required)."""
    problems: list[RowProblem] = []
    if not isinstance(raw, Mapping):
        return {}, [_problem("", "invalid_row", "该行不是一个对象", "the row is not an object")]
    for key in raw:
        if key not in ENTRY_FIELDS:
            shown = _UNSTORABLE.sub("?", str(key))[:64]
            problems.append(_problem(shown, "unknown_field", f"未知字段 {shown}", f"unknown field {shown!r}"))
    entry: dict[str, Any] = {}
    for name in ENTRY_FIELDS:
        value = raw.get(name, DEFAULTS.get(name))
        if name in LIST_FIELDS:
            entry[name] = _list(name, value, problems)
        elif name in BOOL_FIELDS:
            entry[name] = _bool(name, value, problems)
        else:
            entry[name] = _text(name, value, problems)
            if name in DEFAULTS and entry[name] == "" and DEFAULTS[name] != "":
                entry[name] = DEFAULTS[name]
    return entry, problems


def read_csv(text: str) -> list[dict[str, str]]:
    """The rows of a CSV catalog (a header row naming :data:`ENTRY_FIELDS` columns, any order; a
    UTF-8 BOM is dropped). Raises :class:`CatalogError` for a header it cannot use."""
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CatalogError("empty_csv", "CSV 为空(缺少表头行)", "the CSV is empty (no header row)") from None
    except csv.Error as err:
        raise CatalogError("malformed_csv", f"CSV 格式有误:{err}", f"malformed CSV: {err}") from None
    header = [column.strip() for column in header]
    unknown = [column for column in header if column not in ENTRY_FIELDS]
    repeated = sorted({column for column in header if header.count(column) > 1})
    if unknown or repeated or "id" not in header:
        what_zh = "、".join(
            [f"未知列 {', '.join(unknown)}"] * bool(unknown)
            + [f"重复列 {', '.join(repeated)}"] * bool(repeated)
            + ["缺少 id 列"] * ("id" not in header)
        )
        what_en = "; ".join(
            [f"unknown columns {', '.join(unknown)}"] * bool(unknown)
            + [f"repeated columns {', '.join(repeated)}"] * bool(repeated)
            + ["no id column"] * ("id" not in header)
        )
        raise CatalogError("invalid_csv_header", f"CSV 表头有误:{what_zh}", f"bad CSV header: {what_en}")
    rows: list[dict[str, str]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            row: dict[str, Any] = dict(zip(header, cells, strict=False))
            if len(cells) > len(header):
                row[f"(column {len(header) + 1})"] = cells[len(header)]
            rows.append(row)
    except csv.Error as err:
        raise CatalogError(
            "malformed_csv", f"CSV 格式有误(第 {reader.line_num} 行):{err}", f"malformed CSV: {err}"
        ) from None
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return LIST_SEPARATOR.join(value)
    return str(value)


def write_csv(entries: Iterable[Mapping[str, Any]]) -> str:
    """Entries as CSV: a header row of :data:`ENTRY_FIELDS`, lists joined by ``|``, booleans
    ``true``/``false`` — what :func:`read_csv` and :func:`parse_row` read back."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ENTRY_FIELDS)
    for entry in entries:
        writer.writerow([_cell(entry.get(name, DEFAULTS.get(name, ""))) for name in ENTRY_FIELDS])
    return out.getvalue()
