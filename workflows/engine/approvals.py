"""The principal head's approval of an extension, as an act (Luoyang 19, 32, 33).

"如需延长……期限的,应当经政务数据提供部门主要负责人同意,延长……期限不超过10个工作日。" The assignee asks for
the extension on its task, with a reason (a clock request, checked by ``clock.check_change``); the
engine opens an approval task beside the running one for the principal head of the assignee's own
department (a person of that department, who answers with their own credential); the head approves
or refuses it as a decision on that task. An approved extension becomes the clock adjustment that
existed before (``clock.extension``), naming the head as the approving party.

Pure functions: the engine passes the tasks and gets a task, or a refusal.
"""

from __future__ import annotations

from datetime import datetime

from govshare.core.text import has_visible_text
from regulations.schema import Extension
from workflows.case import (
    ERROR_CONFLICT,
    ERROR_FORBIDDEN,
    ERROR_INVALID,
    ActionInfo,
    ClockEntry,
    ClockRequest,
    DecisionRequest,
    Party,
    Task,
)
from workflows.engine.decisions import is_assignee
from workflows.engine.words import Speaker, refuse

APPROVE, REFUSE = "approve", "refuse"

ACTIONS = [
    ActionInfo(APPROVE, "批准延期", "Approve the extension"),
    ActionInfo(REFUSE, "不批准延期", "Refuse the extension", reason_required=True),
]


def head_of(task: Task, rule: Extension) -> Party:
    """Who approves: the approver role of the assignee's own department (its principal head)."""
    return Party(department=task.assignee.department, role=rule.approver)


def approval_task(
    task: Task, rule: Extension, req: ClockRequest, *, task_id: str, seq: int, now: datetime
) -> Task:
    """The head's task: approve or refuse ``req`` on ``task``; untimed unless the profile sets a
    local-policy limit for it (the seeds set none)."""
    limit = rule.approval_local_policy_working_days
    return Task(
        task_id=task_id,
        seq=seq,
        step=task.step,
        name_zh=f"审批延期申请:{task.name_zh}",
        name_en=f"Approve an extension: {task.name_en}",
        assignee=head_of(task, rule),
        actions=[a.id for a in ACTIONS],
        action_info=list(ACTIONS),
        opened_at=now,
        article=rule.article,
        limit_basis="local_policy" if limit else "none",
        group=f"{task.group}~extension",
        clock=[
            ClockEntry(kind="base", at=now, article=rule.article, working_days=limit, basis="local_policy")
        ]
        if limit
        else [],
        approves=task.task_id,
        requested_working_days=req.working_days,
        request_reason=req.reason.strip(),
    )


def pending(tasks: list[Task], task: Task) -> Task | None:
    """The open approval task for ``task``'s extension, if one is waiting."""
    return next((t for t in tasks if t.approves == task.task_id and t.status == "open"), None)


def check_approval(
    req: DecisionRequest, approval: Task, target: Task, rule: Extension, speaker: Speaker
) -> None:
    """Refuse an approval the head may not give: not the head (403, with the article), the request
    no longer open (409), an unknown action, a refusal without a reason (422); an approval once the
    task has closed, gone overdue or been stopped (409: there is nothing left to extend)."""
    cite = speaker.cite(rule.article)
    if approval.status != "open":
        raise refuse(
            ERROR_CONFLICT,
            f"延期申请已处理(“{approval.name_zh}”已办结)",
            f"the extension request {approval.task_id} is no longer open",
        )
    if not is_assignee(req.actor, approval.assignee):
        raise refuse(
            ERROR_FORBIDDEN,
            f"延期须经{speaker.who_zh(approval.assignee)}批准,其他人不能批准({cite})",
            f"only {speaker.who_en(approval.assignee)} may approve this extension (art. {rule.article})",
        )
    if req.action not in (APPROVE, REFUSE):
        raise refuse(
            ERROR_INVALID,
            f"延期审批可选的决定为:{APPROVE}、{REFUSE}",
            f"an extension request is answered with {APPROVE} or {REFUSE}",
        )
    if req.action == REFUSE and not req.reason.strip():
        raise refuse(ERROR_INVALID, "不批准延期须说明理由", "a refusal needs a reason")
    if req.action == APPROVE and (
        target.status != "open" or target.overdue or target.suspended_at is not None
    ):
        raise refuse(
            ERROR_CONFLICT,
            f"“{target.name_zh}”已办结、已逾期或已中止计时,不能再延期({cite})",
            f"task {target.task_id} is closed, overdue or stopped: nothing to extend (art. {rule.article})",
        )


def check_refusal_visible(req: DecisionRequest) -> None:
    """A head's refusal states a reason a reader can see (issue 23): the validator's check only,
    after :func:`check_approval`, whose ``strip()`` the handler repeats as recorded histories ran."""
    if req.action == REFUSE and not has_visible_text(req.reason):
        raise refuse(ERROR_INVALID, "不批准延期须说明理由", "a refusal needs a reason")


def approved_request(approval: Task, approver_name: str, req: DecisionRequest) -> ClockRequest:
    """The clock change an approval makes: the extension asked for, approved by the head."""
    return ClockRequest(
        actor=req.actor,
        task_id=approval.approves,
        kind="extension",
        working_days=approval.requested_working_days,
        reason=approval.request_reason,
        approver_name=approver_name,
        approval_task=approval.task_id,
    )
