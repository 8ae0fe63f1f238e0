"""Health and identity: ``GET /healthz`` (no token) and ``GET /me``.

``/me`` is the one response that shows an identity's ID number, to the identity itself and masked
(:func:`mask_id_number`); case views and notices show a person by reference and name only.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta

import structlog
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.deps import CurrentCaller, EngineDep, run_db
from api.errors import problem_response, problem_responses, retry_after_s
from api.responses import HealthOut, MeOut, in_shanghai
from govshare.core.heartbeat import worker_status
from govshare.core.models import PartyIdentity
from govshare.core.temporal_client import connect_client

log = structlog.get_logger("govshare.api")

router = APIRouter(tags=["system"])


#: The health check's own wait for SQLite's write lock: a lock held longer than this is "locked".
WRITE_PROBE_TIMEOUT_S = 0.5


def _database_status(engine: Engine) -> str:
    """``ok``, ``locked`` (SQLite: another process holds the write lock — every write would wait and
    fail) or ``unavailable``. Reads alone would not tell: under WAL they go on while writes are locked."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if path and path != ":memory:":
        # A write transaction of its own, outside the pool, with a short busy timeout; nothing written.
        probe = sqlite3.connect(path, timeout=WRITE_PROBE_TIMEOUT_S, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                return "locked"
            raise
        finally:
            probe.close()
    return "ok"


def _worker_status(engine: Engine, task_queue: str, stale_s: float) -> tuple[str, datetime | None]:
    with Session(engine) as session:
        return worker_status(session, task_queue, stale_s)


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
    summary="Health: database writable, Temporal reachable, a worker serving the task queue",
    description="健康检查:应用数据库可写(未被其他进程锁住)、流程引擎(Temporal)可达、任务队列上有存活的工作进程"
    "(心跳)。无需令牌。任一项异常时返回 503,`checks` 列出各项:database ok/locked/unavailable,temporal "
    "ok/unavailable,worker ok/missing/unknown。\n\n"
    "No token. 503 (problem, with `checks`) when the database is locked or down, Temporal is unreachable, or "
    "no worker has sent a heartbeat on the task queue within WORKER_HEARTBEAT_STALE_S.",
    responses=problem_responses(503),
)
async def healthz(request: Request):
    settings = request.app.state.settings
    engine = request.app.state.engine
    checks = {"database": "ok", "temporal": "ok", "worker": "ok"}
    extra: dict[str, object] = {}
    try:
        checks["database"] = await run_in_threadpool(_database_status, engine)
    except Exception as err:
        log.warning("health_database_failed", error=str(err).splitlines()[0][:300])
        checks["database"] = "unavailable"
    try:
        await asyncio.wait_for(_temporal_ok(request), 5)
    except Exception as err:
        log.warning("health_temporal_failed", error=str(err))
        checks["temporal"] = "unavailable"
    try:
        checks["worker"], last_seen = await run_in_threadpool(
            _worker_status, engine, settings.task_queue, settings.worker_heartbeat_stale_s
        )
        if checks["worker"] != "ok":
            extra["worker_last_seen"] = in_shanghai(last_seen) if last_seen else None
            log.warning("health_worker_missing", task_queue=settings.task_queue, last_seen=str(last_seen))
    except Exception as err:  # the database cannot be read: whether a worker runs is not known
        log.warning("health_worker_unknown", error=str(err).splitlines()[0][:300])
        checks["worker"] = "unknown"
    if all(v == "ok" for v in checks.values()):
        return HealthOut(**checks)
    down = [k for k, v in checks.items() if v != "ok"]
    names_zh = {"database": "数据库", "temporal": "流程引擎", "worker": "工作进程"}
    states_zh = {"locked": "被锁定", "unavailable": "不可用", "missing": "未运行", "unknown": "状态未知"}
    return problem_response(
        status=503,
        instance=request.url.path,
        accept_language=request.headers.get("accept-language"),
        request_id=getattr(request.state, "request_id", ""),
        code="unhealthy",
        detail_zh="异常:" + "、".join(f"{names_zh[k]}{states_zh.get(checks[k], checks[k])}" for k in down),
        detail_en="unhealthy: " + ", ".join(f"{k} {checks[k]}" for k in down),
        headers={"Retry-After": str(retry_after_s(request))},
        extra={"checks": checks, "task_queue": settings.task_queue, **extra},
    )


def mask_id_number(number: str) -> str:
    """An ID number as its owner is shown it: the first 3 and last 4 characters, the rest ``*``
    (``410302199001011234`` → ``410***********1234``). A number too short to keep 7 characters of
    and still hide something is hidden whole."""
    if len(number) <= 7:
        return "*" * len(number)
    return f"{number[:3]}{'*' * (len(number) - 7)}{number[-4:]}"


def _own_identity(session: Session, person: str) -> tuple[str, str]:
    """The caller's own ID type and masked number (read only for the identity the token is)."""
    identity = session.get(PartyIdentity, person)
    if identity is None:
        return "", ""
    return identity.id_type, mask_id_number(identity.id_number)


@router.get(
    "/me",
    response_model=MeOut,
    summary="Who am I",
    description="当前令牌对应的身份:部门(公民、法人等非部门当事人没有部门)、角色、身份类别;个人或单位令牌另有"
    "当事人标识、名称、证件类型和脱敏后的证件号码(保留前3位和后4位,仅本人可见)。\n\n"
    "The token's department (none for a citizen), role and party kind; for a person's token also its "
    "identity reference, name, ID type and ID number masked (first 3 and last 4 kept) — shown only "
    "here, only to the identity itself.",
    responses=problem_responses(401),
)
async def me(caller: CurrentCaller, engine: EngineDep) -> MeOut:
    id_type, masked = ("", "")
    if caller.person:
        id_type, masked = await run_db(engine, _own_identity, caller.person)
    return MeOut(
        department=caller.department,
        department_name_zh=caller.department_name_zh,
        department_name_en=caller.department_name_en,
        role=caller.role,
        label=caller.label,
        party_kind=caller.party_kind,
        person=caller.person,
        person_name=caller.person_name,
        id_type=id_type,
        id_number_masked=masked,
    )
