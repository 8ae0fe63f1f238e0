"""The case engine (second generation), composed of small parts.

- ``case_engine.py``: the loop, the joins, tasks and their timers; the Update handlers every case
  type shares. It composes the parts below and holds no rule of its own.
- ``clockwork.py``: the clocks as people change them (extension, suspension, resume) and the re-plan,
  each computed, checked again, applied and recorded under one lock.
- ``linker.py``: cases this case starts (the escalation rung's, or any), started once, linked both ways.
- ``decisions.py``: pure: the task a step opens, which task a decision answers, whether it may, how a
  step's tasks join, and where the case goes next.
- ``clock.py``: pure: a task's first clock entry, what each adjustment (extension, suspension,
  resume, re-plan) does to it, and the breach when it runs out.
- ``links.py``: pure: the case a link starts (its pinned start, both links) and the escalation rung.
- ``recorder.py``: revision, changed tasks, events and notices, and the delta sent after commit.
- ``words.py``: how the engine speaks: refusals, role names, citations.

Only ``case_engine.py``, ``clockwork.py``, ``linker.py`` and the recorder call Temporal's workflow
APIs that write history (activities, timers, children); the pure parts are unit-tested without a
server (``tests/engine/test_engine_parts.py``).
"""

from workflows.engine.case_engine import SYSTEM_USER, CaseEngine, Outcome, refuse

__all__ = ["SYSTEM_USER", "CaseEngine", "Outcome", "refuse"]
