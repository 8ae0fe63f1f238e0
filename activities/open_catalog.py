"""The open-catalog correction's effect (``Action.effect``): change the open catalog (Luoyang 32).

``change_open_catalog`` runs before the platform's ``change`` is taken, once the provider agreed to
a correction (同意更正的,应当提请市政务服务和大数据管理机构变更政务数据资源开放目录). It applies the
correction applied for — the entry's open type, its listed fields, its description (and the legal
basis the provider gave when agreeing) — as a new version of the entry through
``govshare.core.catalog.publish``, so the row, its versions and its search terms agree, the version
naming the case (``case_id``). It refuses, and the decision with it, when the entry is no longer in
the catalog, or when the corrected entry would break a catalog rule it did not break before (under
the case's pinned profile: e.g. Luoyang 31, a conditionally open entry needs its legal basis).

Idempotent: a retry after the version committed finds the version this case published for the entry
and answers what it changed; a correction that changes nothing publishes no version, again and again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio import activity

from govshare.core import catalog
from govshare.core.models import Resource, ResourceVersion
from regulations import ProfileError, load_profile
from regulations.catalog_rules import check_entry
from workflows.contracts import EffectRequest, EffectResult

log = structlog.get_logger("govshare.activities")

#: What a correction may change of an entry (``workflows.open_data.CORRECTABLE``), and the legal
#: basis the provider's agreement may add.
CORRECTABLE = ("open_type", "fields", "description")


class OpenCatalogActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="change_open_catalog")
    def change_open_catalog(self, req: EffectRequest) -> EffectResult:
        resource_id = str(req.input.get("resource_id", ""))
        correction = {k: v for k, v in (req.input.get("correction") or {}).items() if k in CORRECTABLE}
        legal_basis = str(req.input.get("legal_basis") or "").strip()
        with Session(self._engine) as session:
            done = session.exec(
                select(ResourceVersion)
                .where(ResourceVersion.case_id == req.case_id, ResourceVersion.resource_id == resource_id)
                .order_by(col(ResourceVersion.version).desc())
            ).first()
            if done is not None:  # a retry after the version committed: the same answer
                before = session.get(ResourceVersion, (resource_id, done.version - 1))
                return EffectResult(
                    data=_answer(resource_id, done.version, before.data if before else {}, done.data)
                )
            current = session.get(Resource, resource_id)
            if current is None or current.status == "withdrawn":
                return EffectResult(
                    refusal_zh=f"开放目录中已没有资源 {resource_id}(已撤销或不存在),无法变更",
                    refusal_en=f"the catalog no longer holds entry {resource_id} (withdrawn or gone): "
                    "nothing to change",
                    problems=[_problem("resource_id", "unknown", "", "目录中没有该资源", "no such entry")],
                )
            before = catalog.entry_data(current)
            after = catalog.normalize_entry(
                {**before, **correction, **({"legal_basis": legal_basis} if legal_basis else {})}
            )
            problems = _new_problems(req, before, after)
            if problems:
                zh = ";".join(p["msg_zh"] for p in problems)
                en = "; ".join(p["msg"] for p in problems)
                return EffectResult(
                    refusal_zh=f"更正后的目录条目不符合目录规则({len(problems)}处):{zh}",
                    refusal_en=f"the corrected entry breaks the catalog's rules ({len(problems)}): {en}",
                    problems=problems,
                )
            if after == before:  # already as applied for: no version
                return EffectResult(data={**_answer(resource_id, current.version, before, after)})
            try:
                versions = catalog.publish(
                    session,
                    [{**after, "change": "changed"}],
                    department=req.department,
                    case_id=req.case_id,
                    now=datetime.now(UTC),
                )
                session.commit()
            except catalog.CatalogError as err:  # the register moved since it was read
                session.rollback()
                return EffectResult(
                    refusal_zh=f"开放目录无法变更:{err.detail_zh}",
                    refusal_en=f"the open catalog cannot be changed: {err.detail_en}",
                )
            except IntegrityError as err:
                session.rollback()
                log.warning("open_catalog_change_refused", case_id=req.case_id, error=str(err.orig))
                return EffectResult(
                    refusal_zh="开放目录无法变更:数据库拒绝了该变更",
                    refusal_en=f"the open catalog cannot be changed: {err.orig}",
                )
            version = versions[0].version if versions else current.version
        log.info(
            "open_catalog_changed",
            case_id=req.case_id,
            workflow_id=req.workflow_id,
            resource_id=resource_id,
            version=version,
            fields_changed=sorted(k for k in after if after[k] != before.get(k)),
        )
        return EffectResult(data=_answer(resource_id, version, before, after))


def _answer(resource_id: str, version: int, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What the change did, kept on the decision: the entry, its version now, and each field changed
    (from → to)."""
    changed = {
        key: {"from": before.get(key), "to": after.get(key)}
        for key in (*CORRECTABLE, "legal_basis")
        if before.get(key) != after.get(key)
    }
    return {"resource_id": resource_id, "version": version, "changed": changed}


def _new_problems(req: EffectRequest, before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The catalog rules (under the case's pinned profile) the corrected entry breaks that the entry
    as published did not: a correction is not refused for what it did not touch."""
    try:
        profile = load_profile(req.profile_id, version=req.profile_version)
    except ProfileError:  # the file moved on: the rules of the profile now in force
        profile = load_profile(req.profile_id)
    known = {(v.field, v.rule) for v in check_entry(profile, before)}
    return [
        _problem(v.field, v.rule, v.article, v.message_zh, v.message_en)
        for v in check_entry(profile, after)
        if (v.field, v.rule) not in known
    ]


def _problem(field: str, rule: str, article: str, zh: str, en: str) -> dict[str, Any]:
    return {
        "loc": ["payload", field],
        "field": field,
        "rule": rule,
        "article": article,
        "msg": en,
        "msg_zh": zh,
    }
