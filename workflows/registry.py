"""One registry of case types, read by the worker, the case service and the API.

A case type is a workflow (one file under ``workflows/``) plus its profile data; registering it here
is all the wiring it needs: the worker runs its workflow, the case service names, starts and
addresses its cases, and the generic API (``/cases``) reads, lists and decides them.

Ids are business keys: a case id is ``<prefix>-<yyyymmdd>-<random>`` (or, for a case another case
started, ``<prefix>-<that case>-<key>``), and its workflow id ``<id_name>:<case id>``. The workflow
*type* may change with an engine generation (``SharingApplication`` → ``SharingApplicationV2``) while
ids keep their form; the frozen generations stay registered for the histories that ran on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workflows import (
    catalog_update,
    complaint,
    data_objection,
    dispute,
    escalation,
    open_data,
    rectification_order,
    sharing_application,
)
from workflows.case import Party
from workflows.contracts import CaseInput, CaseStart, LinkedCaseType, SharingApplicationInput
from workflows.engine.words import STATUS_EN, STATUS_ZH
from workflows.legacy.engine_v1 import SharingApplicationV1


@dataclass(frozen=True)
class CaseKind:
    """A registered case type."""

    case_type: str  # as the profiles name it: sharing_application, rectification_order …
    prefix: str  # case id prefix: SA-…
    id_name: str  # workflow id prefix: SharingApplication:SA-…
    workflow: type  # the current workflow class
    workflow_type: str  # its registered name
    input_type: type
    name_zh: str
    name_en: str
    #: Frozen generations still registered for their histories: workflow type → class.
    legacy: dict[str, type] = field(default_factory=dict)
    # -- what only the case type knows, asked by the shared path (never by isinstance) -----------
    #: The parties its input names (the case service checks every role is played before it starts).
    parties: Callable[[Any], list[Party]] = lambda inp: []
    #: Its input from the pinned start and the fields its create route checked.
    build: Callable[[CaseStart, dict[str, Any]], Any] = lambda start, fields: CaseInput(
        case=start, facts=dict(fields)
    )
    #: One line for the Temporal UI's list of cases.
    start_summary: Callable[[Any], str] = lambda inp: ""

    def parties_of(self, inp: Any) -> list[Party]:
        """Every party of a case about to start: its type's own, then any the start names."""
        return [*self.parties(inp), *inp.case.parties]

    def status_words(self, status: str) -> tuple[str, str]:
        return status_words(self.case_type, status)

    def workflow_id(self, case_id: str) -> str:
        return f"{self.id_name}:{case_id}"


_KINDS: dict[str, CaseKind] = {}


def register(kind: CaseKind) -> CaseKind:
    """Add a case type (idempotent for the same kind; a different kind under a taken name is an error)."""
    for other in _KINDS.values():
        if other.case_type != kind.case_type and other.prefix == kind.prefix:
            raise ValueError(f"prefix {kind.prefix} is taken by {other.case_type}")
    existing = _KINDS.get(kind.case_type)
    if existing is not None and existing != kind:
        raise ValueError(f"case type {kind.case_type} is already registered")
    _KINDS[kind.case_type] = kind
    return kind


def by_case_type(case_type: str) -> CaseKind | None:
    return _KINDS.get(case_type)


def kinds() -> list[CaseKind]:
    """Every registered case type, in registration order."""
    return list(_KINDS.values())


def by_case_id(case_id: str) -> CaseKind | None:
    prefix = case_id.split("-", 1)[0]
    return next((k for k in _KINDS.values() if k.prefix == prefix), None)


def status_words(case_type: str, status: str) -> tuple[str, str]:
    """A status or result as people read it (zh, en): the case type's own results first, then the
    statuses every case shares."""
    kind = _KINDS.get(case_type)
    results = getattr(kind.workflow, "RESULTS", {}) if kind else {}
    if status in results:
        return results[status]
    return STATUS_ZH.get(status, status), STATUS_EN.get(status, status)


def workflows() -> list[type]:
    """Every workflow class the worker must run: current ones and frozen generations."""
    found: list[type] = []
    for kind in _KINDS.values():
        for cls in (kind.workflow, *kind.legacy.values()):
            if cls not in found:
                found.append(cls)
    return found


def linked_type(case_type: str, rules) -> LinkedCaseType:  # rules: None for an escalation
    """What a case pins of a case type it may start (its escalation ladder's ``starts_case``)."""
    kind = _KINDS[case_type]
    return LinkedCaseType(
        rules=rules, workflow_type=kind.workflow_type, id_name=kind.id_name, prefix=kind.prefix
    )


SHARING_APPLICATION = register(
    CaseKind(
        case_type="sharing_application",
        prefix="SA",
        id_name="SharingApplication",
        workflow=sharing_application.SharingApplicationWorkflow,
        workflow_type=sharing_application.WORKFLOW_TYPE,
        input_type=SharingApplicationInput,
        name_zh="数据使用申请",
        name_en="Data sharing application",
        legacy={"SharingApplication": SharingApplicationV1},
        parties=sharing_application.parties_of,
        build=sharing_application.build,
        start_summary=sharing_application.start_summary,
    )
)

RECTIFICATION_ORDER = register(
    CaseKind(
        case_type="rectification_order",
        prefix="RO",
        id_name="RectificationOrder",
        workflow=rectification_order.RectificationOrderWorkflow,
        workflow_type=rectification_order.WORKFLOW_TYPE,
        input_type=CaseInput,
        name_zh="整改通知",
        name_en="Rectification order",
        parties=rectification_order.parties_of,
        start_summary=rectification_order.start_summary,
    )
)

COMPLAINT = register(
    CaseKind(
        case_type="complaint",
        prefix="CP",
        id_name="Complaint",
        workflow=complaint.ComplaintWorkflow,
        workflow_type=complaint.WORKFLOW_TYPE,
        input_type=CaseInput,
        name_zh="投诉",
        name_en="Complaint",
        parties=complaint.parties_of,
        start_summary=complaint.start_summary,
    )
)

CATALOG_UPDATE = register(
    CaseKind(
        case_type="catalog_update",
        prefix="CU",
        id_name="CatalogUpdate",
        workflow=catalog_update.CatalogUpdateWorkflow,
        workflow_type=catalog_update.WORKFLOW_TYPE,
        input_type=CaseInput,
        name_zh="目录更新",
        name_en="Catalog update",
        parties=catalog_update.parties_of,
        start_summary=catalog_update.start_summary,
    )
)

DATA_OBJECTION = register(
    CaseKind(
        case_type="data_objection",
        prefix="DO",
        id_name="DataObjection",
        workflow=data_objection.DataObjectionWorkflow,
        workflow_type=data_objection.WORKFLOW_TYPE,
        input_type=CaseInput,
        name_zh="数据疑义校核",
        name_en="Data objection",
        parties=data_objection.parties_of,
        start_summary=data_objection.start_summary,
    )
)

DISPUTE = register(
    CaseKind(
        case_type="dispute",
        prefix="DS",
        id_name="Dispute",
        workflow=dispute.DisputeWorkflow,
        workflow_type=dispute.WORKFLOW_TYPE,
        input_type=CaseInput,
        name_zh="共享争议",
        name_en="Sharing dispute",
        parties=dispute.parties_of,
        start_summary=dispute.start_summary,
    )
)

OPEN_DATA_APPLICATION = register(
    CaseKind(
        case_type="open_data_application",
        prefix="OD",
        id_name="OpenDataApplication",
        workflow=open_data.OpenDataApplicationWorkflow,
        workflow_type=open_data.APPLICATION_WORKFLOW_TYPE,
        input_type=CaseInput,
        name_zh="有条件开放数据申请",
        name_en="Conditional open-data application",
        parties=open_data.parties_of,
        start_summary=open_data.start_summary,
    )
)

OPEN_CATALOG_CORRECTION = register(
    CaseKind(
        case_type="open_catalog_correction",
        prefix="OC",
        id_name="OpenCatalogCorrection",
        workflow=open_data.OpenCatalogCorrectionWorkflow,
        workflow_type=open_data.CORRECTION_WORKFLOW_TYPE,
        input_type=CaseInput,
        name_zh="开放目录更正申请",
        name_en="Open catalog correction",
        parties=open_data.parties_of,
        start_summary=open_data.start_summary,
    )
)

#: Not a profile's case type: made from a case type's ladder when a breach starts it.
ESCALATION = register(
    CaseKind(
        case_type=escalation.ESCALATION,
        prefix="ES",
        id_name="Escalation",
        workflow=escalation.EscalationWorkflow,
        workflow_type=escalation.WORKFLOW_TYPE,
        input_type=CaseInput,
        name_zh="逐级上报",
        name_en="Escalation",
        start_summary=escalation.start_summary,
    )
)

__all__ = [
    "CATALOG_UPDATE",
    "COMPLAINT",
    "DATA_OBJECTION",
    "DISPUTE",
    "ESCALATION",
    "OPEN_CATALOG_CORRECTION",
    "OPEN_DATA_APPLICATION",
    "RECTIFICATION_ORDER",
    "SHARING_APPLICATION",
    "CaseInput",
    "CaseKind",
    "by_case_id",
    "by_case_type",
    "kinds",
    "linked_type",
    "register",
    "workflows",
]
