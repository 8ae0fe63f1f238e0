"""Frozen: what a breach did before the ladder (issue 17's engine), for the histories that ran it.

A breach named the ladder's first rung on the breach record and, when that rung had ``starts_case``,
started that case (linked, parties: the responsible department, the case's platform and leading group
office). Nothing climbed further. Cases whose histories have no ``ladder-escalation-cases`` marker
replay through here (``workflows/engine/linker.py``); do not change it.
"""

from __future__ import annotations

from typing import Any

from regulations.schema import CaseType, Rung
from workflows.case import Breach, Party, Task


def first_rung(rules: CaseType) -> Rung | None:
    return rules.escalation[0] if rules.escalation else None


def rung_parties(responsible: Party, parties: list[Party]) -> list[Party]:
    return [
        Party(role=responsible.role, department=responsible.department),
        *[p for p in parties if p.role in ("platform", "leading_group")],
    ]


async def escalate(linker: Any, rules: CaseType, task: Task, breach: Breach, parties: list[Party]) -> None:
    rung = first_rung(rules)
    if rung is None:
        return
    breach.next_rung, breach.next_rung_article = rung.id, rung.article
    if rung.starts_case:
        cite = linker._speaker.cite
        await linker.start(
            rung.starts_case,
            key=f"T{task.seq}",
            reason_zh=f"{task.name_zh}超期({cite(breach.article)}),依{cite(rung.article)}{rung.name_zh}",
            reason_en=f"{task.name_en} overdue (art. {breach.article}): {rung.name_en} (art. {rung.article})",
            parties=rung_parties(task.assignee, parties),
            facts={"breach_task": task.task_id, "breach_step": task.step, "rung": rung.id},
        )
