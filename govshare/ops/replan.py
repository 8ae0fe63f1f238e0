"""Re-plan provisional deadlines after a new year's holiday notice is added (REGULATIONS.md §3).

    govshare replan-deadlines

Finds the open tasks whose deadline was computed without that year's notice (``provisional`` in the
projection) and asks each case to recompute it; the case records the change, tells the assignee, and
moves its timers. Cases whose deadline does not move are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from govshare.cases.service import replan_deadlines
from govshare.core import models


@dataclass
class ReplanReport:
    checked: int
    changed: list[str]


async def replan_open_deadlines(client: Client, engine: Engine) -> ReplanReport:
    with Session(engine) as session:
        case_ids = sorted(
            set(
                session.exec(
                    select(models.Task.case_id).where(models.Task.status == "open", models.Task.provisional)
                )
            )
        )
    changed = [case_id for case_id in case_ids if await replan_deadlines(client, case_id)]
    return ReplanReport(checked=len(case_ids), changed=changed)
