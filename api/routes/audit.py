"""The record from history, for auditors (审计): ``GET /cases/{id}/history``, ``POST /cases/{id}/replay``.

A case's Temporal event history is the source of truth; the tables the API reads are its projection.
An auditor reads the history itself (the JSON Temporal's own tools read: ``temporal workflow show
--output json``), the timeline rebuilt from it — not from the projection — and whether the projection
agrees, field by field (``govshare/cases/history.py``); and replays the history with the code now
deployed, which proves the code still reproduces exactly what happened. Auditors read and change
nothing; the platform and the leading group office, which supervise, read too. Every such read is
itself recorded (the access log).
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api.deps import Caller, EngineDep, caller_with_roles, get_temporal_client, load_visible_case, run_db
from api.errors import ApiError, problem_responses
from govshare.cases import history as case_history
from govshare.cases.replaying import replay_history

log = structlog.get_logger("govshare.api")

router = APIRouter(prefix="/cases", tags=["audit"])

AuditCaller = Annotated[Caller, Depends(caller_with_roles("auditor", "leading_group", "platform"))]


class DifferenceOut(BaseModel):
    what: str = Field(description="The field that differs: status, a task's field, an event, an attribute")
    history: Any = Field(description="As the history recorded it")
    projection: Any = Field(description="As the projection (or Temporal's search attributes) holds it")


class HistoryOut(BaseModel):
    """A case's record rebuilt from its Temporal history, and how the projection compares."""

    case_id: str
    workflow_id: str
    case_type: str
    engine: int = Field(description="1: the first generation (its state); 2: rebuilt from its writes")
    events_in_history: int
    writes: int = Field(description="Projection writes the history holds (its record activities)")
    completed: bool
    agrees: bool = Field(description="The projection agrees with the history in every field compared")
    differences: list[DifferenceOut]
    timeline: list[dict[str, Any]] = Field(description="Every recorded event, in order, from the history")
    tasks: list[dict[str, Any]] = Field(
        description="Each task as the history recorded it: who, when, the deadline with its article, "
        "explanation and calendar data, the clock, reminder, breach, decision"
    )
    links: list[dict[str, Any]]
    search_attributes: dict[str, Any] = Field(description="What the case set in Temporal's own index")
    history: dict[str, Any] | None = Field(
        default=None,
        description="The Temporal event history as JSON (as `temporal workflow show --output json`)",
    )


class ReplayOut(BaseModel):
    case_id: str
    workflow_id: str
    replayed: bool = Field(description="The current code reproduces the history exactly")
    failure: str = ""
    events: int
    seconds: float


async def _checked(request: Request, engine: Any, caller: Caller, case_id: str) -> case_history.CaseCheck:
    await run_db(engine, lambda session: load_visible_case(session, caller, case_id, request))
    client = await get_temporal_client(request)
    try:
        return await case_history.check_case(client, engine, case_id)
    except Exception as err:  # the workflow's history is gone (retention) or the engine is down
        if type(err).__name__ in ("RPCError", "WorkflowNotFoundError"):
            raise ApiError(
                404,
                f"流程引擎中已没有案件 {case_id} 的历史(可能已超过保留期,见归档)",
                f"the workflow history of {case_id} is no longer in the engine (retention; see the archive)",
                code="history_not_found",
            ) from None
        raise


@router.get(
    "/{case_id}/history",
    response_model=HistoryOut,
    summary="The case rebuilt from its workflow history, and whether the projection agrees",
    description="审计:案件的流程引擎事件历史(Temporal 原始 JSON)、由历史重建的时间线(每一环节、办理人、时间、"
    "期限及其条款与说明、提醒、超期、逐级上报、关联案件),以及查询库与历史是否一致(逐项列出差异)。审计、领导小组办公室、"
    "共享平台可读;每次读取均记入访问日志。\n\n"
    "The Temporal event history (`include_history=false` leaves it out), the timeline and tasks rebuilt "
    "from it, and every difference between the projection and the history (status, result, revision, "
    "each task's step, status, assignee, due, decision, each audit event; and Temporal's search "
    "attributes against the projection).",
    responses=problem_responses(401, 403, 404),
)
async def case_history_route(
    case_id: str,
    request: Request,
    caller: AuditCaller,
    engine: EngineDep,
    include_history: Annotated[bool, Query(description="include the raw event history")] = True,
) -> HistoryOut:
    checked = await _checked(request, engine, caller, case_id)
    rebuilt = checked.rebuilt
    log.info("history_read", case_id=case_id, agrees=checked.agrees, differences=len(checked.differences))
    return HistoryOut(
        case_id=checked.case_id,
        workflow_id=checked.workflow_id,
        case_type=checked.case_type,
        engine=rebuilt.engine,
        events_in_history=len(checked.history.events),
        writes=rebuilt.writes,
        completed=rebuilt.completed,
        agrees=checked.agrees,
        differences=[
            DifferenceOut(what=d.what, history=d.recorded, projection=d.projected)
            for d in checked.differences
        ],
        timeline=case_history.timeline(rebuilt),
        tasks=case_history.task_lines(rebuilt),
        links=[
            {
                "case_id": k.case_id,
                "case_type": k.case_type,
                "relation": k.relation,
                "status": k.status,
                "result": k.result,
            }
            for k in rebuilt.links
        ],
        search_attributes={
            k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in rebuilt.search_attributes.items()
        },
        history=json.loads(checked.history.to_json()) if include_history else None,
    )


@router.post(
    "/{case_id}/replay",
    response_model=ReplayOut,
    summary="Replay the case's history with the code now deployed",
    description="审计:以当前部署的代码重放该案件的流程历史,确认代码仍能逐步重现当时的办理过程。不改变案件。\n\n"
    "Replays the workflow history with the current code (nothing changes): `replayed` true means the code "
    "reproduces every command the history recorded.",
    responses=problem_responses(401, 403, 404),
)
async def replay_case(case_id: str, request: Request, caller: AuditCaller, engine: EngineDep) -> ReplayOut:
    checked = await _checked(request, engine, caller, case_id)
    started = time.perf_counter()
    failure = await replay_history(checked.history)
    seconds = time.perf_counter() - started
    log.info("history_replayed", case_id=case_id, replayed=failure is None, seconds=round(seconds, 3))
    return ReplayOut(
        case_id=checked.case_id,
        workflow_id=checked.workflow_id,
        replayed=failure is None,
        failure=str(failure) if failure else "",
        events=len(checked.history.events),
        seconds=round(seconds, 4),
    )
