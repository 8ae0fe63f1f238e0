"""The catalog-update case's effects (``Action.effect``): check a change set, publish it.

``check_change_set`` runs before the department's submission is taken: every entry of the set against
the catalog's rules under the case's pinned profile (``regulations.catalog_rules``) and against the
register (a new entry must not exist; a changed or withdrawn one must be the department's and
published). ``publish_change_set`` runs before the platform's approval is taken: it checks the set
again (the register may have moved) and publishes every entry at once in one transaction
(``govshare.core.catalog.publish``) — or nothing, and the approval is refused with the reasons.
Publishing is idempotent: a retry of an activity that published finds the versions this case
published and answers them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio import activity

from govshare.core import catalog, catalog_lists
from govshare.core.models import Notification, Resource, ResourceVersion
from regulations import ProfileError, load_profile
from regulations.catalog_rules import check_entry
from workflows.contracts import EffectRequest, EffectResult, FreshnessSweepRequest, FreshnessSweepResult

log = structlog.get_logger("govshare.activities")


class CatalogActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="check_change_set")
    def check_change_set(self, req: EffectRequest) -> EffectResult:
        with Session(self._engine) as session:
            problems = self._problems(session, req)
        return _refusal(problems, req) if problems else EffectResult()

    @activity.defn(name="publish_change_set")
    def publish_change_set(self, req: EffectRequest) -> EffectResult:
        with Session(self._engine) as session:
            done = session.exec(select(ResourceVersion).where(ResourceVersion.case_id == req.case_id)).all()
            if done:  # a retry after the publication committed: the same answer
                return EffectResult(data={"published": _published(done)})
            problems = self._problems(session, req)
            if problems:
                return _refusal(problems, req)
            items = req.input.get("change_set", {}).get("items", [])
            try:
                versions = catalog.publish(
                    session,
                    [_draft(item, req.input.get("department", "")) for item in items],
                    department=req.input.get("department", ""),
                    case_id=req.case_id,
                    now=datetime.now(UTC),
                )
                # The responsibility list is updated with the catalog (Luoyang 14: 同步更新责任清单).
                catalog_lists.sync_responsibilities(
                    session, req.input.get("department", ""), versions, datetime.now(UTC)
                )
                session.commit()
            except catalog.CatalogError as err:  # the register moved since the check
                session.rollback()
                return EffectResult(
                    refusal_zh=f"目录变更无法发布:{err.detail_zh}",
                    refusal_en=f"the change set cannot be published: {err.detail_en}",
                )
            except IntegrityError as err:  # a department or entry the database does not know
                session.rollback()
                log.warning("catalog_publish_refused", case_id=req.case_id, error=str(err.orig))
                return EffectResult(
                    refusal_zh="目录变更无法发布:引用了不存在的部门或条目",
                    refusal_en=f"the change set cannot be published: {err.orig}",
                )
            published = _published(versions)
        log.info(
            "catalog_published",
            case_id=req.case_id,
            workflow_id=req.workflow_id,
            department=req.input.get("department", ""),
            entries=len(published),
        )
        return EffectResult(data={"published": published})

    @staticmethod
    def _problems(session: Session, req: EffectRequest) -> list[dict[str, Any]]:
        department = req.input.get("department", "")
        items = req.input.get("change_set", {}).get("items", [])
        try:
            profile = load_profile(req.profile_id, version=req.profile_version)
        except ProfileError:  # the file moved on: the rules of the profile now in force
            profile = load_profile(req.profile_id)
        problems: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            rid, action = item.get("resource_id", ""), item.get("action", "")
            loc: list[str | int] = ["payload", "items", index]
            current = session.get(Resource, rid)
            if action == "new" and current is not None:
                problems.append(
                    _problem(
                        loc,
                        "resource_id",
                        "exists",
                        "",
                        f"资源 {rid} 已在目录中",
                        f"{rid} is already in the catalog",
                    )
                )
                continue
            if action in ("change", "withdraw"):
                if current is None or current.status == "withdrawn":
                    problems.append(
                        _problem(
                            loc,
                            "resource_id",
                            "unknown",
                            "",
                            f"目录中没有已发布的资源 {rid}",
                            f"no published entry {rid}",
                        )
                    )
                    continue
                if current.provider_department != department:
                    problems.append(
                        _problem(
                            loc,
                            "resource_id",
                            "not_own",
                            "",
                            f"资源 {rid} 不属于本部门",
                            f"{rid} is not this department's",
                        )
                    )
                    continue
            if action == "withdraw":
                continue
            entry = {**item.get("entry", {}), "id": rid, "provider_department": department}
            for v in check_entry(profile, entry):
                problems.append(
                    _problem([*loc, "entry", v.field], v.field, v.rule, v.article, v.message_zh, v.message_en)
                )
        return problems


def _problem(loc: list[Any], field: str, rule: str, article: str, zh: str, en: str) -> dict[str, Any]:
    return {"loc": loc, "field": field, "rule": rule, "article": article, "msg": en, "msg_zh": zh}


def _refusal(problems: list[dict[str, Any]], req: EffectRequest) -> EffectResult:
    zh = ";".join(f"第{p['loc'][2] + 1}项:{p['msg_zh']}" for p in problems)
    en = "; ".join(f"item {p['loc'][2] + 1}: {p['msg']}" for p in problems)
    return EffectResult(
        refusal_zh=f"目录变更未通过检查({len(problems)}处):{zh}",
        refusal_en=f"the change set breaks the catalog's rules ({len(problems)}): {en}",
        problems=problems,
    )


def _draft(item: dict[str, Any], department: str) -> dict[str, Any]:
    return {
        "action": item.get("action", ""),
        "resource_id": item.get("resource_id", ""),
        "entry": {**item.get("entry", {}), "provider_department": department},
    }


def _published(versions: list[Any]) -> list[dict[str, Any]]:
    return [{"resource_id": v.resource_id, "version": v.version, "change": v.change} for v in versions]


# -- data freshness (Hubei 17, Luzhou 23) ---------------------------------------------------------------
#: The article that asks each entry's data to be refreshed per its update period, and the one a missed
#: period breaks, per profile (REGULATIONS.md §5; Hubei 31(2) for the breach). Profiles without them
#: are told without an article.
FRESHNESS_ARTICLES: dict[str, tuple[str, str]] = {"hubei": ("17", "31(2)"), "luzhou": ("23", "")}


class FreshnessActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="sweep_freshness")
    def sweep_freshness(self, req: FreshnessSweepRequest) -> FreshnessSweepResult:
        """Entries whose refresh is overdue (``next_refresh_due`` passed: one indexed range read, so
        waiting entries cost nothing) are a breach on the entry: their provider is told once per missed
        period (the notice's key names the entry and the due instant)."""
        now = datetime.now(UTC)
        data_art, breach_art = FRESHNESS_ARTICLES.get(req.profile_id, ("", ""))
        with Session(self._engine) as session:
            rows = session.exec(
                select(Resource)
                .where(Resource.status == "published", Resource.next_refresh_due <= now)  # type: ignore[operator]
                .order_by(Resource.next_refresh_due)  # type: ignore[arg-type]
                .limit(req.limit)
            ).all()
            keys = {f"freshness:{r.id}:{_due(r.next_refresh_due)}": r for r in rows}
            seen = (
                set(session.exec(select(Notification.key).where(Notification.key.in_(list(keys)))))
                if keys
                else set()
            )  # type: ignore[attr-defined]
            written = 0
            for key, row in keys.items():
                if key in seen:
                    continue
                due = _due(row.next_refresh_due)
                cite_zh = (
                    f",依据第{data_art}条" + (f",属第{breach_art}项情形" if breach_art else "")
                    if data_art
                    else ""
                )
                cite_en = (
                    f" (art. {data_art}" + (f"; a ground under {breach_art}" if breach_art else "") + ")"
                    if data_art
                    else ""
                )
                session.add(
                    Notification(
                        key=key,
                        case_id="",
                        recipient_department=row.provider_department,
                        recipient_role="provider",
                        kind="refresh_overdue",
                        text_zh=f"【数据更新超期】资源 {row.id}({row.name_zh})应于 {due[:10]} 前"
                        f"按更新周期更新数据,尚未更新{cite_zh}。",
                        text_en=f"[Refresh overdue] {row.id} ({row.name_en or row.name_zh}) was due a "
                        f"data refresh by {due[:10]}{cite_en}.",
                        created_at=now,
                    )
                )
                written += 1
            session.commit()
        if rows:
            log.info("freshness_swept", overdue=len(rows), notified=written, profile=req.profile_id)
        return FreshnessSweepResult(overdue=len(rows), notified=written)


def _due(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
