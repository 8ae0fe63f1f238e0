"""Pages for the oversight roles: every case (全部案件), the leading group's view (督办), a case rebuilt
from its workflow history and replayed (审计), and the published statistics (统计).

Each page reads through the API's own route functions as the signed-in user's caller: the same
queries, the same visibility. A route's role dependency is not run when its function is called
directly, so each page admits exactly the roles the API route declares — read from the route's own
dependency (:func:`admitted_roles`), never written twice — and answers any other role 403, as the
API does.

- ``/ui/cases``: ``GET /cases`` with its filters (case type, status, overdue, profile, department),
  newest first, paged; a box jumps to one case. Everyone may open it: the API's list shows each
  caller the cases it may see (the oversight roles: all of them).
- ``/ui/oversight``: ``GET /oversight/escalations`` (with the breach each escalation follows: due,
  detected, article, next rung — read from the breached case), ``/oversight/orders/counts`` and
  ``/oversight/orders`` filtered by status; for the leading group office, its tasks to decide.
- ``/ui/cases/{id}/history``: ``GET /cases/{id}/history`` beside the case as the projection holds it;
  a form posts ``/ui/cases/{id}/replay`` (``POST /cases/{id}/replay``). Both ask Temporal; an engine
  down, a history past retention, is shown on the page.
- ``/ui/statistics``: ``GET /statistics`` as tables, with the CSV (``/ui/statistics.csv``) and the
  chart (``/ui/statistics/chart.png``) of the same query, from the same functions as the API's.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from types import SimpleNamespace
from typing import Annotated, Any, get_args
from urllib.parse import quote, urlencode

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from api.errors import ApiError
from api.pages import words
from api.pages.forms import checked_form, problem_of
from api.pages.render import language, page
from api.pages.sessions import SignedIn, signed_in
from api.pages.work import case_types, type_name
from api.reading import department_names, read_case
from api.responses import CaseOut, OversightTask
from api.routes import audit as audit_routes
from api.routes import cases as case_routes
from api.routes import oversight as oversight_routes
from api.routes import statistics as statistics_routes
from api.routes.tasks import list_tasks
from calendars import SHANGHAI
from govshare.cases import statistics as stats
from govshare.cases.service import CaseError
from regulations import ProfileError, list_profiles, load_profile
from regulations.citation import cite_zh
from workflows import registry
from workflows.engine.words import STATUS_EN, STATUS_ZH

log = structlog.get_logger("govshare.pages")

router = APIRouter(prefix="/ui", include_in_schema=False)

User = Annotated[SignedIn, Depends(signed_in)]
CaseId = Annotated[str, Path(max_length=128)]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000)]
PAGE_SIZE = 20
ESCALATIONS_SHOWN = 50


def admitted_roles(annotated: Any) -> frozenset[str]:
    """The roles an API route's caller dependency (``caller_with_roles(...)``) admits, read from the
    dependency itself, so a page admits exactly whom the API admits."""
    dependency = get_args(annotated)[1].dependency
    admitted = getattr(dependency, "roles", None)
    if not isinstance(admitted, frozenset) or not admitted:
        raise RuntimeError(f"cannot read the roles {annotated!r} admits")
    return admitted


#: GET /oversight/* (the leading group office, auditors).
OVERSIGHT_ROLES = admitted_roles(oversight_routes.OversightCaller)
#: GET /cases/{id}/history, POST /cases/{id}/replay.
HISTORY_ROLES = admitted_roles(audit_routes.AuditCaller)
#: GET /statistics, .csv, /chart.png (every role but a party that is not a department).
STATISTICS_ROLES = admitted_roles(statistics_routes.StatisticsCaller)


def require_role(user: SignedIn, roles: frozenset[str]) -> None:
    """403 for a role the API route would refuse, with the API's own words."""
    if user.role in roles:
        return
    wanted = sorted(roles)
    raise ApiError(
        403,
        f"该页面仅限以下角色:{'、'.join(words.role(r, 'zh') for r in wanted)};"
        f"当前身份为{words.role(user.role, 'zh')}",
        f"only {', '.join(words.role(r, 'en') for r in wanted)} may open this page; "
        f"you act as {words.role(user.role, 'en')}",
        code="role_not_allowed",
    )


def _url(path: str, params: dict[str, Any]) -> str:
    """``path`` with the non-empty ``params`` as its query."""
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return f"{path}?{urlencode(kept)}" if kept else path


def _pages(
    path: str, params: dict[str, Any], offset: int, total: int, size: int, key: str = "offset"
) -> dict:
    """The previous and next page's links, keeping the filters."""
    prev = _url(path, {**params, key: max(offset - size, 0) or None}) if offset > 0 else ""
    following = _url(path, {**params, key: offset + size}) if offset + size < total else ""
    return {
        "prev": prev,
        "next": following,
        "first": offset + 1 if total else 0,
        "last": min(offset + size, total),
    }


def _status_options(case_type: str, lang: str) -> list[tuple[str, str]]:
    """Statuses a case of ``case_type`` (or any) may have, in the page's language."""
    kinds = [k for k in registry.kinds() if case_type in ("", k.case_type)]
    found: dict[str, str] = {
        "in_progress": STATUS_EN["in_progress"] if lang == "en" else STATUS_ZH["in_progress"]
    }
    for kind in kinds:
        for status, (zh, en) in (getattr(kind.workflow, "RESULTS", {}) or {}).items():
            found.setdefault(status, en if lang == "en" else zh)
    for status in ("withdrawn", "closed"):
        found.setdefault(status, STATUS_EN[status] if lang == "en" else STATUS_ZH[status])
    return list(found.items())


def _departments(engine: Any, lang: str) -> list[tuple[str, str]]:
    with Session(engine) as session:
        names = department_names(session)
    return sorted(
        (
            (code, (ref.name_en or ref.name_zh) if lang == "en" else (ref.name_zh or ref.name_en))
            for code, ref in names.items()
        ),
        key=lambda item: item[0],
    )


def _profiles(lang: str) -> list[tuple[str, str]]:
    return [(p.id, p.name_en if lang == "en" else p.name_zh) for p in list_profiles()]


# --------------------------------------------------------------------------------------------------
# /ui/cases: every case the caller may see
# --------------------------------------------------------------------------------------------------


@router.get("/cases")
def all_cases(
    request: Request,
    user: User,
    case_type: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    overdue: Annotated[str, Query(max_length=1, pattern="^[01]?$")] = "",
    profile: Annotated[str, Query(max_length=32)] = "",
    department: Annotated[str, Query(max_length=64)] = "",
    case_id: Annotated[str, Query(max_length=128)] = "",
    offset: PageOffset = 0,
) -> Response:
    wanted = case_id.strip()
    if wanted:
        return RedirectResponse(f"/ui/cases/{quote(wanted, safe='')}", status_code=303)
    lang = language(request)
    engine = request.app.state.engine
    listed = case_routes.list_cases(
        user.caller,
        engine,
        case_type=case_type or None,
        status=status or None,
        department=department or None,
        overdue={"1": True, "0": False}.get(overdue),
        profile=profile or None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    chosen = {
        "case_type": case_type,
        "status": status,
        "overdue": overdue,
        "profile": profile,
        "department": department,
    }
    return page(
        request,
        "cases.html",
        {
            "items": listed.items,
            "total": listed.total,
            "chosen": chosen,
            "types": case_types(lang),
            "statuses": _status_options(case_type, lang),
            "profiles": _profiles(lang),
            "departments": _departments(engine, lang),
            "pages": _pages("/ui/cases", chosen, offset, listed.total, PAGE_SIZE),
            "type_name": lambda ct: type_name(ct, lang),
            "status_name": lambda ct, st: registry.status_words(ct, st)[1 if lang == "en" else 0],
        },
        user=user,
        title=words.say("cases.title", lang),
    )


# --------------------------------------------------------------------------------------------------
# /ui/oversight: breaches and escalations, rectification orders, what the leading group must decide
# --------------------------------------------------------------------------------------------------

#: An escalation a breach started is ``ES-<breached case>-T<task seq>``; the order and the complaint
#: it starts carry that id on (``RO-ES-…-T1-O``).
_BREACH_ID = re.compile(r"ES-(?P<case>[A-Za-z0-9-]+?)-T(?P<seq>\d+)(?=-|$)")
ORDER_STATUSES = ("in_progress", "rectified", "dismissed")


def _cite(profile_id: str, article: str) -> str:
    try:
        profile = load_profile(profile_id)
    except ProfileError:
        return article
    return cite_zh(article, profile.title_zh or profile.name_zh, profile.annex_titles_zh)


def _next_rung(case: CaseOut, rung_id: str, lang: str) -> str:
    """The rung's name as the breached case's profile gives it (its id if not found)."""
    try:
        rules = load_profile(case.profile.id).case_types.get(case.case_type)
    except ProfileError:
        rules = None
    for rung in rules.escalation if rules is not None else []:
        if rung.id == rung_id:
            return rung.name_en if lang == "en" else rung.name_zh
    return rung_id


def _breach_of(
    request: Request, user: SignedIn, item: OversightTask, seen: dict[str, CaseOut | None], lang: str
) -> dict[str, Any] | None:
    """The breach an escalation (or the order, the complaint it started) follows, from the breached
    case as the API shows it; None for one that no breach started (an order issued by hand)."""
    found = _BREACH_ID.search(item.case_id)
    if found is None:
        return None
    case_id, seq = found["case"], int(found["seq"])
    if case_id not in seen:
        try:
            seen[case_id] = read_case(request.app.state.engine, user.caller, case_id, request)
        except (ApiError, CaseError):
            seen[case_id] = None
    case = seen[case_id]
    if case is None:
        return None
    task = next((t for t in case.timeline if t.seq == seq and t.breach is not None), None)
    breach = task.breach if task is not None else (case.breaches[0] if len(case.breaches) == 1 else None)
    if breach is None:
        return None
    same_due = task is not None and task.due_at == breach.due_at
    return {
        "case_id": case_id,
        "step": (task.name_en if lang == "en" else task.name_zh) if task is not None else breach.step,
        # As the case page shows a due date: its last working day (when it is the task's own).
        "due": SimpleNamespace(due_at=breach.due_at, due_date=task.due_date if same_due and task else None),
        "detected_at": breach.detected_at,
        "article": _cite(case.profile.id, breach.article),
        "next_rung": _next_rung(case, breach.next_rung, lang) if breach.next_rung else "",
        "next_rung_article": _cite(case.profile.id, breach.next_rung_article)
        if breach.next_rung_article
        else "",
    }


@router.get("/oversight")
def oversight(
    request: Request,
    user: User,
    case_type: Annotated[str, Query(max_length=32)] = "",
    only_overdue: Annotated[str, Query(max_length=1, pattern="^1?$")] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    offset: PageOffset = 0,
    e_offset: PageOffset = 0,
) -> Response:
    require_role(user, OVERSIGHT_ROLES)
    lang = language(request)
    engine = request.app.state.engine
    caller = user.caller
    ladder_types = list(oversight_routes.LADDER_TYPES)
    escalations = oversight_routes.list_escalations(
        caller,
        engine,
        case_type=case_type if case_type in ladder_types else None,
        overdue=True if only_overdue else None,
        waiting=False,
        limit=ESCALATIONS_SHOWN,
        offset=e_offset,
    )
    seen: dict[str, CaseOut | None] = {}
    breaches = {item.task_id: _breach_of(request, user, item, seen, lang) for item in escalations.items}
    counts = oversight_routes.count_orders(caller, engine, profile=None)
    by_status = {
        "total": counts.total,
        "in_progress": sum(c.open for c in counts.items),
        "overdue": sum(c.overdue for c in counts.items),
        "rectified": sum(c.rectified for c in counts.items),
        "dismissed": sum(c.dismissed for c in counts.items),
    }
    chosen_status = status if status in ORDER_STATUSES else ""
    orders = oversight_routes.list_orders(
        caller,
        engine,
        status=chosen_status or None,
        department=None,
        overdue=None,
        profile=None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    to_decide = list_tasks(caller, engine, limit=1, offset=0).total if user.role == "leading_group" else None
    chosen = {"case_type": case_type, "only_overdue": only_overdue, "status": chosen_status}
    return page(
        request,
        "oversight.html",
        {
            "escalations": escalations.items,
            "escalations_total": escalations.total,
            "breaches": breaches,
            "counts": counts.items,
            "by_status": by_status,
            "orders": orders.items,
            "orders_total": orders.total,
            "order_statuses": [
                (s, registry.status_words(oversight_routes.ORDER, s)[1 if lang == "en" else 0])
                for s in ORDER_STATUSES
            ],
            "ladder_types": [(t, type_name(t, lang)) for t in ladder_types],
            "chosen": chosen,
            "to_decide": to_decide,
            "order_pages": _pages(
                "/ui/oversight", {**chosen, "e_offset": e_offset or None}, offset, orders.total, PAGE_SIZE
            ),
            "escalation_pages": _pages(
                "/ui/oversight",
                {**chosen, "offset": offset or None},
                e_offset,
                escalations.total,
                ESCALATIONS_SHOWN,
                "e_offset",
            ),
            "type_name": lambda ct: type_name(ct, lang),
            "order_status_name": lambda st: registry.status_words(oversight_routes.ORDER, st)[
                1 if lang == "en" else 0
            ],
        },
        user=user,
        title=words.say("over.title", lang),
    )


# --------------------------------------------------------------------------------------------------
# /ui/cases/{id}/history: the case rebuilt from its Temporal history, beside its projection; replay
# --------------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A compared value as one line (a tuple of who, an instant, None)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _side_by_side(history: audit_routes.HistoryOut, case: CaseOut | None) -> list[dict[str, Any]]:
    """Each task as the history recorded it beside the projection's, and whether they agree (the
    comparison's own differences, ``govshare.cases.history.compare``)."""
    projected = {t.task_id: t for t in case.timeline} if case is not None else {}
    differing = [d.what for d in history.differences]
    rows = []
    ids = [line["task_id"] for line in history.tasks]
    ids += [task_id for task_id in projected if task_id not in ids]
    recorded = {line["task_id"]: line for line in history.tasks}
    for task_id in ids:
        line, task = recorded.get(task_id), projected.get(task_id)
        rows.append(
            {
                "task_id": task_id,
                "name_zh": (line or {}).get("name_zh") or (task.name_zh if task else ""),
                "name_en": task.name_en if task else "",
                "history": {
                    "status": line["status"],
                    "due_at": line["due_at"],
                    "action": (line["decision"] or {}).get("action", ""),
                }
                if line
                else None,
                "projection": {
                    "status": task.status,
                    "due_at": task.due_at,
                    "action": task.decision.action if task.decision else "",
                }
                if task
                else None,
                "agrees": not any(
                    w == f"task {task_id}" or w.startswith(f"task {task_id} ") for w in differing
                ),
            }
        )
    return rows


async def _history_page(
    request: Request,
    user: SignedIn,
    case_id: str,
    *,
    replay: audit_routes.ReplayOut | None = None,
    flash: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    engine = request.app.state.engine
    history: audit_routes.HistoryOut | None = None
    case: CaseOut | None = None
    try:
        case = await run_in_threadpool(read_case, engine, user.caller, case_id, request)
        history = await audit_routes.case_history_route(
            case_id, request, user.caller, engine, include_history=False
        )
    except (ApiError, CaseError) as err:
        problem = problem_of(err, lang)
        log.info("history_page_refused", case_id=case_id, status=problem.status, code=problem.code)
        flash = {"kind": "error", "title": words.say(problem.heading_key, lang), "text": problem.message}
        status = problem.status if status == 200 else status
    return page(
        request,
        "history.html",
        {
            "case_id": case_id,
            "case": case,
            "history": history,
            "rows": _side_by_side(history, case) if history is not None else [],
            "differences": [
                {"what": d.what, "history": _shown(d.history), "projection": _shown(d.projection)}
                for d in (history.differences if history is not None else [])
            ],
            "replay": replay,
            "flash": flash,
            "type_name": type_name(case.case_type, lang) if case is not None else "",
            "department_name": dict(_departments(engine, lang)),
            "known_words": words.WORDS,
        },
        user=user,
        status=status,
        title=f"{case_id} · {words.say('hist.title', lang)}",
    )


@router.get("/cases/{case_id}/history")
async def case_history(request: Request, case_id: CaseId, user: User) -> Response:
    require_role(user, HISTORY_ROLES)
    return await _history_page(request, user, case_id)


@router.get("/cases/{case_id}/history.json")
async def case_history_json(request: Request, case_id: CaseId, user: User) -> Response:
    """The raw event history (as ``temporal workflow show --output json``), to download."""
    require_role(user, HISTORY_ROLES)
    found = await audit_routes.case_history_route(
        case_id, request, user.caller, request.app.state.engine, include_history=True
    )
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", case_id)
    return JSONResponse(
        found.history or {},
        headers={
            "Content-Disposition": f'attachment; filename="{name}-history.json"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/cases/{case_id}/replay")
async def replay(request: Request, case_id: CaseId, user: User) -> Response:
    await checked_form(request, user)
    require_role(user, HISTORY_ROLES)
    lang = language(request)
    try:
        result = await audit_routes.replay_case(case_id, request, user.caller, request.app.state.engine)
    except (ApiError, CaseError) as err:
        problem = problem_of(err, lang)
        flash = {"kind": "error", "title": words.say(problem.heading_key, lang), "text": problem.message}
        return await _history_page(request, user, case_id, flash=flash, status=problem.status)
    if result.replayed:
        flash = {
            "kind": "ok",
            "title": words.say("hist.replay_passed", lang),
            "text": words.say(
                "hist.replay_passed_text", lang, events=result.events, seconds=f"{result.seconds:.2f}"
            ),
        }
    else:
        flash = {"kind": "error", "title": words.say("hist.replay_failed", lang), "text": result.failure}
    return await _history_page(request, user, case_id, replay=result, flash=flash)


# --------------------------------------------------------------------------------------------------
# /ui/statistics: the published figures, their CSV and chart
# --------------------------------------------------------------------------------------------------

STAT_ROLES = ("provider", "consumer", "platform")
#: The figures a table shows, in the API's order; ``results`` follow ``handled``.
TABLE_FIGURES = tuple(name for name, _, _ in stats.FIGURES)


def _day_or_none(text: str, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(
            422,
            f"{what} 日期应为 YYYY-MM-DD:{text}",
            f"{what} should be a date YYYY-MM-DD: {text}",
            code="invalid_period",
        ) from None


class StatisticsQuery:
    """The statistics form as the page got it, and the API's ``Scope`` it stands for."""

    def __init__(
        self, period: str, date_from: str, date_to: str, case_type: str, department: str, role: str
    ) -> None:
        self.period, self.date_from, self.date_to = period.strip(), date_from.strip(), date_to.strip()
        self.case_type, self.department = case_type.strip(), department.strip()
        self.role = role.strip() or "provider"
        self.by_dates = bool(self.date_from or self.date_to) or self.period == "range"

    def scope(self) -> statistics_routes.Scope:
        if self.by_dates:
            return statistics_routes.Scope(
                None,
                _day_or_none(self.date_from, "from"),
                _day_or_none(self.date_to, "to"),
                self.department or None,
                self.role,
            )
        return statistics_routes.Scope(self.period or None, None, None, self.department or None, self.role)

    def params(self, **more: Any) -> dict[str, Any]:
        return {
            "period": "range" if self.by_dates else self.period,
            "from": self.date_from if self.by_dates else "",
            "to": self.date_to if self.by_dates else "",
            "case_type": self.case_type,
            "department": self.department,
            "role": "" if self.role == "provider" else self.role,
            **more,
        }


def statistics_query(
    period: Annotated[str, Query(max_length=16)] = "",
    date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
    case_type: Annotated[str, Query(max_length=32)] = "",
    department: Annotated[str, Query(max_length=64)] = "",
    role: Annotated[str, Query(max_length=32)] = "",
) -> StatisticsQuery:
    return StatisticsQuery(period, date_from, date_to, case_type, department, role)


StatsQuery = Annotated[StatisticsQuery, Depends(statistics_query)]


def _period_options(lang: str, today: date) -> list[tuple[str, list[tuple[str, str]]]]:
    """Recent months, quarters and years for the period select."""
    months, quarters = [], []
    year, month = today.year, today.month
    for _ in range(13):
        months.append(
            (f"{year:04d}-{month:02d}", f"{year}年{month}月" if lang != "en" else f"{year}-{month:02d}")
        )
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    year, quarter = today.year, (today.month - 1) // 3 + 1
    for _ in range(8):
        quarters.append(
            (f"{year}-Q{quarter}", f"{year}年第{quarter}季度" if lang != "en" else f"Q{quarter} {year}")
        )
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    years = [(str(y), f"{y}年" if lang != "en" else str(y)) for y in range(today.year, today.year - 4, -1)]
    return [
        (words.say("stat.months", lang), months),
        (words.say("stat.quarters", lang), quarters),
        (words.say("stat.years", lang), years),
    ]


def _tables(
    report: statistics_routes.StatisticsOut, lang: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The case types with figures (a table each), and those with none (named only)."""
    shown, empty = [], []
    for kind in report.case_types:
        name = kind.name_en if lang == "en" else kind.name_zh
        rows = [
            {
                "code": d.code,
                "name": (d.name_en or d.name_zh) if lang == "en" else (d.name_zh or d.name_en),
                "figures": d,
            }
            for d in kind.departments
        ]
        if (
            not rows
            and kind.total.received == 0
            and kind.total.handled == 0
            and kind.total.pending_at_end == 0
        ):
            empty.append((kind.case_type, name))
            continue
        shown.append(
            {
                "case_type": kind.case_type,
                "name": name,
                "results": [(r.result, r.en if lang == "en" else r.zh) for r in kind.results],
                "rows": rows,
                "total": kind.total if report.department is None else None,
                "refusals": kind.refusals,
            }
        )
    return shown, empty


@router.get("/statistics")
def statistics_page(request: Request, user: User, query: StatsQuery) -> Response:
    require_role(user, STATISTICS_ROLES)
    lang = language(request)
    engine = request.app.state.engine
    report: statistics_routes.StatisticsOut | None = None
    flash = None
    status = 200
    try:
        report = statistics_routes.get_statistics(
            user.caller, engine, query.scope(), case_type=query.case_type or None
        )
    except ApiError as err:
        problem = problem_of(err, lang)
        flash = {"kind": "error", "title": words.say(problem.heading_key, lang), "text": problem.message}
        status = problem.status
    today = datetime.now(SHANGHAI).date()
    chosen_period = query.period if not query.by_dates else "range"
    if not chosen_period:
        chosen_period = report.period.key if report is not None else stats.last_full_month(today)
    periods = _period_options(lang, today)
    if chosen_period != "range" and all(chosen_period != v for _, group in periods for v, _ in group):
        periods.insert(0, (words.say("stat.chosen", lang), [(chosen_period, chosen_period)]))
    tables, empty = _tables(report, lang) if report is not None else ([], [])
    chart_type = query.case_type or "sharing_application"
    return page(
        request,
        "statistics.html",
        {
            "report": report,
            "tables": tables,
            "empty_types": empty,
            "query": query,
            "chosen_period": chosen_period,
            "periods": periods,
            "types": case_types(lang),
            "departments": _departments(engine, lang) if user.caller.sees_all else [],
            "roles": [(r, words.say(f"stat.role.{r}", lang)) for r in STAT_ROLES],
            "figures": TABLE_FIGURES,
            "csv_url": _url("/ui/statistics.csv", query.params()),
            "refusals_csv_url": _url("/ui/statistics.csv", query.params(table="refusals")),
            "chart_url": _url("/ui/statistics/chart.png", query.params(case_type=chart_type)),
            "chart_type": type_name(chart_type, lang),
            "flash": flash,
            "basis": (report.basis_en if lang == "en" else report.basis_zh) if report is not None else "",
            "known_words": words.WORDS,
        },
        user=user,
        status=status,
        title=words.say("stat.title", lang),
    )


@router.get("/statistics.csv")
def statistics_csv(
    request: Request,
    user: User,
    query: StatsQuery,
    table: Annotated[str, Query(pattern="^(figures|refusals)$")] = "figures",
) -> Response:
    require_role(user, STATISTICS_ROLES)
    answer = statistics_routes.get_statistics_csv(
        user.caller,
        request.app.state.engine,
        query.scope(),
        case_type=query.case_type or None,
        table=table,  # type: ignore[arg-type]
    )
    answer.headers["Cache-Control"] = "no-store"
    answer.headers["X-Content-Type-Options"] = "nosniff"
    return answer


@router.get("/statistics/chart.png")
def statistics_chart(request: Request, user: User, query: StatsQuery) -> Response:
    require_role(user, STATISTICS_ROLES)
    answer = statistics_routes.get_statistics_chart(
        user.caller,
        request.app.state.engine,
        query.scope(),
        case_type=query.case_type or "sharing_application",
    )
    answer.headers["Cache-Control"] = "no-store"
    answer.headers["X-Content-Type-Options"] = "nosniff"
    return answer
