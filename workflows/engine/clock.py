"""Pure clock functions: a task's first clock entry, and what each dated adjustment does to it.

A task's deadline is its base limit and article, then dated adjustments (DESIGN.md, Clock). Each
adjustment is two pure steps around one deadline computation, which the engine runs as a local
activity (so history holds the whole ``Deadline`` record):

    plan = plan_extension(task, step, req)            # what to compute, or a refusal
    deadline = await compute(plan.request(...))       # the engine's local activity
    change = extension(task, step, req, now, deadline) # the entry, the new deadline, the words
    apply(task, change)

``check_change`` refuses what a step's rules do not allow (Luoyang 19, 32, 33: one extension of at
most 10 WD approved by the principal head; a suspension only by the role the profile names).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from calendars import SHANGHAI, Deadline
from govshare.core.text import has_visible_text
from regulations.schema import Step
from workflows.case import (
    ERROR_CONFLICT,
    ERROR_FORBIDDEN,
    ERROR_INVALID,
    Breach,
    ClockEntry,
    ClockRequest,
    Decision,
    Party,
    Task,
)
from workflows.engine.decisions import plays, require_assignee
from workflows.engine.words import ROLE_ZH, Speaker, refuse


@dataclass
class ClockChange:
    """What one adjustment does to a task's clock; ``apply`` makes it so."""

    entry: ClockEntry
    #: The new deadline (None: unchanged, e.g. a suspension keeps the old one for the record).
    deadline: Deadline | None
    #: Set by a suspension, cleared by a resume, unchanged otherwise.
    suspended_at: datetime | None
    suspends: bool = False
    resumes: bool = False
    extends: bool = False
    zh: str = ""
    en: str = ""
    #: The notice the assignee gets (its own kind per adjustment, not a re-plan's).
    notice: str = "deadline_changed"


@dataclass(frozen=True)
class DeadlinePlan:
    """A deadline to compute: ``working_days`` from ``start`` under ``article``."""

    start: datetime
    working_days: int
    article: str


# -- the first entry -------------------------------------------------------------------------------
def first_entry(
    step: Step,
    opened_at: datetime,
    *,
    opened_by: Decision | None,
    opened_by_article: str,
    counts_from: datetime | None,
) -> tuple[ClockEntry, int | None]:
    """The clock a task starts with: the profile's limit, a limit the opening decision set, or a
    count from the case's own date (Luoyang 14: from the date the law changed)."""
    if step.limit_from == "decision":
        limit = opened_by.limit_working_days if opened_by is not None else None
        entry = ClockEntry(
            kind="limit_set",
            at=opened_at,
            article=opened_by_article if opened_by is not None else step.article,
            working_days=limit,
            starts_at=opened_at,
            approved_by=opened_by.actor if opened_by is not None else None,
            basis="decision",
        )
        return entry, limit
    starts_at, kind = opened_at, "base"
    if step.counts_from == "case" and counts_from is not None:
        starts_at, kind = counts_from, "counts_from"
    entry = ClockEntry(
        kind=kind,
        at=opened_at,
        article=step.article,
        working_days=step.limit,
        starts_at=starts_at,
        basis="statute" if step.working_days is not None else step.limit_basis,
    )
    return entry, step.limit


def kept_deadline(
    step_id: str, tasks: list[Task], opened_at: datetime, opened_by: Any
) -> tuple[ClockEntry, Deadline] | None:
    """A step reopened by a decision that keeps its deadline (``keeps_deadline``: a rectification
    report returned, to be made again "on the same deadline"): the previous run's deadline record,
    and a clock line saying so. None when the step is opened otherwise."""
    if opened_by is None or not opened_by.action.keeps_deadline:
        return None
    before = next((t for t in reversed(tasks) if t.step == step_id and t.deadline is not None), None)
    if before is None or before.deadline is None:
        return None
    first = before.clock[0] if before.clock else None
    entry = ClockEntry(
        kind="limit_kept",
        at=opened_at,
        article=before.article,
        working_days=before.deadline.working_days,
        starts_at=first.starts_at if first is not None else before.opened_at,
        due_at=before.deadline.due_at,
        approved_by=opened_by.decision.actor,
        reason=opened_by.decision.reason,
        basis=first.basis if first is not None else before.limit_basis,
    )
    return entry, before.deadline


# -- may this change be made? ----------------------------------------------------------------------
def check_change(req: ClockRequest, task: Task, step: Step, parties: list[Party], speaker: Speaker) -> None:
    """Refuse a clock change the step's rules or the task's state do not allow."""
    if task.status != "open":
        raise refuse(ERROR_CONFLICT, f"待办“{task.name_zh}”已办结", f"task {task.task_id} is not open")
    if task.deadline is None and req.kind != "resume":
        raise refuse(ERROR_INVALID, f"“{task.name_zh}”不限期", f"task {task.task_id} has no deadline")
    if req.kind == "extension":
        _check_extension(req, task, step, speaker)
        return
    rule = step.suspension
    if rule is None:
        raise refuse(
            ERROR_INVALID, f"“{task.name_zh}”不得中止计时", f"step {task.task_id} allows no suspension"
        )
    if req.actor.role != rule.by or not plays(req.actor, rule.by, parties):
        raise refuse(
            ERROR_FORBIDDEN,
            f"中止或恢复计时由{ROLE_ZH.get(rule.by, rule.by)}办理",
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


def _check_extension(req: ClockRequest, task: Task, step: Step, speaker: Speaker) -> None:
    rule = step.extension
    if rule is None:
        raise refuse(ERROR_INVALID, f"“{task.name_zh}”不得延期", f"step {task.step} allows no extension")
    cite = speaker.cite(rule.article)
    if req.approval_task:  # the head approved it (approvals.py checked the approval)
        if task.overdue or task.suspended_at is not None:
            raise refuse(
                ERROR_CONFLICT,
                "期限已过或已中止,不能延期",
                "the deadline has passed or the clock is stopped; no extension",
            )
        return
    require_assignee(req.actor, task, speaker)
    if rule.approval == "off_system" and not req.approver_name.strip():
        raise refuse(
            ERROR_INVALID,
            f"延期须经主要负责人批准(系统外批准),请填写批准人({cite})",
            f"an extension approved off the system: name the approver (art. {rule.article})",
        )
    asked = max(task.extensions_used, task.extension_requests)
    if asked >= rule.max_count:
        raise refuse(
            ERROR_CONFLICT,
            f"“{task.name_zh}”已申请延期{asked}次,延期以{rule.max_count}次为限,不能再申请({cite})",
            f"task {task.task_id} already had {asked} extension request(s); at most {rule.max_count} "
            f"(art. {rule.article})",
        )
    if not req.working_days or not 0 < req.working_days <= rule.max_working_days:
        raise refuse(
            ERROR_INVALID,
            f"延期不得超过{rule.max_working_days}个工作日({cite})",
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


def check_request_on_system(req: ClockRequest, step: Step, speaker: Speaker) -> None:
    """A new extension request where the head approves on the system names no approver (the
    validator's check only: histories written before recorded typed names under the same rules)."""
    rule = step.extension
    if (
        req.kind == "extension"
        and rule is not None
        and rule.approval == "on_system"
        and req.approver_name.strip()
    ):
        raise refuse(
            ERROR_INVALID,
            f"延期由本部门主要负责人在系统中审批,申请时不填写批准人({speaker.cite(rule.article)})",
            f"the principal head approves the extension on the system; do not name an approver "
            f"(art. {rule.article})",
        )


def check_text_visible(req: ClockRequest, step: Step, speaker: Speaker) -> None:
    """The texts a change requires hold something a reader can see (issue 23): an extension's and a
    suspension's reason, an off-system approver's name. The validator's check only, after
    :func:`check_change` (which the handler repeats with ``strip()``, as recorded histories ran)."""
    rule = step.extension
    if req.kind == "extension" and not req.approval_task:
        if rule is not None and rule.approval == "off_system" and not has_visible_text(req.approver_name):
            raise refuse(
                ERROR_INVALID,
                f"延期须经主要负责人批准(系统外批准),请填写批准人({speaker.cite(rule.article)})",
                f"an extension approved off the system: name the approver (art. {rule.article})",
            )
        if not has_visible_text(req.reason):
            raise refuse(ERROR_INVALID, "延期须说明理由", "an extension needs a reason")
    elif req.kind == "suspension" and not has_visible_text(req.reason):
        raise refuse(ERROR_INVALID, "中止计时须说明理由", "a suspension needs a reason")


# -- the adjustments -------------------------------------------------------------------------------
def plan_extension(task: Task, step: Step, req: ClockRequest) -> DeadlinePlan:
    """The extra working days run on after the last working day of the period in force."""
    assert task.deadline is not None and step.extension is not None and req.working_days
    after = datetime.combine(task.deadline.due_date, time(12), tzinfo=SHANGHAI)
    return DeadlinePlan(after, req.working_days, step.extension.article)


def extension(
    req: ClockRequest, plan: DeadlinePlan, deadline: Deadline, now: datetime, speaker: Speaker, task: Task
) -> ClockChange:
    entry = ClockEntry(
        kind="extension",
        at=now,
        article=plan.article,
        working_days=plan.working_days,
        starts_at=plan.start,
        due_at=deadline.due_at,
        approved_by=req.actor,
        approver_name=req.approver_name.strip(),
        reason=req.reason.strip(),
        basis="statute",
    )
    approved_how = "批准人" if req.approval_task else "批准人(系统外批准)"
    return ClockChange(
        entry=entry,
        deadline=deadline,
        suspended_at=task.suspended_at,
        extends=True,
        zh=f"延期:{task.name_zh} 延长{plan.working_days}个工作日至 {deadline.due_date}"
        f"({approved_how}:{entry.approver_name},{speaker.cite(entry.article)})",
        en=f"Extended: {task.name_en} by {plan.working_days} WD to {deadline.due_date} "
        f"(approved by {entry.approver_name}, art. {entry.article})",
        notice="clock_extended",
    )


def suspension(req: ClockRequest, step: Step, left: int, now: datetime, task: Task) -> ClockChange:
    """The clock stops; the working days left (counted by the engine's local activity) are kept."""
    assert step.suspension is not None
    entry = ClockEntry(
        kind="suspension",
        at=now,
        article=step.suspension.article,
        working_days=left,
        approved_by=req.actor,
        reason=req.reason.strip(),
        basis=step.suspension.basis,
    )
    return ClockChange(
        entry=entry,
        deadline=None,
        suspended_at=now,
        suspends=True,
        zh=f"中止计时:{task.name_zh},剩余{left}个工作日({req.reason.strip()})",
        en=f"Clock stopped: {task.name_en}, {left} WD left ({req.reason.strip()})",
        notice="clock_suspended",
    )


def plan_resume(task: Task, step: Step, now: datetime) -> DeadlinePlan:
    """Counting goes on from the resume date with the working days that were left."""
    assert step.suspension is not None
    left = next(e.working_days for e in reversed(task.clock) if e.kind == "suspension") or 0
    return DeadlinePlan(now, left, step.suspension.article)


def resume(
    req: ClockRequest, step: Step, plan: DeadlinePlan, deadline: Deadline, now: datetime, task: Task
) -> ClockChange:
    assert step.suspension is not None
    entry = ClockEntry(
        kind="resume",
        at=now,
        article=plan.article,
        working_days=plan.working_days,
        starts_at=now,
        due_at=deadline.due_at,
        approved_by=req.actor,
        reason=req.reason.strip(),
        basis=step.suspension.basis,
    )
    return ClockChange(
        entry=entry,
        deadline=deadline,
        suspended_at=None,
        resumes=True,
        zh=f"恢复计时:{task.name_zh},剩余{plan.working_days}个工作日,至 {deadline.due_date}",
        en=f"Clock resumed: {task.name_en}, {plan.working_days} WD left, due {deadline.due_date}",
        notice="clock_resumed",
    )


def needs_replan(task: Task) -> bool:
    """An open, running task whose deadline is provisional (its year had no holiday notice)."""
    old = task.deadline
    return task.status == "open" and old is not None and old.provisional and task.suspended_at is None


def replan(task: Task, new: Deadline, now: datetime) -> ClockChange | None:
    """A provisional deadline recomputed with the notice now in force (REGULATIONS.md §3), or None
    when nothing changed."""
    old = task.deadline
    assert old is not None
    if task.status != "open" or (new.due_at, new.provisional) == (old.due_at, old.provisional):
        return None
    entry = ClockEntry(
        kind="replan",
        at=now,
        article=old.article or task.article,
        working_days=old.working_days,
        starts_at=old.start_at,
        due_at=new.due_at,
        basis=task.clock[-1].basis if task.clock else "statute",
    )
    return ClockChange(
        entry=entry,
        deadline=new,
        suspended_at=task.suspended_at,
        zh=f"期限重新计算:{task.name_zh} 由 {old.due_at.isoformat()} 改为 {new.due_at.isoformat()}"
        + ("" if new.provisional else "(节假日安排已公布,期限确定)"),
        en=f"Deadline recomputed: {task.name_en} from {old.due_at.isoformat()} to {new.due_at.isoformat()}",
        notice="deadline_changed",
    )


#: The task fields ``apply`` may change (what the recorder sends for a clock change).
CHANGED_FIELDS = ("deadline", "suspended_at", "extensions_used", "clock")


def apply(task: Task, change: ClockChange) -> None:
    """Make the change on the task: its clock gets the entry; deadline and suspension follow."""
    if change.deadline is not None:
        task.deadline = change.deadline
    task.suspended_at = change.suspended_at
    if change.extends:
        task.extensions_used += 1
    task.clock.append(change.entry)


def breach(task: Task, now: datetime, speaker: Speaker) -> tuple[Breach, str, str]:
    """The deadline passed with the task open: the breach (under the article of the clock's last
    entry, which set the deadline in force) and how it reads (zh, en). An event, not an error."""
    assert task.deadline is not None
    article = task.clock[-1].article if task.clock else task.article
    found = Breach(
        step=task.step,
        due_at=task.deadline.due_at,
        detected_at=now,
        article=article,
        responsible=task.assignee,
    )
    zh = f"超期:{task.name_zh} 未在期限内办理({speaker.cite(article)})"
    return found, zh, f"Deadline missed: {task.name_en} (art. {article})"
