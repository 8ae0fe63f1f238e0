"""Published statistics (统计信息, Hubei 26): ``GET /statistics``, ``.csv``, ``/statistics/chart.png``.

The figures are computed by :mod:`govshare.cases.statistics` from the projection (its docstring
defines each one); this router reads the query, decides who may see what, and renders JSON, CSV (with
a UTF-8 BOM, so Excel opens the Chinese) or a PNG chart.

Who may read:

- the platform (which publishes the statistics, Hubei 26), the leading group office (it supervises,
  Hubei 26, 28) and auditors (they read everything, REGULATIONS §10): every department's figures;
- a department, in any role it holds a credential for (a provider, a consumer, a coordinator …, or
  its principal head): its own figures only — ``department`` is its own by default, another is 403
  ``department_not_own``. Refusal reasons name cases and say why they were refused, so one
  department never reads another's before the platform publishes them;
- a party that is not a department (a citizen, a legal person): 403; it reads what is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from api.deps import ALL_ROLES, Caller, EngineDep, caller_with_roles
from api.errors import ApiError, problem_responses
from govshare.cases import statistics as stats

router = APIRouter(tags=["statistics"])

#: Every role but a party that is not a department; what a department sees is narrowed below.
StatisticsCaller = Annotated[
    Caller, Depends(caller_with_roles(*(role for role in ALL_ROLES if role != "citizen")))
]

PeriodQuery = Annotated[
    str | None,
    Query(
        max_length=16,
        description="月 month `2026-11`, 季度 quarter `2026-Q4`, 年 year `2026` (Asia/Shanghai days); "
        "default: the last full month. Or give `from` and `to` instead.",
    ),
]
FromQuery = Annotated[date | None, Query(alias="from", description="First day (included), YYYY-MM-DD")]
ToQuery = Annotated[date | None, Query(alias="to", description="Last day (included), YYYY-MM-DD")]
CaseTypeQuery = Annotated[
    str | None,
    Query(
        max_length=32, description="One case type (sharing_application, rectification_order …); default: all"
    ),
]
DepartmentQuery = Annotated[
    str | None, Query(max_length=64, description="One department (a department caller: its own)")
]
RoleQuery = Annotated[
    str,
    Query(
        max_length=32,
        description="`provider` (default: the answering side — provider, respondent), `consumer` (the "
        "asking side — consumer, complainant, issuer), or one party role as it is (e.g. `platform`)",
    ),
]


# --------------------------------------------------------------------------------------------------
# The JSON shape (what govshare.cases.statistics.Report.to_dict gives)
# --------------------------------------------------------------------------------------------------


class PeriodOut(BaseModel):
    key: str = Field(examples=["2026-Q4"])
    first_day: date
    last_day: date
    start: str = Field(description="First instant, Asia/Shanghai", examples=["2026-10-01T00:00:00+08:00"])
    end: str = Field(description="First instant after the period", examples=["2027-01-01T00:00:00+08:00"])
    label_zh: str = Field(examples=["2026年第四季度"])
    label_en: str = Field(examples=["Q4 2026"])
    timezone: str = "Asia/Shanghai"


class FiguresOut(BaseModel):
    received: int
    accepted: int
    handled: int
    results: dict[str, int] = Field(description="Handled cases by result (granted, refused, rejected …)")
    withdrawn: int
    handled_on_time: int
    handled_overdue: int
    pending_at_end: int
    pending_overdue_at_end: int
    overdue: int = Field(description="handled_overdue + pending_overdue_at_end")
    median_working_days: float | None
    p90_working_days: int | None = Field(description="Nearest rank: the ceil(0.9 n)-th smallest")
    max_working_days: int | None


class DepartmentFiguresOut(FiguresOut):
    code: str
    name_zh: str
    name_en: str


class ResultOut(BaseModel):
    result: str
    zh: str
    en: str


class RefusalOut(BaseModel):
    case_id: str
    department: str
    result: str
    result_zh: str
    reason: str
    closed_at: str


class CaseTypeStatistics(BaseModel):
    case_type: str
    name_zh: str
    name_en: str
    results: list[ResultOut]
    total: FiguresOut = Field(description="Every department, each case once")
    departments: list[DepartmentFiguresOut]
    refusals: list[RefusalOut]


class WordsOut(BaseModel):
    zh: str
    en: str


class StatisticsOut(BaseModel):
    period: PeriodOut
    role: str
    party_roles: list[str]
    department: str | None
    as_of: str
    generated_at: str
    basis_zh: str
    basis_en: str
    provisional_years: list[int] = Field(description="Years counted on weekends alone (no holiday notice)")
    definitions: dict[str, WordsOut]
    case_types: list[CaseTypeStatistics]


# --------------------------------------------------------------------------------------------------
# Reading the query, who may see what
# --------------------------------------------------------------------------------------------------


def _department_for(caller: Caller, department: str | None) -> str | None:
    """The department the caller may read: any (None: all) for the oversight roles, its own else."""
    if caller.sees_all:
        return department
    if not caller.department:  # not reachable with the roles admitted; kept as the rule
        raise ApiError(403, "仅部门可查看统计信息", "only departments read statistics", code="forbidden")
    if department is not None and department != caller.department:
        raise ApiError(
            403,
            f"部门只能查看本部门的统计信息({caller.department}),不能查看 {department} 的",
            f"a department reads its own statistics ({caller.department}), not those of {department}",
            code="department_not_own",
        )
    return caller.department


@dataclass(frozen=True)
class Scope:
    """What every statistics route is asked for, beside the case type: the period, the department
    and the role in which departments are counted."""

    period: str | None
    date_from: date | None
    date_to: date | None
    department: str | None
    role: str


def _scope(
    period: PeriodQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    department: DepartmentQuery = None,
    role: RoleQuery = "provider",
) -> Scope:
    return Scope(period, date_from, date_to, department, role)


ScopeQuery = Annotated[Scope, Depends(_scope)]


def _report(engine, caller: Caller, scope: Scope, case_type: str | None) -> stats.Report:
    department = _department_for(caller, scope.department)
    try:
        chosen = stats.parse_period(scope.period, date_from=scope.date_from, date_to=scope.date_to)
        with Session(engine) as session:
            return stats.compute(session, chosen, case_type=case_type, department=department, role=scope.role)
    except stats.PeriodError as err:
        raise ApiError(422, err.zh, err.en, code=err.code) from None


def _filename(report: stats.Report, suffix: str) -> str:
    key = report.period.key.replace("..", "_")
    who = report.department or "all"
    return f"statistics-{key}-{report.role}-{who}{suffix}"


# --------------------------------------------------------------------------------------------------
# The routes
# --------------------------------------------------------------------------------------------------


@router.get(
    "/statistics",
    response_model=StatisticsOut,
    summary="Published statistics per department and period (Hubei 26)",
    description="统计信息(《湖北省政务信息资源共享管理办法》第二十六条:定期公布授权办理情况):"
    "按期间(月、季度、年或起止日期,北京时间)、案件类型与部门统计收到、受理、办结(按结果)、撤回、"
    "按时办结、超期办结、期末未办结与超期未办结件数,办理时长(工作日)中位数与 90% 分位数,"
    "以及不予受理/不同意的案件与理由。平台、领导小组办公室与审计部门可查看全部部门;"
    "其他部门只能查看本部门。\n\n"
    "Per case type (every registered one, or `case_type`) and per department in the `role` view: "
    "received, accepted, handled by result, withdrawn, handled on time / overdue, open (and overdue) at "
    "period end, median and 90th-percentile handling time in working days, and each refusal with its "
    "reason; `definitions` says what each figure counts. The platform, the leading group office and "
    "auditors read every department; a department reads its own figures only.",
    responses=problem_responses(401, 403, 422),
)
def get_statistics(
    caller: StatisticsCaller,
    engine: EngineDep,
    scope: ScopeQuery,
    case_type: CaseTypeQuery = None,
) -> StatisticsOut:
    report = _report(engine, caller, scope, case_type)
    return StatisticsOut.model_validate(report.to_dict())


@router.get(
    "/statistics.csv",
    summary="Published statistics as CSV (Excel-ready)",
    description="统计信息 CSV(UTF-8,带 BOM,Excel 可直接打开中文;表头中英文):"
    "`table=figures` 每个案件类型的各部门一行及合计行,`table=refusals` 不予受理/不同意的案件及理由。\n\n"
    "The same figures as `GET /statistics`, one row per case type and department plus a total row "
    "(department `*`), one column per figure and per result; or (`table=refusals`) one row per refusal "
    "with its reason. UTF-8 with a byte-order mark; headers in Chinese and English.",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"},
        **problem_responses(401, 403, 422),
    },
)
def get_statistics_csv(
    caller: StatisticsCaller,
    engine: EngineDep,
    scope: ScopeQuery,
    case_type: CaseTypeQuery = None,
    table: Annotated[Literal["figures", "refusals"], Query(description="figures | refusals")] = "figures",
) -> Response:
    report = _report(engine, caller, scope, case_type)
    name = _filename(report, f"-{table}.csv")
    return Response(
        stats.to_csv(report, table).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/statistics/chart.png",
    summary="Published statistics as a chart (PNG)",
    description="统计图(PNG,可直接公布):一个案件类型(默认数据使用申请)按部门的收到、各办理结果与超期件数"
    "柱状图,标题注明统计期间与《湖北省政务信息资源共享管理办法》第二十六条,"
    "中文标注(随软件包提供的 Noto Sans CJK SC 子集字体)。\n\n"
    "One case type (default `sharing_application`): per department, bars of received, each result "
    "(granted, refused, rejected …) and overdue; titled with the period and Hubei art. 26; Chinese "
    "labels drawn with the font shipped in the package (a Noto Sans CJK SC subset).",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "PNG",
        },
        **problem_responses(401, 403, 422, 503),
    },
)
def get_statistics_chart(
    caller: StatisticsCaller,
    engine: EngineDep,
    scope: ScopeQuery,
    case_type: Annotated[
        str, Query(max_length=32, description="The case type charted (default sharing_application)")
    ] = "sharing_application",
) -> Response:
    report = _report(engine, caller, scope, case_type)
    try:
        png = stats.render_chart(report, case_type)
    except stats.ChartFontMissing as err:
        raise ApiError(
            503,
            "统计图无法生成:缺少中文字体(安装 fonts-noto-cjk 或重新安装 govshare)",
            str(err),
            code="chart_font_missing",
        ) from None
    return Response(
        png,
        media_type="image/png",
        headers={"Content-Disposition": f'inline; filename="{_filename(report, ".png")}"'},
    )
