"""FROZEN: the first-generation case engine and sharing application, for the histories that need it.

Every sharing application started before the second-generation engine (issue 14) ran this code under
the workflow type ``SharingApplication``: the samples under ``tests/histories/`` (V1: two activities
per step; V2: one local ``record``; V3: ``record`` as a regular activity after commit) and any such
case still open in a deployment. They replay, and the open ones run to their end, on exactly this
code. Do not change its behaviour: a change here is a change to recorded histories. New cases run on
``workflows/engine/`` under the workflow type ``SharingApplicationV2`` (see
``workflows/registry.py``); a further redesign adds a new frozen module beside this one.

The data contracts (``workflows.case``, ``workflows.contracts``) are shared with the new engine and
only ever gain fields with defaults, so these histories keep deserializing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from calendars import Deadline
    from regulations.citation import cite_zh
    from regulations.schema import Action, Step, Transition
    from workflows.case import (
        ERROR_CONFLICT,
        ERROR_FORBIDDEN,
        ERROR_INVALID,
        RECORD_REJECTED,
        ActionInfo,
        Actor,
        AuditEvent,
        Breach,
        Decision,
        DecisionRequest,
        GrantTerms,
        Notice,
        Party,
        RecordFailure,
        Task,
        WithdrawRequest,
    )
    from workflows.contracts import CaseStart, DeadlineRequest
    from workflows.engine import signing
    from workflows.legacy.shapes import STATUS_ZH, CaseRecord, CaseState

# DB writes retry until they succeed: a database outage delays the projection, never loses a step.
_RECORD_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
}


#: The regular ``record`` activity: each attempt bounded (a stuck write is retried, the write is
#: idempotent), retried without end for outages; RECORD_REJECTED (never storable) is not retried.
_RECORD_ACTIVITY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=[RECORD_REJECTED],
    ),
}

#: Histories written before this patch record two regular activities per step (projection, then
#: notices); they must keep replaying, so the old path stays for them.
PATCH_ONE_LOCAL_RECORD = "record-as-one-local-activity"

#: A local activity runs inside the workflow task, before Temporal has committed it: if the server
#: died then, the database showed a decision the history never held (issue 13, defect 1). Since this
#: patch ``record`` is a regular activity, which the server dispatches only after the task that
#: scheduled it is committed: the projection may lag the history by one step, never lead it.
PATCH_RECORD_AFTER_COMMIT = "record-after-history-commit"


def refuse(error_type: str, zh: str, en: str) -> ApplicationError:
    """A validator refusal: English message, Chinese text in details (the API shows zh first)."""
    return ApplicationError(en, {"zh": zh, "en": en}, type=error_type, non_retryable=True)


class CaseEngineV1:
    """The first-generation engine, frozen. Subclasses call ``_init_case`` and then ``_run_case``."""

    # -- set up ---------------------------------------------------------------------------------
    def _init_case(self, start: CaseStart, state: CaseState, attributes: dict[str, Any]) -> None:
        # Issue 23 (checks only, no command: replays as before): a start not signed by the API
        # fails its first workflow task; the API starts no case of this generation any more.
        if workflow.info().parent is None and not workflow.unsafe.is_replaying():
            signing.require_signed_start(start, workflow_id=workflow.info().workflow_id)
        self._start = start
        self._rules = start.rules
        self.state = state
        #: Resource attributes the profile's transitions test (share type, controlled parameters …).
        self._attributes = attributes
        self._events: list[AuditEvent] = []
        self._notices: list[Notice] = []
        self._audit_seq = 0
        self._requested = 0  # decisions/withdrawals applied by update handlers
        self._settled = 0  # … and followed through by the main loop (next step open, recorded)
        self._ready = False  # the entry transition has been followed and recorded

    # -- the handlers every case workflow shares (same names, so callers need not know the type) --
    @workflow.update
    async def settled(self) -> CaseState:
        """Returns the case once its entry is followed: the first task open, or the case closed."""
        await workflow.wait_condition(lambda: self._ready)
        return self.state

    @workflow.update
    async def decide(self, req: DecisionRequest) -> CaseState:
        return await self._apply_decision(req)

    @decide.validator
    def _check_decision(self, req: DecisionRequest) -> None:
        # Issue 23: validators only (not run on replay), as in the current engine.
        workflow_id = workflow.info().workflow_id
        signing.require_signed(req, workflow_id=workflow_id, operation="decide", now=workflow.now())
        signing.check_decision_request(req, workflow.now())
        _task, action = self._validate_decision(req)
        if action.grant:
            self.grant_terms(req, action)

    @workflow.update
    async def withdraw(self, req: WithdrawRequest) -> CaseState:
        return await self._apply_withdrawal(req)

    @withdraw.validator
    def _check_withdrawal(self, req: WithdrawRequest) -> None:
        workflow_id = workflow.info().workflow_id
        signing.require_signed(req, workflow_id=workflow_id, operation="withdraw", now=workflow.now())
        self._validate_withdrawal(req)

    @workflow.update
    async def replan_deadlines(self) -> bool:
        """Recompute a provisional deadline after a new holiday notice (``govshare replan-deadlines``)."""
        return await self._replan_deadline()

    @workflow.query(name="state")
    def case_state(self) -> CaseState:
        return self.state

    # -- the main loop --------------------------------------------------------------------------
    async def _run_case(self) -> CaseState:
        self._event("case_submitted", self.state.submitted_by, "提交申请", "Case submitted")
        transition = self._first_match(self._rules.entry, "entry")
        while True:
            if transition.end:
                await self._close(transition)
                break
            assert transition.step is not None
            task = await self._open_task(transition.step)
            self._mark_settled()
            await self._await_task(task)
            if self.state.status == "withdrawn":
                await self._flush()
                self._mark_settled()
                break
            assert task.decision is not None
            action = self._rules.steps[task.step].actions[task.decision.action]
            transition = self._first_match(action.next, f"steps.{task.step}.actions.{task.decision.action}")
        # Let in-flight update handlers return their result before the workflow completes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    def _mark_settled(self) -> None:
        self._settled = self._requested
        self._ready = True

    def _first_match(self, transitions: list[Transition], where: str) -> Transition:
        for t in transitions:
            if t.matches(self._attributes):
                return t
        # A profile whose transitions do not cover a resource is a data error; fail the workflow
        # task (it retries) rather than guess, so a corrected profile version can take over.
        raise RuntimeError(f"profile {self._start.profile_id}: no transition in {where} matches")

    # -- tasks ----------------------------------------------------------------------------------
    def _assignee(self, step: Step) -> Party:
        department = self.state.parties.get(step.actor)
        if department is None:
            raise RuntimeError(f"no department plays role {step.actor} in case {self.state.case_id}")
        return Party(department=department, role=step.actor)

    async def _open_task(self, step_id: str) -> Task:
        step = self._rules.steps[step_id]
        # The first step counts from the platform's record time (Hubei 22); later ones from the
        # decision that opened them (e.g. Hubei 21: "within 3 working days of acceptance").
        previous = self.state.tasks[-1].decision if self.state.tasks else None
        opened_at = previous.decided_at if previous is not None else self.state.submitted_at
        seq = len(self.state.tasks) + 1
        deadline = None
        if step.limit is not None:
            deadline = await self._compute_deadline(
                step_id, opened_at, step.limit, self._start.deadline_cutoff
            )
        task = Task(
            task_id=f"{self.state.case_id}/{seq}",
            seq=seq,
            step=step_id,
            name_zh=step.name_zh,
            name_en=step.name_en,
            assignee=self._assignee(step),
            actions=list(step.actions),
            action_info=[
                ActionInfo(a_id, a.name_zh, a.name_en, a.reason_required, a.grant)
                for a_id, a in step.actions.items()
            ],
            opened_at=opened_at,
            article=step.article,
            limit_basis=step.limit_basis,
            deadline=deadline,
        )
        self.state.tasks.append(task)
        due = (
            {"due_at": deadline.due_at.isoformat(), "working_days": deadline.working_days} if deadline else {}
        )
        self._event(
            "task_opened",
            None,
            f"待办:{step.name_zh}({self._who_zh(task.assignee)})",
            f"Task opened: {step.name_en} ({task.assignee.role} {task.assignee.department})",
            {"task_id": task.task_id, "step": step_id, "article": step.article, **due},
        )
        self._notify("task_assigned", task.assignee, task)
        await self._flush()
        return task

    async def _compute_deadline(
        self, step_id: str, start: datetime, working_days: int, cutoff: str
    ) -> Deadline:
        """A local activity, so the whole Deadline record (and the calendar data it used) is in history."""
        return await workflow.execute_local_activity(
            "compute_deadline",
            DeadlineRequest(
                start=start,
                working_days=working_days,
                cutoff=cutoff,
                profile=self._start.profile_id,
                profile_version=self._start.profile_version,
                step=step_id,
                article=self._rules.steps[step_id].article,
            ),
            result_type=Deadline,
            start_to_close_timeout=timedelta(seconds=10),
        )

    async def _await_task(self, task: Task) -> None:
        """Wait for the decision on durable timers: reminder, then breach, then indefinitely.

        If the deadline is replaced while waiting (a provisional deadline recomputed when its year's
        holiday notice arrives), the timers are re-planned against the new one.
        """
        reminder_due, planned = True, task.deadline
        while task.status == "open":
            deadline = task.deadline
            if deadline is not planned:  # re-planned: the new last working day gets its reminder
                reminder_due, planned = True, deadline

            def settled_or_replanned(deadline=deadline) -> bool:
                return task.status != "open" or task.deadline is not deadline

            if deadline is None or task.overdue:
                await workflow.wait_condition(settled_or_replanned)
                continue
            phase, moment = ("reminder", deadline.remind_at) if reminder_due else ("breach", deadline.due_at)
            remaining = (moment - workflow.now()).total_seconds()
            if remaining > 0:
                try:
                    await workflow.wait_condition(
                        settled_or_replanned,
                        timeout=timedelta(seconds=remaining),
                        timeout_summary=f"{task.step} {phase}",
                    )
                    continue
                except TimeoutError:
                    pass
            if phase == "reminder":
                reminder_due = False
                if remaining > 0:  # no reminder when the task opened inside its last working day
                    await self._remind(task)
            else:
                await self._breach(task)

    async def _replan_deadline(self) -> bool:
        """Recompute the open task's provisional deadline with the calendar data now in force.

        REGULATIONS.md §3: deadlines in a year without a holiday notice are provisional and are
        recomputed when the notice is added. Returns whether the deadline changed.
        """
        task = self.state.open_task
        if task is None or task.deadline is None or not task.deadline.provisional:
            return False
        old = task.deadline
        new = await self._compute_deadline(task.step, task.opened_at, old.working_days, old.cutoff)
        if task.status != "open" or (new.due_at, new.provisional) == (old.due_at, old.provisional):
            return False
        task.deadline = new
        self._event(
            "deadline_recomputed",
            None,
            f"期限重新计算:{task.name_zh} 由 {old.due_at.isoformat()} 改为 {new.due_at.isoformat()}"
            + ("" if new.provisional else "(节假日安排已公布,期限确定)"),
            f"Deadline recomputed: {task.name_en} from {old.due_at.isoformat()} to {new.due_at.isoformat()}",
            {
                "task_id": task.task_id,
                "old_due_at": old.due_at.isoformat(),
                "new_due_at": new.due_at.isoformat(),
            },
        )
        self._notify("deadline_changed", task.assignee, task)
        await self._flush()
        return True

    async def _remind(self, task: Task) -> None:
        task.reminded_at = workflow.now()
        self._event(
            "reminder_sent",
            None,
            f"提醒:{task.name_zh} 今日到期",
            f"Reminder: {task.name_en} is due by the end of today",
            {"task_id": task.task_id},
        )
        self._notify("reminder", task.assignee, task)
        await self._flush()

    async def _breach(self, task: Task) -> None:
        assert task.deadline is not None
        breach = Breach(
            step=task.step,
            due_at=task.deadline.due_at,
            detected_at=workflow.now(),
            article=task.article,
            responsible=task.assignee,
        )
        task.overdue = True
        task.breach = breach
        self.state.breaches.append(breach)
        self._event(
            "deadline_breached",
            None,
            f"超期:{task.name_zh} 未在期限内办理({self._cite(task.article)})",
            f"Deadline missed: {task.name_en} (art. {task.article})",
            {"task_id": task.task_id, "due_at": breach.due_at.isoformat(), "article": task.article},
        )
        self.on_breach(task, breach)
        await self._flush()

    def on_breach(self, task: Task, breach: Breach) -> None:
        """The seam for the escalation ladder.

        Today: name the ladder's first rung on the breach (e.g. Hubei 26: the big-data agency reports
        to the leading group office) and tell the responsible department and the platform, which
        supervises the timetable. The escalation issue replaces this with starting the rung's own
        workflow (a rectification order is a case of its own).
        """
        if self._rules.escalation:
            rung = self._rules.escalation[0]
            breach.next_rung, breach.next_rung_article = rung.id, rung.article
        self._notify("breach", task.assignee, task)
        platform = Party(department=self._start.platform_department, role="platform")
        if platform != task.assignee:
            self._notify("breach_supervision", platform, task)

    # -- decisions (Updates) --------------------------------------------------------------------
    def _validate_decision(self, req: DecisionRequest) -> tuple[Task, Action]:
        if self.state.status != "in_progress":
            raise refuse(ERROR_CONFLICT, "案件已办结,不能再作决定", "the case is closed")
        task = self.state.open_task
        if task is None:
            raise refuse(ERROR_CONFLICT, "案件正在转入下一环节,请稍后重试", "no task is open; retry shortly")
        # Naming a step that is not open: a conflict if that step is the caller's (someone acted
        # first, the page was stale, or it is not yet their turn); forbidden if it never would be.
        if req.step and req.step != task.step:
            named = self._rules.steps.get(req.step)
            if named is None:
                raise refuse(ERROR_INVALID, f"未知环节 {req.step}", f"unknown step {req.step}")
            owner = self._assignee(named)
            if (req.actor.department, req.actor.role) != (owner.department, owner.role):
                raise refuse(
                    ERROR_FORBIDDEN,
                    f"环节“{named.name_zh}”由{self._who_zh(owner)}办理",
                    f"step {req.step} is assigned to {owner.role} {owner.department}",
                )
            raise refuse(
                ERROR_CONFLICT,
                f"案件当前环节为“{task.name_zh}”,不是“{named.name_zh}”",
                f"the case is at step {task.step}, not {req.step}",
            )
        if req.actor.department != task.assignee.department or req.actor.role != task.assignee.role:
            raise refuse(
                ERROR_FORBIDDEN,
                f"当前环节“{task.name_zh}”由{self._who_zh(task.assignee)}办理",
                f"the open step {task.step} is assigned to {task.assignee.role} {task.assignee.department}",
            )
        action = self._rules.steps[task.step].actions.get(req.action)
        if action is None:
            raise refuse(
                ERROR_INVALID,
                f"环节“{task.name_zh}”可选的决定为:{', '.join(task.actions)}",
                f"step {task.step} allows: {', '.join(task.actions)}",
            )
        if action.reason_required and not req.reason.strip():
            raise refuse(
                ERROR_INVALID,
                f"“{action.name_zh}”必须说明理由({self._cite(task.article)})",
                f"'{req.action}' needs a reason (art. {task.article})",
            )
        return task, action

    async def _apply_decision(self, req: DecisionRequest) -> CaseState:
        task, action = self._validate_decision(req)
        now = workflow.now()
        grant = self.grant_terms(req, action) if action.grant else None
        task.decision = Decision(
            action=req.action,
            actor=req.actor,
            decided_at=now,
            reason=req.reason.strip(),
            note=req.note,
            grant=grant,
            article=task.article,
        )
        task.status, task.closed_at = "done", now
        if action.result is not None:
            self.state.result = action.result
            self.state.result_reason = req.reason.strip()
            self.state.result_article = task.article
            if grant is not None:
                self.state.grant = grant
        self._event(
            "decision",
            req.actor,
            f"{task.name_zh}:{action.name_zh}" + (f"。理由:{req.reason}" if req.reason else ""),
            f"{task.name_en}: {action.name_en}" + (f". Reason: {req.reason}" if req.reason else ""),
            {"task_id": task.task_id, "step": task.step, "action": req.action, "overdue": task.overdue},
        )
        for role in action.notify:
            department = self.state.parties.get(role)
            if department:
                self._notify("decided", Party(department=department, role=role), task)
        return await self._wait_settled()

    def _validate_withdrawal(self, req: WithdrawRequest) -> None:
        applicant = self.state.submitted_by
        if req.actor.department != applicant.department or req.actor.role != applicant.role:
            raise refuse(ERROR_FORBIDDEN, "只有申请部门可以撤回申请", "only the applicant may withdraw")
        if self.state.status != "in_progress":
            raise refuse(ERROR_CONFLICT, "案件已办结,不能撤回", "the case is already closed")

    async def _apply_withdrawal(self, req: WithdrawRequest) -> CaseState:
        # Between two steps no task is open for a moment; withdraw from the next one.
        await workflow.wait_condition(
            lambda: self.state.open_task is not None or self.state.status != "in_progress"
        )
        self._validate_withdrawal(req)
        now = workflow.now()
        task = self.state.open_task
        if task is not None:
            task.status, task.closed_at = "cancelled", now
            self._notify("withdrawn", task.assignee, task)
        self.state.status, self.state.closed_at = "withdrawn", now
        self.state.result_reason = req.reason.strip()
        self._event(
            "withdrawn",
            req.actor,
            "申请部门撤回申请" + (f"。理由:{req.reason}" if req.reason else ""),
            "Withdrawn by the applicant" + (f". Reason: {req.reason}" if req.reason else ""),
        )
        return await self._wait_settled()

    async def _wait_settled(self) -> CaseState:
        self._requested += 1
        ticket = self._requested
        await workflow.wait_condition(lambda: self._settled >= ticket)
        return self.state

    def grant_terms(self, req: DecisionRequest, action: Action) -> GrantTerms:
        """The terms a granting decision records; case types refine and check them."""
        return req.grant or GrantTerms()

    # -- closing --------------------------------------------------------------------------------
    async def _close(self, transition: Transition) -> None:
        now = workflow.now()
        if transition.result is not None:  # an automatic decision under the profile's article
            self.state.result = transition.result
            self.state.result_article = transition.article or ""
            self.state.result_reason = self.automatic_reason(transition)
            self.on_automatic_result(transition)
            self._event(
                "automatic_decision",
                None,
                f"按规定自动办理:{self.state.result_reason}",
                f"Decided by rule (art. {transition.article}): {transition.note_en or transition.result}",
                {"result": transition.result, "article": transition.article},
            )
        self.state.status = self.state.result or "closed"
        self.state.closed_at = now
        self._event(
            "case_closed",
            None,
            f"办结:{STATUS_ZH.get(self.state.status, self.state.status)}",
            f"Case closed: {self.state.status}",
            {"result": self.state.result, "article": self.state.result_article},
        )
        applicant = Party(department=self.state.submitted_by.department, role=self.state.submitted_by.role)
        self._notify("case_closed", applicant, None)
        await self._flush()
        self._mark_settled()

    def automatic_reason(self, transition: Transition) -> str:
        return transition.note_zh or ""

    def on_automatic_result(self, transition: Transition) -> None:
        """Hook for case types that record more on an automatic decision (e.g. the grant)."""

    # -- recording ------------------------------------------------------------------------------
    def _event(
        self, kind: str, actor: Actor | None, zh: str, en: str, data: dict[str, Any] | None = None
    ) -> None:
        self._audit_seq += 1
        self._events.append(
            AuditEvent(
                case_id=self.state.case_id,
                seq=self._audit_seq,
                at=workflow.now(),
                kind=kind,
                actor=actor,
                summary_zh=zh,
                summary_en=en,
                data=data or {},
            )
        )

    def _notify(self, kind: str, recipient: Party, task: Task | None) -> None:
        params: dict[str, Any] = {
            "case_id": self.state.case_id,
            "case_type": self.state.case_type,
            "profile_name_zh": self._start.profile_name_zh,
            "annex_titles_zh": self._start.annex_titles_zh,
            "status": self.state.status,
            "result": self.state.result,
            "result_reason": self.state.result_reason,
            "result_article": self.state.result_article,
            **self.notice_params(),
        }
        if task is not None:
            params.update(
                step=task.step,
                step_zh=task.name_zh,
                step_en=task.name_en,
                article=task.article,
                limit_basis=task.limit_basis,
                due_at=task.deadline.due_at.isoformat() if task.deadline else "",
                working_days=task.deadline.working_days if task.deadline else None,
                provisional=task.deadline.provisional if task.deadline else False,
                action=task.decision.action if task.decision else "",
                reason=task.decision.reason if task.decision else "",
            )
        self._notices.append(
            Notice(
                case_id=self.state.case_id,
                key=f"{self.state.case_id}:{self._audit_seq}:{kind}:{recipient.department}:{recipient.role}",
                recipient=recipient,
                kind=kind,
                params=params,
            )
        )

    def notice_params(self) -> dict[str, Any]:
        return {}

    def _cite(self, article: str) -> str:
        return cite_zh(article, self._start.profile_name_zh, self._start.annex_titles_zh)

    def _who_zh(self, party: Party) -> str:
        name = self._start.department_names.get(party.department)
        return f"{_ROLE_ZH.get(party.role, party.role)}({name or party.department})"

    async def _record_after_commit(self, record: CaseRecord) -> None:
        """Write the step through the regular ``record`` activity (see PATCH_RECORD_AFTER_COMMIT).

        A database outage is retried until it ends (the projection lags, nothing is lost). A write the
        database can never take (``RecordRejected``: the activity already retried it with the text made
        storable) is not retried forever: it is logged as an error with the case, the case row is
        marked, and the case moves on; its history stays whole and the next step writes again.
        """
        try:
            await workflow.execute_activity("record", record, **_RECORD_ACTIVITY_OPTIONS)
        except ActivityError as err:
            cause = err.cause
            if not (isinstance(cause, ApplicationError) and cause.type == RECORD_REJECTED):
                raise
            workflow.logger.error(
                "projection write refused by the database; case marked",
                extra={
                    "case_id": self.state.case_id,
                    "revision": self.state.revision,
                    "error": cause.message,
                },
            )
            await workflow.execute_activity(
                "mark_record_failed",
                RecordFailure(
                    case_id=self.state.case_id,
                    workflow_id=self.state.workflow_id,
                    revision=self.state.revision,
                    error=cause.message,
                ),
                **_RECORD_ACTIVITY_OPTIONS,
            )

    async def _flush(self) -> None:
        """Write the projection, the audit events and the notices (idempotent, retried until done)."""
        self.state.revision += 1
        events, self._events = self._events, []
        notices, self._notices = self._notices, []
        record = CaseRecord(state=self.state, events=events, notices=notices)
        if workflow.patched(PATCH_RECORD_AFTER_COMMIT):
            await self._record_after_commit(record)
            return
        if workflow.patched(PATCH_ONE_LOCAL_RECORD):
            # One local activity, one DB transaction: the case change and its notices land together,
            # and no activity-task round trip through the server is paid per step.
            await workflow.execute_local_activity("record", record, **_RECORD_OPTIONS)
            return
        await workflow.execute_activity(
            "record_case", CaseRecord(state=self.state, events=events), **_RECORD_OPTIONS
        )
        if notices:
            await workflow.execute_activity("send_notices", notices, **_RECORD_OPTIONS)


_ROLE_ZH = {
    "consumer": "使用部门",
    "provider": "提供部门",
    "platform": "共享平台管理部门",
    "leading_group": "领导小组办公室",
    "coordinator": "协调部门",
    "principal_head": "主要负责人",
    "auditor": "审计部门",
    "citizen": "申请人",
}


with workflow.unsafe.imports_passed_through():
    from workflows.contracts import SharingApplicationInput

#: Luzhou 25: comparison mode — "data does not land"; only comparison results are delivered.
COMPARISON_MODE = "data_comparison"


@workflow.defn(name="SharingApplication")
class SharingApplicationV1(CaseEngineV1):
    @workflow.init
    def __init__(self, inp: SharingApplicationInput) -> None:
        start = inp.case
        resource = inp.resource
        state = CaseState(
            case_id=start.case_id,
            case_type="sharing_application",
            workflow_id=workflow.info().workflow_id,
            profile_id=start.profile_id,
            profile_version=start.profile_version,
            profile_digest=start.profile_digest,
            profile_name_zh=start.profile_name_zh,
            parties={
                "consumer": inp.consumer_department,
                "provider": resource.provider_department,
                "platform": start.platform_department,
            },
            submitted_at=start.submitted_at,
            submitted_by=start.submitted_by,
            resource=resource,
            purpose=inp.purpose,
            reason=inp.reason,
            requested_fields=list(inp.requested_fields),
            requested_mode=inp.requested_mode,
        )
        self._input = inp
        self._init_case(
            start,
            state,
            {
                "share_type": resource.share_type,
                "controlled_parameters": resource.controlled_parameters,
                "sharing_mode": inp.requested_mode,
            },
        )

    @workflow.run
    async def run(self, inp: SharingApplicationInput) -> CaseState:
        return await self._run_case()

    # -- what is particular to an application ----------------------------------------------------
    def grant_terms(self, req: DecisionRequest, action: Action) -> GrantTerms:
        """The grant records scope, fields, sharing mode and conditions (Hubei 13, 24).

        Unset terms default to what was applied for; the granted fields and mode must exist on the
        resource, so a grant never promises data the catalog does not have.
        """
        resource = self._input.resource
        asked = req.grant or GrantTerms()
        fields = asked.fields or list(self._input.requested_fields) or list(resource.fields)
        unknown = [f for f in fields if resource.fields and f not in resource.fields]
        if unknown:
            raise refuse(
                ERROR_INVALID,
                f"授权字段不在目录中:{', '.join(unknown)}",
                f"granted fields not in the catalog entry: {', '.join(unknown)}",
            )
        mode = asked.sharing_mode or self._input.requested_mode or (resource.sharing_modes or [""])[0]
        if mode and resource.sharing_modes and mode not in resource.sharing_modes:
            raise refuse(
                ERROR_INVALID,
                f"共享方式 {mode} 不在目录允许的方式中",
                f"sharing mode {mode} is not offered by the resource",
            )
        return GrantTerms(
            scope=asked.scope or self._input.purpose,
            fields=fields,
            sharing_mode=mode,
            conditions=asked.conditions,
            valid_until=asked.valid_until,
            comparison_results_only=mode == COMPARISON_MODE,
        )

    def automatic_reason(self, transition: Transition) -> str:
        reason = transition.note_zh or ""
        legal_basis = self._input.resource.legal_basis
        if transition.result == "rejected" and legal_basis:
            # not_shared needs a legal basis (Hubei 8(1), Jiangsu 11(1)); the rejection quotes it.
            reason = f"{reason}。依据:{legal_basis}" if reason else f"依据:{legal_basis}"
        return reason

    def on_automatic_result(self, transition: Transition) -> None:
        if transition.result == "granted":
            # Unconditional resources are taken directly (Luzhou 25, Jiangsu 16): the grant is
            # recorded as applied for, with no approval step.
            self.state.grant = self.grant_terms(
                DecisionRequest(actor=self.state.submitted_by, action=""), None
            )

    def notice_params(self) -> dict[str, str]:
        resource = self._input.resource
        return {
            "resource_id": resource.id,
            "resource_zh": resource.name_zh,
            "resource_en": resource.name_en,
            "consumer": self._input.consumer_department,
            "provider": resource.provider_department,
        }
