"""Cases a case starts, and the links both show (DESIGN.md, Links).

A linked case gets a business-key id and is started with reject-duplicate, so a retry, a replay or a
second breach of the same task never starts a second one; an id that exists already is linked, not
started. With ``wait`` the starting case waits for the linked one's result. What to start and how to
say it are the pure functions of ``links.py``; this component starts it and records the link.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from regulations.schema import CaseType
    from workflows.case import Breach, CaseAnswer, CaseHeader, CaseLink, Party, Task
    from workflows.contracts import CaseInput, CaseStart
    from workflows.engine import links
    from workflows.engine.recorder import Recorder
    from workflows.engine.words import Speaker


class Linker:
    def __init__(
        self,
        *,
        start: CaseStart,
        header: CaseHeader,
        recorder: Recorder,
        speaker: Speaker,
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self._start, self._header, self._recorder = start, header, recorder
        self._speaker, self._flush = speaker, flush

    async def escalate(self, rules: CaseType, task: Task, breach: Breach, parties: list[Party]) -> None:
        """Follow the escalation ladder's first rung (REGULATIONS.md §7): it is named on the breach
        (e.g. Hubei 26: the big-data agency reports to the leading group office), and a rung with
        ``starts_case`` starts that case (a rectification order), once."""
        rung = links.first_rung(rules)
        if rung is None:
            return
        breach.next_rung, breach.next_rung_article = rung.id, rung.article
        if rung.starts_case:
            cite = self._speaker.cite
            await self.start(
                rung.starts_case,
                key=f"T{task.seq}",
                reason_zh=f"{task.name_zh}超期({cite(breach.article)}),依{cite(rung.article)}{rung.name_zh}",
                reason_en=f"{task.name_en} overdue (art. {breach.article}): "
                f"{rung.name_en} (art. {rung.article})",
                parties=links.rung_parties(task.assignee, parties),
                facts={"breach_task": task.task_id, "breach_step": task.step, "rung": rung.id},
            )

    async def start(
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
        """Start ``case_type`` as a child with a business-key id, record the link; with ``wait``,
        wait for its result, record it and return it."""
        linked = self._start.linked_types.get(case_type)
        if linked is None:
            workflow.logger.warning("case type %s is not pinned; no case started", case_type)
            return None
        child = links.child_case(
            self._start,
            self._header,
            linked,
            case_type,
            key=key,
            reason_zh=reason_zh,
            reason_en=reason_en,
            parties=parties,
            now=workflow.now(),
            wait=wait,
        )
        link = child.link
        handle = None
        try:
            handle = await workflow.start_child_workflow(
                child.workflow_type,
                CaseInput(case=child.start, facts=dict(facts or {})),
                id=child.workflow_id,
                task_queue=workflow.info().task_queue,
                result_type=CaseAnswer,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # The linked case lives on its own: closing this case does not end it.
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"{reason_zh}({self._header.case_id})",
            )
        except WorkflowAlreadyStartedError:
            link.reason_zh += "(该案件已存在,仅建立关联)"
            link.reason_en += " (the case already existed; linked)"
        self._header.links.append(link)
        self._recorder.link_added(link)
        self.link_event(link)
        if not wait or handle is None:
            return None
        answer: CaseAnswer = await handle
        link.status, link.result = answer.status, answer.result
        self._recorder.link_added(link)
        self._recorder.event(
            "linked_case_closed",
            None,
            f"关联案件 {child.case_id} 已办结:{self._speaker.status_zh(answer.status)}",
            f"Linked case {child.case_id} closed: {answer.status}",
            {"case_id": child.case_id, "status": answer.status, "result": answer.result},
        )
        await self._flush()
        return answer

    def link_event(self, link: CaseLink) -> None:
        """The link on this case's timeline."""
        zh, en = links.link_words(link)
        self._recorder.event(
            "case_linked",
            None,
            zh,
            en,
            {
                "case_id": link.case_id,
                "workflow_id": link.workflow_id,
                "relation": link.relation,
                "wait": link.wait,
            },
        )
