"""Published statistics (统计信息, Hubei 26): how departments handled their cases in a period.

Hubei 26: "省大数据管理机构定期公布授权办理、数据调用和数据可用性等情况统计信息" — the big-data agency
periodically publishes how authorizations were handled. This module computes those figures from the
case/task projection (no Temporal call), for every registered case type (``workflows.registry``: a
case type registered later appears here with no line of its own), per department and per period; the
API (``api/routes/statistics.py``) and the command line (``govshare statistics``) show them as JSON, a
table, CSV and a chart.

**Period.** A month (``2026-11``), a quarter (``2026-Q4``), a year (``2026``) or a range of dates
(``from``/``to``, both included), always as calendar days in Asia/Shanghai: a period is the instants
``[00:00 of its first day, 00:00 of the day after its last day)`` in Shanghai time.

**Department.** Each figure belongs to the department playing the role it is about, read from the
case's parties (``case_party``), the role chosen by ``role``:

- ``provider`` (default, the answering side, 办理方): the party in role ``provider`` (an application's
  provider, a catalog update's department, a data objection's providers, a dispute's provider) or
  ``respondent`` (the department a rectification order or a complaint is about);
- ``consumer`` (the asking side, 申请方): ``consumer`` (an application's applicant, a dispute's consumer, a
  data objection's reporting department), ``complainant``, ``issuer`` (who issued an order), ``citizen``;
- any other party role (``platform``, ``investigator`` …), taken as it is.

A case with no party in those roles falls back on its summary's ``<role>_department`` field (an
escalation names its ``respondent_department`` there), else it counts under department ``""`` (a
party that is not a department: a citizen, a legal person). A case with several parties in the role (a
data objection checked jointly by two providers) counts once for each of them; the total of a case
type counts every case once, so it may be less than the sum of its departments.

**The figures** (``FIGURES``), for one case type and one department:

- ``received`` (收到): cases submitted in the period (``case.submitted_at``).
- ``accepted`` (受理): of those received, the cases whose first task (``seq`` 1) has been decided, as
  the projection stands now, by an action other than ``reject`` (不予受理): the platform's acceptance
  (Hubei 19, Luoyang annex 3 art. 13), the provider's acceptance or refusal (Luzhou 25), the
  provider's answer where no acceptance step exists (Jiangsu 16). A case ended by an entry rule with
  no task (a not-shared entry rejected, Hubei 8(1); an unconditional entry taken directly, Luzhou 25)
  is not counted as accepted.
- ``handled`` (办结): cases closed in the period (``case.closed_at``) with a result, i.e. every closed
  case that was not withdrawn; ``results`` splits them by result (the case type's own labels,
  ``status_words``: granted 同意授权, refused 不同意授权, rejected 不予受理 …).
- ``withdrawn`` (撤回): cases withdrawn in the period (closed, status ``withdrawn``); not handled.
- ``handled_on_time`` (按时办结): handled cases none of whose tasks was ever overdue (``task.overdue``:
  the breach the case recorded at a task's due instant, or a report filed late); ``handled_overdue``
  (超期办结): handled cases with at least one such task. The two add up to ``handled``. The breach is
  the case's, whichever party's task it was.
- ``pending_at_end`` (期末未办结): cases submitted before the end of the period and not closed by then;
  ``pending_overdue_at_end`` (期末超期未办结): of those, the cases with a task overdue whose due instant
  was before the end of the period.
- ``overdue`` (超期合计): ``handled_overdue + pending_overdue_at_end`` (the chart's overdue bar).
- handling time: for each handled case, the working days from submission to closing counted by the
  working-day calendar exactly as ``govshare working-days --from <submitted> --to <closed>`` counts
  them (:meth:`calendars.WorkingDayCalendar.working_days_between`: the working days ``d`` with
  ``date(submitted) < d <= date(closed)`` in Shanghai; the same day is 0). ``median_working_days`` is
  the median (the mean of the two middle values for an even count); ``p90_working_days`` is the 90th
  percentile by nearest rank (the smallest count that at least 90 % of the cases do not exceed: the
  ``ceil(0.9 n)``-th smallest); ``max_working_days`` the longest. None when nothing was handled. A
  count crossing a year without a holiday notice is provisional (weekends only): the report names
  such years (``provisional_years``).

**Refusals** (``refusals``): for every case handled in the period with a negative result (``refused``,
``rejected``), its id, department, result and the reason given (``result_reason``).

Counting is done in the database where it can be (received, accepted, pending: ``COUNT(DISTINCT …)``
grouped by case type and department); the handled cases are read as narrow rows (ids, dates, result,
whether a task was overdue), because their handling times need the calendar.
"""

from __future__ import annotations

import calendar as _monthly
import io
import re
import statistics as _stats
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, func, or_, true
from sqlalchemy import case as sql_case
from sqlmodel import Session, col, select

from calendars import SHANGHAI, WorkingDayCalendar
from govshare.core.models import Case, CaseParty, Department, Task
from workflows import registry

__all__ = [
    "FIGURES",
    "ROLE_VIEWS",
    "ChartFontMissing",
    "Figures",
    "Period",
    "PeriodError",
    "Refusal",
    "Report",
    "compute",
    "parse_period",
    "render_chart",
    "to_csv",
    "to_table",
]

#: The article the statistics are published under, as the chart and the CSV cite it (REGULATIONS §4).
BASIS_ZH = "《湖北省政务信息资源共享管理办法》第二十六条"
BASIS_EN = "Hubei Measures for Sharing Government Information Resources, art. 26"

#: The two views ``role`` names; any other value is one party role taken as it is.
ROLE_VIEWS: dict[str, tuple[str, ...]] = {
    "provider": ("provider", "respondent"),
    "consumer": ("consumer", "complainant", "issuer", "citizen"),
}
ROLE_VIEW_WORDS = {
    "provider": ("办理方(提供部门/被责令整改部门)", "answering side (provider / respondent)"),
    "consumer": ("申请方(使用部门/投诉方/下达方)", "asking side (consumer / complainant / issuer)"),
}
_ROLE = re.compile(r"^[a-z_]{1,32}$")

#: Results that refuse: their reasons are listed (``Report.refusals``).
NEGATIVE_RESULTS = ("refused", "rejected")

#: Every count and time a row carries, in order, with its words (zh, en). ``results`` sits after
#: ``handled`` in tables and CSV, one column per result.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("received", "收到", "received"),
    ("accepted", "受理", "accepted"),
    ("handled", "办结", "handled"),
    ("withdrawn", "撤回", "withdrawn"),
    ("handled_on_time", "按时办结", "handled on time"),
    ("handled_overdue", "超期办结", "handled overdue"),
    ("pending_at_end", "期末未办结", "open at period end"),
    ("pending_overdue_at_end", "期末超期未办结", "open and overdue at period end"),
    ("overdue", "超期合计", "overdue (handled late + open overdue)"),
    ("median_working_days", "办理时长中位数(工作日)", "median handling time (working days)"),
    ("p90_working_days", "办理时长90%分位(工作日)", "90th percentile handling time (working days)"),
    ("max_working_days", "最长办理时长(工作日)", "longest handling time (working days)"),
)

#: How a department that is not one (a citizen's case, a role nobody plays in the case) is shown.
NO_DEPARTMENT = ("(非部门当事人)", "(not a department)")

_YEARS = range(2000, 2101)


# --------------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------------


class PeriodError(ValueError):
    """A period that cannot be read: zh and en words (the API answers 422, the CLI exits 2)."""

    def __init__(self, zh: str, en: str, code: str = "invalid_period") -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en
        self.code = code


_QUARTER_ZH = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}


@dataclass(frozen=True)
class Period:
    """Calendar days ``first``…``last`` (both included) in Asia/Shanghai."""

    key: str  # 2026-11 | 2026-Q4 | 2026 | 2026-10-01..2026-10-31
    first: date
    last: date
    label_zh: str
    label_en: str

    @property
    def start(self) -> datetime:
        """The first instant of the period (00:00 of its first day, Shanghai)."""
        return datetime.combine(self.first, time(0), tzinfo=SHANGHAI)

    @property
    def end(self) -> datetime:
        """The first instant after the period (00:00 of the day after its last day, Shanghai)."""
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=SHANGHAI)


def _year(text: str) -> int:
    year = int(text)
    if year not in _YEARS:
        raise PeriodError(f"年份 {year} 超出 2000–2100", f"year {year} is outside 2000–2100")
    return year


def _date(text: str, what: str) -> date:
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(
            f"{what} “{text}” 不是日期(YYYY-MM-DD)", f"{what} '{text}' is not a date (YYYY-MM-DD)"
        ) from None
    if value.year not in _YEARS:
        raise PeriodError(f"{what} {value} 超出 2000–2100", f"{what} {value} is outside 2000–2100")
    return value


def last_full_month(today: date) -> str:
    """The month before ``today``'s: what is published when no period is named."""
    first = today.replace(day=1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def parse_period(
    period: str | None = None,
    *,
    date_from: date | str | None = None,
    date_to: date | str | None = None,
    today: date | None = None,
) -> Period:
    """A period from ``2026-11``, ``2026-Q4``, ``2026``, or ``date_from``/``date_to`` (both included);
    none of them: the last full month before ``today`` (Shanghai). :class:`PeriodError` otherwise."""
    if period is not None and (date_from is not None or date_to is not None):
        raise PeriodError("期间与起止日期只能择一", "give a period or from/to dates, not both")
    if date_from is not None or date_to is not None:
        if date_from is None or date_to is None:
            raise PeriodError("起止日期须同时给出", "give both from and to dates")
        first = date_from if isinstance(date_from, date) else _date(date_from, "from")
        last = date_to if isinstance(date_to, date) else _date(date_to, "to")
        for value, what in ((first, "from"), (last, "to")):
            if value.year not in _YEARS:
                raise PeriodError(f"{what} {value} 超出 2000–2100", f"{what} {value} is outside 2000–2100")
        if last < first:
            raise PeriodError(
                f"截止日期 {last} 早于起始日期 {first}", f"to ({last}) is before from ({first})"
            )
        return Period(
            key=f"{first.isoformat()}..{last.isoformat()}",
            first=first,
            last=last,
            label_zh=f"{first.year}年{first.month}月{first.day}日至{last.year}年{last.month}月{last.day}日",
            label_en=f"{first.isoformat()} to {last.isoformat()}",
        )
    if period is None:
        period = last_full_month(today or datetime.now(SHANGHAI).date())
    text = period.strip()
    if m := re.fullmatch(r"(\d{4})", text):
        year = _year(m[1])
        return Period(str(year), date(year, 1, 1), date(year, 12, 31), f"{year}年", str(year))
    if m := re.fullmatch(r"(\d{4})-[Qq]([1-4])", text):
        year, quarter = _year(m[1]), int(m[2])
        first = date(year, 3 * quarter - 2, 1)
        last_month = 3 * quarter
        last = date(year, last_month, _monthly.monthrange(year, last_month)[1])
        return Period(
            f"{year}-Q{quarter}", first, last, f"{year}年{_QUARTER_ZH[quarter]}", f"Q{quarter} {year}"
        )
    if m := re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", text):
        year, month = _year(m[1]), int(m[2])
        first = date(year, month, 1)
        last = date(year, month, _monthly.monthrange(year, month)[1])
        return Period(f"{year}-{month:02d}", first, last, f"{year}年{month}月", first.strftime("%B %Y"))
    raise PeriodError(
        f"期间 “{period}” 无法识别:应为 2026-11(月)、2026-Q4(季度)或 2026(年)",
        f"period '{period}' is not a month (2026-11), a quarter (2026-Q4) or a year (2026)",
    )


def role_parties(role: str) -> tuple[str, ...]:
    """The party roles a ``role`` view reads: one of :data:`ROLE_VIEWS`, or the role itself."""
    if role in ROLE_VIEWS:
        return ROLE_VIEWS[role]
    if not _ROLE.fullmatch(role):
        raise PeriodError(
            f"角色 “{role}” 无效:provider、consumer 或当事人角色(如 platform)",
            f"role '{role}' is not provider, consumer or a party role (e.g. platform)",
            "invalid_role",
        )
    return (role,)


# --------------------------------------------------------------------------------------------------
# The figures
# --------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """The figures of one case type for one department (or all of them): see the module docstring."""

    received: int = 0
    accepted: int = 0
    handled: int = 0
    results: dict[str, int] = field(default_factory=dict)
    withdrawn: int = 0
    handled_on_time: int = 0
    handled_overdue: int = 0
    pending_at_end: int = 0
    pending_overdue_at_end: int = 0
    median_working_days: float | None = None
    p90_working_days: int | None = None
    max_working_days: int | None = None
    #: The handling times behind the three figures above, smallest first.
    working_days: list[int] = field(default_factory=list)

    @property
    def overdue(self) -> int:
        return self.handled_overdue + self.pending_overdue_at_end

    @property
    def empty(self) -> bool:
        return not (self.received or self.handled or self.withdrawn or self.pending_at_end)

    def value(self, figure: str) -> Any:
        return getattr(self, figure)

    def _times(self, days: Iterable[int]) -> None:
        self.working_days = sorted(days)
        self.median_working_days, self.p90_working_days, self.max_working_days = handling_time(
            self.working_days
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, _, _ in FIGURES:
            out[name] = self.value(name)
            if name == "handled":
                out["results"] = dict(self.results)
        return out


def handling_time(days: list[int]) -> tuple[float | None, int | None, int | None]:
    """Median, 90th percentile (nearest rank) and maximum of working-day counts (None when empty)."""
    if not days:
        return None, None, None
    ordered = sorted(days)
    rank = (90 * len(ordered) + 99) // 100  # ceil(0.9 n), in integers
    return float(_stats.median(ordered)), ordered[rank - 1], ordered[-1]


@dataclass(frozen=True)
class Refusal:
    """A case handled in the period with a negative result, and the reason it was given."""

    case_id: str
    case_type: str
    department: str
    result: str
    result_zh: str
    reason: str
    closed_at: datetime


@dataclass
class DepartmentFigures:
    code: str
    name_zh: str
    name_en: str
    figures: Figures


@dataclass
class TypeReport:
    """One case type: its results' words, a row per department, the total (each case once)."""

    case_type: str
    name_zh: str
    name_en: str
    results: list[tuple[str, str, str]]  # (id, zh, en), the case type's own order
    departments: list[DepartmentFigures]
    total: Figures
    refusals: list[Refusal]


@dataclass
class Report:
    period: Period
    role: str
    department: str | None
    as_of: datetime
    generated_at: datetime
    types: list[TypeReport]
    provisional_years: list[int]

    def type(self, case_type: str) -> TypeReport | None:
        return next((t for t in self.types if t.case_type == case_type), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": {
                "key": self.period.key,
                "first_day": self.period.first.isoformat(),
                "last_day": self.period.last.isoformat(),
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
                "label_zh": self.period.label_zh,
                "label_en": self.period.label_en,
                "timezone": "Asia/Shanghai",
            },
            "role": self.role,
            "party_roles": list(role_parties(self.role)),
            "department": self.department,
            "as_of": self.as_of.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "basis_zh": BASIS_ZH,
            "basis_en": BASIS_EN,
            "provisional_years": list(self.provisional_years),
            "definitions": {name: {"zh": zh, "en": en} for name, zh, en in FIGURES},
            "case_types": [
                {
                    "case_type": t.case_type,
                    "name_zh": t.name_zh,
                    "name_en": t.name_en,
                    "results": [{"result": r, "zh": zh, "en": en} for r, zh, en in t.results],
                    "total": t.total.to_dict(),
                    "departments": [
                        {"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, **d.figures.to_dict()}
                        for d in t.departments
                    ],
                    "refusals": [
                        {
                            "case_id": r.case_id,
                            "department": r.department,
                            "result": r.result,
                            "result_zh": r.result_zh,
                            "reason": r.reason,
                            "closed_at": r.closed_at.astimezone(SHANGHAI).isoformat(),
                        }
                        for r in t.refusals
                    ],
                }
                for t in self.types
            ],
        }


def registered_types() -> list[registry.CaseKind]:
    """Every registered case type, in registration order (the registry has no public list yet)."""
    return list(registry.kinds())


def _results_of(kind: registry.CaseKind) -> list[tuple[str, str, str]]:
    results = getattr(kind.workflow, "RESULTS", {}) or {}
    return [(key, zh, en) for key, (zh, en) in results.items()]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def compute(
    session: Session,
    period: Period,
    *,
    case_type: str | None = None,
    department: str | None = None,
    role: str = "provider",
    calendar: WorkingDayCalendar | None = None,
    now: datetime | None = None,
) -> Report:
    """The figures of ``period`` for every registered case type (or ``case_type``), per department
    in the ``role`` view (or only ``department``). Unknown ``case_type`` or ``role``: PeriodError."""
    kinds = registered_types()
    if case_type is not None:
        kinds = [k for k in kinds if k.case_type == case_type]
        if not kinds:
            known = ", ".join(k.case_type for k in registered_types())
            raise PeriodError(
                f"案件类型 “{case_type}” 不存在;可选:{known}",
                f"no case type '{case_type}'; one of: {known}",
                "unknown_case_type",
            )
    roles = role_parties(role)
    calendar = calendar or WorkingDayCalendar.default()
    now = now or datetime.now(UTC)
    types = [k.case_type for k in kinds]
    start, end = period.start, period.end

    party_on = and_(CaseParty.case_id == Case.id, col(CaseParty.role).in_(roles))
    fallbacks = [Case.summary[f"{r}_department"].as_string() for r in roles]
    dept = func.coalesce(CaseParty.department, *fallbacks, "")

    def scoped(stmt: Any, by_department: bool) -> Any:
        """Restrict to the case types; join the department when grouping or filtering by it."""
        stmt = stmt.where(col(Case.case_type).in_(types))
        if by_department or department is not None:
            stmt = stmt.select_from(Case).outerjoin(CaseParty, party_on)
        if department is not None:
            stmt = stmt.where(dept == department)
        return stmt

    first_task_taken = exists().where(
        Task.case_id == Case.id, Task.seq == 1, Task.action != "", Task.action != "reject"
    )
    breached = exists().where(Task.case_id == Case.id, Task.overdue == true())
    breached_by_end = exists().where(Task.case_id == Case.id, Task.overdue == true(), col(Task.due_at) < end)
    received_in = and_(Case.submitted_at >= start, Case.submitted_at < end)
    open_at_end = and_(
        Case.submitted_at < end, or_(col(Case.closed_at).is_(None), col(Case.closed_at) >= end)
    )
    closed_in = and_(col(Case.closed_at) >= start, col(Case.closed_at) < end)

    per_department: dict[tuple[str, str], Figures] = {}
    totals: dict[str, Figures] = {t: Figures() for t in types}

    def figures_of(key: tuple[str, str] | str, by_department: bool) -> Figures:
        if by_department:
            return per_department.setdefault(key, Figures())  # type: ignore[arg-type]
        return totals[key]  # type: ignore[index]

    # -- received and accepted; open at the end of the period (SQL aggregates) -------------------
    for by_department in (True, False):
        keys = [Case.case_type, dept] if by_department else [Case.case_type]
        stmt = scoped(
            select(
                *keys,
                func.count(func.distinct(Case.id)),
                func.count(func.distinct(sql_case((first_task_taken, Case.id)))),
            ).where(received_in),
            by_department,
        ).group_by(*keys)
        for row in session.exec(stmt):
            key = (row[0], row[1]) if by_department else row[0]
            figures = figures_of(key, by_department)
            figures.received, figures.accepted = row[-2], row[-1]
        stmt = scoped(
            select(
                *keys,
                func.count(func.distinct(Case.id)),
                func.count(func.distinct(sql_case((breached_by_end, Case.id)))),
            ).where(open_at_end),
            by_department,
        ).group_by(*keys)
        for row in session.exec(stmt):
            key = (row[0], row[1]) if by_department else row[0]
            figures = figures_of(key, by_department)
            figures.pending_at_end, figures.pending_overdue_at_end = row[-2], row[-1]

    # -- closed in the period: narrow rows, the handling time counted with the calendar ----------
    reason = sql_case(
        (col(Case.result).in_(NEGATIVE_RESULTS), Case.detail["result_reason"].as_string()), else_=""
    )
    stmt = scoped(
        select(
            Case.id,
            Case.case_type,
            dept,
            Case.status,
            Case.result,
            Case.submitted_at,
            Case.closed_at,
            breached.label("breached"),
            reason.label("reason"),
        ).where(closed_in),
        True,
    ).order_by(col(Case.closed_at), col(Case.id))
    times: dict[tuple[str, str], list[int]] = {}
    total_times: dict[str, dict[str, int]] = {t: {} for t in types}
    counted_cases: set[str] = set()
    refusals: dict[str, list[Refusal]] = {t: [] for t in types}
    years: set[int] = set()
    for case_id, kind, code, status, result, submitted_at, closed_at, late, why in session.exec(stmt):
        code = code or ""
        targets = [figures_of((kind, code), True)]
        first_time = case_id not in counted_cases
        counted_cases.add(case_id)
        if first_time:
            targets.append(totals[kind])
        for figures in targets:
            if status == "withdrawn":
                figures.withdrawn += 1
                continue
            figures.handled += 1
            figures.results[result] = figures.results.get(result, 0) + 1
            if late:
                figures.handled_overdue += 1
            else:
                figures.handled_on_time += 1
        if status == "withdrawn":
            continue
        submitted, closed = _aware(submitted_at), _aware(closed_at)
        days = calendar.working_days_between(submitted, closed)
        years.update(range(submitted.astimezone(SHANGHAI).year, closed.astimezone(SHANGHAI).year + 1))
        times.setdefault((kind, code), []).append(days)
        total_times[kind][case_id] = days
        if result in NEGATIVE_RESULTS:
            refusals[kind].append(
                Refusal(
                    case_id=case_id,
                    case_type=kind,
                    department=code,
                    result=result,
                    result_zh=registry.status_words(kind, result)[0],
                    reason=why or "",
                    closed_at=closed,
                )
            )
    for key, days in times.items():
        per_department[key]._times(days)
    for kind, by_case in total_times.items():
        totals[kind]._times(by_case.values())

    names = {d.code: (d.name_zh, d.name_en) for d in session.exec(select(Department))}
    reports: list[TypeReport] = []
    for kind in kinds:
        rows = [
            DepartmentFigures(code, *names.get(code, NO_DEPARTMENT if not code else (code, code)), figures)
            for (t, code), figures in per_department.items()
            if t == kind.case_type and not figures.empty
        ]
        rows.sort(key=lambda d: (-d.figures.received, -d.figures.handled, d.code))
        results = _results_of(kind)
        seen = {r for r, _, _ in results}
        for row in [*rows, DepartmentFigures("", "", "", totals[kind.case_type])]:
            for extra in row.figures.results:
                if extra not in seen:  # a result the case type no longer names: shown as it is
                    seen.add(extra)
                    results.append((extra, *registry.status_words(kind.case_type, extra)))
        reports.append(
            TypeReport(
                case_type=kind.case_type,
                name_zh=kind.name_zh,
                name_en=kind.name_en,
                results=results,
                departments=rows,
                total=totals[kind.case_type],
                refusals=refusals[kind.case_type],
            )
        )
    return Report(
        period=period,
        role=role,
        department=department,
        as_of=min(end, now).astimezone(SHANGHAI),
        generated_at=now.astimezone(SHANGHAI),
        types=reports,
        provisional_years=sorted(y for y in years if not calendar.has_data(y)),
    )


# --------------------------------------------------------------------------------------------------
# Table and CSV
# --------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _result_columns(report: Report) -> list[tuple[str, str]]:
    """(result id, its words) over the case types shown: one column per result id."""
    columns: dict[str, str] = {}
    for t in report.types:
        for result, zh, _ in t.results:
            columns.setdefault(result, zh)
    return list(columns.items())


def figure_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """The figures as a header (中文 English) and rows: per case type its departments, then its total."""
    results = _result_columns(report)
    header = [
        "期间 period",
        "案件类型 case_type",
        "案件类型名称 case_type_name",
        "部门 department",
        "部门名称 department_name",
    ]
    for name, zh, _ in FIGURES:
        header.append(f"{zh} {name}")
        if name == "handled":
            header.extend(f"结果:{zh_r} result:{r}" for r, zh_r in results)
    rows: list[list[str]] = []
    for t in report.types:
        lines = [(d.code, d.name_zh, d.figures) for d in t.departments]
        if report.department is None:
            lines.append(("*", "合计 total", t.total))
        for code, name, figures in lines:
            row = [report.period.key, t.case_type, t.name_zh, code, name]
            for figure, _, _ in FIGURES:
                row.append(_cell(figures.value(figure)))
                if figure == "handled":
                    own = {r for r, _, _ in t.results}
                    row.extend(str(figures.results.get(r, 0)) if r in own else "" for r, _ in results)
            rows.append(row)
    return header, rows


def refusal_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = [
        "期间 period",
        "案件类型 case_type",
        "案件编号 case_id",
        "部门 department",
        "结果 result",
        "结果名称 result_name",
        "理由 reason",
        "办结时间 closed_at",
    ]
    rows = [
        [
            report.period.key,
            r.case_type,
            r.case_id,
            r.department,
            r.result,
            r.result_zh,
            r.reason,
            r.closed_at.astimezone(SHANGHAI).isoformat(),
        ]
        for t in report.types
        for r in t.refusals
    ]
    return header, rows


def to_csv(report: Report, table: str = "figures") -> str:
    """CSV text (``figures`` or ``refusals``), starting with a UTF-8 BOM so Excel reads the Chinese."""
    import csv

    header, rows = refusal_rows(report) if table == "refusals" else figure_rows(report)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def to_table(report: Report) -> str:
    """A plain-text table for a terminal: per case type, a line per department, the total, refusals."""
    lines = [
        f"{report.period.label_zh}统计 / statistics for {report.period.label_en} "
        f"({report.period.first} – {report.period.last}, Asia/Shanghai; {BASIS_ZH})",
        f"部门视角 view: {report.role}  数据截至 as of: {report.as_of:%Y-%m-%d %H:%M}",
    ]
    if report.provisional_years:
        years = ", ".join(map(str, report.provisional_years))
        lines.append(f"注意:{years} 年无节假日通知,工作日按周末计算(暂定) / provisional years: {years}")
    short = [
        ("received", "收到"),
        ("accepted", "受理"),
        ("handled", "办结"),
        ("withdrawn", "撤回"),
        ("handled_on_time", "按时"),
        ("handled_overdue", "超期办结"),
        ("pending_at_end", "期末未结"),
        ("pending_overdue_at_end", "期末超期"),
        ("median_working_days", "中位数WD"),
        ("p90_working_days", "P90 WD"),
    ]
    for t in report.types:
        lines.append("")
        lines.append(f"{t.name_zh} {t.name_en} ({t.case_type})")
        header = ["部门 department", *(zh for _, zh in short), *(zh for _, zh, _ in t.results)]
        body = [
            [
                f"{name} {code}".strip(),
                *(_cell(figures.value(f)) for f, _ in short),
                *(str(figures.results.get(r, 0)) for r, _, _ in t.results),
            ]
            for code, name, figures in [
                *((d.code, d.name_zh, d.figures) for d in t.departments),
                *([("", "合计 total", t.total)] if report.department is None else []),
            ]
        ]
        if not t.departments:
            lines.append("  本期无案件 / no cases in this period")
            continue
        widths = [max(_width(row[i]) for row in [header, *body]) for i in range(len(header))]
        for row in [header, *body]:
            lines.append("  " + "  ".join(_pad(cell, widths[i], right=i > 0) for i, cell in enumerate(row)))
        for r in t.refusals:
            lines.append(f"  - {r.case_id} {r.department} {r.result_zh}:{r.reason}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# The chart
# --------------------------------------------------------------------------------------------------

#: The font shipped with the package (a subset of Noto Sans CJK SC, OFL: govshare/assets/fonts/).
FONT_FILE = Path(__file__).resolve().parent.parent / "assets" / "fonts" / "GovShareSansSC-Regular.otf"
FONT_FAMILY = "GovShare Sans SC"
#: Tried when the shipped font is missing: Debian's fonts-noto-cjk (and the Latin default last).
SYSTEM_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei")

_font_lock = threading.Lock()
_font_families: list[str] | None = None


class ChartFontMissing(RuntimeError):
    """No font with Chinese glyphs: the chart would show boxes, so it is not drawn."""


def chart_fonts() -> list[str]:
    """The font families the chart draws with, first the shipped one (registered with matplotlib
    once per process); without it, a system CJK font; without either, :class:`ChartFontMissing`."""
    global _font_families
    with _font_lock:
        if _font_families is not None:
            return _font_families
        from matplotlib import font_manager

        families: list[str] = []
        if FONT_FILE.is_file():
            font_manager.fontManager.addfont(str(FONT_FILE))
            families.append(FONT_FAMILY)
        for family in SYSTEM_FAMILIES:
            try:
                font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
            except ValueError:
                continue
            families.append(family)
        if not families:
            raise ChartFontMissing(
                f"没有可显示中文的字体:软件包自带的 {FONT_FILE} 缺失,系统也未安装 Noto Sans CJK"
                f"(Debian/Ubuntu: apt-get install fonts-noto-cjk)。 No font with Chinese glyphs: "
                f"the packaged {FONT_FILE} is missing and no system CJK font is installed "
                "(Debian/Ubuntu: apt-get install fonts-noto-cjk)"
            )
        _font_families = [*families, "DejaVu Sans"]
        return _font_families


#: Bar colours: received, then the results in order, then overdue (red).
_RECEIVED_COLOUR = "#4C72B0"
_RESULT_COLOURS = ("#55A868", "#C44E52", "#8172B2", "#CCB974", "#64B5CD", "#8C8C8C", "#DA8BC3")
_POSITIVE = {"granted", "corrected", "updated", "rectified", "substantiated", "settled_access"}


def chart_series(t: TypeReport) -> list[tuple[str, str, str]]:
    """The bars drawn per department: (figure key, zh, en) — received, each result, overdue."""
    return [
        ("received", "收到", "received"),
        *((f"result:{r}", zh, en) for r, zh, en in t.results),
        ("overdue", "超期", "overdue"),
    ]


def _as_of_words(report: Report) -> tuple[str, str]:
    """When the figures stand: the period's end (24:00 of its last day) or, while it runs, the time."""
    if report.as_of >= report.period.end:
        return f"{report.period.last} 24:00", f"{report.period.last} 24:00"
    return f"{report.as_of:%Y-%m-%d %H:%M}", f"{report.as_of:%Y-%m-%d %H:%M}"


def render_chart(report: Report, case_type: str = "sharing_application") -> bytes:
    """A PNG to publish: per department, bars of received, each result (granted, refused …) and
    overdue for ``case_type``; titled with the period and the article (Hubei 26)."""
    t = report.type(case_type) or (report.types[0] if report.types else None)
    if t is None:
        raise PeriodError("没有可绘制的案件类型", "no case type to chart")
    families = chart_fonts()

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    def font(size: float, weight: str = "normal") -> FontProperties:
        return FontProperties(family=families, size=size, weight=weight)

    series = chart_series(t)
    departments = t.departments[:30]  # a published chart stays readable; the CSV has every one
    crowded = len(departments) > 6
    width = min(18.0, max(10.0, 1.5 + len(departments) * (0.22 * len(series) + 0.3)))
    # Heights in inches, bottom up: the notes, the department names (slanted when crowded), the bars,
    # the legend, the titles.
    notes, names, bars_in, top_in = 1.15, (1.25 if crowded else 0.45), 4.2, 1.75
    height = notes + names + bars_in + top_in
    fig = Figure(figsize=(width, height), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.9 / width, (notes + names) / height, 1 - 1.3 / width, bars_in / height))
    role_zh, role_en = ROLE_VIEW_WORDS.get(report.role, (report.role, report.role))
    as_of_zh, as_of_en = _as_of_words(report)
    fig.text(
        0.5,
        1 - 0.22 / height,
        f"{report.period.label_zh}{t.name_zh}办理情况统计(按{role_zh.split('(')[0]})",
        ha="center",
        va="top",
        fontproperties=font(16),
    )
    fig.text(
        0.5,
        1 - 0.66 / height,
        f"依据{BASIS_ZH}公布 · 统计期间 {report.period.first} 至 {report.period.last}(北京时间)",
        ha="center",
        va="top",
        fontproperties=font(9.5),
        color="#333333",
    )
    fig.text(
        0.5,
        1 - 0.92 / height,
        f"{t.name_en}, {report.period.label_en}, by {role_en} — published under {BASIS_EN}",
        ha="center",
        va="top",
        fontproperties=font(8.5),
        color="#555555",
    )
    if not departments:
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            "本期无案件 / no cases in this period",
            ha="center",
            va="center",
            fontproperties=font(14),
            transform=ax.transAxes,
        )
    else:
        group = 0.8
        bar = group / len(series)
        colours = iter(_RESULT_COLOURS)
        for i, (key, zh, en) in enumerate(series):
            if key == "received":
                colour = _RECEIVED_COLOUR
            elif key == "overdue":
                colour = "#D62728"
            else:
                colour = next(colours, "#999999")
            values = [
                d.figures.results.get(key.split(":", 1)[1], 0)
                if key.startswith("result:")
                else d.figures.value(key)
                for d in departments
            ]
            xs = [j - group / 2 + bar * (i + 0.5) for j in range(len(departments))]
            bars = ax.bar(xs, values, bar * 0.92, label=f"{zh} {en}", color=colour)
            for rect, value in zip(bars, values, strict=True):
                if value:
                    ax.annotate(
                        str(value),
                        (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                        ha="center",
                        va="bottom",
                        fontproperties=font(7.5),
                        xytext=(0, 1),
                        textcoords="offset points",
                    )
        ax.set_xticks(range(len(departments)))
        ax.set_xticklabels(
            [d.name_zh or d.code for d in departments],
            fontproperties=font(9.5),
            rotation=35 if crowded else 0,
            ha="right" if crowded else "center",
            rotation_mode="anchor",
        )
        ax.yaxis.get_major_locator().set_params(integer=True)
        for label in ax.get_yticklabels():
            label.set_fontproperties(font(9))
        ax.set_ylabel("件数 cases", fontproperties=font(10))
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#DDDDDD", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(
            prop=font(8.5),
            ncols=min(len(series), 6),
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            frameon=False,
        )
        top = max((rect.get_height() for rect in ax.patches), default=1)
        ax.set_ylim(0, max(1, top) * 1.12)
    total = t.total
    median = _cell(total.median_working_days) or "—"
    p90 = _cell(total.p90_working_days) or "—"
    shown = "" if len(t.departments) <= len(departments) else f"(仅列前 {len(departments)} 个部门)"
    lines = [
        f"合计{shown}:收到 {total.received} 件,受理 {total.accepted} 件,办结 {total.handled} 件(按时 "
        f"{total.handled_on_time},超期 {total.handled_overdue}),撤回 {total.withdrawn} 件,期末未办结 "
        f"{total.pending_at_end} 件(其中超期 {total.pending_overdue_at_end});"
        f"办理时长中位数 {median} 个工作日,90% 分位 {p90} 个工作日。",
        f"超期 = 超期办结 + 期末超期未办结;办理时长为提交至办结的工作日数(节假日按国务院通知)。"
        f"数据截至 {as_of_zh}(北京时间)。",
        f"Total: received {total.received}, accepted {total.accepted}, handled {total.handled} (on time "
        f"{total.handled_on_time}, overdue {total.handled_overdue}), withdrawn {total.withdrawn}, open at "
        f"period end {total.pending_at_end} ({total.pending_overdue_at_end} overdue); handling time median "
        f"{median}, 90th percentile {p90} working days.",
        f"Overdue = handled late + open and overdue at period end. Handling time: working days from "
        f"submission to closing (State Council holiday notices). Figures as of {as_of_en} Asia/Shanghai.",
    ]
    if report.provisional_years:
        years = "、".join(map(str, report.provisional_years))
        lines.append(
            f"注:{years} 年尚无节假日通知,其工作日暂按周末计算 / provisional: no holiday notice for {years}."
        )
    fig.text(
        0.45 / width,
        0.12 / height,
        "\n".join(lines),
        ha="left",
        va="bottom",
        fontproperties=font(7.5),
        color="#444444",
        linespacing=1.5,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150, metadata={"Title": f"{t.name_zh} {report.period.key}"})
    return buffer.getvalue()
