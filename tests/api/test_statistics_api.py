"""Published statistics over HTTP (``GET /statistics``, ``/statistics.csv``, ``/statistics/chart.png``).

Projection rows with known figures are written for departments of the test's own (so the counts are
exact beside every other test's cases), in October 2026 (the National Day holiday: 10-01 … 10-07 off,
Saturday 10-10 a make-up working day). Who may read: the platform, the leading group office and the
auditors every department; a department its own figures only; a citizen nothing. Each test runs on
SQLite and on PostgreSQL (the ``system`` fixture).
"""

from __future__ import annotations

import csv
import io
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from api_helpers import AUDITOR, LEADING_GROUP, PLATFORM, auth
from sqlmodel import Session

from govshare.core.models import Case, CaseParty, Task

CST = timezone(timedelta(hours=8))
OCTOBER = {"period": "2026-10"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST).astimezone(UTC)


def insert_cases(api) -> dict[str, Any]:
    """A provider P and a consumer C of their own, and their October 2026:

    A1  P←C  09-30 16:00 → 10-09 10:00 granted, on time: 10-08, 10-09 → 2 WD (10-01…07 off).
    A2  P←C  10-08 09:00 → 10-20 11:00 refused "不符合共享条件", its provider task overdue:
             10-09, 10-10 (make-up Saturday), 10-12…16, 10-19, 10-20 → 9 WD.
    A3  P←C  10-12 10:00, open: accepted, the provider's task overdue since 10-20.
    ES  an escalation about A2: no parties, summary ``respondent_department`` P, 10-21, open.
    """
    provider, provider_tokens = api.new_department("provider", "consumer")
    consumer, consumer_tokens = api.new_department("consumer")
    tag = uuid.uuid4().hex[:8].upper()
    ids = {
        name: f"{prefix}-T{tag}-{name}"
        for name, prefix in (("A1", "SA"), ("A2", "SA"), ("A3", "SA"), ("ES", "ES"))
    }
    rows: list[Any] = []

    def case(name: str, case_type: str, submitted: str, closed: str | None, result: str = "", **kw: Any):
        rows.append(
            Case(
                id=ids[name],
                workflow_id=f"Test:{ids[name]}",
                case_type=case_type,
                profile_id="hubei",
                profile_version="1",
                status="closed" if closed else "in_progress",
                result=result,
                submitted_at=at(submitted),
                closed_at=at(closed) if closed else None,
                updated_at=datetime.now(UTC),
                engine=2,
                detail={"result_reason": kw.get("reason", "")},
                summary=kw.get("summary")
                or {"provider_department": provider, "consumer_department": consumer, "resource_id": "r"},
            )
        )
        if case_type == "sharing_application":
            for role, department in (("provider", provider), ("consumer", consumer), ("platform", "bdb")):
                rows.append(CaseParty(case_id=ids[name], role=role, department=department))

    def task(name: str, seq: int, department: str, action: str = "", overdue: bool = False, **kw: Any):
        rows.append(
            Task(
                id=f"{ids[name]}/{seq}",
                case_id=ids[name],
                seq=seq,
                step=kw.get("step", "platform_check" if seq == 1 else "provider_authorization"),
                name_zh="步骤",
                name_en="step",
                assignee_department=department,
                assignee_role="platform" if seq == 1 else "provider",
                status=kw.get("status", "done"),
                opened_at=at("2026-10-01 00:00"),
                due_at=at(kw["due"]) if "due" in kw else None,
                overdue=overdue,
                action=action,
            )
        )

    case("A1", "sharing_application", "2026-09-30 16:00", "2026-10-09 10:00", "granted")
    task("A1", 1, "bdb", "accept")
    task("A1", 2, provider, "grant")
    case(
        "A2",
        "sharing_application",
        "2026-10-08 09:00",
        "2026-10-20 11:00",
        "refused",
        reason="不符合共享条件",
    )
    task("A2", 1, "bdb", "accept")
    task("A2", 2, provider, "refuse", overdue=True, due="2026-10-17 00:00")
    case("A3", "sharing_application", "2026-10-12 10:00", None)
    task("A3", 1, "bdb", "accept")
    task("A3", 2, provider, overdue=True, status="open", due="2026-10-20 00:00")
    case(
        "ES",
        "escalation",
        "2026-10-21 00:00",
        None,
        summary={"concerns": ids["A2"], "respondent_department": provider},
    )
    task("ES", 1, "bdb", status="open", step="rung_report_to_leading_group_office")
    with Session(api.engine) as session:
        session.add_all([r for r in rows if isinstance(r, Case)])
        session.flush()
        session.add_all([r for r in rows if not isinstance(r, Case)])
        session.commit()
    return {
        "provider": provider,
        "consumer": consumer,
        "provider_token": provider_tokens["provider"],
        "provider_as_consumer_token": provider_tokens["consumer"],
        "consumer_token": consumer_tokens["consumer"],
        "ids": ids,
    }


#: October 2026, provider P: received A2, A3; handled A1 (2 WD), A2 (9 WD, overdue); A3 open and overdue.
PROVIDER_OCTOBER = {
    "received": 2,
    "accepted": 2,
    "handled": 2,
    "results": {"granted": 1, "refused": 1},
    "withdrawn": 0,
    "handled_on_time": 1,
    "handled_overdue": 1,
    "pending_at_end": 1,
    "pending_overdue_at_end": 1,
    "overdue": 2,
    "median_working_days": 5.5,  # [2, 9]
    "p90_working_days": 9,  # ceil(0.9 × 2) = 2nd smallest
    "max_working_days": 9,
}


async def get(api, token: str, path: str = "/statistics", expect: int = 200, **params: Any):
    response = await api.http.get(path, params=params, headers=auth(token))
    assert response.status_code == expect, response.text
    return response


def department_row(data: dict[str, Any], case_type: str, code: str) -> dict[str, Any]:
    kind = next(t for t in data["case_types"] if t["case_type"] == case_type)
    row = next(d for d in kind["departments"] if d["code"] == code)
    return {k: v for k, v in row.items() if k not in ("code", "name_zh", "name_en")}


async def test_oversight_roles_read_every_department(api):
    known = insert_cases(api)
    provider = known["provider"]
    for token in (LEADING_GROUP, AUDITOR, PLATFORM):
        data = (await get(api, token, **OCTOBER)).json()
        assert data["period"]["start"] == "2026-10-01T00:00:00+08:00"
        assert data["department"] is None
        assert department_row(data, "sharing_application", provider) == PROVIDER_OCTOBER
        # The escalation has no party: its department is its summary's respondent (also on PostgreSQL).
        escalation = department_row(data, "escalation", provider)
        assert (escalation["received"], escalation["pending_at_end"]) == (1, 1)
    one = (await get(api, AUDITOR, department=provider, case_type="sharing_application", **OCTOBER)).json()
    [kind] = one["case_types"]
    assert kind["total"] == PROVIDER_OCTOBER and [d["code"] for d in kind["departments"]] == [provider]
    assert kind["refusals"] == [
        {
            "case_id": known["ids"]["A2"],
            "department": provider,
            "result": "refused",
            "result_zh": "不同意授权",
            "reason": "不符合共享条件",
            "closed_at": "2026-10-20T11:00:00+08:00",
        }
    ]
    assert kind["departments"][0]["name_zh"].startswith("测试部门")
    # The same days as from/to dates.
    dates = (
        await get(
            api,
            AUDITOR,
            department=provider,
            case_type="sharing_application",
            **{"from": "2026-10-01", "to": "2026-10-31"},
        )
    ).json()
    assert dates["case_types"][0]["total"] == PROVIDER_OCTOBER
    assert dates["period"]["key"] == "2026-10-01..2026-10-31"


async def test_consumer_view(api):
    known = insert_cases(api)
    data = (await get(api, LEADING_GROUP, role="consumer", case_type="sharing_application", **OCTOBER)).json()
    row = department_row(data, "sharing_application", known["consumer"])
    assert (row["received"], row["handled"], row["results"]) == (2, 2, {"granted": 1, "refused": 1})
    assert data["party_roles"] == ["consumer", "complainant", "issuer", "citizen"]


async def test_a_department_reads_its_own_figures_only(api):
    known = insert_cases(api)
    provider, consumer = known["provider"], known["consumer"]
    own = (await get(api, known["provider_token"], case_type="sharing_application", **OCTOBER)).json()
    assert own["department"] == provider
    assert own["case_types"][0]["total"] == PROVIDER_OCTOBER
    assert [d["code"] for d in own["case_types"][0]["departments"]] == [provider]
    # In any role it holds: its consumer credential reads the same department.
    same = (await get(api, known["provider_as_consumer_token"], department=provider, **OCTOBER)).json()
    assert same["department"] == provider
    # Another department's figures: refused, in every format.
    for path in ("/statistics", "/statistics.csv", "/statistics/chart.png"):
        refused = await get(api, known["provider_token"], path, expect=403, department=consumer, **OCTOBER)
        assert refused.json()["type"].endswith("department_not_own")
    # The consumer reads its applications made, as a consumer.
    mine = (await get(api, known["consumer_token"], role="consumer", **OCTOBER)).json()
    assert mine["department"] == consumer
    assert department_row(mine, "sharing_application", consumer)["received"] == 2


async def test_who_may_not_read(api):
    citizen = await get(api, "demo-citizen", expect=403, **OCTOBER)
    assert citizen.json()["type"].endswith("role_not_allowed")
    anonymous = await api.http.get("/statistics", params=OCTOBER)
    assert anonymous.status_code == 401


async def test_bad_queries_are_422(api):
    for params, code in [
        ({"period": "2026-13"}, "invalid_period"),
        ({"period": "2026-Q5"}, "invalid_period"),
        ({"from": "2026-10-01"}, "invalid_period"),
        ({"from": "2026-10-10", "to": "2026-10-01"}, "invalid_period"),
        ({"period": "2026", "from": "2026-10-01", "to": "2026-10-02"}, "invalid_period"),
        ({"period": "2026-10", "case_type": "nonsense"}, "unknown_case_type"),
        ({"period": "2026-10", "role": "Provider!"}, "invalid_role"),
    ]:
        problem = (await get(api, AUDITOR, expect=422, **params)).json()
        assert problem["type"].endswith(code), (params, problem)
    malformed = await get(api, AUDITOR, expect=422, **{"from": "10/01/2026", "to": "2026-10-31"})
    assert malformed.headers["content-type"].startswith("application/problem+json")


async def test_csv_opens_in_excel_and_parses(api):
    known = insert_cases(api)
    provider = known["provider"]
    response = await get(api, LEADING_GROUP, "/statistics.csv", department=provider, **OCTOBER)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Chinese
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    row = next(r for r in rows if r["案件类型 case_type"] == "sharing_application")
    assert row["部门 department"] == provider and row["期间 period"] == "2026-10"
    assert row["收到 received"] == "2" and row["受理 accepted"] == "2" and row["办结 handled"] == "2"
    assert row["结果:同意授权 result:granted"] == "1" and row["结果:不同意授权 result:refused"] == "1"
    assert row["按时办结 handled_on_time"] == "1" and row["超期办结 handled_overdue"] == "1"
    assert row["期末超期未办结 pending_overdue_at_end"] == "1" and row["超期合计 overdue"] == "2"
    assert row["办理时长中位数(工作日) median_working_days"] == "5.5"
    assert row["办理时长90%分位(工作日) p90_working_days"] == "9"
    refusals = await get(
        api, LEADING_GROUP, "/statistics.csv", department=provider, table="refusals", **OCTOBER
    )
    lines = list(csv.reader(io.StringIO(refusals.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["期间 period", "案件类型 case_type", "案件编号 case_id"]
    assert [(line[2], line[6]) for line in lines[1:]] == [(known["ids"]["A2"], "不符合共享条件")]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    return struct.unpack(">II", data[16:24])


async def test_chart_is_a_png(api):
    known = insert_cases(api)
    response = await get(api, LEADING_GROUP, "/statistics/chart.png", **OCTOBER)
    assert response.headers["content-type"] == "image/png"
    width, height = png_size(response.content)
    assert width >= 1200 and height >= 900 and len(response.content) > 30_000
    own = await get(api, known["provider_token"], "/statistics/chart.png", **OCTOBER)
    assert png_size(own.content)[0] >= 1200
    empty = await get(api, AUDITOR, "/statistics/chart.png", period="2001-01", case_type="complaint")
    assert png_size(empty.content)[0] > 0
    unknown = await get(api, AUDITOR, "/statistics/chart.png", expect=422, period="2026-10", case_type="x")
    assert unknown.json()["type"].endswith("unknown_case_type")
