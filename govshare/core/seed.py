"""Demo data for ``make run`` and the tests: departments, a small catalog and one token per role.

Everything is in Chinese with English names beside it. The resources cover every branch of a
sharing application (Hubei 11, 12, 21; Luzhou 25): unconditional without controlled parameters
(the platform authorizes directly), unconditional with controlled parameters (the provider
authorizes), conditional (incl. 数据比对 comparison mode), and not shared with its legal basis
(Hubei 8(1)).

Tokens are deterministic (``demo-<department>-<role>``) so the README can show curl lines; they are
public, which is why settings refuse ``SEED_DEMO`` in production. Only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from govshare.core import catalog
from govshare.core.models import Credential, Department, Resource, RoleAssignment
from govshare.core.settings import Settings

log = structlog.get_logger("govshare.core.seed")


@dataclass(frozen=True)
class DemoToken:
    department: str
    department_name_zh: str
    role: str
    token: str


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def demo_token(department: str, role: str) -> str:
    return f"demo-{department}-{role}"


#: (code, 中文名, English name, roles its demo tokens act in)
DEPARTMENTS: list[tuple[str, str, str, list[str]]] = [
    ("bdb", "市政务服务和大数据管理局", "Municipal Government Services and Big Data Bureau", ["platform"]),
    ("gaj", "市公安局", "Municipal Public Security Bureau", ["provider", "consumer"]),
    ("scjgj", "市市场监督管理局", "Municipal Market Supervision Administration", ["provider", "consumer"]),
    ("rsj", "市人力资源和社会保障局", "Municipal Human Resources and Social Security Bureau", ["consumer"]),
    ("mzj", "市民政局", "Municipal Civil Affairs Bureau", ["consumer", "provider"]),
    (
        "lgo",
        "数字政府建设领导小组办公室",
        "Office of the Digital Government Leading Group",
        ["leading_group"],
    ),
    ("sjj", "市审计局", "Municipal Audit Bureau", ["auditor"]),
    (
        "jxw",
        "市经济和信息化局",
        "Municipal Economy and Information Technology Bureau",
        ["coordinator"],
    ),
    ("szfb", "市人民政府办公室", "Municipal Government Office", ["government_office"]),
]

#: The demo role directory (role → department code; ``bdb`` stands for the settings'
#: ``platform_department``): seeded only where the role has no row, never over an operator's choice.
DIRECTORY: dict[str, str] = {
    "platform": "bdb",
    "leading_group": "lgo",
    "coordinator": "jxw",
    "government_office": "szfb",
}

#: Sharing modes (Jiangsu 15; Luzhou 25 for 数据比对): system_docking 系统对接, front_end_processor
#: 前置机交换, online_query 在线查询, batch_download 批量下载, data_comparison 数据比对.
RESOURCES: list[dict] = [
    {
        # Basic resource (基础信息资源): its basic items are unconditional (Hubei 8(2)); no controlled
        # parameters → the platform authorizes directly (Hubei 11, 21).
        "id": "gaj-population-basic",
        "kind": "basic",  # 基础信息资源 (Luzhou 18): its basic items are shared unconditionally
        "name_zh": "人口基本信息",
        "name_en": "Population basic information",
        "provider_department": "gaj",
        "share_type": "unconditional",
        "controlled_parameters": False,
        "sharing_modes": ["online_query", "system_docking"],
        "fields": ["name", "citizen_id", "gender", "ethnicity", "birth_date", "household_address"],
    },
    {
        # Unconditional but with controlled parameters (需要管控参数): the provider authorizes (Hubei 12, 20).
        "id": "scjgj-legal-entity-basic",
        "kind": "basic",  # 基础信息资源 (Luzhou 18): its basic items are shared unconditionally
        "name_zh": "法人单位基本信息",
        "name_en": "Legal entity basic information",
        "provider_department": "scjgj",
        "share_type": "unconditional",
        "controlled_parameters": True,
        "sharing_modes": ["system_docking", "online_query", "batch_download"],
        "fields": [
            "unified_social_credit_code",
            "entity_name",
            "legal_representative",
            "registered_address",
            "registration_status",
            "established_on",
        ],
    },
    {
        # Conditional (有条件共享): the provider authorizes; comparison mode returns results only (Luzhou 25).
        "id": "gaj-household-members",
        "name_zh": "户籍及家庭成员关系信息",
        "name_en": "Household registration and family relations",
        "provider_department": "gaj",
        "share_type": "conditional",
        "controlled_parameters": True,
        "sharing_modes": ["online_query", "data_comparison", "front_end_processor"],
        "fields": ["citizen_id", "name", "household_id", "relation_to_head", "members", "moved_in_on"],
    },
    {
        "id": "scjgj-administrative-penalty",
        "name_zh": "市场监管行政处罚信息",
        "name_en": "Market supervision administrative penalties",
        "provider_department": "scjgj",
        "share_type": "conditional",
        "controlled_parameters": True,
        "sharing_modes": ["batch_download", "online_query", "data_comparison"],
        "fields": [
            "unified_social_credit_code",
            "entity_name",
            "penalty_decision_no",
            "penalty",
            "decided_on",
        ],
    },
    {
        "id": "mzj-marriage-registration",
        "name_zh": "婚姻登记信息",
        "name_en": "Marriage registration",
        "provider_department": "mzj",
        "share_type": "conditional",
        "controlled_parameters": True,
        "sharing_modes": ["online_query", "data_comparison"],
        "fields": ["citizen_id", "name", "spouse_citizen_id", "marital_status", "registered_on"],
    },
    {
        # Not shared (不予共享): must name its legal basis (Hubei 8(1), Jiangsu 11(1)).
        "id": "gaj-criminal-investigation",
        "name_zh": "刑事案件侦查信息",
        "name_en": "Criminal investigation files",
        "provider_department": "gaj",
        "share_type": "not_shared",
        "controlled_parameters": False,
        "sharing_modes": [],
        "fields": ["case_no", "suspects", "investigation_measures"],
        "legal_basis": "《中华人民共和国保守国家秘密法》",
    },
]


def _demo_token_list(platform_department: str) -> list[DemoToken]:
    tokens: list[DemoToken] = []
    for code, name_zh, _name_en, roles in DEPARTMENTS:
        code = platform_department if code == "bdb" else code
        for role in roles:
            tokens.append(DemoToken(code, name_zh, role, demo_token(code, role)))
    return tokens


def seed_demo(engine: Engine, *, platform_department: str = "bdb") -> list[DemoToken]:
    """Insert the demo data when the database has no department yet; return the demo tokens in force.

    Safe on every start (and when two processes start at once: the loser's insert fails on the
    primary key and it reads what the winner wrote). A database that already holds departments gets
    no department, credential or resource; the tokens returned are those of the demo credentials
    still present. The demo role directory (:data:`DIRECTORY`) is filled on every start, but only
    for a role that has no row and whose department exists: an operator's choice stays.
    """
    now = datetime.now(UTC)
    with Session(engine) as session:
        empty = session.exec(select(Department).limit(1)).first() is None
        if empty:
            try:
                _insert(session, now, platform_department)
                session.commit()
                log.info("demo_seeded", departments=len(DEPARTMENTS), resources=len(RESOURCES))
            except IntegrityError:
                session.rollback()
                log.info("demo_seed_raced", note="another process seeded first")
        _seed_directory(session, now, platform_department)
        present = {
            row
            for row in session.exec(
                select(Credential.token_sha256).where(Credential.revoked_at.is_(None))  # type: ignore[union-attr]
            ).all()
        }
    return [t for t in _demo_token_list(platform_department) if token_sha256(t.token) in present]


def seed_if_enabled(engine: Engine, settings: Settings) -> list[DemoToken]:
    """Seed per ``settings.seed_demo`` (off in production, where the settings refuse it anyway)."""
    if not settings.seed_demo:
        return []
    return seed_demo(engine, platform_department=settings.platform_department)


def _insert(session: Session, now: datetime, platform_department: str) -> None:
    # Departments first, flushed: the tables have foreign keys but no ORM relationships, so the
    # unit of work does not order the inserts by itself.
    for code, name_zh, name_en, _roles in DEPARTMENTS:
        code = platform_department if code == "bdb" else code
        session.add(Department(code=code, name_zh=name_zh, name_en=name_en, created_at=now))
    session.flush()
    for code, name_zh, _name_en, roles in DEPARTMENTS:
        code = platform_department if code == "bdb" else code
        for role in roles:
            session.add(
                Credential(
                    token_sha256=token_sha256(demo_token(code, role)),
                    department_code=code,
                    role=role,
                    label=f"demo: {name_zh} {role}",
                    created_at=now,
                )
            )
    for spec in RESOURCES:
        basic = spec.get("fields", []) if spec.get("kind") == "basic" else []  # every item a basic one
        session.add(Resource(**spec, basic_items=list(basic), version=1, created_at=now))
    session.flush()
    # As if published through the register: a version row each, and the search terms.
    catalog.adopt_unversioned(session, now=now, department=platform_department)


def _seed_directory(session: Session, now: datetime, platform_department: str) -> None:
    """Add the rows of :data:`DIRECTORY` whose role has none (and whose department exists)."""
    present = set(session.exec(select(RoleAssignment.role)).all())
    departments = set(session.exec(select(Department.code)).all())
    added, skipped = [], []
    for role, code in DIRECTORY.items():
        code = platform_department if code == "bdb" else code
        if role in present:
            continue
        if code not in departments:  # a database seeded before the department was in the demo
            skipped.append(f"{role}→{code}")
            continue
        session.add(RoleAssignment(role=role, department=code, note="demo", updated_at=now))
        added.append(role)
    if skipped:
        log.info("demo_directory_skipped", missing_departments=skipped)
    if not added:
        return
    try:
        session.commit()
        log.info("demo_directory_seeded", roles=added)
    except IntegrityError:
        session.rollback()
        log.info("demo_directory_raced", note="another process seeded it first")
