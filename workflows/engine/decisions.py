"""Pure decision checks: who plays a step, which task a decision answers, whether it may, and how
the tasks of a step join (all / any / quorum) into the step's outcome.

Nothing here calls a workflow API: the engine passes what the case holds (``Situation``) and gets a
task and an action, or a refusal (``ApplicationError`` typed Forbidden / Conflict / Invalid, which the
API maps to 403 / 409 / 422).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from calendars import Deadline
from govshare.core.text import has_visible_text
from regulations.schema import CASE_ROLES, Action, CaseType, Step, Transition
from workflows.case import (
    ERROR_CONFLICT,
    ERROR_FORBIDDEN,
    ERROR_INVALID,
    ActionInfo,
    Actor,
    ClockEntry,
    Decision,
    DecisionRequest,
    Party,
    Task,
    WithdrawRequest,
)
from workflows.engine.words import ROLE_ZH, SYSTEM_USER, Speaker, refuse


@dataclass
class Outcome:
    """How a step ended: the action taken (by the deciding task, or by rule on disagreement)."""

    step: str
    action_id: str
    action: Action
    decided_at: datetime
    decision: Decision
    article: str


@dataclass
class Situation:
    """What the checks read of a case: its rules, tasks and parties, and whether it still runs."""

    rules: CaseType
    tasks: list[Task]
    parties: list[Party]
    closed: bool
    speaker: Speaker
    facts: dict[str, Any] = field(default_factory=dict)

    def open_tasks(self) -> list[Task]:
        """The open tasks of the case's steps (a head's approval task beside one is not a step's)."""
        return [t for t in self.tasks if t.status == "open" and not t.approves]


# -- parties -----------------------------------------------------------------------------------------
def assignees(step: Step, step_id: str, parties: list[Party], case_id: str) -> list[Party]:
    """Who gets a task at this step: the first party playing its role, or each (``assign = "each"``),
    of each role that plays it (``also``)."""
    playing = [p for p in parties if p.role in step.roles]
    if not playing:
        # The case service refuses such a case before it starts; if one gets here, fail it
        # visibly rather than leave a workflow stuck on a retrying task.
        raise ApplicationError(
            f"no party plays role {step.actor} for step {step_id} in case {case_id}",
            type="NoParty",
            non_retryable=True,
        )
    chosen = playing if step.assign == "each" else playing[:1]
    return [Party(department=p.department, role=p.role, person=p.person) for p in chosen]


#: Credential roles a department answers with in a role it plays in one case (respondent …): its own.
DEPARTMENT_CREDENTIALS = frozenset(
    {"consumer", "provider", "platform", "leading_group", "coordinator", "government_office"}
)


def is_assignee(actor: Actor, party: Party) -> bool:
    if party.role in CASE_ROLES:
        # A role the department plays in this case only (the respondent of an order, the issuer,
        # the complainant): it answers for itself, with any of its own acting credentials.
        return actor.department == party.department and actor.role in DEPARTMENT_CREDENTIALS
    if (actor.department, actor.role) != (party.department, party.role):
        return False
    return not party.person or actor.user == party.person


def party_of(actor: Actor) -> Party:
    """The party an actor acts as: a department in a role, or a person without a department (a
    citizen, a company: the actor's ``user`` is its identity reference)."""
    return Party(actor.department, actor.role, "" if actor.department else actor.user)


def system_actor(platform_department: str) -> Actor:
    """Who acts when the case acts by rule (a joint step's disagreement, a waited case's end)."""
    return Actor(platform_department, "platform", SYSTEM_USER)


def plays(actor: Actor, role: str, parties: list[Party]) -> bool:
    return any(p.role == role and p.department == actor.department for p in parties)


def require_assignee(actor: Actor, task: Task, speaker: Speaker) -> None:
    if not is_assignee(actor, task.assignee):
        raise refuse(
            ERROR_FORBIDDEN,
            f"待办“{task.name_zh}”由{speaker.who_zh(task.assignee)}办理",
            f"task {task.task_id} is assigned to {speaker.who_en(task.assignee)}",
        )


def claimer_words(task: Task) -> str:
    """Who claimed a task, as people read it: the name the claim recorded, else the reference."""
    return task.claimed_by_name or task.claimed_by


def require_claimer(
    actor: Actor, task: Task, then_zh: str = "由其办理", then_en: str = "only they decide it"
) -> None:
    """A claimed task (签收, ``claims.py``) is worked by its claimer alone: anyone else of the
    assignee is refused (409), naming who claimed it. An unclaimed task (every task of a history
    written before claims existed) passes."""
    if task.claimed_by and actor.user != task.claimed_by:
        who = claimer_words(task)
        raise refuse(
            ERROR_CONFLICT,
            f"待办“{task.name_zh}”已由{who}签收,{then_zh}",
            f"task {task.task_id} is claimed by {who}; {then_en}",
        )


def task_by_id(tasks: list[Task], task_id: str) -> Task:
    task = next((t for t in tasks if t.task_id == task_id), None)
    if task is None:
        raise refuse(ERROR_INVALID, f"案件中没有待办 {task_id}", f"no task {task_id} in this case")
    return task


def added_party(req: DecisionRequest, action: Action, case: Situation, departments: dict[str, str]) -> Party:
    """The party a decision brings in (``adds_party``): the department its payload names — a known
    one, not already a party in that role (422 otherwise)."""
    role = action.adds_party
    assert role is not None
    code = str((req.payload or {}).get("department", "")).strip()
    role_zh = ROLE_ZH.get(role, role)
    if not code or (departments and code not in departments):
        raise refuse(
            ERROR_INVALID,
            f"请在 payload.department 中指明加入本案的{role_zh}(已登记的部门编码)",
            f"name the {role} that joins the case in payload.department (a known department code)",
        )
    if any(p.role == role and p.department == code for p in case.parties):
        raise refuse(
            ERROR_INVALID,
            f"{case.speaker.who_zh(Party(code, role))}已是本案当事方",  # type: ignore[arg-type]
            f"{code} is already the case's {role}",
        )
    return Party(department=code, role=role)  # type: ignore[arg-type]


def agreed_proposal(
    req: DecisionRequest, proposals: list[dict[str, Any]], speaker: Speaker
) -> dict[str, Any]:
    """The proposal a decision agrees to: the latest one, named in its payload (422 otherwise)."""
    if not proposals:
        raise refuse(ERROR_CONFLICT, "尚无协商方案,请先提出方案", "no proposal yet: propose terms first")
    latest = proposals[-1]
    named = (req.payload or {}).get("proposal")
    if named != latest["seq"]:
        raise refuse(
            ERROR_INVALID,
            f"请在 payload.proposal 中写明所同意的最新方案编号({latest['seq']})",
            f"name the latest proposal you agree to in payload.proposal ({latest['seq']})",
        )
    return latest


# -- where a case goes next ----------------------------------------------------------------------------
def first_match(transitions: list[Transition], facts: dict[str, Any], where: str) -> Transition:
    """The first transition whose ``when`` the case's facts match."""
    for t in transitions:
        if t.matches(facts):
            return t
    # A profile whose transitions do not cover a case is a data error: fail the case visibly.
    raise ApplicationError(f"{where}: no transition matches", non_retryable=True)


# -- a task ----------------------------------------------------------------------------------------------
def new_task(
    task_id: str,
    seq: int,
    step_id: str,
    step: Step,
    party: Party,
    opened_at: datetime,
    deadline: Deadline | None,
    group: str,
    entry: ClockEntry,
) -> Task:
    """The task a step opens for one party: what it may decide (names and needs from the pinned
    rules), when it is due and why (its first clock entry), and the step run it belongs to."""
    return Task(
        task_id=task_id,
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


# -- a decision ----------------------------------------------------------------------------------------
def check_decision(req: DecisionRequest, case: Situation) -> tuple[Task, Action]:
    """The open task a decision answers and the action it takes, or a refusal."""
    if case.closed:
        raise refuse(ERROR_CONFLICT, "案件已办结,不能再作决定", "the case is closed")
    if req.task_id:
        task = task_by_id(case.tasks, req.task_id)
        if task.status != "open":
            raise refuse(
                ERROR_CONFLICT,
                f"待办“{task.name_zh}”已办结(可能已有他人办理)",
                f"task {task.task_id} is no longer open (someone acted first)",
            )
        require_assignee(req.actor, task, case.speaker)
        if req.step and req.step != task.step:
            raise refuse(
                ERROR_INVALID,
                f"待办 {task.task_id} 不属于环节 {req.step}",
                f"task {task.task_id} is not at step {req.step}",
            )
    else:
        task = task_for_step(req, case)
    # Claimed by one person of the assignee: only that person decides it.
    require_claimer(req.actor, task)
    if task.waits_on_case or case.rules.steps[task.step].waits_on:
        raise refuse(
            ERROR_CONFLICT,
            f"待办“{task.name_zh}”在关联案件 {task.waits_on_case} 办结时自动办结",
            f"task {task.task_id} is done when case {task.waits_on_case} closes",
        )
    action = case.rules.steps[task.step].actions.get(req.action)
    if action is None:
        raise refuse(
            ERROR_INVALID,
            f"环节“{task.name_zh}”可选的决定为:{', '.join(task.actions)}",
            f"step {task.step} allows: {', '.join(task.actions)}",
        )
    if action.reason_required and not req.reason.strip():
        raise refuse(
            ERROR_INVALID,
            f"“{action.name_zh}”必须说明理由({case.speaker.cite(task.article)})",
            f"'{req.action}' needs a reason (art. {task.article})",
        )
    if action.sets_limit:
        check_limit(req, action, case)
    elif req.limit_working_days is not None:
        raise refuse(ERROR_INVALID, f"“{action.name_zh}”不设定期限", f"'{req.action}' sets no limit")
    return task, action


def check_reason_visible(req: DecisionRequest, task: Task, action: Action, speaker: Speaker) -> None:
    """A required reason must hold text a reader can see (issue 23): zero-width characters or blank
    fillers alone are no reason. The update validator's check only, after :func:`check_decision`:
    the handler keeps ``check_decision``'s ``strip()`` so that a recorded history replays as it ran."""
    if action.reason_required and not has_visible_text(req.reason):
        raise refuse(
            ERROR_INVALID,
            f"“{action.name_zh}”必须说明理由({speaker.cite(task.article)})",
            f"'{req.action}' needs a reason (art. {task.article})",
        )


def task_for_step(req: DecisionRequest, case: Situation) -> Task:
    """The caller's open task at the step it names (a decision that names no task)."""
    speaker = case.speaker
    if not req.step:
        # Naming neither: the caller's one open task (several → it must say which).
        mine = [t for t in case.open_tasks() if is_assignee(req.actor, t.assignee)]
        if len(mine) == 1:
            return mine[0]
        if mine:
            raise refuse(ERROR_INVALID, "请指明待办或环节", "name the task (task_id) or its step")
        current = case.open_tasks()
        if not current:
            raise refuse(ERROR_CONFLICT, "案件正在转入下一环节,请稍后重试", "no task is open; retry")
        raise refuse(
            ERROR_FORBIDDEN,
            f"当前待办由{'、'.join(speaker.who_zh(t.assignee) for t in current)}办理",
            "the open tasks are assigned to " + ", ".join(speaker.who_en(t.assignee) for t in current),
        )
    named = case.rules.steps.get(req.step)
    if named is None:
        raise refuse(ERROR_INVALID, f"未知环节 {req.step}", f"unknown step {req.step}")
    at_step = [t for t in case.open_tasks() if t.step == req.step]
    mine = [t for t in at_step if is_assignee(req.actor, t.assignee)]
    if mine:
        return mine[0]
    if at_step or not (req.actor.role in named.roles and plays(req.actor, req.actor.role, case.parties)):
        owner = at_step[0].assignee if at_step else None
        who_zh = speaker.who_zh(owner) if owner else ROLE_ZH.get(named.actor, named.actor)
        who_en = speaker.who_en(owner) if owner else named.actor
        raise refuse(
            ERROR_FORBIDDEN,
            f"环节“{named.name_zh}”由{who_zh}办理",
            f"step {req.step} is assigned to {who_en}",
        )
    # The caller's step, but not open for the caller now: someone acted first, the page was
    # stale, or it is not yet their turn.
    current = case.open_tasks()
    if not current:
        raise refuse(ERROR_CONFLICT, "案件正在转入下一环节,请稍后重试", "no task is open; retry shortly")
    raise refuse(
        ERROR_CONFLICT,
        f"案件当前环节为“{'、'.join(dict.fromkeys(t.name_zh for t in current))}”,不是“{named.name_zh}”",
        f"the case is at step {', '.join(dict.fromkeys(t.step for t in current))}, not {req.step}",
    )


def check_limit(req: DecisionRequest, action: Action, case: Situation) -> None:
    """A decision that sets the next task's limit (an issuer's rectification period) must set it,
    within the next step's ``max_working_days``."""
    target = next((t.step for t in action.next if t.matches(case.facts)), None)
    cap = case.rules.steps[target].max_working_days if target else None
    days = req.limit_working_days
    if days is None or days < 1 or (cap is not None and days > cap):
        upto = f"1至{cap}" if cap else "至少1"
        raise refuse(
            ERROR_INVALID,
            f"“{action.name_zh}”须设定期限({upto}个工作日)",
            f"'{req.action}' must set the limit in working days (1 to {cap or 'any'})",
        )


# -- a withdrawal ----------------------------------------------------------------------------------------
def check_withdrawal(
    req: WithdrawRequest, *, submitted_by: Actor, status: str, result: str, closed: bool, speaker: Speaker
) -> None:
    """Only the applicant withdraws, and only while nothing is settled.

    Once a step has set the case's result (the provider granted or refused), the application is
    settled: withdrawing it then would show two outcomes at once, so it is refused with the state.
    """
    if not is_assignee(req.actor, party_of(submitted_by)):
        raise refuse(ERROR_FORBIDDEN, "只有申请人可以撤回申请", "only the applicant may withdraw")
    if status != "in_progress" or closed:
        raise refuse(ERROR_CONFLICT, "案件已办结,不能撤回", "the case is already closed")
    if result:
        raise refuse(
            ERROR_CONFLICT,
            f"申请已有办理结果(“{speaker.status_zh(result)}”),不能撤回",
            f"the application is settled ({result}); it can no longer be withdrawn",
        )


# -- joining a step's tasks ----------------------------------------------------------------------------
def join(step: Step, tasks: list[Task], rules: CaseType, platform_department: str) -> Outcome | None:
    """The step's outcome once its tasks have joined (all / any / quorum), else None."""
    decided = sorted(
        (t for t in tasks if t.status == "done" and t.decision is not None),
        key=lambda t: (t.decision.decided_at, t.seq),  # type: ignore[union-attr]
    )
    if not decided:
        return None
    if len(tasks) == 1 or step.join == "any":
        return outcome_of(decided[0], rules)
    ending = [t for t in decided if step.actions[t.decision.action].ends_step]  # type: ignore[union-attr]
    if ending:  # one party's decision ends the step (negotiation failed): the others need not answer
        return outcome_of(ending[0], rules)
    counts = Counter(t.decision.action for t in decided)  # type: ignore[union-attr]
    if step.join == "all":
        if len(decided) < len(tasks):
            return None
        if len(counts) == 1:
            return outcome_of(decided[-1], rules)
        return disagreement(step, decided, platform_department)
    quorum = step.quorum or len(tasks)
    for action_id in step.actions:
        if counts[action_id] >= quorum:
            agreeing = [t for t in decided if t.decision.action == action_id]  # type: ignore[union-attr]
            return outcome_of(agreeing[quorum - 1], rules)
    undecided = len(tasks) - len(decided)
    if all(counts[a] + undecided < quorum for a in step.actions):
        return disagreement(step, decided, platform_department)
    return None


def outcome_of(task: Task, rules: CaseType) -> Outcome:
    assert task.decision is not None
    action = rules.steps[task.step].actions[task.decision.action]
    return Outcome(
        task.step, task.decision.action, action, task.decision.decided_at, task.decision, task.article
    )


def disagreement(step: Step, decided: list[Task], platform_department: str) -> Outcome:
    """The parties disagree: the step's ``on_disagreement`` action (else its first) is taken by rule."""
    action_id = step.on_disagreement or next(iter(step.actions))
    last = decided[-1]
    decision = Decision(
        action=action_id,
        actor=system_actor(platform_department),
        decided_at=last.decision.decided_at,  # type: ignore[union-attr]
        reason="; ".join(f"{t.assignee.department}:{t.decision.action}" for t in decided),  # type: ignore[union-attr]
        kind="rule",
        article=step.article,
    )
    return Outcome(last.step, action_id, step.actions[action_id], decision.decided_at, decision, step.article)
