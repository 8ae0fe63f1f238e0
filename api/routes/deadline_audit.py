"""``GET /cases/{case_id}/deadlines/audit``: a case's recorded deadlines proved as of their calendar.

Every deadline a case recorded names the holiday notices it was computed with (year, sha256). This
route recomputes each one with exactly those notice versions (``calendars/notices/archive/``) and
with the calendar now in force, and answers one verdict per deadline — the same as
``govshare audit deadlines --case ID --json`` (:mod:`govshare.cases.deadline_audit`), read from the
projection. Read only.

Auditors and the oversight roles read it for every case; a party to the case (a department, a
principal head, a citizen) for its own case, e.g. to check the deadline a breach was found on;
anyone else gets 404, as for the case itself (:func:`api.deps.load_visible_case`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from api.deps import ALL_ROLES, Caller, EngineDep, caller_with_roles, load_visible_case
from api.errors import problem_responses
from govshare.cases.deadline_audit import audit_projection

router = APIRouter(prefix="/cases", tags=["cases"])

#: Auditors and the oversight roles see every case; the parties their own (visibility decides).
AuditReader = Annotated[Caller, Depends(caller_with_roles(*ALL_ROLES))]

CaseId = Annotated[str, Path(max_length=128, description="Case id, e.g. SA-20261201-7K3Q9X / 案件编号")]


class FieldDifferenceOut(BaseModel):
    field: str = Field(description="due_date | due_at | remind_at | provisional | calendar_data")
    recorded: str
    recomputed: str


class NoticeChangeOut(BaseModel):
    year: int
    then_sha256: str | None = Field(description="the version the deadline was computed with (None: none)")
    now_sha256: str | None = Field(description="the version in force now (None: none)")
    then_notice: str | None
    now_notice: str | None
    moves_date: bool | None = Field(description="this change alone moves the due instant (None: unknown)")


class NowOut(BaseModel):
    verdict: str = Field(description="same | differs: the due instant under the calendar now in force")
    due_at: str | None
    due_date: str | None
    provisional: bool | None


class ProofOut(BaseModel):
    verdict: str = Field(description="agrees | mismatch | data_missing")
    ok: bool
    differences: list[FieldDifferenceOut]
    recomputed_due_at: str | None
    recomputed_due_date: str | None
    error: str
    now: NowOut
    notice_changes: list[NoticeChangeOut]
    summary_zh: str
    summary_en: str


class DeadlineVerdictOut(BaseModel):
    case_id: str
    task_id: str
    step: str
    article: str
    what: str = Field(description="deadline (the task's record) | clock:<kind>#<n> (a clock entry)")
    recorded_due_at: str | None
    recorded_due_date: str | None
    working_days: int | None
    verdict: str = Field(description="agrees | mismatch | data_missing | unproven | unreadable")
    verdict_zh: str
    verdict_en: str
    ok: bool = Field(description="false: the recorded deadline is not proved to be what its data gives")
    now_differs: bool = Field(description="another date under the calendar now in force (not a failure)")
    summary_zh: str
    summary_en: str
    proof: ProofOut | None


class DeadlineAuditOut(BaseModel):
    source: str = Field(description="projection")
    source_zh: str
    source_en: str
    workflow_id: str | None
    case_ids: list[str]
    ok: bool = Field(description="every recorded deadline recomputes to itself")
    counts: dict[str, int]
    summary_zh: str
    summary_en: str
    deadlines: list[DeadlineVerdictOut]


@router.get(
    "/{case_id}/deadlines/audit",
    response_model=DeadlineAuditOut,
    summary="Prove the case's deadlines as of their calendar data",
    description="期限核验:案件记录的每个期限(各待办的期限记录及计时调整)按其记录的节假日通知版本(年份、sha256)"
    "重新计算,核对截止日、截止时刻、提醒时刻与暂定标记是否一致;并按现行日历重算,如日期不同,指出是哪一年的通知"
    "(当时与现行的 sha256)所致。现行日历下日期不同不是错误(通知此后公布或更正)。\n\n"
    "Each recorded deadline (every task's Deadline record and clock entry) recomputed with exactly the "
    "holiday notice versions it names, from the archive: `agrees`, or `mismatch` with the fields that "
    "differ, or `data_missing`; then with the calendar now in force: the same date, or another and "
    "which notice (year, sha256 then → now) moved it — reported, not a failure. Auditors and the "
    "oversight roles read every case, a party its own; anyone else gets 404. The same verdicts as "
    "`govshare audit deadlines --case ID --json`.",
    responses=problem_responses(401, 404),
)
def audit_case_deadlines(
    case_id: CaseId, request: Request, caller: AuditReader, engine: EngineDep
) -> DeadlineAuditOut:
    with Session(engine) as session:
        case = load_visible_case(session, caller, case_id, request)
        audit = audit_projection(session, [case.id])
    return DeadlineAuditOut.model_validate(audit.to_json_dict())
