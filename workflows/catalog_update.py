"""The catalog update (目录更新), one workflow per update (REGULATIONS.md §5).

Opened when a law revision or a change of functions is registered for a department (by the platform
or the department, with the date the change took effect), or by the department on its own. Its first
deadline counts from the date of the change (Luoyang 14: 自……发生变更之日起10个工作日内; Luzhou 10,
Jiangsu 9: 15 WD; Hubei 6: promptly, no number) — ``counts_from = "case"``, so a change registered
late is overdue at once. The department submits a change set (new, changed, withdrawn entries),
checked against the catalog's rules before it is taken; the platform publishes it — every entry at
once, by the ``publish_change_set`` activity — or returns it with reasons. Reminders, breaches and the
escalation ladder as for every case.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import TypeAdapter, ValidationError

    from regulations.schema import Action
    from workflows.case import ERROR_INVALID, CaseAnswer, DecisionRequest, Party, Task
    from workflows.contracts import CaseInput
    from workflows.engine import CaseEngine, refuse

WORKFLOW_TYPE = "CatalogUpdate"

RESULTS = {
    "updated": ("目录已更新", "updated"),
    "rejected": ("审核不通过", "rejected"),
}

#: Why the catalog changes (Luoyang 14, Luzhou 10, Hubei 6): a law revised, functions changed, or the
#: department's own revision.
REASONS = {
    "law_revision": ("法律法规修订", "law revised"),
    "function_change": ("行政管理职能变化", "functions changed"),
    "own": ("部门自行更新", "the department's own update"),
}


@dataclass
class ChangeItem:
    """One entry of a change set: a new entry, a change to a published one, or its withdrawal."""

    action: Literal["new", "change", "withdraw"]
    resource_id: str
    entry: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChangeSet:
    items: list[ChangeItem]
    note: str = ""


_CHANGE_SET = TypeAdapter(ChangeSet)


def parties_of(inp: CaseInput) -> list[Party]:
    """The department whose catalog changes (as its provider) and the platform that publishes it."""
    return [
        Party(role="provider", department=inp.facts.get("department", "")),
        Party(role="platform", department=inp.case.platform_department),
    ]


def summary_of(inp: CaseInput) -> dict[str, str]:
    return {
        "department": inp.facts.get("department", ""),
        "reason": inp.facts.get("reason", ""),
        "change_date": inp.facts.get("change_date", ""),
    }


def subject_of(inp: CaseInput) -> tuple[str, str]:
    department = inp.facts.get("department", "")
    name = inp.case.department_names.get(department, department)
    zh, en = REASONS.get(inp.facts.get("reason", ""), ("", ""))
    return (
        f"{name}目录更新({zh})" if zh else f"{name}目录更新",
        f"Catalog update of {department} ({en})" if en else f"Catalog update of {department}",
    )


def start_summary(inp: CaseInput) -> str:
    return f"{subject_of(inp)[0]}({inp.case.profile_id})"


def change_set_of(payload: dict[str, Any] | None, department: str) -> ChangeSet:
    """A submitted change set, checked for shape: refused (422) with what is wrong."""
    try:
        change_set = _CHANGE_SET.validate_python(payload or {})
    except ValidationError as err:
        raise refuse(
            ERROR_INVALID, f"目录变更内容格式不正确:{err}", f"the change set is malformed: {err}"
        ) from None
    if not change_set.items:
        raise refuse(ERROR_INVALID, "目录变更内容为空", "the change set has no entries")
    seen: set[str] = set()
    for index, item in enumerate(change_set.items):
        where_zh, where_en = f"第{index + 1}项({item.resource_id})", f"item {index + 1} ({item.resource_id})"
        if not item.resource_id.strip():
            raise refuse(ERROR_INVALID, f"{where_zh}缺少资源编号", f"{where_en}: no resource_id")
        if item.resource_id in seen:
            raise refuse(ERROR_INVALID, f"{where_zh}重复", f"{where_en} appears twice")
        seen.add(item.resource_id)
        if item.action != "withdraw" and not item.entry:
            raise refuse(ERROR_INVALID, f"{where_zh}缺少目录内容", f"{where_en}: no entry")
        owner = item.entry.get("provider_department", department)
        if owner != department:
            raise refuse(
                ERROR_INVALID,
                f"{where_zh}不属于本部门目录({owner})",
                f"{where_en} belongs to {owner}, not {department}",
            )
    return change_set


@workflow.defn(name=WORKFLOW_TYPE)
class CatalogUpdateWorkflow(CaseEngine):
    CASE_TYPE = "catalog_update"
    RESULTS = RESULTS

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        zh, en = subject_of(inp)
        self._department = inp.facts.get("department", "")
        self._change_set: dict[str, Any] | None = None
        self._init_case(
            inp.case,
            parties=parties_of(inp),
            summary=summary_of(inp),
            attributes={
                "reason": inp.facts.get("reason", ""),
                "change_date": inp.facts.get("change_date", ""),
                "description": inp.facts.get("description", ""),
                "change_set": None,
                "published": [],
            },
            subject_zh=zh,
            subject_en=en,
        )

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseAnswer:
        return await self._run_case()

    def decision_payload(self, req: DecisionRequest, action: Action | None) -> dict[str, Any]:
        return asdict(change_set_of(req.payload, self._department))

    def effect_input(self, task: Task, action: Action, payload: dict[str, Any] | None) -> dict[str, Any]:
        # Checking a submitted set: that set. Publishing: the set the department submitted last.
        change_set = payload if payload is not None else self._change_set
        return {"department": self._department, "change_set": change_set or {"items": []}}

    def on_decided(self, task: Task, payload: dict[str, Any] | None) -> None:
        if payload is None:
            return
        if "published" in payload:
            self.set_attribute("published", payload["published"])
        elif "items" in payload:
            self._change_set = {k: v for k, v in payload.items() if k in ("items", "note")}
            self.set_attribute("change_set", self._change_set)

    def notice_params(self) -> dict[str, Any]:
        return {"resource_zh": self.header.subject_zh, "resource_en": self.header.subject_en}
