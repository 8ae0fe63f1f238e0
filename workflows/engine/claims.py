"""Claiming a task (签收): one person of the assignee works it, so two clerks do not work on the same
thing, and the decision records the person as well as the department.

A task is addressed to a department in a role (or to one person); any person who answers for that
assignee may claim it while it is open. Once claimed, only the claimer decides it or changes its
clock (``decisions.require_claimer``); anyone else of the assignee is refused (409) with the name of
who claimed it. The claimer may release it (退回签收), after which another may claim it. Claiming
one's own claim again changes nothing.

Pure functions: the engine passes what the case holds and gets the task and the change, or a refusal.
The engine runs ``check`` in the Update's validator and again in its handler (validators do not run
on replay; the handler's check reads only the case's state, so it is deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workflows.case import (
    ERROR_CONFLICT,
    ERROR_FORBIDDEN,
    ERROR_INVALID,
    ClaimRequest,
    ClockRequest,
    Task,
)
from workflows.engine.decisions import (
    claimer_words,
    is_assignee,
    require_assignee,
    require_claimer,
    task_by_id,
)
from workflows.engine.words import Speaker, refuse

#: The task fields a claim or a release changes (what the recorder sends).
CHANGED_FIELDS = ("claimed_by", "claimed_by_name", "claimed_at")


@dataclass(frozen=True)
class ClaimChange:
    """What a claim or a release does to a task, and how the audit trail says it."""

    kind: str  # task_claimed | task_released
    claimed_by: str
    claimed_by_name: str
    claimed_at: datetime | None
    zh: str
    en: str
    data: dict[str, Any]


def check(req: ClaimRequest, tasks: list[Task], *, closed: bool, busy: bool, speaker: Speaker) -> Task:
    """The task a claim (or a release) is for, or a refusal: a closed case or a task no longer open
    (409), a task decided by its linked case or an approval task (409 / 422), a caller who is not its
    assignee (403), a claim that names no one (422), a task another person claimed (409), a release
    of a task not claimed (409) or claimed by another (403)."""
    if closed:
        raise refuse(ERROR_CONFLICT, "案件已办结,不能签收", "the case is closed")
    task = task_by_id(tasks, req.task_id)
    if task.status != "open":
        raise refuse(
            ERROR_CONFLICT,
            f"待办“{task.name_zh}”已办结(可能已有他人办理)",
            f"task {task.task_id} is no longer open (someone acted first)",
        )
    if task.waits_on_case:
        raise refuse(
            ERROR_CONFLICT,
            f"待办“{task.name_zh}”在关联案件 {task.waits_on_case} 办结时自动办结,无需签收",
            f"task {task.task_id} is done when case {task.waits_on_case} closes; it is not claimed",
        )
    if task.approves:
        raise refuse(
            ERROR_INVALID,
            f"“{task.name_zh}”是延期审批待办,由主要负责人本人办理,无需签收",
            f"task {task.task_id} approves an extension: its approver answers it, it is not claimed",
        )
    require_assignee(req.actor, task, speaker)
    if not req.actor.user.strip():
        raise refuse(
            ERROR_INVALID,
            "签收须以具名身份办理:当前凭据未载明办理人",
            "a claim names who claims: this credential names no one",
        )
    if busy:
        raise refuse(
            ERROR_CONFLICT,
            f"待办“{task.name_zh}”正在办理中,请稍后查看结果",
            f"task {task.task_id} is being decided; read the case in a moment",
        )
    who = claimer_words(task)
    if req.release:
        if not task.claimed_by:
            raise refuse(
                ERROR_CONFLICT, f"待办“{task.name_zh}”尚未签收", f"task {task.task_id} is not claimed"
            )
        if task.claimed_by != req.actor.user:
            raise refuse(
                ERROR_FORBIDDEN,
                f"待办“{task.name_zh}”由{who}签收,只能由其本人退回",
                f"task {task.task_id} is claimed by {who}; only they may release it",
            )
        return task
    require_claimer(req.actor, task, "不能重复签收", "it cannot be claimed by another")
    return task


def change(req: ClaimRequest, task: Task, now: datetime) -> ClaimChange | None:
    """What the (checked) request does to ``task``; None when nothing changes (the claimer claims
    its own task again)."""
    if req.release:
        who = claimer_words(task)
        return ClaimChange(
            kind="task_released",
            claimed_by="",
            claimed_by_name="",
            claimed_at=None,
            zh=f"退回签收:{task.name_zh}({who})",
            en=f"Claim released: {task.name_en} ({who})",
            data={"task_id": task.task_id, "released_by": req.actor.user},
        )
    if task.claimed_by == req.actor.user:
        return None
    name = req.name.strip() or req.actor.user
    return ClaimChange(
        kind="task_claimed",
        claimed_by=req.actor.user,
        claimed_by_name=name,
        claimed_at=now,
        zh=f"签收:{task.name_zh}(签收人:{name})",
        en=f"Claimed: {task.name_en} (by {name})",
        data={"task_id": task.task_id, "claimed_by": req.actor.user},
    )


def apply(task: Task, claim: ClaimChange) -> None:
    task.claimed_by = claim.claimed_by
    task.claimed_by_name = claim.claimed_by_name
    task.claimed_at = claim.claimed_at


def check_clock(req: ClockRequest, task: Task) -> None:
    """A clock change on a claimed task by another person of its assignee is refused (409): the
    claimer works the task. A party that is not the assignee (the platform stopping the clock where
    the profile lets it) and the head's approved extension (``approval_task``) are not the claim's
    business."""
    if req.approval_task or not is_assignee(req.actor, task.assignee):
        return
    require_claimer(req.actor, task, "期限调整由其办理", "only they change its clock")
