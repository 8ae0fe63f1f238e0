"""The rules a catalog entry (政务信息资源目录条目) must satisfy under a profile, each with its article.

Pure: :func:`check_entry` takes a profile and an entry (the fields of ``govshare.core.catalog``'s
``ENTRY_FIELDS``) and returns what is wrong, as :class:`Violation` s that name the field, the rule,
the article (as the profile cites it: ``8(1)``) and a message in Chinese and English. Nothing here
reads a database or a clock; import and catalog-update cases call it, and workflows may.

The rules (REGULATIONS.md §2):

- ``legal_basis_required`` — a share type the profile marks ``legal_basis_required`` needs a legal
  basis: ``not_shared`` everywhere (Hubei 8(1), Jiangsu 11(1), Luzhou 5(1)), ``conditional`` too under
  Luoyang (25(1)); the article is the profile's ``legal_basis_article``. Likewise an open type the
  profile marks (Luoyang 31: ``conditional_open`` and ``not_open``): ``open_legal_basis_required``.
- ``basic_items_unconditional`` — the basic items (基础信息项) of a basic resource are shared
  unconditionally (Hubei 8(2), Jiangsu 11(2), Luoyang 25(2), Luzhou 22): a ``basic`` entry that lists
  basic items must be ``unconditional``. Per profile in :data:`BASIC_ITEMS_ARTICLE` (Yongcheng's
  interpretation states no such rule: not checked there).
- ``required`` — id, name_zh, provider_department, share_type, at least one field, and at least one
  sharing mode unless ``not_shared``.
- ``invalid_value`` / ``invalid_id`` / ``duplicate_value`` / ``basic_item_not_a_field`` /
  ``basic_items_not_basic`` — the vocabularies below, ids, repeated items, basic items that are not
  fields of the entry or belong to an entry that is not basic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from regulations.citation import cite_zh
from regulations.schema import OpenType, Profile, ShareType

SHARE_TYPES: tuple[str, ...] = get_args(ShareType)
#: "" is "not classified for opening" (a profile without open data, Luoyang 30 otherwise).
OPEN_TYPES: tuple[str, ...] = ("", *get_args(OpenType))
#: Resource kinds (Luzhou 18): 基础信息资源, 主题信息资源, 部门信息资源.
KINDS = ("basic", "thematic", "departmental")
#: 更新周期 (Hubei 6, Luzhou 8 更新时限, Luoyang 11 更新周期).
UPDATE_PERIODS = ("realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "none")
#: Sharing modes (Jiangsu 15; 数据比对 Luzhou 25).
SHARING_MODES = ("system_docking", "front_end_processor", "online_query", "batch_download", "data_comparison")

#: Where each profile's regulation says the basic items of basic resources are shared
#: unconditionally (seeds: Hubei 第八条(二), Jiangsu 第十一条 second principle, Luoyang 第二十五条(二),
#: Luzhou 第二十二条). Not in the profile files yet: a profile id missing here is not checked.
BASIC_ITEMS_ARTICLE: dict[str, str] = {
    "hubei": "8(2)",
    "jiangsu": "11(2)",
    "luoyang": "25(2)",
    "luzhou": "22",
}
#: Where a profile's regulation names the resource kinds (Luzhou 第十八条).
KINDS_ARTICLE: dict[str, str] = {"luzhou": "18"}

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

LABELS_ZH = {
    "id": "资源代码",
    "name_zh": "资源名称",
    "name_en": "英文名称",
    "provider_department": "提供部门",
    "description": "资源摘要",
    "classification": "资源分类",
    "kind": "资源类型",
    "fields": "信息项",
    "basic_items": "基础信息项",
    "format": "资源格式",
    "update_period": "更新周期",
    "share_type": "共享类型",
    "controlled_parameters": "是否需要管控参数",
    "sharing_modes": "共享方式",
    "usage_requirements": "使用要求",
    "open_type": "开放类型",
    "legal_basis": "法律依据",
}


@dataclass(frozen=True)
class Violation:
    """One rule an entry breaks: where (``field``), which rule, under which article of the profile
    ("" for a check of form), and why, in Chinese and English."""

    field: str
    rule: str
    article: str
    message_zh: str
    message_en: str


def citation_zh(profile: Profile, article: str) -> str:
    """``《湖北省政务信息资源共享管理办法》第8条第(1)项`` (empty for no article)."""
    return cite_zh(article, profile.title_zh or profile.name_zh, profile.annex_titles_zh)


def _cite_en(profile: Profile, article: str) -> str:
    return f" ({profile.name_en}, art. {article})" if article else ""


def _cite_zh(profile: Profile, article: str) -> str:
    return f"(依据{citation_zh(profile, article)})" if article else ""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _strings(value: Any) -> list[str] | None:
    """A list of strings, or None when ``value`` is not one."""
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def check_entry(profile: Profile, entry: Mapping[str, Any]) -> list[Violation]:
    """Every rule ``entry`` breaks under ``profile`` (empty: the entry may be published)."""
    out: list[Violation] = []

    def add(field: str, rule: str, article: str, zh: str, en: str) -> None:
        out.append(
            Violation(field, rule, article, zh + _cite_zh(profile, article), en + _cite_en(profile, article))
        )

    def required(field: str, what_en: str) -> None:
        add(field, "required", "", f"缺少{LABELS_ZH[field]}({field})", f"{field} ({what_en}) is required")

    def invalid(field: str, value: Any, allowed: tuple[str, ...], article: str = "") -> None:
        shown = "、".join(a or '""' for a in allowed)
        add(
            field,
            "invalid_value",
            article,
            f"{LABELS_ZH[field]} {value!r} 无效,应为 {shown} 之一",
            f"{field} {value!r} is not one of {', '.join(a or '(empty)' for a in allowed)}",
        )

    # -- form -----------------------------------------------------------------------------------
    resource_id = entry.get("id")
    if _blank(resource_id):
        required("id", "resource id")
    elif not isinstance(resource_id, str) or not _ID.match(resource_id):
        add(
            "id",
            "invalid_id",
            "",
            "资源代码须为 1–64 个字母、数字或 _ . : -",
            "the id must be 1–64 letters, digits or _ . : -",
        )
    for field, what_en in (("name_zh", "Chinese name"), ("provider_department", "provider department")):
        if _blank(entry.get(field)):
            required(field, what_en)

    share_type = entry.get("share_type")
    share_rule_article = next((rule.article for rule in profile.share_types.values()), "")
    if _blank(share_type):
        required("share_type", "share type")
    elif share_type not in SHARE_TYPES:
        invalid("share_type", share_type, SHARE_TYPES, share_rule_article)

    fields = _strings(entry.get("fields", []))
    if fields is None:
        add("fields", "invalid_value", "", "信息项应为文本列表", "fields must be a list of names")
    elif not [f for f in fields if f.strip()]:
        required("fields", "at least one data item")
    elif len(set(fields)) != len(fields):
        repeated = sorted({f for f in fields if fields.count(f) > 1})
        add(
            "fields",
            "duplicate_value",
            "",
            f"信息项重复:{'、'.join(repeated)}",
            f"fields repeated: {', '.join(repeated)}",
        )

    modes = _strings(entry.get("sharing_modes", []))
    if modes is None:
        add("sharing_modes", "invalid_value", "", "共享方式应为文本列表", "sharing_modes must be a list")
    else:
        if not modes and share_type != "not_shared":
            required("sharing_modes", "at least one sharing mode unless not_shared")
        for mode in modes:
            if mode not in SHARING_MODES:
                invalid("sharing_modes", mode, SHARING_MODES)
        if len(set(modes)) != len(modes):
            add("sharing_modes", "duplicate_value", "", "共享方式重复", "sharing modes repeated")

    kind = entry.get("kind", "departmental")
    if kind not in KINDS:
        invalid("kind", kind, KINDS, KINDS_ARTICLE.get(profile.id, ""))
    period = entry.get("update_period", "none")
    if period not in UPDATE_PERIODS:
        invalid("update_period", period, UPDATE_PERIODS)
    open_type = entry.get("open_type", "")
    if open_type not in OPEN_TYPES:
        open_article = next((rule.article for rule in profile.open_types.values()), "")
        invalid("open_type", open_type, OPEN_TYPES, open_article)
    if not isinstance(entry.get("controlled_parameters", False), bool):
        add(
            "controlled_parameters",
            "invalid_value",
            "",
            "是否需要管控参数应为 true 或 false",
            "controlled_parameters must be true or false",
        )

    # -- legal basis (Hubei 8(1), Jiangsu 11(1), Luoyang 25(1), 31) ------------------------------
    no_basis = _blank(entry.get("legal_basis"))
    rule = profile.share_types.get(share_type) if isinstance(share_type, str) else None
    if rule is not None and rule.legal_basis_required and no_basis:
        article = rule.legal_basis_article or rule.article
        add(
            "legal_basis",
            "legal_basis_required",
            article,
            f"{rule.name_zh}类资源须注明法律、行政法规或党中央、国务院政策依据",
            f"a {share_type} entry needs its legal basis (law, administrative regulation, or Party "
            "Central Committee / State Council policy)",
        )
    open_rule = profile.open_types.get(open_type) if isinstance(open_type, str) else None  # type: ignore[call-overload]
    if open_rule is not None and open_rule.legal_basis_required and no_basis:
        article = open_rule.legal_basis_article or open_rule.article
        add(
            "legal_basis",
            "open_legal_basis_required",
            article,
            f"{open_rule.name_zh}类资源须注明法律法规或国家有关文件依据",
            f"a {open_type} entry needs its legal basis (laws, regulations or national documents)",
        )

    # -- basic items (Hubei 8(2), Jiangsu 11(2), Luoyang 25(2), Luzhou 22) -----------------------
    basic_items = _strings(entry.get("basic_items", []))
    if basic_items is None:
        add(
            "basic_items",
            "invalid_value",
            "",
            "基础信息项应为文本列表",
            "basic_items must be a list of names",
        )
    elif basic_items:
        if kind != "basic":
            add(
                "basic_items",
                "basic_items_not_basic",
                KINDS_ARTICLE.get(profile.id, ""),
                "只有基础信息资源(资源类型 basic)才列基础信息项",
                "only a basic resource (kind basic) lists basic items",
            )
        elif (
            share_type in SHARE_TYPES and share_type != "unconditional" and profile.id in BASIC_ITEMS_ARTICLE
        ):
            add(
                "share_type",
                "basic_items_unconditional",
                BASIC_ITEMS_ARTICLE[profile.id],
                "基础信息资源的基础信息项应当无条件共享,共享类型须为无条件共享",
                "the basic items of a basic resource are shared unconditionally: share_type must be "
                "unconditional",
            )
        if fields is not None:
            strangers = [item for item in basic_items if item not in fields]
            if strangers:
                add(
                    "basic_items",
                    "basic_item_not_a_field",
                    "",
                    f"基础信息项不在信息项中:{'、'.join(strangers)}",
                    f"basic items that are not fields of the entry: {', '.join(strangers)}",
                )
    return out
