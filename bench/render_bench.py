"""Rendering a case detail (``GET /cases/{id}``) without servers: ``api.views.case_out`` in a loop.

    .venv/bin/python bench/render_bench.py                    # Hubei, 5000 renders
    .venv/bin/python bench/render_bench.py --profile luoyang -n 20000

Builds, once and outside the timing, a typical sharing application of the profile as the projection
holds it (a ``CaseView``): its happy path's steps in order — the first steps decided (the provider's
a grant, with an approved extension on its clock where the step allows one), the last one open —
with deadlines from the working-day calendar, three parties and the resource snapshot. Then times

* ``case_out``: the view → ``CaseOut`` (the render itself);
* ``case_out`` + ``model_dump_json``: what the route sends.

and counts, over the timed renders, the reads the render path makes of what the case did not pin:
profile lookups (``regulations.loader.profile_path``, which every ``load_profile`` goes through) and
working-day calendar lookups (``WorkingDayCalendar.default``). Timing is informative only: no
pass/fail.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import regulations.loader
from api.responses import DepartmentRef
from api.views import CaseView, case_out
from calendars import SHANGHAI, WorkingDayCalendar
from regulations import load_profile
from regulations.schema import CaseType, Step
from workflows.case import (
    Actor,
    CaseHeader,
    ClockEntry,
    Decision,
    GrantTerms,
    Party,
    ResourceSnapshot,
    Task,
)
from workflows.engine import decisions

ROLE_DEPARTMENT = {"consumer": "rsj", "provider": "gaj", "platform": "bdb"}
NAMES = {
    "rsj": DepartmentRef(code="rsj", name_zh="市人力资源和社会保障局", name_en="Human Resources Bureau"),
    "gaj": DepartmentRef(code="gaj", name_zh="市公安局", name_en="Public Security Bureau"),
    "bdb": DepartmentRef(code="bdb", name_zh="市大数据局", name_en="Big Data Bureau"),
}


def happy_path(rules: CaseType, most: int = 6) -> list[tuple[str, Step]]:
    """The steps a case takes when every decision is the step's first action and no condition holds."""

    def unconditional(transitions: list[Any]) -> str | None:
        for t in transitions:
            if not t.when:
                return t.step  # None: the case ends here
        return next((t.step for t in transitions if t.step), None)

    path: list[tuple[str, Step]] = []
    step_id = unconditional(rules.entry) if rules.entry else next(iter(rules.steps))
    while step_id is not None and len(path) < most:
        step = rules.steps[step_id]
        path.append((step_id, step))
        first = next(iter(step.actions.values()), None)
        step_id = unconditional(first.next) if first is not None else None
    return path


def typical_case(profile_id: str) -> CaseView:
    profile = load_profile(profile_id)
    rules = profile.case_types["sharing_application"]
    calendar = WorkingDayCalendar.default()
    case_id = "SA-20261123-0001"
    submitted = datetime(2026, 11, 23, 9, 30, tzinfo=SHANGHAI)
    path = happy_path(rules)
    tasks: list[Task] = []
    at = submitted
    for seq, (step_id, step) in enumerate(path, start=1):
        party = Party(ROLE_DEPARTMENT.get(step.actor, "bdb"), step.actor)  # type: ignore[arg-type]
        limit = step.working_days if step.working_days is not None else step.local_policy_working_days
        deadline = None
        if limit is not None:
            deadline = replace(
                calendar.add_working_days(at, limit, cutoff=profile.deadline_cutoff),
                profile=profile.id,
                profile_version=profile.version,
                step=step_id,
                article=step.article,
            )
        clock = [
            ClockEntry(
                "base",
                at,
                step.article,
                working_days=limit,
                starts_at=at,
                due_at=deadline.due_at if deadline else None,
            )
        ]
        if step.extension is not None and deadline is not None:
            days = min(5, step.extension.max_working_days)
            extended = calendar.add_working_days(deadline.start_at, limit + days)  # type: ignore[operator]
            clock.append(
                ClockEntry(
                    "extension",
                    at + timedelta(days=1),
                    step.extension.article,
                    working_days=days,
                    due_at=extended.due_at,
                    approved_by=Actor(party.department, step.extension.approver, "head-1"),
                    approver_name="王局长",
                    reason="核查数据量大",
                )
            )
            deadline = replace(deadline, due_at=extended.due_at, due_date=extended.due_date)
        # The task as the engine opens it (the same function), then the rest of its clock.
        task = decisions.new_task(
            f"{case_id}/{seq}", seq, step_id, step, party, at, deadline, f"{step_id}#1", clock[0]
        )
        task.clock = clock
        if seq < len(path):  # decided two working days later; the last task stays open
            decided = calendar.add_working_days(at, 2).due_at - timedelta(hours=14)
            action_id, action = next(iter(step.actions.items()))
            grant = (
                GrantTerms("社会保险待遇资格认证", ["name", "members"], "online_query")
                if action.grant
                else None
            )
            task.decision = Decision(
                action_id, Actor(party.department, party.role, "clerk-1"), decided, grant=grant
            )
            task.status, task.closed_at = "done", decided
            at = decided
        tasks.append(task)
    resource = ResourceSnapshot(
        "gaj-household-members",
        3,
        "户籍及家庭成员关系信息",
        "Household registration and family members",
        "gaj",
        "conditional",
        sharing_modes=["online_query", "data_comparison"],
        fields=["name", "id_number", "members"],
    )
    header = CaseHeader(
        case_id=case_id,
        case_type="sharing_application",
        workflow_id=f"SharingApplication:{case_id}",
        workflow_type="SharingApplication",
        profile_id=profile.id,
        profile_version=profile.version,
        profile_digest=regulations.loader.profile_digest(profile.id),
        profile_name_zh=profile.title_zh or profile.name_zh,
        submitted_at=submitted,
        submitted_by=Actor("rsj", "consumer", "applicant-1"),
        subject_zh=resource.name_zh,
        subject_en=resource.name_en,
        attributes={
            "resource": asdict(resource),
            "purpose": "社会保险待遇资格认证",
            "reason": "核验参保人员家庭关系",
            "requested_fields": ["name", "members"],
            "requested_mode": "online_query",
            "grant": None,
        },
    )
    parties = [Party(role=role, department=dept) for role, dept in ROLE_DEPARTMENT.items()]  # type: ignore[arg-type]
    return CaseView(header, parties, tasks, revision=len(tasks) * 2, engine=2)


class Counter:
    """Counts calls of ``owner.name`` while installed (a plain wrapper; the original still runs)."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name, self.calls = owner, name, 0
        self.original = owner.__dict__[name]

    def __enter__(self) -> Counter:
        original = getattr(self.owner, self.name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        setattr(
            self.owner,
            self.name,
            staticmethod(counted) if isinstance(self.original, classmethod) else counted,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="hubei")
    parser.add_argument("-n", "--renders", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; the median is reported")
    args = parser.parse_args()

    view = typical_case(args.profile)
    closed = sum(t.closed_at is not None for t in view.tasks)
    entries = sum(len(t.clock) for t in view.tasks)
    print(
        f"case: {args.profile}, {len(view.tasks)} tasks ({closed} decided, {len(view.tasks) - closed} open), "
        f"{entries} clock entries; steps {' → '.join(t.step for t in view.tasks)}"
    )
    body = case_out(view, NAMES).model_dump_json()  # warm every cache once, as a running API has
    print(f"response: {len(body.encode())} bytes of JSON")

    with (
        Counter(regulations.loader, "profile_path") as profile_reads,
        Counter(WorkingDayCalendar, "default") as calendar_lookups,
    ):
        for _ in range(args.renders):
            case_out(view, NAMES)
    print(
        f"per render: {profile_reads.calls / args.renders:g} profile lookups, "
        f"{calendar_lookups.calls / args.renders:g} calendar lookups (WorkingDayCalendar.default, cached)"
    )

    for label, render in (
        ("case_out", lambda: case_out(view, NAMES)),
        ("case_out + model_dump_json", lambda: case_out(view, NAMES).model_dump_json()),
    ):
        rounds = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            for _ in range(args.renders):
                render()
            rounds.append((time.perf_counter() - started) / args.renders)
        print(
            f"{label:28s} median {statistics.median(rounds) * 1e6:8.1f} µs/render "
            f"(min {min(rounds) * 1e6:.1f}, max {max(rounds) * 1e6:.1f}; {args.rounds} × {args.renders})"
        )


if __name__ == "__main__":
    main()
