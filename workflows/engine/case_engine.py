"""The case engine (second generation): a profile's case type, interpreted as a durable process.

Every case type (the sharing application now; rectification orders, catalog updates, objections
next) is a workflow class that subclasses ``CaseEngine`` for its handlers and hands it what it alone
knows: its parties, attributes, facts and subject (``_init_case``), its result labels
(``RESULTS``), and the payload a decision carries (``decision_payload``). The steps, who acts, the
working-day limits, what each decision leads to and the escalation ladder come from the pinned
profile rules (``CaseStart.rules``).

This class is the loop: it opens tasks, follows each task's clock with a timer, joins the tasks of a
step, closes the case, and answers the Updates. Everything else is a part it composes
(``workflows/engine/__init__.py``): pure decision and clock checks, the links, and the recorder.

Decisions, clock changes and withdrawals are Updates: the validator refuses what does not fit
(wrong department → Forbidden, a task not open or a closed case → Conflict, malformed → Invalid)
before anything is written to history; the handler applies it and returns once the case has settled
(next tasks open and recorded), so the caller sees what comes next in the same answer.

The first-generation engine is frozen in ``workflows/legacy/engine_v1.py`` for the histories it wrote.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any, ClassVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from calendars import Deadline
    from regulations.schema import Action, Step, Transition
    from workflows.case import (
        ERROR_CONFLICT,
        ERROR_FORBIDDEN,
        ERROR_INVALID,
        Breach,
        CaseAnswer,
        CaseFile,
        ClaimRequest,
        ClockRequest,
        Decision,
        DecisionRequest,
        GrantTerms,
        LinkedCaseClosed,
        NoteRequest,
        Party,
        Task,
        WithdrawRequest,
    )
    from workflows.contracts import CaseStart, DeadlineRequest, EffectResult
    from workflows.engine import approvals, attributes, claims, clock, decisions, effects, notes, signing
    from workflows.engine.approving import HeadApprovals
    from workflows.engine.clockwork import Clockwork
    from workflows.engine.decisions import Outcome, Situation
    from workflows.engine.linker import PATCH_LADDER, Linker
    from workflows.engine.links import StartedCase
    from workflows.engine.recorder import Recorder, answer_of, case_header, notice_params
    from workflows.engine.words import SYSTEM_USER, Speaker, refuse

_LOCAL: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=10)}

#: A withdrawal once the result is set is refused (issue 17, defect 2); histories written before keep
#: the old behaviour. (The clock's re-check is in ``clockwork.py``.)
PATCH_WITHDRAW_SETTLED = "withdrawal-refused-once-settled"
#: A case a decision starts is recorded on the deciding case at once, not with its next write.
PATCH_LINK_RECORDED = "decision-started-case-recorded-at-once"
#: An extension the principal head approves on the system is a task for the head (issue 20);
#: histories written before recorded the approver's typed name at once.
PATCH_HEAD_APPROVAL = "extension-approved-by-head"
#: A decision that reaches its task after the due instant, before the clock watcher has noticed (both
#: in one workflow task: handlers run first), records the breach first and is taken late (issue 23,
#: a fault test's finding); histories written before took it on time, with no breach.
PATCH_LATE_DECISION_BREACHES = "late-decision-breaches-first"

__all__ = ["SYSTEM_USER", "CaseEngine", "Outcome", "refuse"]


class CaseEngine:
    """Base of every case workflow. Subclasses call ``_init_case`` and then ``_run_case``."""

    #: The case type id (``sharing_application`` …), as the profile and the registry name it.
    CASE_TYPE: ClassVar[str] = ""
    #: The case type's results as people read them: ``granted`` → (``同意授权``, ``granted``).
    RESULTS: ClassVar[dict[str, tuple[str, str]]] = {}

    # -- set up ---------------------------------------------------------------------------------
    def _init_case(
        self,
        start: CaseStart,
        *,
        parties: list[Party],
        attributes: dict[str, Any] | None = None,
        facts: dict[str, Any] | None = None,
        subject_zh: str = "",
        subject_en: str = "",
        summary: dict[str, str] | None = None,
    ) -> None:
        info = workflow.info()
        if info.parent is None and not workflow.unsafe.is_replaying():
            # A case no workflow started must come from the API: an unsigned start fails this first
            # workflow task, so nothing is recorded (never on replay: the history is what it is).
            signing.require_signed_start(start, workflow_id=info.workflow_id)
        self._start = start
        self._rules = start.rules
        #: What the profile's transitions test (a resource's share type …).
        self._facts = dict(facts or {})
        self.header = case_header(
            start,
            case_type=self.CASE_TYPE,
            workflow_id=info.workflow_id,
            workflow_type=info.workflow_type,
            subject=(subject_zh, subject_en),
            attributes=attributes,
            summary=summary,
        )
        self.parties: list[Party] = []
        for party in [*parties, *start.parties]:
            if party not in self.parties:
                self.parties.append(party)
        self.tasks: list[Task] = []
        self._speaker = Speaker(
            profile_name_zh=start.profile_name_zh,
            annex_titles_zh=dict(start.annex_titles_zh),
            department_names=dict(start.department_names),
            person_names=dict(start.person_names),
            results={k: (zh, en) for k, (zh, en) in self.RESULTS.items()},
        )
        self._recorder = Recorder(self.header, self.parties)
        self._clockwork = Clockwork(
            rules=self._rules,
            tasks=self.tasks,
            parties=self.parties,
            speaker=self._speaker,
            recorder=self._recorder,
            compute=self._compute_deadline,
            notify=self._notify,
            is_open=lambda: self.header.status == "in_progress",
        )
        self._approvals = HeadApprovals(
            case_id=self.header.case_id,
            rules=self._rules,
            tasks=self.tasks,
            speaker=self._speaker,
            recorder=self._recorder,
            clockwork=self._clockwork,
            compute=self._compute_deadline,
            notify=self._notify,
            watch=self._watch_later,
            is_open=lambda: self.header.status == "in_progress",
        )
        self._linker = Linker(
            start=start, header=self.header, recorder=self._recorder, speaker=self._speaker, flush=self._flush
        )
        # Settling: every state change an Update makes gets a ticket; the Update returns once its
        # ticket is settled, i.e. recorded together with whatever the change led to (next tasks).
        self._tickets = 0
        self._settled: set[int] = set()
        self._ready = False
        self._withdrawn = False
        self._step_runs = 0
        self._watchers: list[asyncio.Task[None]] = []
        self._failure: Exception | None = None
        #: Tasks whose decision is running its effect activity: no other decision on them meanwhile.
        self._effects_running: set[str] = set()

    @property
    def revision(self) -> int:
        return self._recorder.revision

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
        self._require_signed(req, "decide")
        signing.check_decision_request(req, workflow.now())
        approval = self._approvals.find(req)
        if approval is not None:
            self._check_approval(req, approval)
            approvals.check_refusal_visible(req)  # issue 23: the validator's check only
            return
        task, action = decisions.check_decision(req, self._situation())
        decisions.check_reason_visible(req, task, action, self._speaker)  # the validator's only
        if task.task_id in self._effects_running:
            raise refuse(
                ERROR_CONFLICT,
                f"待办“{task.name_zh}”正在办理中,请稍后查看结果",
                f"task {task.task_id} is being decided; read the case in a moment",
            )
        if action.grant or action.payload:
            self.decision_payload(req, action)
        if action.adds_party is not None:
            decisions.added_party(req, action, self._situation(), self._start.department_names)
        if action.agrees_to_proposal:
            decisions.agreed_proposal(req, self._proposals(), self._speaker)

    @workflow.update
    async def adjust_clock(self, req: ClockRequest) -> CaseAnswer:
        return await self._apply_clock(req)

    @adjust_clock.validator
    def _check_clock(self, req: ClockRequest) -> None:
        self._require_signed(req, "adjust_clock")
        signing.check_clock_request(req)
        if req.approval_task:
            raise refuse(
                ERROR_INVALID,
                "延期的批准由主要负责人在其审批待办上作出",
                "an approval is given on the head's approval task, not as a clock request",
            )
        task, step = self._clockwork.target(req)
        clock.check_request_on_system(req, step, self._speaker)
        clock.check_text_visible(req, step, self._speaker)  # issue 23: the validator's check only
        claims.check_clock(req, task)

    @workflow.update
    async def claim(self, req: ClaimRequest) -> CaseAnswer:
        """Claim an open task for one person of its assignee (签收), or release the claim
        (``claims.py``): the task records who; only they decide it or change its clock meanwhile."""
        task = self._check_claim_request(req)
        claimed = claims.change(req, task, workflow.now())
        if claimed is None:  # the claimer claims its own task again: nothing changes
            return self._answer(task.task_id)
        claims.apply(task, claimed)
        self._recorder.touch(task, *claims.CHANGED_FIELDS)
        self._recorder.event(claimed.kind, req.actor, claimed.zh, claimed.en, claimed.data)
        ticket = self._ticket()
        await self._flush()
        self._settled.add(ticket)
        return self._answer(task.task_id)

    @claim.validator
    def _check_claim(self, req: ClaimRequest) -> None:
        self._require_signed(req, "claim")
        self._check_claim_request(req)

    def _check_claim_request(self, req: ClaimRequest) -> Task:
        return claims.check(
            req,
            self.tasks,
            closed=self.header.status != "in_progress" or self._withdrawn,
            busy=req.task_id in self._effects_running,
            speaker=self._speaker,
        )

    @workflow.update
    async def note(self, req: NoteRequest) -> CaseAnswer:
        """A note on the running case, of a kind its profile lists (``notes.py``)."""
        notes.check(req, self._rules, self.parties, self._note_closed(), self._speaker, agreed=self._agreed())
        if self._rules.notes[req.kind].proposal:
            req.payload = self.check_proposal(req.payload)
        entry = notes.entry(
            req, self._rules, workflow.now(), len(self.header.attributes.get("notes", [])) + 1
        )
        self.header.attributes.setdefault("notes", []).append(entry)
        self._recorder.header_changed()
        zh, en = notes.words(req, self._rules, self._speaker)
        self._recorder.event("note", req.actor, zh, en, {"kind": req.kind, "seq": entry["seq"]})
        for party in notes.told(req, self.parties):
            self._notify("note_added", party, None, note_zh=zh, note_en=en)
        ticket = self._ticket()
        await self._flush()
        self._settled.add(ticket)
        return self._answer()

    @note.validator
    def _check_note(self, req: NoteRequest) -> None:
        self._require_signed(req, "note")
        signing.check_note_request(req, workflow.now())
        notes.check(req, self._rules, self.parties, self._note_closed(), self._speaker, agreed=self._agreed())
        if self._rules.notes[req.kind].proposal:
            self.check_proposal(req.payload)

    def _proposals(self) -> list[dict[str, Any]]:
        return notes.proposals(self._rules, self.header.attributes.get("notes", []))

    def _agreed(self) -> bool:
        """Whether a party of a running step has agreed to the current proposal."""
        open_groups = {t.group for t in self.tasks if t.status == "open"}
        return any(
            t.group in open_groups
            and t.decision is not None
            and t.decision.kind == "person"
            and self._rules.steps[t.step].actions[t.decision.action].agrees_to_proposal
            for t in self.tasks
            if t.status == "done" and not t.approves
        )

    def _note_closed(self) -> bool:
        return self.header.status != "in_progress" or self._withdrawn

    @workflow.update
    async def withdraw(self, req: WithdrawRequest) -> CaseAnswer:
        return await self._apply_withdrawal(req)

    @withdraw.validator
    def _check_withdrawal(self, req: WithdrawRequest) -> None:
        self._require_signed(req, "withdraw")
        if self.header.submitted_by.user == SYSTEM_USER:
            # A case the rules started (an escalation, a ladder's order) has no applicant to take it
            # back: it ends through its own steps (a rung's stop, an order dismissed with reasons).
            # Validator only: no recorded history holds such a withdrawal taken (issue 23 matrix).
            raise refuse(
                ERROR_FORBIDDEN,
                "该案件依规自动启动,没有申请人,不能撤回;请在其办理环节中作出决定",
                "a case the rules started has no applicant and cannot be withdrawn; decide it on its steps",
            )
        self._validate_withdrawal(req, settled_refused=True)

    @staticmethod
    def _require_signed(req: Any, update: str) -> None:
        """Validators only (never run on replay; the handlers never read the key): the request must
        carry the API's signature for this case and Update, issued within 10 minutes (``signing.py``)."""
        workflow_id = workflow.info().workflow_id
        signing.require_signed(req, workflow_id=workflow_id, operation=update, now=workflow.now())

    @workflow.update
    async def replan_deadlines(self) -> bool:
        """Recompute provisional deadlines after a new holiday notice (``govshare replan-deadlines``)."""
        return await self._replan_deadlines()

    @workflow.signal(name="linked_case_closed")
    async def linked_case_closed(self, report: LinkedCaseClosed) -> None:
        """The inbound message: a case this one started reports how it ended. Recorded on the
        timeline; a task waiting on that case is done by it (its step's transitions may test
        ``linked_result``)."""
        await workflow.wait_condition(lambda: self._ready)
        self._linker.closed(report)
        task = next((t for t in self.tasks if t.status == "open" and t.waits_on_case == report.case_id), None)
        if task is not None:
            self._complete_waiting(task, report.result)  # the loop goes on and records it
        else:
            await self._flush()

    @workflow.query(name="state")
    def case_file(self) -> CaseFile:
        return CaseFile(header=self.header, parties=self.parties, tasks=self.tasks, revision=self.revision)

    # -- what a case type may refine --------------------------------------------------------------
    def decision_payload(self, req: DecisionRequest, action: Action | None) -> dict[str, Any] | None:
        """What a decision carries beyond its action and reason (a grant's terms …) as JSON, checked
        by the case type; it raises a refusal for a payload it cannot take. Asked only for an action
        the profile marks as carrying one (``grant = true``). None: nothing more."""
        return None

    def decision_grant(self, payload: dict[str, Any] | None) -> GrantTerms | None:
        """A sharing application's decisions also record their payload as typed grant terms (the
        first generation's field, which the API shows as ``grant``); other case types: None."""
        return None

    def on_result(self, outcome: Outcome) -> None:
        """A step's outcome set the case's result (the sharing application records its grant)."""

    def automatic_reason(self, transition: Transition) -> str:
        return transition.note_zh or ""

    def on_automatic_result(self, transition: Transition) -> None:
        """An automatic decision set the result (e.g. a direct grant)."""

    def notice_params(self) -> dict[str, Any]:
        """What the case type's notices say beyond the case's own (the resource's name …)."""
        return {}

    def on_decided(self, task: Task, payload: dict[str, Any] | None) -> None:
        """A decision was taken on ``task`` with ``payload`` (checked, and its effect's data added)."""

    def effect_input(self, task: Task, action: Action, payload: dict[str, Any] | None) -> dict[str, Any]:
        """What a decision's effect activity is handed beyond the case's own (a change set …)."""
        return {"payload": payload or {}}

    def check_proposal(self, payload: dict[str, Any] | None) -> dict[str, Any] | None:
        """The terms a proposal states, as the case type takes them (a refusal for terms it cannot
        take); the engine has already refused a proposal without terms."""
        return payload

    def started_case(self, task: Task, action: Action) -> StartedCase | None:
        """What a decision that starts a case of another kind (``starts_case`` without ``issuer``)
        hands it: the fields of its input, parties, who it is for. None: nothing is started."""
        return None

    def set_attribute(self, name: str, value: Any) -> None:
        """Change a case-type attribute; the next write carries the header."""
        self.header.attributes[name] = value
        self._recorder.header_changed()

    # -- the main loop --------------------------------------------------------------------------
    async def _run_case(self) -> CaseAnswer:
        self._recorder.event("case_submitted", self.header.submitted_by, "提交申请", "Case submitted")
        for link in self.header.links:
            self._linker.link_event(link)
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
        await self._linker.report_to_parents()
        if workflow.patched(PATCH_LADDER):
            if self.header.result:
                await self._linker.escalate_on_result(self._rules, self.header.result, self.parties)
            # The cases this one started report back before it completes: both timelines show how
            # they ended (the escalation of a late case outlives the case's own closing).
            await workflow.wait_condition(lambda: not self._linker.awaiting_reports())
            await self._flush()
        # Let in-flight update and signal handlers finish before the workflow completes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._live_answer(self.revision)

    def _first_match(self, transitions: list[Transition], where: str) -> Transition:
        return decisions.first_match(transitions, self._facts, f"profile {self._start.profile_id}: {where}")

    async def _run_step(self, step_id: str, opened_by: Outcome | None) -> Outcome | None:
        """Open the step's tasks, wait until they join (or the case is withdrawn), close the rest."""
        step = self._rules.steps[step_id]
        self._step_runs += 1
        group = f"{step_id}#{self._step_runs}"
        # The tickets settled by this step's recording are those issued before it began: a decision
        # applied to one of the new tasks while they are being recorded waits for its own settling.
        snapshot = self._tickets
        tasks = []
        for party in decisions.assignees(step, step_id, self.parties, self.header.case_id):
            tasks.append(await self._open_task(step_id, step, party, group, opened_by))
        if step.taken_at_opening is not None and opened_by is None:
            for task in tasks:
                if decisions.is_assignee(self.header.submitted_by, task.assignee):
                    self._take_at_opening(task, step, step.taken_at_opening)
        await self._flush()
        self._settle_through(snapshot)
        # A step the create took whole (a report filed is the report) is not where the case stands:
        # the caller's answer waits for the next step's tasks.
        if any(t.status == "open" for t in tasks):
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
        if step.assign == "each" and outcome.action.starts_case is not None:
            decided = next((t for t in tasks if t.decision is outcome.decision), tasks[-1])
            await self._start_from_action(decided, outcome.action)
        now = workflow.now()
        for task in tasks:
            if task.status == "open":  # joined on any / a quorum: the others need not act
                task.status, task.closed_at = "cancelled", now
                self._recorder.touch(task, "status", "closed_at")
                self._recorder.event(
                    "task_cancelled",
                    None,
                    f"{task.name_zh}:已由其他办理方决定,本待办撤销",
                    f"{task.name_en}: decided by the other parties; this task is withdrawn",
                    {"task_id": task.task_id},
                )
        if outcome.decision.kind == "rule":
            self._recorder.event(
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
            self._recorder.header_changed()
            self.on_result(outcome)
        return outcome

    def _take_at_opening(self, task: Task, step: Step, action_id: str) -> None:
        """The create took the opener's own task (a report filed is the report, Luzhou 26), at the
        time the platform recorded it; past the step's limit it is taken all the same and marked
        late, with the step's article."""
        at = self.header.submitted_at
        action = step.actions[action_id]
        task.decision = Decision(
            action=action_id, actor=self.header.submitted_by, decided_at=at, article=task.article
        )
        task.status, task.closed_at = "done", at
        self._recorder.touch(task, "decision", "status", "closed_at")
        self._recorder.event(
            "decision",
            self.header.submitted_by,
            f"{task.name_zh}:{action.name_zh}(随提交办理)",
            f"{task.name_en}: {action.name_en} (taken by the submission)",
            {"task_id": task.task_id, "step": task.step, "action": action_id, "overdue": False},
        )
        if task.deadline is None or at <= task.deadline.due_at:
            return
        task.overdue = True
        self._recorder.touch(task, "overdue")
        self.set_attribute("filed_late", True)
        due = task.deadline.due_date
        self._recorder.event(
            "filed_late",
            self.header.submitted_by,
            f"逾期提交:{task.name_zh}应于 {due} 前办理,已受理并记为逾期({self._speaker.cite(task.article)})",
            f"Filed late: {task.name_en} was due by {due}; accepted and marked late (art. {task.article})",
            {"task_id": task.task_id, "due_at": task.deadline.due_at.isoformat(), "article": task.article},
        )

    def _join(self, step: Step, tasks: list[Task]) -> Outcome | None:
        return decisions.join(step, tasks, self._rules, self._start.platform_department)

    def _situation(self) -> Situation:
        return Situation(
            rules=self._rules,
            tasks=self.tasks,
            parties=self.parties,
            closed=self.header.status != "in_progress" or self._withdrawn,
            speaker=self._speaker,
            facts=self._facts,
        )

    # -- tasks ------------------------------------------------------------------------------------
    async def _open_task(
        self, step_id: str, step: Step, party: Party, group: str, opened_by: Outcome | None
    ) -> Task:
        # The first step counts from the platform's record time (Hubei 22); later ones from the
        # decision that opened them (e.g. Hubei 21: "within 3 working days of acceptance").
        opened_at = opened_by.decided_at if opened_by is not None else self.header.submitted_at
        seq = len(self.tasks) + 1
        entry, limit = clock.first_entry(
            step,
            opened_at,
            opened_by=opened_by.decision if opened_by is not None else None,
            opened_by_article=opened_by.article if opened_by is not None else "",
            counts_from=self.header.counts_from,
        )
        deadline = None
        kept = clock.kept_deadline(step_id, self.tasks, opened_at, opened_by)
        if kept is not None:  # reopened on the deadline its previous run had (a returned report)
            entry, deadline = kept
        elif limit is not None:
            deadline = await self._compute_deadline(
                step_id, entry.starts_at or opened_at, limit, entry.article
            )
            entry.due_at = deadline.due_at
        task = decisions.new_task(
            f"{self.header.case_id}/{seq}", seq, step_id, step, party, opened_at, deadline, group, entry
        )
        self.tasks.append(task)
        if step.waits_on is not None:
            await self._start_waited(task, step)
        self._recorder.touch(task)
        due = (
            {"due_at": deadline.due_at.isoformat(), "working_days": deadline.working_days} if deadline else {}
        )
        self._recorder.event(
            "task_opened",
            None,
            f"待办:{step.name_zh}({self._speaker.who_zh(party)})",
            f"Task opened: {step.name_en} ({party.role} {party.department})",
            {"task_id": task.task_id, "step": step_id, "article": entry.article, "clock": entry.kind, **due},
        )
        self._notify("task_assigned", party, task)
        return task

    async def _compute_deadline(self, step_id: str, start: Any, working_days: int, article: str) -> Deadline:
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

    # -- steps that wait on a linked case; decisions that start one -------------------------------
    async def _start_waited(self, task: Task, step: Step) -> None:
        """Open a waiting step: the linker starts the case it waits on (``linker.start_waited``); if
        nothing was started that will report back, the task is done at once."""
        case_id = await self._linker.start_waited(task, step, self.parties)
        link = next((k for k in self.header.links if k.case_id == case_id), None)
        task.waits_on_case = case_id or ""
        if link is None or not link.reports:
            self._complete_waiting(task, "")

    def _complete_waiting(self, task: Task, result: str) -> None:
        """A waiting task is done by the case it waited on (a decision by rule, its one action)."""
        self._facts["linked_result"] = result
        action_id = next(iter(self._rules.steps[task.step].actions))
        now = workflow.now()
        task.decision = Decision(
            action=action_id,
            actor=decisions.system_actor(self._start.platform_department),
            decided_at=now,
            reason=self._speaker.status_zh(result) if result else "",
            kind="rule",
            article=task.article,
        )
        task.status, task.closed_at = "done", now
        self._recorder.touch(task, "decision", "status", "closed_at")

    async def _start_from_action(self, task: Task, action: Action) -> None:
        """A decision that starts a linked case (a complaint found to need a rectification order, a
        settlement its sharing application)."""
        started = self.started_case(task, action) if action.issuer is None else None
        if not await self._linker.start_for_action(task, action, self.parties, started):
            return
        if workflow.patched(PATCH_LINK_RECORDED):
            await self._flush()  # the link, even when the step's own write went out while it started

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
        self._recorder.touch(task, "reminded_at")
        self._recorder.event(
            "reminder_sent",
            None,
            f"提醒:{task.name_zh} 今日到期",
            f"Reminder: {task.name_en} is due by the end of today",
            {"task_id": task.task_id},
        )
        self._notify("reminder", task.assignee, task)
        await self._flush()

    def _past_due_unnoticed(self, task: Task) -> bool:
        """The task's running clock has passed its due instant, and no breach is recorded yet."""
        deadline = task.deadline
        return (
            task.status == "open"
            and deadline is not None
            and task.suspended_at is None
            and not task.overdue
            and workflow.now() >= deadline.due_at
        )

    async def _breach(self, task: Task) -> None:
        if task.overdue:  # a late decision recorded it first (PATCH_LATE_DECISION_BREACHES)
            return
        breach, zh, en = clock.breach(task, workflow.now(), self._speaker)
        task.overdue, task.breach = True, breach
        self.header.breaches.append(breach)
        self._recorder.header_changed()
        self._recorder.touch(task, "overdue", "breach")
        self._recorder.event(
            "deadline_breached",
            None,
            zh,
            en,
            {"task_id": task.task_id, "due_at": breach.due_at.isoformat(), "article": breach.article},
        )
        await self._on_breach(task, breach)
        await self._flush()

    async def _on_breach(self, task: Task, breach: Breach) -> None:
        """Follow the escalation ladder's first rung (REGULATIONS.md §7).

        The rung is named on the breach (e.g. Hubei 26: the big-data agency reports to the leading
        group office); the responsible department and the platform, which supervises the timetable,
        are told; a rung with ``starts_case`` starts that case (a rectification order), once.
        """
        self._notify("breach", task.assignee, task)
        if task.approves:  # a head's approval past its local-policy limit: told, no ladder
            return
        platform = Party(department=self._start.platform_department, role="platform")
        if (platform.department, platform.role) != (task.assignee.department, task.assignee.role):
            self._notify("breach_supervision", platform, task)
        await self._linker.escalate(self._rules, task, breach, self.parties, self.tasks)

    # -- the clock of one task: adjustments (Updates) ---------------------------------------------
    async def _apply_clock(self, req: ClockRequest) -> CaseAnswer:
        async with self._clockwork.lock:
            task, step = self._clockwork.target(req)
            claims.check_clock(req, task)  # a claim made while the request waited for the lock
            rule = step.extension
            if (
                req.kind == "extension"
                and rule is not None
                and rule.approval == "on_system"
                and workflow.patched(PATCH_HEAD_APPROVAL)
            ):
                approval = await self._approvals.request(task, req)
                ticket = self._ticket()
                await self._flush()
                self._settled.add(ticket)
                return self._answer(approval.task_id)
            task, _change = await self._clockwork.adjust(req)
            ticket = self._ticket()
            await self._flush()
            self._settled.add(ticket)
        return self._answer(task.task_id)

    async def _replan_deadlines(self) -> bool:
        """Recompute open provisional deadlines after a new holiday notice; whether any changed."""
        async with self._clockwork.lock:
            changed = await self._clockwork.replan()
            if changed:
                await self._flush()
        return bool(changed)

    def _add_party(self, party: Party) -> None:
        """A decision brought in another party (a second provider for a joint verification)."""
        self.parties.append(party)
        self._recorder.parties_changed()
        self._recorder.event(
            "party_added",
            None,
            f"{self._speaker.who_zh(party)}加入本案",
            f"{self._speaker.who_en(party)} joins the case",
            {"role": party.role, "department": party.department},
        )

    # -- an extension the principal head approves (approving.py) --------------------------------
    def _watch_later(self, task: Task) -> None:
        self._watchers.append(asyncio.create_task(self._watch(task)))

    def _check_approval(self, req: DecisionRequest, approval: Task) -> None:
        if self._withdrawn:
            raise refuse(ERROR_CONFLICT, "案件已办结,不能再作决定", "the case is closed")
        self._approvals.check(req, approval)

    async def _apply_approval(self, req: DecisionRequest, approval: Task) -> CaseAnswer:
        async with self._clockwork.lock:
            self._check_approval(req, approval)
            await self._approvals.answer(req, approval)
            ticket = self._ticket()
            await self._flush()
            self._settled.add(ticket)
        return self._answer(approval.task_id)

    # -- links ----------------------------------------------------------------------------------
    async def start_linked_case(
        self,
        case_type: str,
        *,
        key: str,
        reason_zh: str,
        reason_en: str,
        parties: list[Party],
        facts: dict[str, Any] | None = None,
        wait: bool = False,
    ) -> CaseAnswer | None:
        """Start a case of ``case_type`` (pinned at this case's start) and link both ways; with
        ``wait``, its final answer (``linker.py``)."""
        return await self._linker.start(
            case_type,
            key=key,
            reason_zh=reason_zh,
            reason_en=reason_en,
            parties=parties,
            facts=facts,
            wait=wait,
        )

    # -- decisions (Updates) --------------------------------------------------------------------
    async def _apply_decision(self, req: DecisionRequest) -> CaseAnswer:
        approval = self._approvals.find(req)
        if approval is not None:
            return await self._apply_approval(req, approval)
        task, action = decisions.check_decision(req, self._situation())
        if self._past_due_unnoticed(task) and workflow.patched(PATCH_LATE_DECISION_BREACHES):
            # The deadline passed and the watcher has not run yet: the breach first, as it happened.
            self._effects_running.add(task.task_id)  # no other decision on the task meanwhile
            try:
                await self._breach(task)
            finally:
                self._effects_running.discard(task.task_id)
            task, action = decisions.check_decision(req, self._situation())
        payload = self.decision_payload(req, action) if (action.grant or action.payload) else None
        if action.effect is not None:
            payload = await self._run_effect(task, action, req, payload)
        if action.adds_party is not None:
            self._add_party(
                decisions.added_party(req, action, self._situation(), self._start.department_names)
            )
        if action.agrees_to_proposal:
            agreed = decisions.agreed_proposal(req, self._proposals(), self._speaker)
            payload = {"proposal": agreed["seq"], "terms": agreed.get("payload") or {}}
        now = workflow.now()
        task.decision = Decision(
            action=req.action,
            actor=req.actor,
            decided_at=now,
            reason=req.reason.strip(),
            note=req.note,
            payload=payload,
            grant=self.decision_grant(payload),
            article=task.article,
            limit_working_days=req.limit_working_days,
        )
        task.status, task.closed_at = "done", now
        self._recorder.touch(task, "decision", "status", "closed_at")
        self.on_decided(task, payload)
        self._recorder.event(
            "decision",
            req.actor,
            f"{task.name_zh}:{action.name_zh}" + (f"。理由:{req.reason}" if req.reason else ""),
            f"{task.name_en}: {action.name_en}" + (f". Reason: {req.reason}" if req.reason else ""),
            {"task_id": task.task_id, "step": task.step, "action": req.action, "overdue": task.overdue},
        )
        for role in action.notify:
            for party in self.parties:
                if party.role == role:
                    self._notify("decided", Party(party.department, role, party.person), task)
        ticket = self._ticket()
        step = self._rules.steps[task.step]
        if step.assign != "each":  # a joint step's action starts its case once, when the step joins
            await self._start_from_action(task, action)
        if self._join(step, [t for t in self.tasks if t.group == task.group]) is None:
            # The step waits for the other parties: record this decision now; nothing else follows.
            await self._flush()
            self._settled.add(ticket)
        await workflow.wait_condition(lambda: ticket in self._settled)
        return self._answer(task.task_id)

    async def _run_effect(
        self, task: Task, action: Action, req: DecisionRequest, payload: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Run the decision's effect activity before the decision is taken (no other decision on the
        task meanwhile); its refusal refuses the decision (422, with its reasons), nothing recorded."""
        assert action.effect is not None
        self._effects_running.add(task.task_id)
        try:
            result: EffectResult = await workflow.execute_activity(
                action.effect,
                effects.request(
                    self.header,
                    self._start,
                    task,
                    req,
                    action.effect,
                    self.effect_input(task, action, payload),
                ),
                result_type=EffectResult,
                start_to_close_timeout=timedelta(seconds=60),
            )
        finally:
            self._effects_running.discard(task.task_id)
        effects.raise_refusal(result)
        if task.status != "open" or self.header.status != "in_progress" or self._withdrawn:
            raise refuse(ERROR_CONFLICT, "案件已办结,不能再作决定", "the case closed meanwhile")
        return effects.payload_with(payload, result)

    def _validate_withdrawal(self, req: WithdrawRequest, *, settled_refused: bool) -> None:
        decisions.check_withdrawal(
            req,
            submitted_by=self.header.submitted_by,
            status=self.header.status,
            result=self.header.result if settled_refused else "",
            closed=self._withdrawn,
            speaker=self._speaker,
        )

    async def _apply_withdrawal(self, req: WithdrawRequest) -> CaseAnswer:
        # Between two steps no task is open for a moment; withdraw once the next ones are open.
        await workflow.wait_condition(
            lambda: self._ready and (bool(self._open()) or self.header.status != "in_progress")
        )
        self._validate_withdrawal(req, settled_refused=workflow.patched(PATCH_WITHDRAW_SETTLED))
        now = workflow.now()
        for task in self._open():
            task.status, task.closed_at = "cancelled", now
            self._recorder.touch(task, "status", "closed_at")
            self._notify("withdrawn", task.assignee, task)
        self._withdrawn = True
        self.header.status, self.header.closed_at = "withdrawn", now
        self.header.result_reason = req.reason.strip()
        self._recorder.header_changed()
        self._recorder.event(
            "withdrawn",
            req.actor,
            "申请部门撤回申请" + (f"。理由:{req.reason}" if req.reason else ""),
            "Withdrawn by the applicant" + (f". Reason: {req.reason}" if req.reason else ""),
        )
        ticket = self._ticket()
        await workflow.wait_condition(lambda: ticket in self._settled)
        return self._answer()

    # -- closing --------------------------------------------------------------------------------
    async def _close(self, transition: Transition) -> None:
        now = workflow.now()
        if transition.result is not None:  # an automatic decision under the profile's article
            self.header.result = transition.result
            self.header.result_article = transition.article or ""
            self.header.result_reason = self.automatic_reason(transition)
            self.on_automatic_result(transition)
            self._recorder.event(
                "automatic_decision",
                None,
                f"按规定自动办理:{self.header.result_reason}",
                f"Decided by rule (art. {transition.article}): {transition.note_en or transition.result}",
                {"result": transition.result, "article": transition.article},
            )
        self.header.status = self.header.result or "closed"
        self.header.closed_at = now
        self._recorder.header_changed()
        self._recorder.event(
            "case_closed",
            None,
            f"办结:{self._speaker.status_zh(self.header.status)}",
            f"Case closed: {self.header.status}",
            {"result": self.header.result, "article": self.header.result_article},
        )
        self._notify("case_closed", decisions.party_of(self.header.submitted_by), None)
        snapshot = self._tickets
        await self._flush()
        self._settle_through(snapshot)
        self._ready = True

    # -- settling -------------------------------------------------------------------------------
    def _ticket(self) -> int:
        self._tickets += 1
        return self._tickets

    def _settle_through(self, snapshot: int) -> None:
        self._settled.update(range(1, snapshot + 1))

    def _open(self) -> list[Task]:
        return [t for t in self.tasks if t.status == "open"]

    def _answer(self, task_id: str = "") -> CaseAnswer:
        """What an Update answers: the case as of its last completed write (never ahead of the
        database), naming the task the request acted on."""
        recorded = self._recorder.recorded
        answer = recorded if recorded is not None else self._live_answer(self.revision)
        return dataclasses.replace(answer, task_id=task_id)

    def _live_answer(self, revision: int) -> CaseAnswer:
        return answer_of(self.header, self.tasks, revision)

    # -- recording ------------------------------------------------------------------------------
    def _notify(self, kind: str, recipient: Party, task: Task | None, **extra: Any) -> None:
        params = notice_params(
            self.header, self._start, self._speaker, task, {**self.notice_params(), **extra}
        )
        self._recorder.notice(kind, recipient, params)

    async def _flush(self) -> None:
        self._approvals.drop_stale()
        self._keep_attributes()
        await self._recorder.flush(self.tasks, self._live_answer)

    def _keep_attributes(self) -> None:
        """Bring the case's search attributes in line with it (only where the server has them: the
        case pinned that at its start), once per change."""
        if not self._start.search_attributes:
            return
        wanted = attributes.values(self.header, self.parties, self.tasks)
        changes = attributes.updates(attributes.current(workflow.info().typed_search_attributes), wanted)
        if changes:
            workflow.upsert_search_attributes(changes)
