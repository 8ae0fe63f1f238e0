"""Talking to case workflows from outside (the API, the CLI, tests).

Create → start the workflow; decide / withdraw → a workflow Update, so the caller gets an immediate
accept or a refusal with its reason; detail → the projection (or a query). Temporal errors are turned
into ``CaseError``s carrying the HTTP status the API answers with, so no Temporal type leaks out.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from calendars import SHANGHAI
from regulations import load_profile, profile_digest
from workflows.case import (
    ERROR_CONFLICT,
    ERROR_FORBIDDEN,
    ERROR_INVALID,
    Actor,
    CaseState,
    DecisionRequest,
    ResourceSnapshot,
    WithdrawRequest,
)
from workflows.contracts import CaseStart, SharingApplicationInput
from workflows.sharing_application import SharingApplicationWorkflow

CASE_TYPE_PREFIX = {"sharing_application": "SA"}


class CaseError(Exception):
    """A refusal with the HTTP status the API answers with and a Chinese-first message."""

    status = 400
    code = "bad_request"

    def __init__(self, detail_zh: str, detail_en: str = "") -> None:
        super().__init__(detail_en or detail_zh)
        self.detail_zh = detail_zh
        self.detail_en = detail_en or detail_zh


class CaseNotFound(CaseError):
    status, code = 404, "case_not_found"


class CaseForbidden(CaseError):
    status, code = 403, "forbidden"


class CaseConflict(CaseError):
    status, code = 409, "conflict"


class CaseInvalid(CaseError):
    status, code = 422, "invalid_decision"


class EngineUnavailable(CaseError):
    status, code = 503, "engine_unavailable"


_BY_TYPE = {ERROR_FORBIDDEN: CaseForbidden, ERROR_CONFLICT: CaseConflict, ERROR_INVALID: CaseInvalid}


#: Case id prefix → workflow type. A new case type adds its workflow here and in ``worker.WORKFLOWS``;
#: deciding, withdrawing, re-planning and reading go through the handlers every case workflow inherits
#: from ``CaseEngine``, so nothing else changes.
WORKFLOW_TYPES = {"SA": "SharingApplication"}


def workflow_id_for(case_id: str) -> str:
    """Workflow ids are business keys (``SharingApplication:SA-20261123-7K3Q9X``)."""
    workflow_type = WORKFLOW_TYPES.get(case_id.split("-", 1)[0])
    if workflow_type is None:
        raise CaseNotFound(f"未找到案件 {case_id}", f"no case {case_id}")
    return f"{workflow_type}:{case_id}"


def new_case_id(case_type: str, now: datetime) -> str:
    # Date for people (a clerk reads it on the phone), randomness so ids never collide across replicas.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    suffix = "".join(secrets.choice(alphabet) for _ in range(6))
    return f"{CASE_TYPE_PREFIX[case_type]}-{now.astimezone(SHANGHAI):%Y%m%d}-{suffix}"


def build_sharing_application(
    *,
    case_id: str,
    profile_id: str,
    resource: ResourceSnapshot,
    consumer_department: str,
    platform_department: str,
    purpose: str,
    reason: str,
    requested_fields: list[str],
    requested_mode: str,
    submitted_at: datetime,
    submitted_by: Actor,
    department_names: dict[str, str] | None = None,
) -> SharingApplicationInput:
    """Pin the profile (its rules, version and digest) into the case's input."""
    profile = load_profile(profile_id)
    rules = profile.case_types.get("sharing_application")
    if rules is None:
        raise CaseInvalid(
            f"规范 {profile_id} 未定义数据使用申请流程", f"profile {profile_id} has no sharing application"
        )
    return SharingApplicationInput(
        case=CaseStart(
            case_id=case_id,
            profile_id=profile.id,
            profile_version=profile.version,
            profile_digest=profile_digest(profile.id),
            profile_name_zh=profile.title_zh or profile.name_zh,
            deadline_cutoff=profile.deadline_cutoff,
            rules=rules,
            submitted_at=submitted_at,
            submitted_by=submitted_by,
            platform_department=platform_department,
            annex_titles_zh=dict(profile.annex_titles_zh),
            department_names=dict(department_names or {}),
        ),
        consumer_department=consumer_department,
        resource=resource,
        purpose=purpose,
        reason=reason,
        requested_fields=requested_fields,
        requested_mode=requested_mode,
    )


def _translate(err: Exception) -> CaseError:
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in _BY_TYPE:
            details = cause.details[0] if cause.details else {}
            zh = details.get("zh", cause.message) if isinstance(details, dict) else cause.message
            return _BY_TYPE[cause.type](zh, cause.message)
        return CaseConflict("案件未能处理该请求", f"the case refused the request: {cause}")
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.NOT_FOUND:
            return CaseNotFound("未找到案件或案件已结束", "no such open case")
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return EngineUnavailable("流程引擎暂时不可用,请稍后重试", "the workflow engine is unavailable")
    raise err


async def start_sharing_application(
    client: Client, task_queue: str, inp: SharingApplicationInput
) -> CaseState:
    """Start the case and return it once its first task is open (with its due date)."""
    try:
        try:
            handle = await client.start_workflow(
                SharingApplicationWorkflow.run,
                inp,
                id=workflow_id_for(inp.case.case_id),
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # What an operator reads in the Temporal UI's list of cases.
                static_summary=f"{inp.consumer_department} → {inp.resource.provider_department}: "
                f"{inp.resource.name_zh}({inp.case.profile_id})",
            )
        except WorkflowAlreadyStartedError:
            # A retried create (same Idempotency-Key, hence the same case id): answer with the case
            # that the first attempt started, never start a second one.
            handle = client.get_workflow_handle_for(
                SharingApplicationWorkflow.run, workflow_id_for(inp.case.case_id)
            )
        try:
            return await handle.execute_update("settled", result_type=CaseState)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            # A case decided by rule at entry (not_shared, Luzhou/Jiangsu unconditional) may complete
            # before the Update reaches it; its result is then the settled case.
            return await handle.result()
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise _translate(err) from err


def _handle(client: Client, case_id: str) -> WorkflowHandle:
    return client.get_workflow_handle(workflow_id_for(case_id))


async def _update(client: Client, case_id: str, name: str, arg: object = None, result_type: type = CaseState):
    handle = _handle(client, case_id)
    try:
        if arg is None:
            return await handle.execute_update(name, result_type=result_type)
        return await handle.execute_update(name, arg, result_type=result_type)
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise _translate(err) from err


async def decide(client: Client, case_id: str, request: DecisionRequest) -> CaseState:
    return await _update(client, case_id, "decide", request)


async def withdraw(client: Client, case_id: str, request: WithdrawRequest) -> CaseState:
    return await _update(client, case_id, "withdraw", request)


async def replan_deadlines(client: Client, case_id: str) -> bool:
    """Ask the case to recompute a provisional deadline; True if it moved."""
    return await _update(client, case_id, "replan_deadlines", result_type=bool)


async def query_state(client: Client, case_id: str) -> CaseState:
    try:
        return await _handle(client, case_id).query("state", result_type=CaseState)
    except RPCError as err:
        raise _translate(err) from err
