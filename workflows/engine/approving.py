"""The principal head's approval of an extension, run against the case's tasks (Luoyang 19, 32, 33).

The rules are the pure functions of ``approvals.py``; this component opens the head's approval task
when the assignee asks, applies the head's answer (an approved extension through the clockwork,
naming the head), and lets a request lapse when the task it would extend has closed. The case engine
composes it and does the rest of an Update (settling, the answer).
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from regulations.schema import CaseType, Extension
    from workflows.case import ERROR_CONFLICT, ClockRequest, Decision, DecisionRequest, Task
    from workflows.engine import approvals, decisions
    from workflows.engine.clockwork import Clockwork, ComputeDeadline
    from workflows.engine.recorder import Recorder
    from workflows.engine.words import Speaker, refuse


class HeadApprovals:
    def __init__(
        self,
        *,
        case_id: str,
        rules: CaseType,
        tasks: list[Task],
        speaker: Speaker,
        recorder: Recorder,
        clockwork: Clockwork,
        compute: ComputeDeadline,
        notify: Callable[..., None],
        watch: Callable[[Task], None],
        is_open: Callable[[], bool],
    ) -> None:
        self._case_id, self._rules, self._tasks = case_id, rules, tasks
        self._speaker, self._recorder, self._clockwork = speaker, recorder, clockwork
        self._compute, self._notify, self._watch, self._is_open = compute, notify, watch, is_open

    def _rule(self, task: Task) -> Extension:
        rule = self._rules.steps[task.step].extension
        assert rule is not None
        return rule

    async def request(self, task: Task, req: ClockRequest) -> Task:
        """The assignee asked (checked by ``clock.check_change``): open the head's approval task
        beside the running one (call under the clockwork's lock)."""
        rule = self._rule(task)
        now = workflow.now()
        task.extension_requests += 1
        self._recorder.touch(task, "extension_requests")
        seq = len(self._tasks) + 1
        approval = approvals.approval_task(
            task, rule, req, task_id=f"{self._case_id}/{seq}", seq=seq, now=now
        )
        limit = rule.approval_local_policy_working_days
        if limit:
            approval.deadline = await self._compute(task.step, now, limit, rule.article)
            approval.clock[0].due_at = approval.deadline.due_at
        self._tasks.append(approval)
        self._recorder.touch(approval)
        who_zh, who_en = self._speaker.who_zh(approval.assignee), self._speaker.who_en(approval.assignee)
        self._recorder.event(
            "extension_requested",
            req.actor,
            f"申请延期:{task.name_zh} 延长{req.working_days}个工作日,理由:{req.reason.strip()};"
            f"待{who_zh}审批({self._speaker.cite(rule.article)})",
            f"Extension asked: {task.name_en} by {req.working_days} WD ({req.reason.strip()}); "
            f"awaiting {who_en} (art. {rule.article})",
            {"task_id": task.task_id, "approval_task_id": approval.task_id, "working_days": req.working_days},
        )
        self._notify("task_assigned", approval.assignee, approval)
        if approval.deadline is not None:
            self._watch(approval)
        return approval

    def find(self, req: DecisionRequest) -> Task | None:
        """The approval task a decision answers: the one it names, or the caller's one open approval
        when it names none and answers with approve / refuse."""
        if req.task_id:
            return next((t for t in self._tasks if t.task_id == req.task_id and t.approves), None)
        if req.step or req.action not in (approvals.APPROVE, approvals.REFUSE):
            return None
        mine = [
            t
            for t in self._tasks
            if t.approves and t.status == "open" and decisions.is_assignee(req.actor, t.assignee)
        ]
        return mine[0] if len(mine) == 1 else None

    def check(self, req: DecisionRequest, approval: Task) -> Task:
        """The task the approval would extend, or a refusal (the validator's check, and the re-check)."""
        if not self._is_open():
            raise refuse(ERROR_CONFLICT, "案件已办结,不能再作决定", "the case is closed")
        target = decisions.task_by_id(self._tasks, approval.approves)
        approvals.check_approval(req, approval, target, self._rule(target), self._speaker)
        return target

    async def answer(self, req: DecisionRequest, approval: Task) -> None:
        """The head approves (the extension is applied, naming the head) or refuses (the assignee is
        told; the task runs on under its deadline). Call under the clockwork's lock."""
        target = self.check(req, approval)
        now = workflow.now()
        reason = req.reason.strip()
        approval.decision = Decision(
            action=req.action, actor=req.actor, decided_at=now, reason=reason, article=approval.article
        )
        approval.status, approval.closed_at = "done", now
        self._recorder.touch(approval, "decision", "status", "closed_at")
        head = self._speaker.person_names.get(req.actor.user) or self._speaker.who_zh(approval.assignee)
        ids = {"task_id": target.task_id, "approval_task_id": approval.task_id}
        if req.action == approvals.APPROVE:
            self._recorder.event(
                "extension_approved",
                req.actor,
                f"主要负责人批准延期:{target.name_zh}({head})",
                f"Extension approved by the principal head: {target.name_en}",
                ids,
            )
            await self._clockwork.adjust(approvals.approved_request(approval, head, req))
            return
        self._recorder.event(
            "extension_refused",
            req.actor,
            f"主要负责人不批准延期:{target.name_zh}。理由:{reason}",
            f"Extension refused by the principal head: {target.name_en}. Reason: {reason}",
            ids,
        )
        self._notify("extension_refused", target.assignee, target, reason=reason)

    def drop_stale(self) -> None:
        """An approval request whose task has closed meanwhile (decided, withdrawn) lapses."""
        now = workflow.now()
        for approval in self._tasks:
            if not approval.approves or approval.status != "open":
                continue
            target = next((t for t in self._tasks if t.task_id == approval.approves), None)
            if target is not None and target.status == "open" and self._is_open():
                continue
            approval.status, approval.closed_at = "cancelled", now
            self._recorder.touch(approval, "status", "closed_at")
            self._recorder.event(
                "task_cancelled",
                None,
                f"{approval.name_zh}:所申请延期的待办已办结,审批不再需要",
                f"{approval.name_en}: the task it would extend has closed; no approval needed",
                {"task_id": approval.task_id},
            )


__all__ = ["HeadApprovals"]
