"""Health and identity: ``GET /healthz`` (no token) and ``GET /me``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.deps import CurrentCaller
from api.errors import problem_response, problem_responses
from api.schemas import HealthOut, MeOut
from govshare.temporal_client import connect_client

log = structlog.get_logger("govshare.api")

router = APIRouter(tags=["system"])


def _db_ok(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _temporal_ok(request: Request) -> None:
    state = request.app.state
    if state.temporal_client is None:
        state.temporal_client = await connect_client(state.settings)
    healthy = await state.temporal_client.service_client.check_health(timeout=timedelta(seconds=2))
    if not healthy:
        raise RuntimeError("temporal frontend reports not serving")


@router.get(
    "/healthz",
    response_model=HealthOut,
    summary="Health: database and Temporal reachable",
    description="健康检查:应用数据库与流程引擎(Temporal)是否可达。无需令牌。任一不可达时返回 503。",
    responses=problem_responses(503),
)
async def healthz(request: Request):
    checks = {"database": "ok", "temporal": "ok"}
    try:
        await run_in_threadpool(_db_ok, request.app.state.engine)
    except Exception as err:
        log.warning("health_database_failed", error=str(err))
        checks["database"] = "unavailable"
    try:
        await asyncio.wait_for(_temporal_ok(request), 5)
    except Exception as err:
        log.warning("health_temporal_failed", error=str(err))
        checks["temporal"] = "unavailable"
    if all(v == "ok" for v in checks.values()):
        return HealthOut(**checks)
    down = [k for k, v in checks.items() if v != "ok"]
    names_zh = {"database": "数据库", "temporal": "流程引擎"}
    return problem_response(
        status=503,
        instance=request.url.path,
        accept_language=request.headers.get("accept-language"),
        request_id=getattr(request.state, "request_id", ""),
        code="unhealthy",
        detail_zh="不可用:" + "、".join(names_zh[k] for k in down),
        detail_en="unavailable: " + ", ".join(down),
        extra={"checks": checks},
    )


@router.get(
    "/me",
    response_model=MeOut,
    summary="Who am I",
    description="当前令牌对应的部门和角色。",
    responses=problem_responses(401),
)
async def me(caller: CurrentCaller) -> MeOut:
    return MeOut(
        department=caller.department,
        department_name_zh=caller.department_name_zh,
        department_name_en=caller.department_name_en,
        role=caller.role,
        label=caller.label,
    )
