"""The case engine (second generation): a profile's case type, interpreted as a durable process.

Every case type (sharing application now; rectification order, catalog update, objection later) is a
workflow that subclasses ``CaseEngine`` and supplies its parties and attributes; the steps, who acts,
the working-day limits, what each decision leads to and the escalation ladder come from the pinned
profile rules (``CaseStart.rules``). A new case type is a new workflow plus profile data.

What the engine offers every case type:

- **Tasks.** A step opens one task, or one per party playing its role (``assign = "each"``), joined
  on all, any or a quorum; several tasks may be open at once, each with its own assignee, clock,
  reminder and breach. A decision names its task (or its step, when the caller has one task there).
- **Parties.** A list of (role, department, person); a role may have several. A role with nobody to
  play it is refused before the case starts (the case service checks ``CaseType.roles_needed``).
- **Clock.** A task's deadline is its base limit and article, then dated adjustments (a limit set by
  the decision that opened it, a date the case counts from, an approved extension, a suspension and
  its resume with the working days that were left, a re-plan after a new holiday notice), each
  computed by the deadline local activity (so the history holds every record) and explained with its
  own article and who approved it. Each open task has its own timer loop that follows its clock.
- **Links.** A breach reaching a rung with ``starts_case`` starts that case (a child workflow with a
  business-key id and reject-duplicate, so it starts once); both timelines show the link. A case may
  also start a case and wait for its result.
- **Recording.** Each step sends what changed (revision, header when changed, changed tasks, links,
  events, notices) to the ``record_delta`` activity, a regular activity: Temporal dispatches it only
  after the workflow task that scheduled it is committed, so the database never shows what the
  history does not hold (issue 13). Updates answer with the case's status and open tasks
  (``CaseAnswer``), not the whole case.

Decisions, clock changes and withdrawals are Updates: the validator refuses what does not fit
(wrong department → Forbidden, a task not open or a closed case → Conflict, malformed → Invalid)
before anything is written to history; the handler applies it and returns once the case has settled
(next tasks open and recorded), so the caller sees what comes next in the same answer.

The first-generation engine is frozen in ``workflows/legacy/engine_v1.py`` for the histories it wrote.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from calendars import SHANGHAI, Deadline
    from regulations.citation import cite_zh
    from regulations.schema import Action, Step, Transition
    from workflows.case import (
        ERROR_CONFLICT,
        ERROR_FORBIDDEN,
        ERROR_INVALID,
        RECORD_REJECTED,
        STATUS_ZH,
        ActionInfo,
        Actor,
        AuditEvent,
        Breach,
        CaseAnswer,
        CaseDelta,
        CaseFile,
        CaseHeader,
        CaseLink,
        CaseParty,
        ClockEntry,
        ClockRequest,
        Decision,
        DecisionRequest,
        GrantTerms,
        Notice,
        Party,
        RecordFailure,
        Task,
        TaskBrief,
        WithdrawRequest,
    )
    from workflows.contracts import CaseInput, CaseStart, DeadlineRequest, WorkingDaysLeftRequest

#: The regular ``record_delta`` activity: each attempt bounded (a stuck write is retried; the write
#: is idempotent), retried without end for outages; RECORD_REJECTED (never storable) is not retried.
_RECORD_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=[RECORD_REJECTED],
    ),
}
_LOCAL: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=10)}

#: Who acts when the case itself acts (a breach starting an escalation).
SYSTEM_USER = "govshare"


def refuse(error_type: str, zh: str, en: str) -> ApplicationError:
    """A validator refusal: English message, Chinese text in details (the API shows zh first)."""
    return ApplicationError(en, {"zh": zh, "en": en}, type=error_type, non_retryable=True)


@dataclass
class Outcome:
    """How a step ended: the action taken (by the deciding task, or by rule on disagreement)."""

    step: str
    action_id: str
    action: Action
    decided_at: datetime
    decision: Decision
    article: str


class CaseEngine:
    """Base of every case workflow. Subclasses call ``_init_case`` and then ``_run_case``."""

    #: The case type id (``sharing_application`` …), as the profile and the registry name it.
    CASE_TYPE = ""

    # -- set up ---------------------------------------------------------------------------------
    def _init_case(
        self,
        start: CaseStart,
        *,
        parties: list[CaseParty],
        attributes: dict[str, Any] | None = None,
        facts: dict[str, Any] | None = None,
        subject_zh: str = "",
        subject_en: str = "",
    ) -> None:
        info = workflow.info()
        self._start = start
        self._rules = start.rules
        #: What the profile's transitions test (a resource's share type …).
        self._facts = dict(facts or {})
        self.header = CaseHeader(
            case_id=start.case_id,
            case_type=self.CASE_TYPE,
            workflow_id=info.workflow_id,
            workflow_type=info.workflow_type,
            profile_id=start.profile_id,
            profile_version=start.profile_version,
            profile_digest=start.profile_digest,
            profile_name_zh=start.profile_name_zh,
            submitted_at=start.submitted_at,
            submitted_by=start.submitted_by,
            subject_zh=subject_zh,
            subject_en=subject_en,
            attributes=dict(attributes or {}),
            counts_from=start.counts_from,
            links=list(start.links),
        )
        self.parties: list[CaseParty] = []
        for party in [*parties, *start.parties]:
            if party not in self.parties:
                self.parties.append(party)
        self.tasks: list[Task] = []
        self.revision = 0
        self._events: list[AuditEvent] = []
        self._notices: list[Notice] = []
        self._audit_seq = 0
        self._dirty: dict[str, Task] = {}
        self._header_dirty = True
        self._parties_dirty = True
        self._new_links: list[CaseLink] = list(start.links)
        self._full_next = False
        self._flush_lock = asyncio.Lock()
        self._clock_lock = asyncio.Lock()
        # Settling: every state change an Update makes gets a ticket; the Update returns once its
        # ticket is settled, i.e. recorded together with whatever the change led to (next tasks).
        self._tickets = 0
        self._settled: set[int] = set()
        self._ready = False
        self._withdrawn = False
        self._step_runs = 0
        self._watchers: list[asyncio.Task[None]] = []
        self._failure: Exception | None = None

    # -- the handlers every case workflow shares (same names, so callers need not know the type) --
    # A case that fails (a profile error, no party for a role) abandons its waiting callers.
    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def settled(self) -> CaseAnswer:
        """Returns once the entry is followed: the first tasks open and recorded, or the case closed."""
        await workflow.wait_condition(lambda: self._ready)
        return self._answer()

    @workflow.update
    async def decide(self, req: DecisionRequest) -> CaseAnswer:
        return await self._apply_decision(req)

    @decide.validator
    def _check_decision(self, req: DecisionRequest) -> None:
        _task, action = self._validate_decision(req)
        if action.grant:
            self.grant_terms(req, action)

    @workflow.update
    async def adjust_clock(self, req: ClockRequest) -> CaseAnswer:
        return await self._apply_clock(req)

    @adjust_clock.validator
    def _check_clock(self, req: ClockRequest) -> None:
        self._validate_clock(req)

    @workflow.update
    async def withdraw(self, req: WithdrawRequest) -> CaseAnswer:
        return await self._apply_withdrawal(req)

    @withdraw.validator
    def _check_withdrawal(self, req: WithdrawRequest) -> None:
        self._validate_withdrawal(req)

    @workflow.update
    async def replan_deadlines(self) -> bool:
        """Recompute provisional deadlines after a new holiday notice (``govshare replan-deadlines``)."""
        return await self._replan_deadlines()

    @workflow.query(name="state")
    def case_file(self) -> CaseFile:
        return CaseFile(header=self.header, parties=self.parties, tasks=self.tasks, revision=self.revision)

    # -- the main loop --------------------------------------------------------------------------
    async def _run_case(self) -> CaseAnswer:
        self._event("case_submitted", self.header.submitted_by, "提交申请", "Case submitted")
        for link in self.header.links:
            self._link_event(link)
        transition = self._first_match(self._rules.entry, "entry")
        outcome: Outcome | None = None
        while not transition.end:
            assert transition.step is not None
            outcome = await self._run_step(transition.step, outcome)
            if outcome is None:  # withdrawn
                break
            where = f"steps.{outcome.step}.actions.{outcome.action_id}"
            transition = self._first_match(outcome.action.next, where)
        if self._withdrawn:
            snapshot = self._tickets
            await self._flush()
            self._settle_through(snapshot)
        else:
            await self._close(transition)
        # Let in-flight update handlers return their result before the workflow completes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._answer()

    def _first_match(self, transitions: list[Transition], where: str) -> Transition:
        for t in transitions:
            if t.matches(self._facts):
                return t
        # A profile whose transitions do not cover a case is a data error: fail the case visibly.
        raise ApplicationError(
            f"profile {self._start.profile_id}: no transition in {where} matches", non_retryable=True
        )

    async def _run_step(self, step_id: str, opened_by: Outcome | None) -> Outcome | None:
        """Open the step's tasks, wait until they join (or the case is withdrawn), close the rest."""
        step = self._rules.steps[step_id]
        self._step_runs += 1
        group = f"{step_id}#{self._step_runs}"
        # The tickets settled by this step's recording are those issued before it began: a decision
        # applied to one of the new tasks while they are being recorded waits for its own settling.
        snapshot = self._tickets
        tasks = []
        for party in self._assignees(step, step_id):
            tasks.append(await self._open_task(step_id, step, party, group, opened_by))
        await self._flush()
        self._settle_through(snapshot)
        self._ready = True
        for task in tasks:
            self._watchers.append(asyncio.create_task(self._watch(task)))
        await workflow.wait_condition(
            lambda: self._withdrawn or self._failure is not None or self._join(step, tasks) is not None
        )
        if self._failure is not None:  # a task's timer loop failed: fail the workflow task with it
            raise self._failure
        if self._withdrawn:
            return None
        outcome = self._join(step, tasks)
        assert outcome is not None
        now = workflow.now()
        for task in tasks:
            if task.status == "open":  # joined on any / a quorum: the others need not act
                task.status, task.closed_at = "cancelled", now
                self._touch(task)
                self._event(
                    "task_cancelled",
                    None,
                    f"{task.name_zh}:已由其他办理方决定,本待办撤销",
                    f"{task.name_en}: decided by the other parties; this task is withdrawn",
                    {"task_id": task.task_id},
                )
        if outcome.decision.kind == "rule":
            self._event(
                "joint_outcome",
                None,
                f"{step.name_zh}:各方意见不一致,按规定作“{outcome.action.name_zh}”处理",
                f"{step.name_en}: the parties disagree; taken as '{outcome.action.name_en}'",
                {"step": step_id, "action": outcome.action_id, "article": step.article},
            )
        if outcome.action.result is not None:
            self.header.result = outcome.action.result
            self.header.result_reason = outcome.decision.reason
            self.header.result_article = outcome.article
            self._header_dirty = True
            self.on_result(outcome)
        return outcome

    def _join(self, step: Step, tasks: list[Task]) -> Outcome | None:
        """The step's outcome once its tasks have joined (all / any / quorum), else None."""
        decided = sorted(
            (t for t in tasks if t.status == "done" and t.decision is not None),
            key=lambda t: (t.decision.decided_at, t.seq),  # type: ignore[union-attr]
        )
        if not decided:
            return None
        if len(tasks) == 1 or step.join == "any":
            return self._outcome(decided[0])
        counts = Counter(t.decision.action for t in decided)  # type: ignore[union-attr]
        if step.join == "all":
            if len(decided) < len(tasks):
                return None
            if len(counts) == 1:
                return self._outcome(decided[-1])
            return self._disagreement(step, decided)
        quorum = step.quorum or len(tasks)
        for action_id in step.actions:
            if counts[action_id] >= quorum:
                return self._outcome([t for t in decided if t.decision.action == action_id][quorum - 1])  # type: ignore[union-attr]
        undecided = len(tasks) - len(decided)
        if all(counts[a] + undecided < quorum for a in step.actions):
            return self._disagreement(step, decided)
        return None

    def _outcome(self, task: Task) -> Outcome:
        assert task.decision is not None
        action = self._rules.steps[task.step].actions[task.decision.action]
        return Outcome(
            task.step, task.decision.action, action, task.decision.decided_at, task.decision, task.article
        )

    def _disagreement(self, step: Step, decided: list[Task]) -> Outcome:
        action_id = step.on_disagreement or next(iter(step.actions))
        last = decided[-1]
        decision = Decision(
            action=action_id,
            actor=Actor(self._start.platform_department, "platform", SYSTEM_USER),
            decided_at=last.decision.decided_at,  # type: ignore[union-attr]
            reason="; ".join(f"{t.assignee.department}:{t.decision.action}" for t in decided),  # type: ignore[union-attr]
            kind="rule",
            article=step.article,
        )
        return Outcome(
            last.step, action_id, step.actions[action_id], decision.decided_at, decision, step.article
        )

    # -- parties and tasks ----------------------------------------------------------------------
    def _assignees(self, step: Step, step_id: str) -> list[Party]:
        playing = [p for p in self.parties if p.role == step.actor]
        if not playing:
            # The case service refuses such a case before it starts; if one gets here, fail it
            # visibly rather than leave a workflow stuck on a retrying task.
            raise ApplicationError(
                f"no party plays role {step.actor} for step {step_id} in case {self.header.case_id}",
                type="NoParty",
                non_retryable=True,
            )
        chosen = playing if step.assign == "each" else playing[:1]
        return [Party(department=p.department, role=p.role, person=p.person) for p in chosen]

    async def _open_task(
        self, step_id: str, step: Step, party: Party, group: str, opened_by: Outcome | None
    ) -> Task:
        # The first step counts from the platform's record time (Hubei 22); later ones from the
        # decision that opened them (e.g. Hubei 21: "within 3 working days of acceptance").
        opened_at = opened_by.decided_at if opened_by is not None else self.header.submitted_at
        seq = len(self.tasks) + 1
        entry, limit = self._first_clock_entry(step, opened_at, opened_by)
        deadline = None
        if limit is not None:
            deadline = await self._compute_deadline(
                step_id, entry.starts_at or opened_at, limit, entry.article
            )
            entry.due_at = deadline.due_at
        task = Task(
            task_id=f"{self.header.case_id}/{seq}",
            seq=seq,
            step=step_id,
            name_zh=step.name_zh,
            name_en=step.name_en,
            assignee=party,
            actions=list(step.actions),
            action_info=[
                ActionInfo(a_id, a.name_zh, a.name_en, a.reason_required, a.grant)
                for a_id, a in step.actions.items()
            ],
            opened_at=opened_at,
            article=step.article,
            limit_basis=step.limit_basis,
            deadline=deadline,
            group=group,
            clock=[entry],
        )
        self.tasks.append(task)
        self._touch(task)
        due = (
            {"due_at": deadline.due_at.isoformat(), "working_days": deadline.working_days} if deadline else {}
        )
        self._event(
            "task_opened",
            None,
            f"待办:{step.name_zh}({self._who_zh(party)})",
            f"Task opened: {step.name_en} ({party.role} {party.department})",
            {"task_id": task.task_id, "step": step_id, "article": entry.article, "clock": entry.kind, **due},
        )
        self._notify("task_assigned", party, task)
        return task

    def _first_clock_entry(
        self, step: Step, opened_at: datetime, opened_by: Outcome | None
    ) -> tuple[ClockEntry, int | None]:
        """The clock a task starts with: the profile's limit, a limit the opening decision set, or a
        count from the case's own date."""
        if step.limit_from == "decision":
            limit = opened_by.decision.limit_working_days if opened_by is not None else None
            approver = opened_by.decision.actor if opened_by is not None else None
            article = opened_by.article if opened_by is not None else step.article
            return (
                ClockEntry(
                    kind="limit_set",
                    at=opened_at,
                    article=article,
                    working_days=limit,
                    starts_at=opened_at,
                    approved_by=approver,
                    basis="decision",
                ),
                limit,
            )
        starts_at = opened_at
        kind = "base"
        if step.counts_from == "case" and self.header.counts_from is not None:
            starts_at, kind = self.header.counts_from, "counts_from"
        basis = "statute" if step.working_days is not None else step.limit_basis
        entry = ClockEntry(
            kind=kind,
            at=opened_at,
            article=step.article,
            working_days=step.limit,
            starts_at=starts_at,
            basis=basis,
        )
        return entry, step.limit

    async def _compute_deadline(
        self, step_id: str, start: datetime, working_days: int, article: str
    ) -> Deadline:
        """A local activity, so the whole Deadline record (and the calendar data it used) is in history."""
        return await workflow.execute_local_activity(
            "compute_deadline",
            DeadlineRequest(
                start=start,
                working_days=working_days,
                cutoff=self._start.deadline_cutoff,
                profile=self._start.profile_id,
                profile_version=self._start.profile_version,
                step=step_id,
                article=article,
            ),
            result_type=Deadline,
            **_LOCAL,
        )

    # -- the clock of one task: timers ------------------------------------------------------------
    async def _watch(self, task: Task) -> None:
        """Reminder at the start of the last working day, breach at the due instant, for this task;
        re-armed whenever its clock changes (extension, suspension, resume, re-plan)."""
        try:
            await self._follow_clock(task)
        except Exception as err:  # surfaced by the main loop, never lost in a background task
            self._failure = err

    async def _follow_clock(self, task: Task) -> None:
        reminded_for: object = None
        while task.status == "open":
            deadline, suspended = task.deadline, task.suspended_at

            def changed(deadline=deadline, suspended=suspended) -> bool:
                return (
                    task.status != "open" or task.deadline is not deadline or task.suspended_at != suspended
                )

            if deadline is None or suspended is not None or task.overdue:
                await workflow.wait_condition(changed)
                continue
            reminder_due = reminded_for is not deadline
            phase, moment = ("reminder", deadline.remind_at) if reminder_due else ("breach", deadline.due_at)
            remaining = (moment - workflow.now()).total_seconds()
            if remaining > 0:
                try:
                    await workflow.wait_condition(
                        changed,
                        timeout=timedelta(seconds=remaining),
                        timeout_summary=f"{task.task_id} {phase}",
                    )
                    continue
                except TimeoutError:
                    pass
            if phase == "reminder":
                reminded_for = deadline
                if remaining > 0:  # no reminder when the task opened inside its last working day
                    await self._remind(task)
            else:
                await self._breach(task)

    async def _remind(self, task: Task) -> None:
        task.reminded_at = workflow.now()
        self._touch(task)
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
        article = task.clock[-1].article if task.clock else task.article
        breach = Breach(
            step=task.step,
            due_at=task.deadline.due_at,
            detected_at=workflow.now(),
            article=article,
            responsible=task.assignee,
        )
        task.overdue = True
        task.breach = breach
        self.header.breaches.append(breach)
        self._header_dirty = True
        self._touch(task)
        self._event(
            "deadline_breached",
            None,
            f"超期:{task.name_zh} 未在期限内办理({self._cite(article)})",
            f"Deadline missed: {task.name_en} (art. {article})",
            {"task_id": task.task_id, "due_at": breach.due_at.isoformat(), "article": article},
        )
        await self.on_breach(task, breach)
        await self._flush()

    async def on_breach(self, task: Task, breach: Breach) -> None:
        """Follow the escalation ladder's first rung (REGULATIONS.md §7).

        The rung is named on the breach (e.g. Hubei 26: the big-data agency reports to the leading
        group office); the responsible department and the platform, which supervises the timetable,
        are told; a rung with ``starts_case`` starts that case (a rectification order), once.
        """
        self._notify("breach", task.assignee, task)
        platform = Party(department=self._start.platform_department, role="platform")
        if (platform.department, platform.role) != (task.assignee.department, task.assignee.role):
            self._notify("breach_supervision", platform, task)
        if not self._rules.escalation:
            return
        rung = self._rules.escalation[0]
        breach.next_rung, breach.next_rung_article = rung.id, rung.article
        if rung.starts_case:
            await self.start_linked_case(
                rung.starts_case,
                key=f"T{task.seq}",
                reason_zh=f"{task.name_zh}超期({self._cite(breach.article)}),依{self._cite(rung.article)}{rung.name_zh}",
                reason_en=f"{task.name_en} overdue (art. {breach.article}): "
                f"{rung.name_en} (art. {rung.article})",
                parties=[
                    CaseParty(role=task.assignee.role, department=task.assignee.department),
                    *[p for p in self.parties if p.role in ("platform", "leading_group")],
                ],
                facts={"breach_task": task.task_id, "breach_step": task.step, "rung": rung.id},
            )

    # -- the clock of one task: adjustments (Updates) ---------------------------------------------
    def _validate_clock(self, req: ClockRequest) -> tuple[Task, Step]:
        if self.header.status != "in_progress":
            raise refuse(ERROR_CONFLICT, "案件已办结,不能调整期限", "the case is closed")
        task = self._task_by_id(req.task_id)
        step = self._rules.steps[task.step]
        if task.status != "open":
            raise refuse(ERROR_CONFLICT, f"待办“{task.name_zh}”已办结", f"task {task.task_id} is not open")
        if task.deadline is None and req.kind != "resume":
            raise refuse(ERROR_INVALID, f"“{task.name_zh}”不限期", f"task {task.task_id} has no deadline")
        if req.kind == "extension":
            rule = step.extension
            if rule is None:
                raise refuse(
                    ERROR_INVALID, f"“{task.name_zh}”不得延期", f"step {task.step} allows no extension"
                )
            self._require_assignee(req.actor, task)
            if rule.approver == "principal_head" and not req.approver_name.strip():
                raise refuse(
                    ERROR_INVALID,
                    f"延期须经主要负责人批准,请填写批准人({self._cite(rule.article)})",
                    "an extension needs the principal head's approval: name the approver "
                    f"(art. {rule.article})",
                )
            if task.extensions_used >= rule.max_count:
                raise refuse(
                    ERROR_CONFLICT,
                    f"“{task.name_zh}”已延期{task.extensions_used}次,不能再延期({self._cite(rule.article)})",
                    f"task {task.task_id} was already extended "
                    f"(at most {rule.max_count}, art. {rule.article})",
                )
            if not req.working_days or not 0 < req.working_days <= rule.max_working_days:
                raise refuse(
                    ERROR_INVALID,
                    f"延期不得超过{rule.max_working_days}个工作日({self._cite(rule.article)})",
                    f"an extension is 1 to {rule.max_working_days} working days (art. {rule.article})",
                )
            if task.overdue or task.suspended_at is not None:
                raise refuse(
                    ERROR_CONFLICT,
                    "期限已过或已中止,不能延期",
                    "the deadline has passed or the clock is stopped; no extension",
                )
            if not req.reason.strip():
                raise refuse(ERROR_INVALID, "延期须说明理由", "an extension needs a reason")
        else:
            rule = step.suspension
            if rule is None:
                raise refuse(
                    ERROR_INVALID,
                    f"“{task.name_zh}”不得中止计时",
                    f"step {task.task_id} allows no suspension",
                )
            if req.actor.role != rule.by or not self._plays(req.actor, rule.by):
                raise refuse(
                    ERROR_FORBIDDEN,
                    f"中止或恢复计时由{_ROLE_ZH.get(rule.by, rule.by)}办理",
                    f"only the {rule.by} may stop or resume this clock",
                )
            if req.kind == "suspension":
                if task.suspended_at is not None:
                    raise refuse(ERROR_CONFLICT, "计时已中止", "the clock is already stopped")
                if task.overdue:
                    raise refuse(ERROR_CONFLICT, "期限已过,不能中止", "the deadline has passed")
                if not req.reason.strip():
                    raise refuse(ERROR_INVALID, "中止计时须说明理由", "a suspension needs a reason")
            elif task.suspended_at is None:
                raise refuse(ERROR_CONFLICT, "计时未中止,无需恢复", "the clock is not stopped")
        return task, step

    async def _apply_clock(self, req: ClockRequest) -> CaseAnswer:
        async with self._clock_lock:  # two changes to one clock never interleave
            task, step = self._validate_clock(req)
            now = workflow.now()
            actor = req.actor
            old_due = task.deadline.due_at if task.deadline else None
            if req.kind == "extension":
                assert task.deadline is not None and step.extension is not None and req.working_days
                # The extra working days run on after the last working day of the period in force.
                after = datetime.combine(task.deadline.due_date, time(12), tzinfo=SHANGHAI)
                deadline = await self._compute_deadline(
                    task.step, after, req.working_days, step.extension.article
                )
                entry = ClockEntry(
                    "extension",
                    now,
                    step.extension.article,
                    req.working_days,
                    after,
                    deadline.due_at,
                    actor,
                    req.approver_name.strip(),
                    req.reason.strip(),
                    "statute",
                )
                task.extensions_used += 1
                task.deadline = deadline
                zh = (
                    f"延期:{task.name_zh} 延长{req.working_days}个工作日至 {deadline.due_date}"
                    f"(批准人:{entry.approver_name},{self._cite(entry.article)})"
                )
                en = (
                    f"Extended: {task.name_en} by {req.working_days} WD to {deadline.due_date} "
                    f"(approved by {entry.approver_name}, art. {entry.article})"
                )
            elif req.kind == "suspension":
                assert task.deadline is not None and step.suspension is not None
                left = await workflow.execute_local_activity(
                    "working_days_left",
                    WorkingDaysLeftRequest(at=now, due_date=task.deadline.due_date),
                    result_type=int,
                    **_LOCAL,
                )
                entry = ClockEntry(
                    "suspension",
                    now,
                    step.suspension.article,
                    left,
                    None,
                    None,
                    actor,
                    "",
                    req.reason.strip(),
                    step.suspension.basis,
                )
                task.suspended_at = now
                zh = f"中止计时:{task.name_zh},剩余{left}个工作日({req.reason.strip()})"
                en = f"Clock stopped: {task.name_en}, {left} WD left ({req.reason.strip()})"
            else:
                assert step.suspension is not None
                left = next(e.working_days for e in reversed(task.clock) if e.kind == "suspension") or 0
                deadline = await self._compute_deadline(task.step, now, left, step.suspension.article)
                entry = ClockEntry(
                    "resume",
                    now,
                    step.suspension.article,
                    left,
                    now,
                    deadline.due_at,
                    actor,
                    "",
                    req.reason.strip(),
                    step.suspension.basis,
                )
                task.suspended_at = None
                task.deadline = deadline
                zh = f"恢复计时:{task.name_zh},剩余{left}个工作日,至 {deadline.due_date}"
                en = f"Clock resumed: {task.name_en}, {left} WD left, due {deadline.due_date}"
            task.clock.append(entry)
            self._touch(task)
            self._event(
                f"clock_{req.kind}",
                actor,
                zh,
                en,
                {
                    "task_id": task.task_id,
                    "article": entry.article,
                    "working_days": entry.working_days,
                    "old_due_at": old_due.isoformat() if old_due else None,
                    "new_due_at": entry.due_at.isoformat() if entry.due_at else None,
                },
            )
            self._notify("deadline_changed", task.assignee, task)
            ticket = self._ticket()
            await self._flush()
            self._settled.add(ticket)
        return self._answer(task.task_id)

    async def _replan_deadlines(self) -> bool:
        """Recompute open provisional deadlines with the calendar data now in force.

        REGULATIONS.md §3: deadlines in a year without a holiday notice are provisional and are
        recomputed when the notice is added. Returns whether any deadline changed.
        """
        changed = False
        async with self._clock_lock:
            for task in list(self.tasks):
                old = task.deadline
                if (
                    task.status != "open"
                    or old is None
                    or not old.provisional
                    or task.suspended_at is not None
                ):
                    continue
                article = old.article or task.article
                new = await self._compute_deadline(task.step, old.start_at, old.working_days, article)
                if task.status != "open" or (new.due_at, new.provisional) == (old.due_at, old.provisional):
                    continue
                task.deadline = new
                task.clock.append(
                    ClockEntry(
                        "replan",
                        workflow.now(),
                        article,
                        old.working_days,
                        old.start_at,
                        new.due_at,
                        basis=task.clock[-1].basis if task.clock else "statute",
                    )
                )
                self._touch(task)
                self._event(
                    "deadline_recomputed",
                    None,
                    f"期限重新计算:{task.name_zh} 由 {old.due_at.isoformat()} 改为 {new.due_at.isoformat()}"
                    + ("" if new.provisional else "(节假日安排已公布,期限确定)"),
                    f"Deadline recomputed: {task.name_en} from {old.due_at.isoformat()} "
                    f"to {new.due_at.isoformat()}",
                    {
                        "task_id": task.task_id,
                        "old_due_at": old.due_at.isoformat(),
                        "new_due_at": new.due_at.isoformat(),
                    },
                )
                self._notify("deadline_changed", task.assignee, task)
                changed = True
            if changed:
                await self._flush()
        return changed

    # -- links ----------------------------------------------------------------------------------
    async def start_linked_case(
        self,
        case_type: str,
        *,
        key: str,
        reason_zh: str,
        reason_en: str,
        parties: list[CaseParty],
        facts: dict[str, Any] | None = None,
        wait: bool = False,
    ) -> CaseAnswer | None:
        """Start a case of ``case_type`` (pinned at this case's start) and link both ways.

        Its id is a business key (``<prefix>-<this case>-<key>``) started with reject-duplicate, so a
        retry, a replay or a second breach of the same task never starts a second one. With ``wait``
        the caller gets the linked case's final answer; otherwise the link is all.
        """
        linked = self._start.linked_types.get(case_type)
        if linked is None:
            workflow.logger.warning("case type %s is not pinned; no case started", case_type)
            return None
        now = workflow.now()
        case_id = f"{linked.prefix}-{self.header.case_id}-{key}"
        workflow_id = f"{linked.id_name}:{case_id}"
        back = CaseLink(
            case_id=self.header.case_id,
            workflow_id=self.header.workflow_id,
            case_type=self.header.case_type,
            relation="started_by",
            at=now,
            reason_zh=reason_zh,
            reason_en=reason_en,
            wait=wait,
        )
        start = CaseStart(
            case_id=case_id,
            profile_id=self._start.profile_id,
            profile_version=self._start.profile_version,
            profile_digest=self._start.profile_digest,
            profile_name_zh=self._start.profile_name_zh,
            deadline_cutoff=self._start.deadline_cutoff,
            rules=linked.rules,
            submitted_at=now,
            submitted_by=Actor(self._start.platform_department, "platform", SYSTEM_USER),
            platform_department=self._start.platform_department,
            annex_titles_zh=dict(self._start.annex_titles_zh),
            department_names=dict(self._start.department_names),
            parties=parties,
            links=[back],
        )
        link = CaseLink(case_id, workflow_id, case_type, "started", now, reason_zh, reason_en, wait)
        handle = None
        try:
            handle = await workflow.start_child_workflow(
                linked.workflow_type,
                CaseInput(case=start, facts=dict(facts or {})),
                id=workflow_id,
                task_queue=workflow.info().task_queue,
                result_type=CaseAnswer,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # The linked case lives on its own: closing this case does not end it.
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"{reason_zh}({self.header.case_id})",
            )
        except WorkflowAlreadyStartedError:
            link.reason_zh += "(该案件已存在,仅建立关联)"
            link.reason_en += " (the case already existed; linked)"
        self.header.links.append(link)
        self._new_links.append(link)
        self._header_dirty = True
        self._link_event(link)
        if not wait or handle is None:
            return None
        answer: CaseAnswer = await handle
        link.status, link.result = answer.status, answer.result
        self._header_dirty = True
        self._new_links.append(link)
        self._event(
            "linked_case_closed",
            None,
            f"关联案件 {case_id} 已办结:{STATUS_ZH.get(answer.status, answer.status)}",
            f"Linked case {case_id} closed: {answer.status}",
            {"case_id": case_id, "status": answer.status, "result": answer.result},
        )
        await self._flush()
        return answer

    def _link_event(self, link: CaseLink) -> None:
        words = {
            "started": ("启动关联案件", "Started linked case"),
            "started_by": ("由案件启动", "Started by case"),
            "linked": ("关联案件", "Linked to case"),
            "linked_from": ("被案件关联", "Linked from case"),
        }[link.relation]
        self._event(
            "case_linked",
            None,
            f"{words[0]} {link.case_id}:{link.reason_zh}",
            f"{words[1]} {link.case_id}: {link.reason_en}",
            {
                "case_id": link.case_id,
                "workflow_id": link.workflow_id,
                "relation": link.relation,
                "wait": link.wait,
            },
        )

    # -- decisions (Updates) --------------------------------------------------------------------
    def _task_by_id(self, task_id: str) -> Task:
        task = next((t for t in self.tasks if t.task_id == task_id), None)
        if task is None:
            raise refuse(ERROR_INVALID, f"案件中没有待办 {task_id}", f"no task {task_id} in this case")
        return task

    def _is_assignee(self, actor: Actor, task: Task) -> bool:
        party = task.assignee
        if (actor.department, actor.role) != (party.department, party.role):
            return False
        return not party.person or actor.user == party.person

    def _require_assignee(self, actor: Actor, task: Task) -> None:
        if not self._is_assignee(actor, task):
            raise refuse(
                ERROR_FORBIDDEN,
                f"待办“{task.name_zh}”由{self._who_zh(task.assignee)}办理",
                f"task {task.task_id} is assigned to {task.assignee.role} {task.assignee.department}",
            )

    def _plays(self, actor: Actor, role: str) -> bool:
        return any(p.role == role and p.department == actor.department for p in self.parties)

    def _validate_decision(self, req: DecisionRequest) -> tuple[Task, Action]:
        if self.header.status != "in_progress" or self._withdrawn:
            raise refuse(ERROR_CONFLICT, "案件已办结,不能再作决定", "the case is closed")
        if req.task_id:
            task = self._task_by_id(req.task_id)
            if task.status != "open":
                raise refuse(
                    ERROR_CONFLICT,
                    f"待办“{task.name_zh}”已办结(可能已有他人办理)",
                    f"task {task.task_id} is no longer open (someone acted first)",
                )
            self._require_assignee(req.actor, task)
            if req.step and req.step != task.step:
                raise refuse(
                    ERROR_INVALID,
                    f"待办 {task.task_id} 不属于环节 {req.step}",
                    f"task {task.task_id} is not at step {req.step}",
                )
        else:
            task = self._task_for_step(req)
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
        if action.sets_limit:
            self._check_limit(req, action)
        elif req.limit_working_days is not None:
            raise refuse(ERROR_INVALID, f"“{action.name_zh}”不设定期限", f"'{req.action}' sets no limit")
        return task, action

    def _task_for_step(self, req: DecisionRequest) -> Task:
        """The caller's open task at the step it names (a decision that names no task)."""
        if not req.step:
            # Naming neither: the caller's one open task (several → it must say which).
            mine = [t for t in self._open() if self._is_assignee(req.actor, t)]
            if len(mine) == 1:
                return mine[0]
            if mine:
                raise refuse(ERROR_INVALID, "请指明待办或环节", "name the task (task_id) or its step")
            current = self._open()
            if not current:
                raise refuse(ERROR_CONFLICT, "案件正在转入下一环节,请稍后重试", "no task is open; retry")
            raise refuse(
                ERROR_FORBIDDEN,
                f"当前待办由{'、'.join(self._who_zh(t.assignee) for t in current)}办理",
                "the open tasks are assigned to "
                + ", ".join(f"{t.assignee.role} {t.assignee.department}" for t in current),
            )
        named = self._rules.steps.get(req.step)
        if named is None:
            raise refuse(ERROR_INVALID, f"未知环节 {req.step}", f"unknown step {req.step}")
        at_step = [t for t in self.tasks if t.status == "open" and t.step == req.step]
        mine = [t for t in at_step if self._is_assignee(req.actor, t)]
        if mine:
            return mine[0]
        if at_step or not (req.actor.role == named.actor and self._plays(req.actor, named.actor)):
            owner = at_step[0].assignee if at_step else None
            who_zh = self._who_zh(owner) if owner else _ROLE_ZH.get(named.actor, named.actor)
            who_en = f"{owner.role} {owner.department}" if owner else named.actor
            raise refuse(
                ERROR_FORBIDDEN,
                f"环节“{named.name_zh}”由{who_zh}办理",
                f"step {req.step} is assigned to {who_en}",
            )
        # The caller's step, but not open for the caller now: someone acted first, the page was
        # stale, or it is not yet their turn.
        current = [t for t in self.tasks if t.status == "open"]
        if not current:
            raise refuse(ERROR_CONFLICT, "案件正在转入下一环节,请稍后重试", "no task is open; retry shortly")
        raise refuse(
            ERROR_CONFLICT,
            f"案件当前环节为“{'、'.join(dict.fromkeys(t.name_zh for t in current))}”,不是“{named.name_zh}”",
            f"the case is at step {', '.join(dict.fromkeys(t.step for t in current))}, not {req.step}",
        )

    def _check_limit(self, req: DecisionRequest, action: Action) -> None:
        target = next((t.step for t in action.next if t.matches(self._facts)), None)
        cap = self._rules.steps[target].max_working_days if target else None
        days = req.limit_working_days
        if days is None or days < 1 or (cap is not None and days > cap):
            upto = f"1至{cap}" if cap else "至少1"
            raise refuse(
                ERROR_INVALID,
                f"“{action.name_zh}”须设定期限({upto}个工作日)",
                f"'{req.action}' must set the limit in working days (1 to {cap or 'any'})",
            )

    async def _apply_decision(self, req: DecisionRequest) -> CaseAnswer:
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
            limit_working_days=req.limit_working_days,
        )
        task.status, task.closed_at = "done", now
        self._touch(task)
        self._event(
            "decision",
            req.actor,
            f"{task.name_zh}:{action.name_zh}" + (f"。理由:{req.reason}" if req.reason else ""),
            f"{task.name_en}: {action.name_en}" + (f". Reason: {req.reason}" if req.reason else ""),
            {"task_id": task.task_id, "step": task.step, "action": req.action, "overdue": task.overdue},
        )
        for role in action.notify:
            for party in self.parties:
                if party.role == role:
                    self._notify("decided", Party(department=party.department, role=role), task)
        ticket = self._ticket()
        step = self._rules.steps[task.step]
        if self._join(step, [t for t in self.tasks if t.group == task.group]) is None:
            # The step waits for the other parties: record this decision now; nothing else follows.
            await self._flush()
            self._settled.add(ticket)
        await workflow.wait_condition(lambda: ticket in self._settled)
        return self._answer(task.task_id)

    def _validate_withdrawal(self, req: WithdrawRequest) -> None:
        applicant = self.header.submitted_by
        if req.actor.department != applicant.department or req.actor.role != applicant.role:
            raise refuse(ERROR_FORBIDDEN, "只有申请部门可以撤回申请", "only the applicant may withdraw")
        if self.header.status != "in_progress" or self._withdrawn:
            raise refuse(ERROR_CONFLICT, "案件已办结,不能撤回", "the case is already closed")

    async def _apply_withdrawal(self, req: WithdrawRequest) -> CaseAnswer:
        # Between two steps no task is open for a moment; withdraw once the next ones are open.
        await workflow.wait_condition(
            lambda: self._ready and (self._open() or self.header.status != "in_progress")
        )
        self._validate_withdrawal(req)
        now = workflow.now()
        for task in self._open():
            task.status, task.closed_at = "cancelled", now
            self._touch(task)
            self._notify("withdrawn", task.assignee, task)
        self._withdrawn = True
        self.header.status, self.header.closed_at = "withdrawn", now
        self.header.result_reason = req.reason.strip()
        self._header_dirty = True
        self._event(
            "withdrawn",
            req.actor,
            "申请部门撤回申请" + (f"。理由:{req.reason}" if req.reason else ""),
            "Withdrawn by the applicant" + (f". Reason: {req.reason}" if req.reason else ""),
        )
        ticket = self._ticket()
        await workflow.wait_condition(lambda: ticket in self._settled)
        return self._answer()

    def grant_terms(self, req: DecisionRequest, action: Action) -> GrantTerms:
        """The terms a granting decision records; case types refine and check them."""
        return req.grant or GrantTerms()

    def on_result(self, outcome: Outcome) -> None:
        """Hook: a step's outcome set the case's result (the sharing application records its grant)."""

    # -- closing --------------------------------------------------------------------------------
    async def _close(self, transition: Transition) -> None:
        now = workflow.now()
        if transition.result is not None:  # an automatic decision under the profile's article
            self.header.result = transition.result
            self.header.result_article = transition.article or ""
            self.header.result_reason = self.automatic_reason(transition)
            self.on_automatic_result(transition)
            self._event(
                "automatic_decision",
                None,
                f"按规定自动办理:{self.header.result_reason}",
                f"Decided by rule (art. {transition.article}): {transition.note_en or transition.result}",
                {"result": transition.result, "article": transition.article},
            )
        self.header.status = self.header.result or "closed"
        self.header.closed_at = now
        self._header_dirty = True
        self._event(
            "case_closed",
            None,
            f"办结:{STATUS_ZH.get(self.header.status, self.header.status)}",
            f"Case closed: {self.header.status}",
            {"result": self.header.result, "article": self.header.result_article},
        )
        submitted = self.header.submitted_by
        self._notify("case_closed", Party(department=submitted.department, role=submitted.role), None)
        snapshot = self._tickets
        await self._flush()
        self._settle_through(snapshot)
        self._ready = True

    def automatic_reason(self, transition: Transition) -> str:
        return transition.note_zh or ""

    def on_automatic_result(self, transition: Transition) -> None:
        """Hook for case types that record more on an automatic decision (e.g. the grant)."""

    # -- settling -------------------------------------------------------------------------------
    def _ticket(self) -> int:
        self._tickets += 1
        return self._tickets

    def _settle_through(self, snapshot: int) -> None:
        self._settled.update(range(1, snapshot + 1))

    def _open(self) -> list[Task]:
        return [t for t in self.tasks if t.status == "open"]

    def _answer(self, task_id: str = "") -> CaseAnswer:
        return CaseAnswer(
            case_id=self.header.case_id,
            status=self.header.status,
            result=self.header.result,
            revision=self.revision,
            open_tasks=[
                TaskBrief(
                    task_id=t.task_id,
                    step=t.step,
                    name_zh=t.name_zh,
                    name_en=t.name_en,
                    assignee=t.assignee,
                    status=t.status,
                    due_at=t.deadline.due_at if t.deadline and t.suspended_at is None else None,
                    working_days=t.deadline.working_days if t.deadline else None,
                    article=t.clock[-1].article if t.clock else t.article,
                    suspended=t.suspended_at is not None,
                )
                for t in self._open()
            ],
            task_id=task_id,
        )

    # -- recording ------------------------------------------------------------------------------
    def _touch(self, task: Task) -> None:
        self._dirty[task.task_id] = task

    def _event(
        self, kind: str, actor: Actor | None, zh: str, en: str, data: dict[str, Any] | None = None
    ) -> None:
        self._audit_seq += 1
        self._events.append(
            AuditEvent(
                case_id=self.header.case_id,
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
            "case_id": self.header.case_id,
            "case_type": self.header.case_type,
            "profile_name_zh": self._start.profile_name_zh,
            "annex_titles_zh": self._start.annex_titles_zh,
            "status": self.header.status,
            "result": self.header.result,
            "result_reason": self.header.result_reason,
            "result_article": self.header.result_article,
            "subject_zh": self.header.subject_zh,
            "subject_en": self.header.subject_en,
            **self.notice_params(),
        }
        if task is not None:
            article = task.clock[-1].article if task.clock else task.article
            params.update(
                task_id=task.task_id,
                step=task.step,
                step_zh=task.name_zh,
                step_en=task.name_en,
                article=article,
                limit_basis=task.limit_basis,
                due_at=task.deadline.due_at.isoformat() if task.deadline else "",
                working_days=task.deadline.working_days if task.deadline else None,
                provisional=task.deadline.provisional if task.deadline else False,
                action=task.decision.action if task.decision else "",
                reason=task.decision.reason if task.decision else "",
            )
        who = f"{recipient.department}:{recipient.role}" + (
            f":{recipient.person}" if recipient.person else ""
        )
        self._notices.append(
            Notice(
                case_id=self.header.case_id,
                key=f"{self.header.case_id}:{self._audit_seq}:{kind}:{who}",
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
        who = f"{_ROLE_ZH.get(party.role, party.role)}({name or party.department})"
        return f"{who}{party.person}" if party.person else who

    async def _flush(self) -> None:
        """Send what changed since the last write (serialized: revisions reach the database in order).

        A database outage is retried until it ends (the projection lags, nothing is lost). A write the
        database can never take (``RecordRejected``) is logged as an error, the case row marked, and
        the next write carries the whole case, so the projection heals with the next step.
        """
        async with self._flush_lock:
            self.revision += 1
            full = self._full_next
            delta = CaseDelta(
                case_id=self.header.case_id,
                workflow_id=self.header.workflow_id,
                revision=self.revision,
                header=self.header if (self._header_dirty or full) else None,
                parties=list(self.parties) if (self._parties_dirty or full) else None,
                tasks=list(self.tasks) if full else list(self._dirty.values()),
                links=list(self.header.links) if full else list(self._new_links),
                events=self._events,
                notices=self._notices,
                full=full,
            )
            self._events, self._notices = [], []
            self._dirty, self._new_links = {}, []
            self._header_dirty = self._parties_dirty = self._full_next = False
            try:
                await workflow.execute_activity("record_delta", delta, **_RECORD_OPTIONS)
            except ActivityError as err:
                cause = err.cause
                if not (isinstance(cause, ApplicationError) and cause.type == RECORD_REJECTED):
                    raise
                workflow.logger.error(
                    "projection write refused by the database; case marked",
                    extra={"case_id": self.header.case_id, "revision": self.revision, "error": cause.message},
                )
                self._full_next = True
                await workflow.execute_activity(
                    "mark_record_failed",
                    RecordFailure(self.header.case_id, self.header.workflow_id, self.revision, cause.message),
                    **_RECORD_OPTIONS,
                )


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
