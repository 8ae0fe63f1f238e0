"""A case as the projection holds it (:class:`CaseView`), and how it becomes a response.

Second-generation cases are written as deltas: the ``case`` row's ``detail`` is the case header, each
``task`` row's ``detail`` the whole task, ``case_party`` the parties, ``case_link`` the links. Cases of
the frozen first generation keep their whole ``CaseState`` in ``case.detail``; :func:`load_view`
turns either into the same view, and :func:`case_out` renders every view in one shape, so the detail
view, the create response and the decision response always look the same.

Rendering reads what the case pinned, nothing else: each task carries its names, its actions' names
and requirements (``action_info``), its article, its clock entries with their articles and its
deadline record with the explanation; the header carries the profile's id, version and title. The
profile files are not read and no calendar is built per response. Two things are not pinned, and
come from process-wide caches instead (see :func:`_rules_of`, :func:`case_out`): the titles of
annexed documents (only for an ``"annex N, art. M"`` citation; the header does not carry them) and
the working-day calendar that counts a closed task's ``working_days_taken``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from pydantic import TypeAdapter
from sqlmodel import Session, col, select

from api.responses import (
    SHARE_TYPE_ZH,
    ActionOut,
    ActorOut,
    BreachOut,
    CaseOut,
    CasePartyOut,
    ClockEntryOut,
    DecisionOut,
    DepartmentRef,
    GrantOut,
    LinkOut,
    PartyOut,
    ProfileRef,
    ResourceSnapshotOut,
    TaskOut,
)
from calendars import WorkingDayCalendar
from govshare.core import models
from regulations import load_profile
from regulations.citation import cite_zh
from workflows import registry
from workflows.case import (
    ActionInfo,
    Actor,
    Breach,
    CaseHeader,
    CaseLink,
    ClockEntry,
    GrantTerms,
    Party,
    Task,
)
from workflows.legacy.shapes import CaseState

_HEADER = TypeAdapter(CaseHeader)
_TASK = TypeAdapter(Task)
_STATE = TypeAdapter(CaseState)

#: What a task is cited under: a second-generation case's header or a first-generation state (both
#: carry the pinned ``profile_id``, ``profile_version`` and ``profile_name_zh``).
Pinned = CaseHeader | CaseState


# ---------------------------------------------------------------------------------------------------
# The projection → CaseView
# ---------------------------------------------------------------------------------------------------


@dataclass
class CaseView:
    header: CaseHeader
    parties: list[Party]
    tasks: list[Task]
    revision: int
    engine: int
    record_error: str = ""
    links: list[CaseLink] = field(default_factory=list)
    #: Identity reference → name, for the persons the case names (parties, assignees, actors): the
    #: view shows a person by name, never by ID number (``party_identity`` holds that).
    person_names: dict[str, str] = field(default_factory=dict)

    @property
    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.status == "open"]


def load_view(session: Session, row: models.Case) -> CaseView:
    if row.engine >= 2:
        header = _HEADER.validate_python(row.detail)
        # Columns, not ORM objects: this runs for every answer and every case page.
        parties = [
            Party(role=role, department=department, person=person)  # type: ignore[arg-type]
            for role, department, person in session.exec(
                select(models.CaseParty.role, models.CaseParty.department, models.CaseParty.person)
                .where(models.CaseParty.case_id == row.id)
                .order_by(col(models.CaseParty.id))
            )
        ]
        tasks = [
            _TASK.validate_python(detail)
            for detail in session.exec(
                select(models.Task.detail).where(models.Task.case_id == row.id).order_by(col(models.Task.seq))
            )
            if detail
        ]
        links = list(header.links)
        # Links another case made to this one that this case's history cannot hold (it may have
        # closed before: a dispute over a refused application) — the projection's mirror rows.
        for mirror in session.exec(
            select(models.CaseLink).where(
                models.CaseLink.case_id == row.id, models.CaseLink.relation == "linked_from"
            )
        ):
            if not any(k.case_id == mirror.linked_case_id and k.relation == "linked_from" for k in links):
                links.append(
                    CaseLink(
                        case_id=mirror.linked_case_id,
                        workflow_id=mirror.linked_workflow_id,
                        case_type=mirror.case_type,
                        relation="linked_from",
                        at=mirror.at,
                        reason_zh=mirror.reason_zh,
                        reason_en=mirror.reason_en,
                    )
                )
        view = CaseView(header, parties, tasks, row.revision, 2, row.record_error, links)
        view.person_names = person_names(session, _persons_named(view))
        return view
    return view_of_state(_STATE.validate_python(row.detail), row.record_error)


def person_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Identity reference → display name (``party_identity``) for ``ids``; only the name is read, so
    no ID number leaves the table. References that name no identity (a credential's label where an
    actor's ``user`` is) are simply absent."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.exec(
        select(models.PartyIdentity.id, models.PartyIdentity.name).where(
            col(models.PartyIdentity.id).in_(sorted(wanted))
        )
    ).all()
    return {identity: name for identity, name in rows}


def _persons_named(view: CaseView) -> set[str]:
    """Every reference a rendered case may show as a person: parties and assignees by their
    ``person``; actors (who submitted, decided, approved a clock change) by their ``user``, which is
    the identity reference when a person's credential acted (``api.acting.actor_of``)."""
    ids = {p.person for p in view.parties}
    ids.add(view.header.submitted_by.user)
    ids.update(b.responsible.person for b in view.header.breaches)
    for task in view.tasks:
        ids.add(task.assignee.person)
        if task.breach is not None:
            ids.add(task.breach.responsible.person)
        if task.decision is not None:
            ids.add(task.decision.actor.user)
        ids.update(e.approved_by.user for e in task.clock if e.approved_by is not None)
    return ids


def view_of_state(state: CaseState, record_error: str = "") -> CaseView:
    """A first-generation CaseState as a view (its application fields become the header's attributes)."""
    header = CaseHeader(
        case_id=state.case_id,
        case_type=state.case_type,
        workflow_id=state.workflow_id,
        workflow_type="SharingApplication",
        profile_id=state.profile_id,
        profile_version=state.profile_version,
        profile_digest=state.profile_digest,
        profile_name_zh=state.profile_name_zh,
        submitted_at=state.submitted_at,
        submitted_by=state.submitted_by,
        status=state.status,
        result=state.result,
        result_reason=state.result_reason,
        result_article=state.result_article,
        closed_at=state.closed_at,
        subject_zh=state.resource.name_zh if state.resource else "",
        subject_en=state.resource.name_en if state.resource else "",
        attributes={
            "resource": asdict(state.resource) if state.resource else None,
            "purpose": state.purpose,
            "reason": state.reason,
            "requested_fields": list(state.requested_fields),
            "requested_mode": state.requested_mode,
            "grant": asdict(state.grant) if state.grant else None,
        },
        breaches=list(state.breaches),
        engine=1,
    )
    parties = [Party(role=role, department=dept) for role, dept in state.parties.items()]  # type: ignore[arg-type]
    return CaseView(header, parties, list(state.tasks), state.revision, 1, record_error)


def task_of(task_row: models.Task, case_row: models.Case) -> tuple[Pinned, Task] | None:
    """One task of the projection with what cites it (the case's profile): from the task row of a
    second-generation case, from the case's whole state for the first generation."""
    pinned = (
        _HEADER.validate_python(case_row.detail)
        if case_row.engine >= 2
        else _STATE.validate_python(case_row.detail)
    )
    return task_in(pinned, task_row)


def task_in(pinned: CaseHeader | CaseState, task_row: models.Task) -> tuple[Pinned, Task] | None:
    """The task of ``task_row`` with its case's pinned rules (a header, or a first-generation state)."""
    if isinstance(pinned, CaseState):
        task = next((t for t in pinned.tasks if t.task_id == task_row.id), None)
        return (pinned, task) if task is not None else None
    if not task_row.detail:
        return None
    return pinned, _TASK.validate_python(task_row.detail)


class _PinnedCache:
    """Validated case headers (and first-generation states) by case id and a digest of the JSON the
    row holds. A list of tasks cites each case's pinned rules (its header: the profile's steps, ~13 KB
    of JSON); decoding and validating them again for every row had been most of an inbox read's CPU
    (``bench/reads_under_load.py --profile``). The digest is of the stored text itself, so a row that
    changed — a new revision, or anything else — is a new entry: nothing stale is ever answered.
    The objects are shared between requests and only read."""

    def __init__(self, size: int = 2048) -> None:
        self._items: OrderedDict[tuple[str, bytes], CaseHeader | CaseState] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, case_id: str, engine: int, text: str) -> CaseHeader | CaseState:
        key = (case_id, hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest())
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        data = json.loads(text)
        found = _HEADER.validate_python(data) if engine >= 2 else _STATE.validate_python(data)
        with self._lock:
            self._items[key] = found
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return found


PINNED = _PinnedCache()


# ---------------------------------------------------------------------------------------------------
# CaseView → CaseOut
# ---------------------------------------------------------------------------------------------------


def case_out(
    view: CaseView,
    names: dict[str, DepartmentRef],
    now: datetime | None = None,
    *,
    calendar: WorkingDayCalendar | None = None,
) -> CaseOut:
    """The one shape every route answers a case with, whatever its type and engine generation.

    ``calendar`` counts closed tasks' ``working_days_taken`` (a statistic the case does not pin):
    by default the process's calendar in force, looked up once per render and only when a task is
    closed (``WorkingDayCalendar.default()`` is cached per notices folder: a lookup, not a load)."""
    now = now or datetime.now(UTC)
    header = view.header
    if calendar is None and any(t.closed_at is not None for t in view.tasks):
        calendar = WorkingDayCalendar.default()
    persons = view.person_names
    timeline = [task_out(header, t, names, now, calendar=calendar, persons=persons) for t in view.tasks]
    open_tasks = [t for t in timeline if t.status == "open"]
    attributes = header.attributes
    roles: dict[str, DepartmentRef] = {}
    for party in view.parties:  # the first party of each role, as the one-per-role map always showed
        roles.setdefault(party.role, _ref(party.department, names))
    grant = attributes.get("grant")
    return CaseOut(
        id=header.case_id,
        workflow_id=header.workflow_id,
        case_type=header.case_type,
        status=header.status,
        status_zh=registry.status_words(header.case_type, header.status)[0],
        result=header.result,
        result_reason=header.result_reason,
        result_article=header.result_article,
        profile=ProfileRef(
            id=header.profile_id,
            version=header.profile_version,
            name_zh=header.profile_name_zh,
            digest=header.profile_digest,
        ),
        resource=_resource_out(attributes.get("resource")),
        parties=roles,
        purpose=attributes.get("purpose", ""),
        reason=attributes.get("reason", ""),
        requested_fields=list(attributes.get("requested_fields") or []),
        requested_mode=attributes.get("requested_mode", ""),
        submitted_at=header.submitted_at,
        submitted_by=_actor_out(header.submitted_by, persons),
        grant=GrantOut(**grant) if grant else None,
        closed_at=header.closed_at,
        overdue=any(t.overdue for t in open_tasks),
        open_task=open_tasks[0] if open_tasks else None,
        open_tasks=open_tasks,
        timeline=timeline,
        breaches=[_breach_out(b, persons) for b in header.breaches],
        revision=view.revision,
        subject_zh=header.subject_zh,
        subject_en=header.subject_en,
        party_list=[
            CasePartyOut(
                **_ref(p.department, names).model_dump(),
                role=p.role,
                person=p.person,
                person_name=persons.get(p.person, "") if p.person else "",
            )
            for p in view.parties
        ],
        links=[_link_out(link) for link in view.links],
        attributes={k: v for k, v in attributes.items() if k not in _APPLICATION_FIELDS},
        engine=view.engine,
        record_error=view.record_error,
    )


#: Attributes a sharing application shows as fields of their own (kept where they always were).
_APPLICATION_FIELDS = frozenset(
    {"resource", "purpose", "reason", "requested_fields", "requested_mode", "grant"}
)


def task_out(
    pinned: Pinned,
    task: Task,
    names: dict[str, DepartmentRef],
    now: datetime,
    *,
    calendar: WorkingDayCalendar | None = None,
    persons: Mapping[str, str] | None = None,
) -> TaskOut:
    """One task of the timeline, from the task as the case recorded it (``calendar``: see
    :func:`case_out`; only a closed task needs one; ``persons``: identity reference → name, see
    :attr:`CaseView.person_names`)."""
    persons = persons or {}
    deadline = task.deadline
    working_days_taken = None
    if task.closed_at is not None:
        calendar = calendar or WorkingDayCalendar.default()
        working_days_taken = calendar.working_days_between(task.opened_at, task.closed_at)
    return TaskOut(
        task_id=task.task_id,
        seq=task.seq,
        step=task.step,
        name_zh=task.name_zh,
        name_en=task.name_en,
        assignee=party_out(
            task.assignee.department, task.assignee.role, names, task.assignee.person, persons
        ),
        status=task.status,
        actions=task_actions(pinned, task) if task.status == "open" else [],
        opened_at=task.opened_at,
        **deadline_fields(pinned, task, now),
        remind_at=deadline.remind_at if deadline else None,
        reminded_at=task.reminded_at,
        breach=_breach_out(task.breach, persons) if task.breach else None,
        decision=_decision_out(pinned, task, persons),
        closed_at=task.closed_at,
        working_days_taken=working_days_taken,
        step_article=task.article,
        group=task.group,
        suspended=task.suspended_at is not None,
        clock=[_clock_entry_out(pinned, e, persons) for e in task.clock],
        claimed_by=task.claimed_by,
        claimed_by_name=task.claimed_by_name,
        claimed_at=task.claimed_at,
    )


def deadline_fields(pinned: Pinned, task: Task, now: datetime) -> dict[str, Any]:
    """What a task shows of its deadline and why — the same in the timeline and in the inbox."""
    deadline = task.deadline
    # The article of the deadline in force: an extension or a resumed clock re-cites its own.
    article = task.clock[-1].article if task.clock else task.article
    stopped = task.suspended_at is not None
    cited = citation_zh(pinned, article)
    basis_zh, basis_en = LIMIT_BASIS_WORDS.get(task.limit_basis, (task.limit_basis, task.limit_basis))
    explanation_zh = list(deadline.explanation_zh) if deadline else []
    explanation_en = list(deadline.explanation_en) if deadline else []
    if task.limit_basis == "decision" and deadline is not None:
        # A period the issuer set on its decision (a rectification order): say who set it and under
        # which article, never as a statutory limit (the seeds set no number).
        explanation_zh.insert(0, f"期限由下达方设定:{deadline.working_days}个工作日(依{cited}),非法定时限")
        explanation_en.insert(
            0, f"Period set by the issuer: {deadline.working_days} working days (art. {article}), not statute"
        )
    return {
        "due_at": deadline.due_at if deadline and not stopped else None,
        "due_date": str(deadline.due_date) if deadline and not stopped else None,
        "working_days": deadline.working_days if deadline else None,
        "article": article,
        "citation_zh": cited,
        "limit_basis": task.limit_basis,
        "limit_basis_zh": basis_zh,
        "limit_basis_en": basis_en,
        "provisional": deadline.provisional if deadline else False,
        "overdue": is_overdue(task, now),
        "explanation_zh": explanation_zh,
        "explanation_en": explanation_en,
    }


#: A deadline's basis as people read it (``Task.limit_basis``).
LIMIT_BASIS_WORDS: dict[str, tuple[str, str]] = {
    "statute": ("法定时限", "statutory limit"),
    "local_policy": ("本地政策规定(非法定)", "local policy (not statute)"),
    "decision": ("由下达方设定", "set by the issuer"),
    "none": ("法规未规定时限", "no statutory limit"),
}


def task_actions(pinned: Pinned, task: Task) -> list[ActionOut]:
    """The actions as the case pinned them (``action_info``); a task recorded before tasks carried
    them falls back to the rules of the pinned profile version."""
    return [
        ActionOut(
            id=info.id,
            name_zh=info.name_zh,
            name_en=info.name_en,
            reason_required=info.reason_required,
            grant=info.grant,
        )
        for info in (task.action_info or _legacy_action_info(pinned, task))
    ]


def citation_zh(pinned: Pinned, article: str) -> str:
    """《title》第N条 under the title the case pinned; an annexed document by its own title."""
    if not _cites_annex(article):
        return cite_zh(article, pinned.profile_name_zh)
    annexes = _rules_of(pinned.profile_id, pinned.profile_version).annex_titles_zh
    return cite_zh(article, pinned.profile_name_zh, dict(annexes))


def is_overdue(task: Task, now: datetime) -> bool:
    """The projection's flag, or a deadline already past that the breach timer has not yet recorded."""
    if task.overdue:
        return True
    if task.suspended_at is not None:
        return False
    return task.status == "open" and task.deadline is not None and task.deadline.due_at <= now


def party_out(
    code: str,
    role: str,
    names: dict[str, DepartmentRef],
    person: str = "",
    persons: Mapping[str, str] | None = None,
) -> PartyOut:
    """A department in a role, or a person (by reference and name: ``persons`` maps references to
    names; a reference it lacks shows without a name)."""
    ref = _ref(code, names)
    person_name = (persons or {}).get(person, "") if person else ""
    return PartyOut(
        code=code, name_zh=ref.name_zh, name_en=ref.name_en, role=role, person=person, person_name=person_name
    )


def _decision_out(pinned: Pinned, task: Task, persons: Mapping[str, str]) -> DecisionOut | None:
    decision = task.decision
    if decision is None:
        return None
    info = _action_info(pinned, task, decision.action)
    return DecisionOut(
        action=decision.action,
        name_zh=info.name_zh if info else "",
        name_en=info.name_en if info else "",
        actor=_actor_out(decision.actor, persons),
        decided_at=decision.decided_at,
        reason=decision.reason,
        note=decision.note,
        grant=_grant_out(decision.grant) if decision.grant else None,
        kind=decision.kind,
        article=decision.article,
    )


def _clock_entry_out(pinned: Pinned, entry: ClockEntry, persons: Mapping[str, str]) -> ClockEntryOut:
    return ClockEntryOut(
        kind=entry.kind,
        at=entry.at,
        article=entry.article,
        citation_zh=citation_zh(pinned, entry.article),
        basis=entry.basis,
        working_days=entry.working_days,
        starts_at=entry.starts_at,
        due_at=entry.due_at,
        approved_by=_actor_out(entry.approved_by, persons) if entry.approved_by else None,
        approver_name=entry.approver_name,
        reason=entry.reason,
    )


def _resource_out(r: dict[str, Any] | None) -> ResourceSnapshotOut | None:
    """The catalog entry as the case recorded it when it started (an application's attribute)."""
    if not r:
        return None
    return ResourceSnapshotOut(
        **{k: r.get(k) for k in ("id", "version", "name_zh", "name_en", "provider_department", "share_type")},
        share_type_zh=SHARE_TYPE_ZH.get(r["share_type"], r["share_type"]),
        controlled_parameters=r.get("controlled_parameters", False),
        sharing_modes=list(r.get("sharing_modes") or []),
        fields=list(r.get("fields") or []),
        legal_basis=r.get("legal_basis", ""),
    )


def _link_out(link: CaseLink) -> LinkOut:
    return LinkOut(
        case_id=link.case_id,
        case_type=link.case_type,
        relation=link.relation,
        at=link.at,
        reason_zh=link.reason_zh,
        reason_en=link.reason_en,
        wait=link.wait,
        status=link.status,
        result=link.result,
    )


def _grant_out(grant: GrantTerms) -> GrantOut:
    return GrantOut(
        scope=grant.scope,
        fields=list(grant.fields),
        sharing_mode=grant.sharing_mode,
        conditions=grant.conditions,
        valid_until=grant.valid_until,
        comparison_results_only=grant.comparison_results_only,
    )


def _breach_out(breach: Breach, persons: Mapping[str, str]) -> BreachOut:
    responsible = breach.responsible  # a party: a department in a role, or one person
    person = responsible.person
    return BreachOut(
        step=breach.step,
        due_at=breach.due_at,
        detected_at=breach.detected_at,
        article=breach.article,
        responsible=ActorOut(
            department=responsible.department,
            role=responsible.role,
            person=person,
            person_name=persons.get(person, "") if person else "",
        ),
        next_rung=breach.next_rung,
        next_rung_article=breach.next_rung_article,
    )


def _actor_out(actor: Actor, persons: Mapping[str, str]) -> ActorOut:
    """An actor; when its ``user`` is an identity reference (a person's credential acted), the
    person by reference and name as well."""
    person = actor.user if actor.user and actor.user in persons else ""
    return ActorOut(
        department=actor.department,
        role=actor.role,
        user=actor.user,
        person=person,
        person_name=persons[person] if person else "",
    )


def _ref(code: str, names: dict[str, DepartmentRef]) -> DepartmentRef:
    return names.get(code) or DepartmentRef(code=code)


# ---------------------------------------------------------------------------------------------------
# What the case did not pin: a process-wide cache per profile version
# ---------------------------------------------------------------------------------------------------


def _action_info(pinned: Pinned, task: Task, action: str) -> ActionInfo | None:
    """The pinned names of ``action`` on ``task`` (a decision's), or None for an action not offered."""
    return next((a for a in task.action_info or _legacy_action_info(pinned, task) if a.id == action), None)


def _legacy_action_info(pinned: Pinned, task: Task) -> list[ActionInfo]:
    """``action_info`` of a task recorded before tasks carried it: from the pinned profile version
    (an action the version does not know, or a version no longer on disk, shows without names)."""
    known = _rules_of(pinned.profile_id, pinned.profile_version).actions.get(task.step, {})
    return [known.get(name) or ActionInfo(name, "", "") for name in task.actions]


def _cites_annex(article: str) -> bool:
    """``"annex 3, art. 13"``: the only form whose citation needs a title the header does not pin."""
    return article.startswith("annex ")


@dataclass(frozen=True)
class _Rules:
    """What rendering may need of a profile version that the case did not pin."""

    #: Titles of documents annexed to the profile's source, for ``"annex N, art. M"`` citations.
    annex_titles_zh: Mapping[str, str]
    #: step → action id → names and requirements, for tasks recorded without ``action_info``.
    actions: Mapping[str, Mapping[str, ActionInfo]]


_NO_RULES = _Rules(MappingProxyType({}), MappingProxyType({}))


@lru_cache(maxsize=32)
def _rules_of(profile_id: str, profile_version: str) -> _Rules:
    """Process-wide cache, keyed by ``(profile_id, profile_version)``, of immutable data only: a
    profile version is one fixed set of rules (a change to a profile is a new version, and the loader
    refuses a file whose version is not the pinned one), so what is cached here is what that version
    says and never goes stale. Read at most once per version and process — never per response — and
    only for an annex citation or a task recorded before tasks carried ``action_info``. A version no
    longer on disk yields nothing: citations fall back to the pinned title, actions to their ids."""
    try:
        profile = load_profile(profile_id, version=profile_version)
    except ValueError:  # ProfileError: unknown profile, or the file is at another version
        return _NO_RULES
    actions: dict[str, Mapping[str, ActionInfo]] = {}
    for case_type in profile.case_types.values():
        for step_id, step in case_type.steps.items():
            actions.setdefault(  # step ids are unique within a profile (Profile.find_step)
                step_id,
                MappingProxyType(
                    {
                        a_id: ActionInfo(a_id, a.name_zh, a.name_en, a.reason_required, a.grant)
                        for a_id, a in step.actions.items()
                    }
                ),
            )
    return _Rules(MappingProxyType(dict(profile.annex_titles_zh)), MappingProxyType(actions))
