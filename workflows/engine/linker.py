"""Cases a case starts, and the links both show (DESIGN.md, Links).

A linked case gets a business-key id and is started with reject-duplicate, so a retry, a replay or a
second breach of the same task never starts a second one; an id that exists already is linked, not
started. With ``wait`` the starting case waits for the linked one's result. What to start and how to
say it are the pure functions of ``links.py``; this component starts it and records the link.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from regulations.schema import CaseType, Rung
    from workflows.case import Breach, CaseAnswer, CaseHeader, CaseLink, LinkedCaseClosed, Party, Task
    from workflows.contracts import CaseInput, CaseStart
    from workflows.engine import ladder as ladder_parts
    from workflows.engine import links
    from workflows.engine.links import StartedCase
    from workflows.engine.recorder import Recorder
    from workflows.engine.words import Speaker
    from workflows.legacy import first_rung

#: Breaches climb the ladder through escalation cases, and linked cases report how they ended
#: (issue 18). Histories written before take the frozen first-rung path (``legacy/first_rung.py``).
PATCH_LADDER = "ladder-escalation-cases"


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
        self._watchers: list[asyncio.Task[None]] = []

    async def escalate(
        self, rules: CaseType, task: Task, breach: Breach, parties: list[Party], tasks: list[Task]
    ) -> None:
        """A breach climbs the case's ladder (REGULATIONS.md §7): one escalation case per breached
        task (``ES-<case>-T<n>``, started with reject-duplicate, so a rung never acts twice for one
        breach: not on replay, on a retry, on a second breach of the task, nor after a late decision;
        a task reopened on the deadline an earlier one missed is that breach again)."""
        if not workflow.patched(PATCH_LADDER):
            await first_rung.escalate(self, rules, task, breach, parties)  # histories before the ladder
            return
        ladder, carried = self.ladder(rules)
        if not ladder_parts.follows_breach(ladder, carried):
            return
        breach.next_rung, breach.next_rung_article = ladder[0].id, ladder[0].article
        cite = self._speaker.cite
        breach.escalation_case_id = await self.climb(
            ladder,
            key=f"T{ladder_parts.breach_key(task, tasks)}",
            responsible=task.assignee,
            parties=parties,
            reason_zh=f"{task.name_zh}超期({cite(breach.article)}),依{cite(ladder[0].article)}{ladder[0].name_zh}",
            reason_en=f"{task.name_en} overdue (art. {breach.article}): "
            f"{ladder[0].name_en} (art. {ladder[0].article})",
            facts={"breach_task": task.task_id, "breach_step": task.step, "breach_article": breach.article},
        )

    async def escalate_on_result(self, rules: CaseType, result: str, parties: list[Party]) -> None:
        """A case that carries a ladder and ended with a result its next rung follows (a refusal)
        climbs it, once per case, and not after a breach already did."""
        ladder, carried = self.ladder(rules)
        if not ladder_parts.follows_result(ladder, carried, result):
            return
        if any(
            link.case_type == ladder_parts.ESCALATION and link.relation == "started"
            for link in self._header.links
        ):
            return
        respondent = next((p for p in parties if p.role == "respondent"), None)
        if respondent is None:
            return
        words = self._speaker.status_zh(result)
        await self.climb(
            ladder,
            key="R",
            responsible=respondent,
            parties=parties,
            reason_zh=f"案件办结为“{words}”,依{self._speaker.cite(ladder[0].article)}{ladder[0].name_zh}",
            reason_en=f"case closed {result}: {ladder[0].name_en} (art. {ladder[0].article})",
            facts={"closed_with": result},
        )

    def ladder(self, rules: CaseType) -> tuple[list[Rung], bool]:
        """The ladder this case climbs, and whether it was carried on from the case that started it."""
        if self._start.ladder is not None:
            return list(self._start.ladder), True
        return list(rules.escalation), False

    async def climb(
        self,
        ladder: list[Rung],
        *,
        key: str,
        responsible: Party,
        parties: list[Party],
        reason_zh: str,
        reason_en: str,
        facts: dict[str, Any],
    ) -> str:
        """Start the escalation that climbs ``ladder``; its case id."""
        pinned = self._start.escalation_type
        if pinned is None:  # a case started before escalations were cases: the rung is named only
            workflow.logger.warning(
                "case %s pins no escalation type; the ladder is named only", self._header.case_id
            )
            return ""
        own, _ = ladder_parts.climbed(ladder)
        waited = own[-1].starts_case if own and own[-1].starts_case else None
        waited_type = self._start.linked_types.get(waited) if waited else None
        rules = ladder_parts.escalation_rules(
            ladder,
            name_zh="逐级上报",
            name_en="Escalation",
            waited_results=list(waited_type.rules.results) if waited_type and waited_type.rules else [],
        )
        child = await self.start(
            ladder_parts.ESCALATION,
            key=key,
            reason_zh=reason_zh,
            reason_en=reason_en,
            parties=ladder_parts.escalation_parties(ladder, responsible, self._start.directory, parties),
            facts={
                **facts,
                "responsible_department": responsible.department,
                "responsible_role": responsible.role,
            },
            rules=rules,
            ladder=ladder,
        )
        return child or ""

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
        rules: CaseType | None = None,
        ladder: list[Rung] | None = None,
        started: StartedCase | None = None,
    ) -> Any:
        """Start ``case_type`` as a child with a business-key id and record the link. With
        ``wait``, wait for its result, record it and return the answer; else return the case id
        (None when nothing was started). ``rules``/``ladder``: an escalation's, made from the ladder."""
        linked = self._start.linked_types.get(case_type)
        if case_type == ladder_parts.ESCALATION:
            linked = self._start.escalation_type
        if linked is None:
            workflow.logger.warning("case type %s is not pinned; no case started", case_type)
            return None
        if rules is not None:
            linked = dataclasses.replace(linked, rules=rules)
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
            submitted_by=started.submitted_by if started is not None else None,
        )
        if ladder is not None:
            child.start.ladder = list(ladder)
        reports = workflow.patched(PATCH_LADDER)
        link = child.link
        link.reports = reports
        handle = None
        try:
            # A case type of its own input shape (a sharing application) gets its fields beside the
            # start; the others, the shared CaseInput with facts.
            arg: Any = (
                {"case": child.start, **started.fields}
                if started is not None
                else CaseInput(case=child.start, facts=dict(facts or {}))
            )
            handle = await workflow.start_child_workflow(
                child.workflow_type,
                arg,
                id=child.workflow_id,
                task_queue=workflow.info().task_queue,
                result_type=CaseAnswer,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # The linked case lives on its own: closing this case does not end it.
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"{reason_zh}({self._header.case_id})",
            )
        except WorkflowAlreadyStartedError:
            if any(k.case_id == child.case_id and k.relation == "started" for k in self._header.links):
                return child.case_id  # this case started it already (the same breach again)
            link.reason_zh += "(该案件已存在,仅建立关联)"
            link.reason_en += " (the case already existed; linked)"
            link.reports = False
        self._header.links.append(link)
        self._recorder.link_added(link)
        self.link_event(link)
        if link.reports and handle is not None and not wait:
            # Should the case never report (it failed, or was terminated by an operator), its end
            # still settles the link, so this case does not wait for it forever.
            self._watchers.append(asyncio.create_task(self._settle_when_ended(handle, link)))
        if not wait or handle is None:
            return child.case_id
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

    async def start_waited(self, task: Task, step: Any, parties: list[Party]) -> str | None:
        """Start the case a waiting step waits on (its issuer: the department that plays the step's
        role), carrying the rest of this case's ladder on; its case id."""
        assert step.waits_on is not None
        ladder = self._start.ladder
        rung = next((r for r in ladder or [] if ladder_parts.rung_step_id(r) == task.step), None)
        respondent = next((p.department for p in parties if p.role == "respondent"), "")
        concerns = [k.case_id for k in self._header.links if k.relation == "started_by"] or [
            self._header.case_id
        ]
        return await self.start(
            step.waits_on,
            key="O" if rung is not None else f"T{task.seq}",
            reason_zh=f"依{self._speaker.cite(step.article)}{step.name_zh}",
            reason_en=f"{step.name_en} (art. {step.article})",
            parties=ladder_parts.order_parties(step.actor, respondent, self._start.directory, parties),
            facts={
                "respondent": respondent,
                "grounds": [rung.ground] if rung is not None and rung.ground else [],
                "concerns": concerns,
            },
            ladder=ladder_parts.carried_after(ladder, task.step) if ladder is not None else None,
        )

    async def start_for_action(
        self, task: Task, action: Any, parties: list[Party], started: StartedCase | None = None
    ) -> bool:
        """Start the case a decision starts (``Action.starts_case``): an order issued by
        ``Action.issuer``, or a case of another kind with what its case type hands it (``started``);
        whether there was one to start."""
        if action.starts_case is None:
            return False
        if action.issuer is None:
            if started is None:
                return False
            await self.start(
                action.starts_case,
                key=f"T{task.seq}",
                reason_zh=f"{task.name_zh}:{action.name_zh}",
                reason_en=f"{task.name_en}: {action.name_en}",
                parties=list(started.parties),
                started=started,
            )
            return True
        respondent = next((p.department for p in parties if p.role == "respondent"), "")
        await self.start(
            action.starts_case,
            key=f"T{task.seq}",
            reason_zh=f"{task.name_zh}:{action.name_zh}",
            reason_en=f"{task.name_en}: {action.name_en}",
            parties=ladder_parts.order_parties(action.issuer, respondent, self._start.directory, parties),
            facts={"respondent": respondent, "grounds": [], "concerns": [self._header.case_id]},
        )
        return True

    # -- the inbound message: a linked case reports how it ended ----------------------------------
    def closed(self, report: LinkedCaseClosed) -> CaseLink | None:
        """Record a report from a case this one started: the link's status and result, on the
        timeline (the engine then completes a task waiting on it)."""
        link = next(
            (k for k in self._header.links if k.case_id == report.case_id and k.relation == "started"), None
        )
        if link is not None:
            link.status, link.result = report.status, report.result
            self._recorder.link_added(link)
        words = report.status_zh or self._speaker.status_zh(report.status)
        self._recorder.event(
            "linked_case_closed",
            None,
            f"关联案件 {report.case_id} 已办结:{words}"
            + (f"。{report.result_reason}" if report.result_reason else ""),
            f"Linked case {report.case_id} closed: {report.status}",
            {"case_id": report.case_id, "status": report.status, "result": report.result},
        )
        return link

    async def _settle_when_ended(self, handle: Any, link: CaseLink) -> None:
        try:
            await handle
            return  # it reported before completing
        except Exception as err:  # ChildWorkflowError: failed, terminated, cancelled, timed out
            cause = type(err.__cause__ or err).__name__
        if link.status:
            return
        link.status = "failed"
        self._recorder.link_added(link)
        self._recorder.event(
            "linked_case_failed",
            None,
            f"关联案件 {link.case_id} 未正常办结({cause}),不再等待其结果",
            f"Linked case {link.case_id} ended without a result ({cause}); no longer awaited",
            {"case_id": link.case_id, "error": cause},
        )
        await self._flush()

    def awaiting_reports(self) -> bool:
        """A case this one started has not reported how it ended yet."""
        return any(k.relation == "started" and k.reports and not k.status for k in self._header.links)

    async def report_to_parents(self) -> None:
        """Tell each case that started this one how it ended (the ``linked_case_closed`` signal).
        A case that has completed can no longer hear it: that is said on this timeline."""
        if not workflow.patched(PATCH_LADDER):
            return
        report = LinkedCaseClosed(
            case_id=self._header.case_id,
            workflow_id=self._header.workflow_id,
            case_type=self._header.case_type,
            status=self._header.status,
            result=self._header.result,
            result_reason=self._header.result_reason,
            closed_at=self._header.closed_at,
            status_zh=self._speaker.status_zh(self._header.status),
        )
        for link in [k for k in self._header.links if k.relation == "started_by"]:
            try:
                await workflow.get_external_workflow_handle(link.workflow_id).signal(
                    "linked_case_closed", report
                )
                zh, en = f"已向案件 {link.case_id} 报告办理结果", f"Result reported to case {link.case_id}"
            except Exception as err:  # the starting case has completed (or never existed)
                workflow.logger.info("case %s could not hear the result: %s", link.case_id, err)
                zh, en = (
                    f"案件 {link.case_id} 已结束,未能报告办理结果",
                    f"Case {link.case_id} has ended; the result was not delivered",
                )
            self._recorder.event("result_reported", None, zh, en, {"case_id": link.case_id})

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
