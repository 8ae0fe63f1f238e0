"""Pure parts of a decision's effect (``Action.effect``): what the effect activity is asked, how its
refusal refuses the decision, and what the decision keeps of what it did. The engine runs it."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.case import ERROR_INVALID, CaseHeader, DecisionRequest, Task
from workflows.contracts import CaseStart, EffectRequest, EffectResult


def request(
    header: CaseHeader, start: CaseStart, task: Task, req: DecisionRequest, effect: str, given: dict[str, Any]
) -> EffectRequest:
    """The effect activity's request: the case as pinned, the task, who decides, what the case type gave."""
    return EffectRequest(
        effect=effect,
        case_id=header.case_id,
        workflow_id=header.workflow_id,
        case_type=header.case_type,
        profile_id=start.profile_id,
        profile_version=start.profile_version,
        task_id=task.task_id,
        step=task.step,
        action=req.action,
        department=req.actor.department,
        role=req.actor.role,
        user=req.actor.user,
        at=workflow.now(),
        input=given,
    )


def raise_refusal(result: EffectResult) -> None:
    """The effect refused: the decision is refused (422), each problem carried to the API's ``errors``."""
    if result.refusal_zh or result.refusal_en:
        raise ApplicationError(
            result.refusal_en,
            {"zh": result.refusal_zh, "en": result.refusal_en, "problems": result.problems},
            type=ERROR_INVALID,
            non_retryable=True,
        )


def payload_with(payload: dict[str, Any] | None, result: EffectResult) -> dict[str, Any] | None:
    """The decision's payload with what the effect did (the versions it published)."""
    return {**(payload or {}), **result.data} if (payload or result.data) else None
