"""Every kept history rebuilds into the case it recorded (issue 21): the record an auditor reads is
folded from the history's own projection writes, so it must be whole — every event numbered from 1
without a gap, each task an event names is there, and the case closed the way its last event says.
(A first-generation case that recorded through a local activity keeps its state, not its events.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from govshare.cases.history import rebuild, task_lines, timeline
from govshare.cases.replaying import load_history_file

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_every_kept_history_rebuilds_whole(path: Path) -> None:
    rebuilt = rebuild(load_history_file(path))
    assert rebuilt.completed, "every kept sample is a finished case"
    if rebuilt.engine == 1 and not rebuilt.writes:
        state = rebuilt.first_generation
        assert (
            state is not None
            and state.status != "in_progress"
            and rebuilt.tasks == {t.task_id: t for t in state.tasks}
        )
        return
    events = timeline(rebuilt)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    named = {e["data"]["task_id"] for e in events if "task_id" in (e["data"] or {})}
    assert named <= set(rebuilt.tasks) | {t for t in named if "/" not in t}
    lines = task_lines(rebuilt)
    assert [line["task_id"] for line in lines] == sorted(rebuilt.tasks, key=lambda t: rebuilt.tasks[t].seq)
    closing = [e for e in events if e["kind"] == "case_closed"]
    if (
        rebuilt.engine == 2
        and rebuilt.header is not None
        and rebuilt.header.status not in ("withdrawn", "in_progress")
    ):
        assert closing and closing[-1]["data"]["result"] == rebuilt.header.result
    assert all(t.status != "open" for t in rebuilt.tasks.values())
