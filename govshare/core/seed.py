"""Demo data for ``make run`` and the tests: departments, a catalog worth browsing, one token per role.

Everything is in Chinese with English names beside it. The resources cover every branch of a
sharing application (Hubei 11, 12, 21; Luzhou 25): unconditional without controlled parameters
(the platform authorizes directly), unconditional with controlled parameters (the provider
authorizes), conditional (incl. 数据比对 comparison mode), and not shared with its legal basis
(Hubei 8(1)). Beside them :data:`CATALOG` is a realistic catalog (issue 19): some fifty entries of a
dozen departments, every share type, sharing mode, kind and update period, each valid under every
profile's rules (``tests/test_catalog_lists.py``). The seed fills the providers' responsibility lists
(责任清单) from the entries it publishes and states a few open demands (需求清单, :data:`DEMANDS`).

Beside the departments, parties who are not departments (:data:`PARTIES`; Luoyang: 公民、法人和其他组织
report doubtful data and apply for open data): a citizen (``demo-citizen``) and a company
(``demo-company``), and a principal head (主要负责人) of each department that provides data
(``demo-<department>-head``). Their identities have fixed references (``P-DEMO-CITIZEN``,
``P-DEMO-COMPANY``, ``P-DEMO-<DEPARTMENT>-HEAD``) so tests and the README can name them.

Tokens are deterministic (``demo-<department>-<role>``) so the README can show curl lines; they are
public, which is why settings refuse ``SEED_DEMO`` in production. Only their keyed digest is stored
(``govshare/core/tokens.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from govshare.core import catalog, catalog_lists, tokens
from govshare.core.models import (
    Credential,
    Department,
    PartyIdentity,
    Resource,
    ResourceVersion,
    RoleAssignment,
)
from govshare.core.settings import Settings

log = structlog.get_logger("govshare.core.seed")


@dataclass(frozen=True)
class DemoToken:
    """A demo token in force. ``department_name_zh`` is the Chinese name printed beside it: the
    department's, or for a person's token who it is (公民 李明, 市公安局主要负责人); ``department`` is ""
    for a citizen's token, ``person`` the identity reference of a person's token."""

    department: str
    department_name_zh: str
    role: str
    token: str
    person: str = ""


def token_sha256(token: str) -> str:
    """The *legacy* unkeyed SHA-256 of a token (credentials made before migration 0010). A new
    credential stores :func:`govshare.core.tokens.token_digest` (keyed) with ``hash_scheme``
    "hmac-sha256"; a row stored with this digest must say ``hash_scheme="sha256"``."""
    return tokens.legacy_digest(token)


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
    # Providers of the realistic demo catalog (:data:`CATALOG`); each also applies for data.
    ("wjw", "市卫生健康委员会", "Municipal Health Commission", ["provider", "consumer"]),
    ("jyj", "市教育局", "Municipal Education Bureau", ["provider", "consumer"]),
    (
        "zrzyj",
        "市自然资源和规划局",
        "Municipal Natural Resources and Planning Bureau",
        ["provider", "consumer"],
    ),
    (
        "zjj",
        "市住房和城乡建设局",
        "Municipal Housing and Urban-Rural Development Bureau",
        ["provider", "consumer"],
    ),
    ("ybj", "市医疗保障局", "Municipal Healthcare Security Bureau", ["provider", "consumer"]),
    ("sfj", "市司法局", "Municipal Justice Bureau", ["provider", "consumer"]),
    ("sthjj", "市生态环境局", "Municipal Ecology and Environment Bureau", ["provider", "consumer"]),
    ("swj", "市税务局", "Municipal Taxation Bureau", ["provider", "consumer"]),
]

#: The role of a citizen's (or a legal person's, an organisation's) credential, and of a principal head's.
CITIZEN_ROLE = "citizen"
HEAD_ROLE = "principal_head"


@dataclass(frozen=True)
class DemoParty:
    """A demo identity and its token: a party who is not a department (``department`` None) or a
    person of a department (its principal head)."""

    id: str
    kind: str  # person | legal_person | organisation
    name: str
    id_type: str
    id_number: str
    token: str
    role: str
    label_zh: str  # printed beside the token
    department: str | None = None


#: Parties who are not departments (Luoyang: 公民、法人和其他组织). The ID numbers are made up.
PARTIES: list[DemoParty] = [
    DemoParty(
        "P-DEMO-CITIZEN",
        "person",
        "李明",
        "resident_id",
        "410302199001011234",
        "demo-citizen",
        CITIZEN_ROLE,
        "公民 李明",
    ),
    DemoParty(
        "P-DEMO-COMPANY",
        "legal_person",
        "洛阳数智科技有限公司",
        "unified_social_credit_code",
        "91410300MA44B2R37Q",
        "demo-company",
        CITIZEN_ROLE,
        "法人 洛阳数智科技有限公司",
    ),
]


def head_identity_id(department: str) -> str:
    """The demo principal head's identity reference, e.g. ``P-DEMO-GAJ-HEAD``."""
    return f"P-DEMO-{department.upper()}-HEAD"


def head_token(department: str) -> str:
    return f"demo-{department}-head"


def demo_parties(platform_department: str = "bdb") -> list[DemoParty]:
    """:data:`PARTIES`, then a principal head (主要负责人) of each department that plays ``provider``
    in the demo (it approves its department's extensions)."""
    heads = []
    for code, name_zh, _name_en, roles in DEPARTMENTS:
        code = platform_department if code == "bdb" else code
        if "provider" not in roles:
            continue
        heads.append(
            DemoParty(
                head_identity_id(code),
                "person",
                f"{name_zh}主要负责人",
                "other",
                f"demo-{code}-head-0001",
                head_token(code),
                HEAD_ROLE,
                f"{name_zh}主要负责人",
                department=code,
            )
        )
    return [*PARTIES, *heads]


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


#: Legal bases the demo catalog cites (conditional entries name theirs too, as Luoyang 25(1) asks).
_PIPL = "《中华人民共和国个人信息保护法》第十三条、第三十四条"
_GOV_DATA = "《国务院关于印发政务信息资源共享管理暂行办法的通知》(国发〔2016〕51号)"


def _entry(
    resource_id: str,
    department: str,
    name_zh: str,
    name_en: str,
    fields: list[str],
    *,
    share_type: str = "unconditional",
    modes: tuple[str, ...] = ("online_query",),
    kind: str = "departmental",
    period: str = "monthly",
    classification: str = "",
    description: str = "",
    controlled: bool = False,
    legal_basis: str = "",
    format: str = "数据库表",
    open_type: str = "",
    usage: str = "",
) -> dict:
    """One entry of the demo catalog (every field of ``govshare.core.catalog.ENTRY_FIELDS``); a basic
    entry's fields are all basic items, so it is unconditional (Hubei 8(2), Luzhou 22)."""
    return {
        "id": resource_id,
        "name_zh": name_zh,
        "name_en": name_en,
        "provider_department": department,
        "description": description,
        "classification": classification,
        "kind": kind,
        "fields": fields,
        "basic_items": list(fields) if kind == "basic" else [],
        "format": format,
        "update_period": period,
        "share_type": share_type,
        "controlled_parameters": controlled,
        "sharing_modes": [] if share_type == "not_shared" else list(modes),
        "usage_requirements": usage,
        "open_type": open_type,
        "legal_basis": legal_basis if legal_basis or share_type != "conditional" else _PIPL,
    }


_E = _entry
#: The realistic demo catalog (issue 19): dozens of entries of several departments, every share type
#: (not_shared with its legal basis), every sharing mode, the three kinds, every update period. Added
#: to :data:`RESOURCES` (which stays as it was: the tests name those entries).
# fmt: off
CATALOG: list[dict] = [
    # -- 市公安局 ---------------------------------------------------------------------------------
    _E("gaj-resident-permit", "gaj", "居住证信息", "Residence permits",
       ["citizen_id", "name", "permit_no", "residence_address", "valid_until"],
       share_type="conditional", modes=("online_query", "data_comparison"), controlled=True,
       period="daily", classification="综合政务/人口信息", description="流动人口居住证办理与有效期信息"),
    _E("gaj-motor-vehicle", "gaj", "机动车登记信息", "Motor vehicle registration",
       ["plate_no", "vehicle_type", "owner_name", "owner_citizen_id", "registered_on"],
       share_type="conditional", modes=("online_query", "front_end_processor"), controlled=True,
       period="daily", classification="交通运输/车辆", description="机动车注册、转移、注销登记信息"),
    _E("gaj-driver-licence", "gaj", "机动车驾驶证信息", "Driving licences",
       ["citizen_id", "name", "licence_class", "issued_on", "status"],
       share_type="conditional", modes=("online_query", "data_comparison"), controlled=True,
       period="daily", classification="交通运输/驾驶人"),
    _E("gaj-death-cancellation", "gaj", "死亡人口户籍注销信息", "Deaths: household registration cancelled",
       ["citizen_id", "name", "cancelled_on", "reason"],
       share_type="conditional", modes=("batch_download", "system_docking"),
       period="daily", classification="综合政务/人口信息",
       description="因死亡注销户口的人员信息,用于停发待遇等"),
    # -- 市市场监督管理局 ---------------------------------------------------------------------------
    _E("scjgj-enterprise-annual-report", "scjgj", "企业年度报告公示信息", "Enterprise annual reports",
       ["unified_social_credit_code", "entity_name", "report_year", "employees", "operating_status"],
       modes=("online_query", "batch_download"), period="yearly", classification="市场监管/企业信用",
       open_type="open", description="企业通过国家企业信用信息公示系统报送的年度报告"),
    _E("scjgj-abnormal-operation", "scjgj", "经营异常名录信息", "Abnormal operation list",
       ["unified_social_credit_code", "entity_name", "listed_on", "listing_reason", "removed_on"],
       modes=("online_query", "system_docking", "batch_download"), period="daily",
       classification="市场监管/企业信用", open_type="open"),
    _E("scjgj-food-licence", "scjgj", "食品经营许可信息", "Food business licences",
       ["licence_no", "entity_name", "business_scope", "valid_until"],
       modes=("online_query",), period="weekly", classification="市场监管/许可"),
    _E("scjgj-special-equipment", "scjgj", "特种设备使用登记信息", "Special equipment registration",
       ["equipment_code", "equipment_type", "user_entity", "registered_on", "inspection_due"],
       share_type="conditional", modes=("front_end_processor",), period="monthly",
       classification="市场监管/特种设备"),
    # -- 市民政局 -----------------------------------------------------------------------------------
    _E("mzj-minimum-living", "mzj", "最低生活保障对象信息", "Minimum living allowance recipients",
       ["citizen_id", "name", "household_size", "monthly_allowance", "approved_on"],
       share_type="conditional", modes=("data_comparison", "online_query"), controlled=True,
       period="monthly", classification="社会保障/社会救助", description="城乡低保对象认定及待遇发放信息"),
    _E("mzj-social-organization", "mzj", "社会组织登记信息", "Social organisations",
       ["unified_social_credit_code", "organization_name", "organization_type", "legal_representative"],
       modes=("online_query", "batch_download"), period="monthly", classification="社会管理/社会组织",
       open_type="open"),
    _E("mzj-elderly-subsidy", "mzj", "高龄津贴发放信息", "Old-age allowance payments",
       ["citizen_id", "name", "age_band", "amount", "paid_on"],
       share_type="conditional", modes=("batch_download",), period="monthly",
       classification="社会保障/养老服务"),
    _E("mzj-place-names", "mzj", "标准地名地址信息", "Standard place names and addresses",
       ["address_code", "standard_address", "district", "longitude", "latitude"],
       kind="basic", modes=("system_docking", "online_query", "batch_download"), period="quarterly",
       classification="空间地理/地名地址", description="全市标准地名与门楼牌地址,空间地理基础信息"),
    # -- 市卫生健康委员会 ---------------------------------------------------------------------------
    _E("wjw-birth-certificate", "wjw", "出生医学证明信息", "Birth medical certificates",
       ["certificate_no", "newborn_name", "birth_date", "mother_citizen_id", "father_citizen_id"],
       share_type="conditional", modes=("online_query", "data_comparison"), controlled=True,
       period="daily", classification="卫生健康/妇幼保健",
       description="新生儿出生医学证明签发信息(出生“一件事”)"),
    _E("wjw-death-certificate", "wjw", "居民死亡医学证明信息", "Death medical certificates",
       ["certificate_no", "citizen_id", "name", "died_on", "cause_category"],
       share_type="conditional", modes=("system_docking",), controlled=True, period="daily",
       classification="卫生健康/死因监测"),
    _E("wjw-medical-institution", "wjw", "医疗机构执业登记信息", "Licensed medical institutions",
       ["institution_code", "institution_name", "grade", "address", "licensed_until"],
       modes=("online_query", "batch_download"), period="monthly", classification="卫生健康/医疗机构",
       open_type="open"),
    _E("wjw-physician-registration", "wjw", "医师执业注册信息", "Physician registrations",
       ["physician_no", "name", "practice_category", "institution_name"],
       modes=("online_query",), period="monthly", classification="卫生健康/医护人员"),
    _E("wjw-vaccination", "wjw", "预防接种信息", "Vaccination records",
       ["child_citizen_id", "vaccine", "dose", "vaccinated_on", "clinic"],
       share_type="conditional", modes=("data_comparison",), controlled=True, period="realtime",
       classification="卫生健康/疾病预防", description="儿童预防接种记录,入托入学查验接种证时比对"),
    _E("wjw-medical-records", "wjw", "电子病历信息", "Electronic medical records",
       ["patient_citizen_id", "diagnosis", "treatment", "institution_code"],
       share_type="not_shared", period="realtime", classification="卫生健康/诊疗",
       legal_basis="《中华人民共和国基本医疗卫生与健康促进法》第九十二条;《医疗机构病历管理规定》第六条"),
    # -- 市教育局 -----------------------------------------------------------------------------------
    _E("jyj-student-status", "jyj", "中小学生学籍信息", "Primary and secondary school enrolment",
       ["student_no", "citizen_id", "name", "school", "grade"],
       share_type="conditional", modes=("online_query", "data_comparison"), controlled=True,
       period="quarterly", classification="教育/学籍"),
    _E("jyj-school-directory", "jyj", "各级各类学校基本信息", "Schools",
       ["school_code", "school_name", "school_type", "address", "enrolment_capacity"],
       kind="thematic", modes=("online_query", "batch_download"), period="yearly",
       classification="教育/学校", open_type="open"),
    _E("jyj-teacher-qualification", "jyj", "教师资格认定信息", "Teacher qualifications",
       ["certificate_no", "name", "subject", "level", "certified_on"],
       modes=("online_query",), period="quarterly", classification="教育/教师"),
    _E("jyj-student-aid", "jyj", "学生资助信息", "Student financial aid",
       ["citizen_id", "name", "aid_type", "amount", "school_year"],
       share_type="conditional", modes=("batch_download", "data_comparison"), period="yearly",
       classification="教育/学生资助"),
    # -- 市自然资源和规划局 -------------------------------------------------------------------------
    _E("zrzyj-real-estate-registration", "zrzyj", "不动产登记信息", "Real estate registration",
       ["certificate_no", "owner_name", "owner_citizen_id", "property_address", "area_m2", "registered_on"],
       share_type="conditional", modes=("online_query", "front_end_processor"), controlled=True,
       period="daily", classification="自然资源/不动产",
       legal_basis="《不动产登记暂行条例》第二十七条;《中华人民共和国个人信息保护法》第十三条"),
    _E("zrzyj-land-use-plan", "zrzyj", "国土空间规划信息", "Territorial spatial planning",
       ["plan_code", "plan_name", "zone_type", "approved_on"],
       kind="basic", modes=("system_docking", "batch_download"), period="yearly",
       classification="空间地理/国土空间规划", format="电子文件"),
    _E("zrzyj-land-supply", "zrzyj", "国有建设用地供应信息", "State-owned construction land supply",
       ["parcel_no", "location", "land_use", "area_m2", "transferee", "contract_on"],
       modes=("online_query", "batch_download"), period="monthly", classification="自然资源/土地供应",
       open_type="open"),
    _E("zrzyj-survey-geodata", "zrzyj", "基础测绘成果信息", "Basic surveying and mapping data",
       ["sheet_no", "scale", "coordinate_system", "surveyed_on"],
       share_type="not_shared", period="yearly", classification="空间地理/测绘", format="电子文件",
       legal_basis="《中华人民共和国测绘法》第三十四条;《中华人民共和国保守国家秘密法》"),
    # -- 市住房和城乡建设局 -------------------------------------------------------------------------
    _E("zjj-housing-contract", "zjj", "商品房网签备案信息", "Commercial housing contract filings",
       ["contract_no", "buyer_citizen_id", "buyer_name", "property_address", "price", "filed_on"],
       share_type="conditional", modes=("online_query", "data_comparison"), controlled=True,
       period="daily", classification="住房城乡建设/房地产市场"),
    _E("zjj-construction-permit", "zjj", "建筑工程施工许可信息", "Construction permits",
       ["permit_no", "project_name", "builder", "contractor", "issued_on"],
       modes=("online_query", "system_docking"), period="weekly", classification="住房城乡建设/工程建设",
       open_type="open"),
    _E("zjj-qualified-enterprise", "zjj", "建筑业企业资质信息", "Construction enterprise qualifications",
       ["unified_social_credit_code", "entity_name", "qualification", "valid_until"],
       modes=("online_query", "batch_download"), period="monthly", classification="住房城乡建设/企业资质"),
    _E("zjj-public-rental-housing", "zjj", "公共租赁住房保障信息", "Public rental housing",
       ["citizen_id", "name", "household_size", "housing_address", "allocated_on"],
       share_type="conditional", modes=("data_comparison",), period="monthly",
       classification="住房城乡建设/住房保障"),
    # -- 市医疗保障局 -------------------------------------------------------------------------------
    _E("ybj-medical-insurance-enrolment", "ybj", "基本医疗保险参保信息", "Basic medical insurance enrolment",
       ["citizen_id", "name", "insurance_type", "enrolled_on", "status"],
       share_type="conditional", modes=("online_query", "system_docking", "data_comparison"),
       controlled=True, period="daily", classification="社会保障/医疗保障"),
    _E("ybj-designated-institution", "ybj", "医保定点医药机构信息",
       "Designated medical institutions and pharmacies",
       ["institution_code", "institution_name", "institution_type", "address"],
       kind="thematic", modes=("online_query", "batch_download"), period="monthly",
       classification="社会保障/医疗保障", open_type="open"),
    _E("ybj-settlement", "ybj", "医疗费用结算信息", "Medical expense settlements",
       ["citizen_id", "institution_code", "total_amount", "fund_paid", "settled_on"],
       share_type="conditional", modes=("front_end_processor",), controlled=True, period="daily",
       classification="社会保障/医疗保障"),
    _E("ybj-medical-assistance", "ybj", "医疗救助对象信息", "Medical assistance recipients",
       ["citizen_id", "name", "assistance_category", "approved_on"],
       share_type="conditional", modes=("batch_download", "data_comparison"), period="monthly",
       classification="社会保障/社会救助"),
    # -- 市司法局 -----------------------------------------------------------------------------------
    _E("sfj-lawyer-practice", "sfj", "律师执业信息", "Practising lawyers",
       ["licence_no", "name", "law_firm", "practice_status"],
       modes=("online_query",), period="monthly", classification="司法行政/法律服务", open_type="open"),
    _E("sfj-notarization", "sfj", "公证书信息", "Notarial certificates",
       ["certificate_no", "applicant_name", "matter", "issued_on"],
       share_type="conditional", modes=("online_query", "data_comparison"), period="daily",
       classification="司法行政/公证"),
    _E("sfj-legal-aid", "sfj", "法律援助案件信息", "Legal aid cases",
       ["case_no", "aided_person", "case_type", "accepted_on"],
       share_type="conditional", modes=("batch_download",), period="monthly",
       classification="司法行政/法律援助"),
    _E("sfj-community-correction", "sfj", "社区矫正对象信息", "Persons under community correction",
       ["citizen_id", "name", "sentence", "correction_period"],
       share_type="not_shared", period="weekly", classification="司法行政/社区矫正",
       legal_basis="《中华人民共和国社区矫正法》第四条、第五十四条"),
    # -- 市生态环境局 -------------------------------------------------------------------------------
    _E("sthjj-pollutant-permit", "sthjj", "排污许可信息", "Pollutant discharge permits",
       ["permit_no", "unified_social_credit_code", "entity_name", "pollutants", "valid_until"],
       modes=("online_query", "batch_download"), period="weekly", classification="生态环境/排污许可",
       open_type="open"),
    _E("sthjj-air-quality", "sthjj", "环境空气质量监测信息", "Ambient air quality monitoring",
       ["station_code", "measured_at", "aqi", "pm25", "pm10"],
       kind="thematic", modes=("system_docking", "batch_download"), period="realtime",
       classification="生态环境/环境监测", open_type="open"),
    _E("sthjj-eia-approval", "sthjj", "建设项目环境影响评价审批信息",
       "Environmental impact assessment approvals",
       ["approval_no", "project_name", "builder", "approved_on"],
       modes=("online_query",), period="weekly", classification="生态环境/环评审批"),
    _E("sthjj-environmental-penalty", "sthjj", "生态环境行政处罚信息",
       "Environmental administrative penalties",
       ["decision_no", "unified_social_credit_code", "entity_name", "penalty", "decided_on"],
       share_type="conditional", modes=("batch_download", "online_query"), period="monthly",
       classification="生态环境/执法"),
    # -- 市税务局 -----------------------------------------------------------------------------------
    _E("swj-tax-registration", "swj", "纳税人登记信息", "Taxpayer registration",
       ["taxpayer_id", "taxpayer_name", "taxpayer_type", "registered_on", "status"],
       kind="basic", modes=("system_docking", "online_query"), period="daily",
       classification="财政税务/纳税人"),
    _E("swj-tax-credit-rating", "swj", "纳税信用等级信息", "Tax credit ratings",
       ["taxpayer_id", "taxpayer_name", "rating", "rating_year"],
       modes=("online_query", "batch_download"), period="yearly", classification="财政税务/纳税信用",
       open_type="open"),
    _E("swj-tax-arrears", "swj", "欠税公告信息", "Tax arrears announcements",
       ["taxpayer_id", "taxpayer_name", "tax_type", "arrears_amount"],
       modes=("online_query",), period="quarterly", classification="财政税务/欠税"),
    _E("swj-tax-returns", "swj", "纳税申报明细信息", "Tax return details",
       ["taxpayer_id", "tax_type", "period", "taxable_amount", "tax_paid"],
       share_type="not_shared", period="monthly", classification="财政税务/申报",
       legal_basis="《中华人民共和国税收征收管理法》第八条(为纳税人保密)"),
    # -- 主题信息资源(跨部门) -----------------------------------------------------------------------
    _E("zjj-urban-village-renewal", "zjj", "城市更新项目主题库", "Urban renewal projects (thematic)",
       ["project_code", "project_name", "district", "households", "stage"],
       kind="thematic", modes=("system_docking",), period="none", classification="住房城乡建设/城市更新",
       format="接口服务", description="城市更新项目的跨部门主题信息,汇集规划、住建、民政数据"),
    _E("mzj-disabled-persons-services", "mzj", "困难残疾人生活补贴主题库",
       "Disability living subsidies (thematic)",
       ["citizen_id", "name", "disability_level", "subsidy", "paid_on"],
       kind="thematic", share_type="conditional", modes=("data_comparison", "batch_download"),
       period="monthly", classification="社会保障/残疾人服务"),
]
# fmt: on

#: Open demands of the demo demand list (需求清单, Luoyang 12): what departments need and the catalog
#: does not yet answer.
DEMANDS: list[dict] = [
    {
        "department": "rsj",
        "title": "灵活就业人员不动产登记核验",
        "description": "办理灵活就业人员社保补贴时核验申请人名下不动产情况",
        "fields_wanted": ["citizen_id", "property_count", "registered_on"],
        "provider_department": "zrzyj",
    },
    {
        "department": "mzj",
        "title": "低保对象车辆登记比对",
        "description": "低保资格复核时比对家庭成员名下机动车情况(仅返回比对结果)",
        "fields_wanted": ["citizen_id", "vehicle_count"],
        "provider_department": "gaj",
    },
    {
        "department": "jyj",
        "title": "随迁子女入学居住及社保信息",
        "description": "义务教育阶段随迁子女入学资格审核需要的居住和参保年限信息",
        "fields_wanted": ["citizen_id", "residence_years", "insured_years"],
        "provider_department": None,
    },
]


def _demo_token_list(platform_department: str) -> list[DemoToken]:
    listed: list[DemoToken] = []
    for code, name_zh, _name_en, roles in DEPARTMENTS:
        code = platform_department if code == "bdb" else code
        for role in roles:
            listed.append(DemoToken(code, name_zh, role, demo_token(code, role)))
    for party in demo_parties(platform_department):
        listed.append(DemoToken(party.department or "", party.label_zh, party.role, party.token, party.id))
    return listed


def seed_demo(
    engine: Engine, *, platform_department: str = "bdb", key: bytes | None = None
) -> list[DemoToken]:
    """Insert the demo data when the database has no department yet; return the demo tokens in force.

    Safe on every start (and when two processes start at once: the loser's insert fails on the
    primary key and it reads what the winner wrote). A database that already holds departments gets
    no department, credential or resource; the tokens returned are those of the demo credentials
    still present. The demo role directory (:data:`DIRECTORY`) is filled on every start, but only
    for a role that has no row and whose department exists: an operator's choice stays. So are the
    demo parties (:func:`demo_parties`): an identity or a token that is missing is added (a database
    seeded before they were in the demo gets them), one present is left as it is (a revoked demo
    token stays revoked). The demo users (``govshare.core.users.demo_users``) likewise: a missing one
    is added, one present never changed (a changed password stays).

    Tokens are stored keyed (``key``: default the server's, :func:`govshare.core.tokens.server_key`);
    a demo credential still stored as its legacy SHA-256 (a database seeded before migration 0010) is
    rewritten to the keyed digest here, as its token is known.
    """
    now = datetime.now(UTC)
    key = tokens.server_key() if key is None else key
    with Session(engine) as session:
        empty = session.exec(select(Department).limit(1)).first() is None
        if empty:
            try:
                _insert(session, now, platform_department, key)
                session.commit()
                log.info("demo_seeded", departments=len(DEPARTMENTS), resources=len(RESOURCES) + len(CATALOG))
            except IntegrityError:
                session.rollback()
                log.info("demo_seed_raced", note="another process seeded first")
        demo = [t.token for t in _demo_token_list(platform_department)]
        upgraded = tokens.upgrade_known(session, demo, key)
        session.commit()
        if upgraded:
            log.info("demo_tokens_rehashed", credentials=upgraded, scheme=tokens.KEYED)
        _seed_directory(session, now, platform_department)
        _seed_parties(session, now, platform_department, key)
        # The demo users (password ``govshare-demo``): a clerk per department, the heads, the citizen.
        from govshare.core.users import seed_demo_users  # users builds on this module

        seed_demo_users(session, now, platform_department)
        present = {
            row
            for row in session.exec(
                select(Credential.token_sha256).where(Credential.revoked_at.is_(None))  # type: ignore[union-attr]
            ).all()
        }
    return [t for t in _demo_token_list(platform_department) if tokens.keyed_digest(t.token, key) in present]


def seed_if_enabled(engine: Engine, settings: Settings) -> list[DemoToken]:
    """Seed per ``settings.seed_demo`` (off in production, where the settings refuse it anyway)."""
    if not settings.seed_demo:
        return []
    return seed_demo(
        engine, platform_department=settings.platform_department, key=tokens.server_key(settings)
    )


class DemoCredentialsInProduction(RuntimeError):
    """Production refuses to start while a demo credential could still be used (issue 23): the demo
    tokens and the demo password are public. ``str()`` is one line naming what to revoke."""


def _production_platforms(platform_department: str) -> list[str]:
    # The demo stands ``bdb`` for the platform: a database seeded under another PLATFORM_DEPARTMENT
    # has that one's tokens, and one seeded with the default has bdb's.
    return list(dict.fromkeys([platform_department, "bdb"]))


def demo_tokens_present(session: Session, settings: Settings | None = None) -> list[tuple[int, str]]:
    """The demo credentials that would still authenticate: ``(credential id, demo token)`` of each
    un-revoked, unexpired credential found as the API's lookup (``api.deps._authenticate``) finds
    one: by the token's digests (:func:`govshare.core.tokens.digests`: keyed under the server's key,
    and legacy SHA-256), accepted when the row's digest is the one of its own scheme
    (:func:`govshare.core.tokens.matches`)."""
    key = tokens.server_key(settings)
    now = datetime.now(UTC)
    platforms = _production_platforms(settings.platform_department if settings else "bdb")
    wanted = {
        demo.token: tokens.digests(demo.token, key)
        for platform in platforms
        for demo in _demo_token_list(platform)
    }
    every_digest = sorted({digest for digests in wanted.values() for digest in digests.values()})
    rows = session.exec(
        select(Credential).where(
            col(Credential.token_sha256).in_(every_digest), col(Credential.revoked_at).is_(None)
        )
    ).all()
    found: dict[int, str] = {}
    for credential in rows:
        expires = credential.expires_at
        if credential.id is None or (
            expires is not None and (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) <= now
        ):
            continue
        for token, digests in wanted.items():
            if tokens.matches(credential.token_sha256, credential.hash_scheme, digests):
                found.setdefault(credential.id, token)
                break
    return sorted(found.items())


def demo_users_enabled(session: Session, settings: Settings | None = None) -> list[str]:
    """The demo users (``govshare.core.users.demo_users``) not disabled whose password is still the
    public demo password (``DEMO_PASSWORD``): their usernames. Each distinct hash is verified once
    (the seed gives the demo users one hash), so this costs a few Argon2 checks at most."""
    from govshare.core.models import UserAccount
    from govshare.core.users import DEMO_PASSWORD, demo_users, verify_password  # users builds on seed

    names = {
        user.username
        for platform in _production_platforms(settings.platform_department if settings else "bdb")
        for user in demo_users(platform)
    }
    rows = session.exec(
        select(UserAccount).where(
            col(UserAccount.username).in_(sorted(names)), col(UserAccount.disabled_at).is_(None)
        )
    ).all()
    verdict: dict[str, bool] = {}
    enabled = []
    for user in rows:
        if not user.password_hash:
            continue
        if user.password_hash not in verdict:
            verdict[user.password_hash] = verify_password(user.password_hash, DEMO_PASSWORD)
        if verdict[user.password_hash]:
            enabled.append(user.username)
    return sorted(enabled)


def demo_credentials_present(session: Session, settings: Settings | None = None) -> list[str]:
    """Every demo credential that still works, one item each: ``token <id> (<demo token>)`` for a
    demo token (:func:`demo_tokens_present`), ``user <username>`` for a demo user with the demo
    password (:func:`demo_users_enabled`). Empty: nothing public lets anyone in."""
    return [f"token {cid} ({token})" for cid, token in demo_tokens_present(session, settings)] + [
        f"user {name}" for name in demo_users_enabled(session, settings)
    ]


def refuse_demo_in_production(engine: Engine, settings: Settings) -> None:
    """In production (any spelling of ``ENVIRONMENT`` that means it), raise
    :class:`DemoCredentialsInProduction` while :func:`demo_credentials_present` finds anything; the
    message is one line with the commands that end them. Elsewhere nothing is checked. Called at the
    start of the API (``create_app``'s lifespan), the worker and ``govshare run``."""
    if not settings.is_production:
        return
    with Session(engine) as session:
        token_ids = [cid for cid, _token in demo_tokens_present(session, settings)]
        usernames = demo_users_enabled(session, settings)
    if not token_ids and not usernames:
        return
    todo_zh, todo_en = [], []
    if token_ids:
        ids = " ".join(str(i) for i in token_ids)
        todo_zh.append(f"吊销演示令牌 {len(token_ids)} 个:govshare tokens revoke <编号>(编号 {ids})")
        todo_en.append(f"revoke {len(token_ids)} demo token(s): govshare tokens revoke <id> (ids {ids})")
    if usernames:
        names = " ".join(usernames)
        todo_zh.append(f"停用演示用户 {len(usernames)} 个:govshare users disable <用户名>({names})")
        todo_en.append(
            f"disable {len(usernames)} demo user(s) (or change their password): "
            f"govshare users disable <username> ({names})"
        )
    message = (
        "生产环境拒绝启动:数据库中仍有公开的演示凭据,请先" + ";".join(todo_zh) + " / "
        "refusing to start in production: the database still holds public demo credentials; "
        + "; ".join(todo_en)
    )
    log.error("demo_credentials_in_production", tokens=token_ids, users=usernames)
    raise DemoCredentialsInProduction(message)


def _insert(session: Session, now: datetime, platform_department: str, key: bytes) -> None:
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
                    token_sha256=tokens.keyed_digest(demo_token(code, role), key),
                    hash_scheme=tokens.KEYED,
                    department_code=code,
                    role=role,
                    label=f"demo: {name_zh} {role}",
                    created_at=now,
                )
            )
    for spec in RESOURCES:
        basic = spec.get("fields", []) if spec.get("kind") == "basic" else []  # every item a basic one
        session.add(Resource(**spec, basic_items=list(basic), version=1, created_at=now))
    for spec in CATALOG:
        # Refreshed at seeding: each entry's next refresh falls due under its update period.
        session.add(
            Resource(
                **spec,
                version=1,
                created_at=now,
                last_refreshed_at=now,
                next_refresh_due=catalog.next_due(spec["update_period"], now),
            )
        )
    session.flush()
    # As if published through the register: a version row each, and the search terms.
    adopted = catalog.adopt_unversioned(session, now=now, department=platform_department)
    # The providers' responsibility lists (责任清单, Luoyang 13–14) from what was published.
    versions = session.exec(
        select(ResourceVersion).where(col(ResourceVersion.resource_id).in_(adopted))
    ).all()
    catalog_lists.sync_responsibilities(session, platform_department, versions, now)
    for demand in DEMANDS:
        catalog_lists.create_demand(session, **demand, now=now)


def _seed_parties(session: Session, now: datetime, platform_department: str, key: bytes) -> None:
    """Add the demo identities and their credentials that are missing (a head only where its
    department exists). Never changes a row that is there. Logs identity references, never an ID
    number."""
    identities = set(session.exec(select(PartyIdentity.id)).all())
    stored = set(session.exec(select(Credential.token_sha256)).all())
    departments = set(session.exec(select(Department.code)).all())
    wanted = [
        p for p in demo_parties(platform_department) if p.department is None or p.department in departments
    ]
    new_identities = [p for p in wanted if p.id not in identities]
    new_tokens = [
        p
        for p in wanted
        if tokens.keyed_digest(p.token, key) not in stored and token_sha256(p.token) not in stored
    ]
    if not new_identities and not new_tokens:
        return
    try:
        for party in new_identities:
            session.add(
                PartyIdentity(
                    id=party.id,
                    kind=party.kind,
                    name=party.name,
                    id_type=party.id_type,
                    id_number=party.id_number,
                    department=party.department,
                    created_at=now,
                )
            )
        session.flush()  # identities before the credentials that reference them (no ORM relationships)
        for party in new_tokens:
            session.add(
                Credential(
                    token_sha256=tokens.keyed_digest(party.token, key),
                    hash_scheme=tokens.KEYED,
                    department_code=party.department,
                    person_id=party.id,
                    role=party.role,
                    label=f"demo: {party.label_zh} {party.role}",
                    created_at=now,
                )
            )
        session.commit()
        log.info(
            "demo_parties_seeded",
            identities=[p.id for p in new_identities],
            tokens=len(new_tokens),
        )
    except IntegrityError:
        session.rollback()
        log.info("demo_parties_raced", note="another process seeded them first")


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
