"""The case engine (second generation), composed of small parts.

- ``case_engine.py``: the loop, the joins, tasks and their timers; the Update handlers every case
  type shares. It composes the parts below and holds no rule of its own.
- ``decisions.py``: pure: which task a decision answers, whether it may, and how a step's tasks join.
- ``clock.py``: pure: a task's first clock entry and what each adjustment (extension, suspension,
  resume, re-plan) does to it.
- ``links.py``: pure: the case a link starts (its pinned start, both links) and the escalation rung.
- ``recorder.py``: revision, changed tasks, events and notices, and the delta sent after commit.
- ``words.py``: how the engine speaks: refusals, role names, citations.

Only ``case_engine.py`` calls Temporal's workflow APIs that write history (activities, timers,
children); the pure parts are unit-tested without a server (``tests/engine/``).
"""

from workflows.engine.case_engine import SYSTEM_USER, CaseEngine, Outcome, refuse

__all__ = ["SYSTEM_USER", "CaseEngine", "Outcome", "refuse"]
