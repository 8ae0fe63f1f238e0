"""Pure parts of the escalation ladder (REGULATIONS.md §7; DESIGN.md, The ladder).

A breach starts one escalation case per (case, step): it climbs the ladder's task rungs (a report to
the leading group office, a written circular …), each a task for the department that plays the rung's
role, and ends at the first rung that starts a case (a rectification order), waiting on it. That case
carries the rest of the ladder: it climbs it in its turn when it is not answered in time (``late``)
or ends with a result the next rung follows (``result``).

The escalation's rules are made here from the rungs, as a case type like any other, so the engine
runs it with the same loop, tasks, timeline and records as every case.
"""

from __future__ import annotations

from regulations.schema import Action, CaseType, Rung, Step, Transition
from workflows.case import Party, Task

#: The case type of an escalation (not in profiles: its rules are made from a ladder).
ESCALATION = "escalation"
#: An escalation's results beside those of the case it waits on.
ESCALATION_RESULTS = {
    "escalated": ("已逐级上报", "escalated"),
    "stopped": ("不再上报", "stopped"),
}


def rung_step_id(rung: Rung) -> str:
    return f"rung_{rung.id}"


def climbed(ladder: list[Rung]) -> tuple[list[Rung], list[Rung]]:
    """(the rungs an escalation climbs itself: task rungs up to and including the first case rung,
    the rest it hands to that case)."""
    for index, rung in enumerate(ladder):
        if rung.starts_case is not None:
            return ladder[: index + 1], ladder[index + 1 :]
    return list(ladder), []


def escalation_rules(
    ladder: list[Rung], *, name_zh: str, name_en: str, waited_results: list[str]
) -> CaseType:
    """The escalation's case type: one step per rung it climbs. A task rung's step has its one
    action (``action_zh``; with ``may_stop`` a second, stopping the climb with a reason); a case
    rung's step waits on the case it starts, and the escalation ends with that case's result."""
    own, _carried = climbed(ladder)
    steps: dict[str, Step] = {}
    results = list(ESCALATION_RESULTS) + [r for r in waited_results if r not in ESCALATION_RESULTS]
    for index, rung in enumerate(own):
        after = own[index + 1] if index + 1 < len(own) else None
        onward = (
            [Transition(step=rung_step_id(after))]
            if after is not None
            else [Transition(end=True, result="escalated", article=rung.article)]
        )
        if rung.starts_case is not None:
            ends = [
                Transition(when={"linked_result": r}, end=True, result=r, article=rung.article)
                for r in waited_results
            ]
            actions = {
                "closed": Action(
                    name_zh="关联案件已办结", name_en="Linked case closed", next=[*ends, Transition(end=True)]
                )
            }
        else:
            actions = {"done": Action(name_zh=rung.action_zh, name_en=rung.action_en, next=onward)}
            if rung.may_stop:
                actions["stop"] = Action(
                    name_zh="不再上报",
                    name_en="Stop here",
                    reason_required=True,
                    result="stopped",
                    next=[Transition(end=True)],
                )
        steps[rung_step_id(rung)] = Step(
            name_zh=rung.name_zh,
            name_en=rung.name_en,
            actor=rung.actor,
            article=rung.article,
            statutory="none",
            waits_on=rung.starts_case,
            actions=actions,
        )
    return CaseType(
        name_zh=name_zh,
        name_en=name_en,
        article=own[0].article if own else "",
        results=results,
        facts=[],
        entry=[Transition(step=rung_step_id(own[0]))] if own else [Transition(end=True)],
        steps=steps,
    )


def carried_after(ladder: list[Rung], step_id: str) -> list[Rung]:
    """The rungs a case started at the rung ``step_id`` carries on (those after it)."""
    for index, rung in enumerate(ladder):
        if rung_step_id(rung) == step_id:
            return ladder[index + 1 :]
    return []


def follows_breach(ladder: list[Rung], carried: bool) -> bool:
    """Whether a breach climbs this ladder: a case's own ladder always; a carried one when its
    first rung follows a case not answered in time."""
    return bool(ladder) and (not carried or "late" in ladder[0].follows)


def follows_result(ladder: list[Rung], carried: bool, result: str) -> bool:
    """Whether a case that ended with ``result`` climbs the ladder it carries."""
    return carried and bool(ladder) and "result" in ladder[0].follows and result in ladder[0].results


def directory_party(role: str, directory: dict[str, str], parties: list[Party]) -> Party | None:
    """The department that plays ``role``: the deployment's directory (pinned at the case's start),
    else a party of the case in that role (cases started before the directory)."""
    department = directory.get(role) or next((p.department for p in parties if p.role == role), "")
    return Party(role=role, department=department) if department else None  # type: ignore[arg-type]


def escalation_parties(
    ladder: list[Rung], responsible: Party, directory: dict[str, str], parties: list[Party]
) -> list[Party]:
    """Who an escalation involves: each role on the rungs it climbs (as the directory says), and the
    department responsible for the breach (the respondent of any order it leads to)."""
    own, _ = climbed(ladder)
    found: list[Party] = []
    for role in dict.fromkeys([r.actor for r in own] + ["platform"]):
        party = directory_party(role, directory, parties)
        if party is not None and party not in found:
            found.append(party)
    found.append(Party(role="respondent", department=responsible.department))
    return found


def order_parties(
    issuer_role: str, respondent: str, directory: dict[str, str], parties: list[Party]
) -> list[Party]:
    """Who a case a rung or a decision starts involves: the issuer (the department that plays
    ``issuer_role``), the respondent, and the platform."""
    found = []
    issuer = directory_party(issuer_role, directory, parties)
    if issuer is not None:
        found.append(Party(role="issuer", department=issuer.department))
    found.append(Party(role="respondent", department=respondent))
    platform = directory_party("platform", directory, parties)
    if platform is not None:
        found.append(platform)
    return found


def breach_key(task: Task, tasks: list[Task]) -> int:
    """Which breach a task's lateness is: its own, or — for a task reopened on the deadline of an
    earlier run of its step (a returned rectification report) — the earlier task's, so the ladder
    does not climb twice for one missed deadline."""
    if task.clock and task.clock[0].kind == "limit_kept" and task.deadline is not None:
        for earlier in tasks:
            if (
                earlier.seq < task.seq
                and earlier.step == task.step
                and earlier.deadline is not None
                and earlier.deadline.due_at == task.deadline.due_at
            ):
                return earlier.seq
    return task.seq
