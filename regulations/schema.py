"""The shape of a regulation profile: rules as data.

A profile (one TOML file per jurisdiction under ``regulations/profiles/``) lists, per case type, the
steps of the case, who acts at each step, the working-day limit and the article it comes from, what
each decision leads to, and the escalation ladder. Workflows interpret it; adding a city is adding a
file. Every model forbids unknown keys so that a typo in a profile is an error at load time, not a
silently ignored rule.

A step whose seed gives no number says so (``statutory = "none"``); it may carry a local-policy limit
(``local_policy_working_days``), which is labelled as local policy everywhere it is shown, never as
statute (REGULATIONS.md preamble: "Do not invent statutory numbers").
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal[
    "consumer",  # 使用部门
    "provider",  # 提供部门
    "platform",  # 共享平台建设运维管理部门 / 大数据管理机构
    "leading_group",  # 领导小组(办公室)
    "coordinator",  # 同级政府相关职能部门 / 本级共享主管部门
    "principal_head",  # 部门主要负责人
    "auditor",  # 审计 / 监督检查
    "citizen",  # 公民、法人和其他组织
    "government_office",  # 市政府办公室 (Luzhou 44: receives complaints)
    # Roles a department plays in one case only (matched by department: it answers with any of its
    # own credentials): who issued an order, who must rectify, who complained, who investigates.
    "issuer",  # 整改通知的下达方
    "respondent",  # 被责令整改 / 被投诉的部门
    "complainant",  # 投诉部门
    "investigator",  # 受理投诉并调查的机构
]

#: Roles a department plays in one case (not a credential's role): matched by department alone.
CASE_ROLES = frozenset({"issuer", "respondent", "complainant", "investigator"})
#: Roles a deployment's directory resolves to a department (who plays them is deployment data).
DIRECTORY_ROLES = ("platform", "leading_group", "coordinator", "government_office")

ShareType = Literal["unconditional", "conditional", "not_shared"]

#: Open types (开放类型) for data opened to citizens and organisations (Luoyang 30; Yongcheng's
#: 普遍开放类 / 授权开放类 map to ``open`` / ``conditional_open``).
OpenType = Literal["open", "conditional_open", "not_open"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transition(_Strict):
    """Where a decision (or the case's entry) leads: the first transition whose ``when`` matches wins.

    Exactly one of ``step`` (open that step next) or ``end`` (close the case) is set. On the entry
    list, a transition may also decide automatically (``result``) — e.g. Luzhou 25: an unconditional
    resource is taken directly, no approval — and must then cite the article that allows it.
    """

    when: dict[str, str | bool] = Field(default_factory=dict)
    step: str | None = None
    end: bool = False
    result: str | None = None
    article: str | None = None
    note_zh: str | None = None
    note_en: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Transition:
        if (self.step is None) == (not self.end):
            raise ValueError("a transition needs exactly one of 'step' or 'end = true'")
        if self.result is not None and self.article is None:
            raise ValueError("an automatic result needs the 'article' that allows it")
        return self

    def matches(self, attributes: dict[str, object]) -> bool:
        return all(attributes.get(key) == value for key, value in self.when.items())


class Action(_Strict):
    """A decision the step's actor may take (accept, reject, grant, refuse, inform …)."""

    name_zh: str
    name_en: str
    #: The case's result this decision sets (granted / refused / rejected); informing steps set none.
    result: str | None = None
    #: A refusal or rejection must give its reason (Hubei 19, 20, 21; Luzhou 25; Jiangsu 16).
    reason_required: bool = False
    #: The decision grants use: it must carry scope, fields, sharing mode and conditions.
    grant: bool = False
    #: Roles told of this decision (e.g. Hubei 21: the platform's direct authorization is also sent
    #: to the provider).
    notify: list[Role] = Field(default_factory=list)
    #: The decision sets the limit of the step it opens (``limit_from = "decision"``), in working days:
    #: the issuer of a rectification order sets its period (REGULATIONS.md §7).
    sets_limit: bool = False
    #: Reopening a step whose limit a decision set, without setting it again: the task keeps the
    #: due date of the step's previous run (a returned rectification report: "on the same deadline").
    keeps_deadline: bool = False
    #: The decision starts a linked case of this type (a complaint that leads to a rectification
    #: order); ``issuer`` names the directory role whose department issues it.
    starts_case: str | None = None
    issuer: Role | None = None
    #: The decision carries a payload its case type checks (a catalog update's change set).
    payload: bool = False
    #: An activity the decision runs before it is taken (checking a change set, publishing it): the
    #: decision is refused, with the activity's reasons, when the activity refuses it.
    effect: str | None = None
    #: The decision brings in another party in this role, named in its payload (``{"department":
    #: …}``): a provider whose data disagrees joins a joint verification (Hubei 17).
    adds_party: Role | None = None
    #: In a step sent to several parties, one party's decision with this action ends the step at once
    #: (a party declaring that negotiation has failed): the others need not answer.
    ends_step: bool = False
    #: The decision agrees to the case's latest proposal (a note of a ``proposal`` kind), named in its
    #: payload (``{"proposal": n}``); the agreed terms are that proposal's.
    agrees_to_proposal: bool = False
    next: list[Transition] = Field(min_length=1)

    @model_validator(mode="after")
    def _starts_with_issuer(self) -> Action:
        if self.issuer is not None and self.starts_case is None:
            raise ValueError("'issuer' names who issues the case 'starts_case' starts")
        return self


class Extension(_Strict):
    """An approved extension of a step's limit (Luoyang 19, 32, 33: once, ≤ 10 WD, principal head).

    The assignee asks, with a reason; the ``approver`` of the assignee's own department (its
    principal head, a person) approves or refuses it as a task of their own beside the running one
    (``approval = "on_system"``). Only where a profile says the approval happens off the system
    (``approval = "off_system"``) does the assignee record it with the approver's typed name.
    ``max_count`` counts requests: a second one is refused, whatever became of the first.
    """

    max_working_days: int = Field(gt=0)
    max_count: int = Field(default=1, gt=0)
    approver: Role
    article: str = Field(min_length=1)
    approval: Literal["on_system", "off_system"] = "on_system"
    #: A limit for the approval task itself. The seeds set none: local policy, labelled as such.
    approval_local_policy_working_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _approver_is_a_person_of_the_department(self) -> Extension:
        if self.approval == "on_system" and self.approver != "principal_head":
            raise ValueError("an extension approved on the system is approved by the principal_head")
        return self


class NoteKind(_Strict):
    """A kind of note a party may add to a running case beside deciding, changing the clock and
    withdrawing (Hubei 23: while the data is checked, a party with valid proof is still served, and
    the case records that instruction). ``by``: the roles that may add it."""

    name_zh: str
    name_en: str
    article: str = Field(min_length=1)
    by: list[Role] = Field(min_length=1)
    text_required: bool = True
    #: A proposal (协商方案): its payload holds the terms proposed. A decision that agrees to a
    #: proposal (``Action.agrees_to_proposal``) names the latest one; once a party of the running
    #: step has agreed, no new proposal is taken (the others agree to it, or negotiation fails).
    proposal: bool = False


class Suspension(_Strict):
    """Who may stop a step's clock, and on what basis (e.g. waiting for supplementary material).

    The seeds set no rule for it, so a profile that allows it says so as local policy; on resume
    the working days that were left carry over.
    """

    by: Role
    article: str = Field(min_length=1)
    basis: Literal["statute", "local_policy"] = "local_policy"
    note_zh: str | None = None
    note_en: str | None = None


class Step(_Strict):
    """One waiting step of a case: a task for ``actor``, due N working days after it opens.

    ``assign = "each"`` sends the step to every party playing ``actor`` (one task each, each with its
    own clock), joined on ``all`` of them, ``any`` one, or a ``quorum``; when the parties' decisions
    differ, ``on_disagreement`` names the action the step takes. ``limit_from = "decision"``: the
    decision that opens the step sets its limit (capped by ``max_working_days``). ``counts_from =
    "case"``: the count starts at the date the case gives rather than at the opening.
    """

    name_zh: str
    name_en: str
    actor: Role
    #: Roles that play the step together with ``actor`` (a negotiation among consumer, provider and
    #: platform, Hubei 25): sent to each party of each role (``assign = "each"``).
    also: list[Role] = Field(default_factory=list)
    article: str = Field(min_length=1)
    working_days: int | None = Field(default=None, ge=0)
    statutory: Literal["none"] | None = None
    local_policy_working_days: int | None = Field(default=None, ge=0)
    local_policy_note: str | None = None
    extension: Extension | None = None
    suspension: Suspension | None = None
    assign: Literal["one", "each"] = "one"
    join: Literal["all", "any", "quorum"] = "all"
    quorum: int | None = Field(default=None, ge=1)
    on_disagreement: str | None = None
    limit_from: Literal["profile", "decision"] = "profile"
    max_working_days: int | None = Field(default=None, gt=0)
    counts_from: Literal["opened", "case"] = "opened"
    #: The step waits on a linked case of this type: opening it starts that case, and its task is
    #: done when the case reports how it ended (its one action, by rule); the transitions may test
    #: the fact ``linked_result``. ``issuer`` (of the one action) names who issues that case.
    waits_on: str | None = None
    #: The opener's own task at this (entry) step is taken by the create itself with this action:
    #: a report filed is the report (Luzhou 26). Counted like any task, so one filed after the
    #: step's limit is taken and marked late, with the step's article, not refused.
    taken_at_opening: str | None = None
    actions: dict[str, Action] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _limit_is_statute_or_labelled(self) -> Step:
        if self.limit_from == "decision":
            if self.working_days is not None or self.statutory is not None:
                raise ValueError(
                    "a step whose limit is set by a decision has no 'working_days' or 'statutory'"
                )
            if self.local_policy_working_days is not None:
                raise ValueError("a step whose limit is set by a decision has no local-policy limit")
            return self._check_join()
        if self.max_working_days is not None:
            raise ValueError("'max_working_days' caps a limit set by a decision (limit_from = \"decision\")")
        if self.working_days is None and self.statutory != "none":
            raise ValueError("a step needs 'working_days' or 'statutory = \"none\"'")
        if self.working_days is not None and self.statutory is not None:
            raise ValueError("'working_days' (a statutory limit) and 'statutory = \"none\"' contradict")
        if self.local_policy_working_days is not None and self.statutory != "none":
            raise ValueError("'local_policy_working_days' is only for steps with 'statutory = \"none\"'")
        return self._check_join()

    @property
    def roles(self) -> list[str]:
        """Every role that plays the step: its actor, and those that play it with it."""
        return [self.actor, *self.also]

    def _check_join(self) -> Step:
        if self.also and self.assign != "each":
            raise ValueError(
                "a step played by several roles ('also') is sent to each party (assign = \"each\")"
            )
        if self.taken_at_opening is not None and self.taken_at_opening not in self.actions:
            raise ValueError(f"taken_at_opening: '{self.taken_at_opening}' is not one of the step's actions")
        if self.waits_on is not None and (len(self.actions) != 1 or self.assign != "one"):
            raise ValueError("a step that waits on a linked case has one action and one task")
        if self.join == "quorum" and self.quorum is None:
            raise ValueError("join = \"quorum\" needs 'quorum'")
        if self.quorum is not None and self.join != "quorum":
            raise ValueError("'quorum' is only for join = \"quorum\"")
        if self.on_disagreement is not None and self.on_disagreement not in self.actions:
            raise ValueError(f"on_disagreement: '{self.on_disagreement}' is not one of the step's actions")
        if (
            self.assign == "each"
            and self.join != "any"
            and len(self.actions) > 1
            and not self.on_disagreement
        ):
            raise ValueError(
                "a step sent to each party and joined on all or a quorum needs 'on_disagreement'"
            )
        return self

    @property
    def limit(self) -> int | None:
        """The working-day limit in force: the statute's, else a labelled local policy, else none
        (also for a limit set by a decision: the engine takes it from the decision)."""
        return self.working_days if self.working_days is not None else self.local_policy_working_days

    @property
    def limit_basis(self) -> Literal["statute", "local_policy", "decision", "none"]:
        if self.limit_from == "decision":
            return "decision"
        if self.working_days is not None:
            return "statute"
        return "local_policy" if self.local_policy_working_days is not None else "none"


RungFollows = Literal["done", "late", "result"]


class Rung(_Strict):
    """One rung of the escalation ladder after a breach (REGULATIONS.md §7).

    A rung is a task for its ``actor`` (a report to the leading group office, a written circular …:
    the actor records it done, ``action_zh``), or, with ``starts_case``, a case it starts (a
    rectification order, issued by the department that plays ``actor``). Who plays ``actor`` is
    deployment data (the role directory). The first rung follows the breach; a later one follows
    the rung before it as ``follows`` says:

    - ``done``: the previous rung's task was done (a report, then a decision on it);
    - ``late``: the previous rung's case was not answered in time (a rectification not made by its
      period) — the started case carries the rest of the ladder and climbs it on its own breach;
    - ``result``: the previous rung's case ended with one of ``results`` (a refusal).
    """

    id: str
    name_zh: str
    name_en: str
    actor: Role
    article: str = Field(min_length=1)
    #: A case type of the same profile this rung starts (e.g. a rectification order).
    starts_case: str | None = None
    #: A task rung: the action its actor takes, as people read it (e.g. 已报请 / Reported).
    action_zh: str = "已办理"
    action_en: str = "Done"
    #: A task rung whose actor may also stop the ladder there, with a reason (Luzhou 42:
    #: administrative-efficiency supervision only where the consequences are serious).
    may_stop: bool = False
    follows: list[RungFollows] = Field(default_factory=lambda: ["done"])
    results: list[str] = Field(default_factory=list)
    #: The ground (of the started case type's ``grounds``) an order this rung starts is issued on.
    ground: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Rung:
        if self.actor not in DIRECTORY_ROLES:
            raise ValueError(
                f"rung {self.id}: actor '{self.actor}' is not a role the directory resolves "
                f"({', '.join(DIRECTORY_ROLES)})"
            )
        if self.starts_case is None and self.ground is not None:
            raise ValueError("'ground' is for a rung that starts a case")
        if self.starts_case is not None and self.may_stop:
            raise ValueError("'may_stop' is for a task rung")
        if "result" in self.follows and not self.results:
            raise ValueError("follows = [\"result\"] needs 'results'")
        return self


class Ground(_Strict):
    """A ground an order may be issued on (Hubei 31(1)–(5), Luzhou 42(1)–(7) …), with its article."""

    name_zh: str
    name_en: str
    article: str = Field(min_length=1)


class CaseType(_Strict):
    name_zh: str
    name_en: str
    article: str = Field(min_length=1)
    results: list[str] = Field(default_factory=list)
    #: The facts its transitions may test (``when = { share_type = "conditional" }``), as the case type
    #: supplies them to its cases (the sharing application: its resource's share type …). None only in
    #: rules pinned by cases started before case types declared them; a profile file must declare the
    #: facts it tests (the loader refuses it otherwise).
    facts: list[str] | None = None
    entry: list[Transition] = Field(default_factory=list)
    steps: dict[str, Step]
    escalation: list[Rung] = Field(default_factory=list)
    #: The grounds a case of this type is opened on (a rectification order's), by id.
    grounds: dict[str, Ground] = Field(default_factory=dict)
    #: Who may open a case of this type by hand (credential roles); empty: only the system does.
    opened_by: list[Role] = Field(default_factory=list)
    #: Notes parties may add while the case runs (``POST /cases/{id}/notes``), by kind.
    notes: dict[str, NoteKind] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_resolve(self) -> CaseType:
        def check(
            where: str, transitions: list[Transition], engine_facts: frozenset[str] = frozenset()
        ) -> None:
            for t in transitions:
                declared = set(self.facts or ()) | engine_facts
                unknown = sorted(set(t.when) - declared) if self.facts is not None else []
                if unknown:
                    raise ValueError(
                        f"{where}: unknown fact(s) {unknown}; this case type declares facts = {self.facts}"
                    )
                if t.step is not None and t.step not in self.steps:
                    raise ValueError(f"{where}: unknown step '{t.step}'")
                if t.result is not None and t.result not in self.results:
                    raise ValueError(f"{where}: result '{t.result}' is not in results {self.results}")

        check("entry", self.entry)
        for step_id, step in self.steps.items():
            if not step.actions:
                raise ValueError(f"steps.{step_id}.actions: a step needs at least one action")
            for action_id, action in step.actions.items():
                if action.result is not None and action.result not in self.results:
                    raise ValueError(
                        f"steps.{step_id}.actions.{action_id}: result '{action.result}' "
                        f"is not in results {self.results}"
                    )
                waited = frozenset({"linked_result"}) if step.waits_on else frozenset()
                check(f"steps.{step_id}.actions.{action_id}.next", action.next, waited)
                for t in action.next:
                    target = self.steps.get(t.step) if t.step else None
                    sets = target is not None and target.limit_from == "decision"
                    if sets and action.keeps_deadline and not action.sets_limit:
                        continue  # reopened on the deadline its previous run had
                    if sets != action.sets_limit and target is not None:
                        raise ValueError(
                            f"steps.{step_id}.actions.{action_id}: 'sets_limit' must be "
                            f"{str(sets).lower()} for a decision opening step '{t.step}'"
                        )
        for step_id in self.steps:
            if step_id not in self.reachable_steps():
                raise ValueError(f"steps.{step_id}: not reached from entry nor from any decision")
        for step_id, step in self.steps.items():
            if step.taken_at_opening is not None and not any(t.step == step_id for t in self.entry):
                raise ValueError(f"steps.{step_id}: 'taken_at_opening' is for a step the entry opens")
            if step.limit_from == "decision" and any(t.step == step_id for t in self.entry):
                raise ValueError(
                    f"entry: step '{step_id}' takes its limit from a decision; no decision opens it"
                )
        return self

    def facts_tested(self) -> set[str]:
        """Every fact a transition of this case type tests (the engine's ``linked_result`` aside)."""
        tested = {key for t in self.entry for key in t.when}
        for step in self.steps.values():
            for action in step.actions.values():
                tested |= {key for t in action.next for key in t.when}
        return tested - {"linked_result"}

    def reachable_steps(self) -> set[str]:
        """The steps a case can get to: from the entry, through the decisions' transitions."""
        seen: set[str] = set()
        todo = [t.step for t in self.entry if t.step]
        while todo:
            step_id = todo.pop()
            if step_id in seen or step_id not in self.steps:
                continue
            seen.add(step_id)
            for action in self.steps[step_id].actions.values():
                todo += [t.step for t in action.next if t.step]
        return seen

    def roles_needed(self) -> set[str]:
        """Roles that must have a party for a case of this type to run (every reachable step's roles)."""
        return {role for s in self.reachable_steps() for role in self.steps[s].roles}


class ShareTypeRule(_Strict):
    name_zh: str
    article: str
    legal_basis_required: bool = False
    legal_basis_article: str | None = None


class Profile(_Strict):
    id: str
    version: str
    name_zh: str
    name_en: str
    document: str
    seed: str
    #: The regulation's title as cited to people (《…》第N条); falls back to ``name_zh``.
    title_zh: str = ""
    #: Titles of annexed documents cited as "annex N, art. M" (Luoyang bundles two measures).
    annex_titles_zh: dict[str, str] = Field(default_factory=dict)
    #: "24:00" (end of the N-th working day, civil-code rule) or an office-closing "HH:MM".
    deadline_cutoff: str = "24:00"
    share_types: dict[str, ShareTypeRule] = Field(default_factory=dict)
    #: Open types (Luoyang 30, 31), same shape as share types; empty where the profile has no open data.
    open_types: dict[OpenType, ShareTypeRule] = Field(default_factory=dict)
    case_types: dict[str, CaseType] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _step_ids_unique(self) -> Profile:
        seen: dict[str, str] = {}
        for ct_id, ct in self.case_types.items():
            for step_id in ct.steps:
                if step_id in seen:
                    raise ValueError(f"step id '{step_id}' is used by both {seen[step_id]} and {ct_id}")
                seen[step_id] = ct_id
            self._check_ladder(ct_id, ct)
            for step_id, step in ct.steps.items():
                targets = [(f"steps.{step_id}.waits_on", step.waits_on)] + [
                    (f"steps.{step_id}.actions.{a_id}.starts_case", a.starts_case)
                    for a_id, a in step.actions.items()
                ]
                for where, target in targets:
                    if target is not None and target not in self.case_types:
                        raise ValueError(f"case_types.{ct_id}.{where}: no case type '{target}'")
        return self

    def _check_ladder(self, ct_id: str, ct: CaseType) -> None:
        """Each rung names a case type the profile has (and a ground it lists); a rung after a case
        rung follows that case (late / its results), a rung after a task rung follows it done."""
        before: Rung | None = None
        for index, rung in enumerate(ct.escalation):
            where = f"case_types.{ct_id}.escalation.{index} ({rung.id})"
            if rung.starts_case is not None:
                target = self.case_types.get(rung.starts_case)
                if target is None:
                    raise ValueError(f"{where}.starts_case: no case type '{rung.starts_case}'")
                if rung.ground is not None and rung.ground not in target.grounds:
                    raise ValueError(
                        f"{where}.ground: '{rung.ground}' is not one of {rung.starts_case}'s grounds"
                    )
            if before is not None:
                allowed = {"late", "result"} if before.starts_case else {"done"}
                wrong = sorted(set(rung.follows) - allowed)
                if wrong:
                    raise ValueError(
                        f"{where}.follows: {wrong} cannot follow "
                        + (f"a case rung (use {sorted(allowed)})" if before.starts_case else "a task rung")
                    )
                if rung.results and before.starts_case:
                    unknown = sorted(set(rung.results) - set(self.case_types[before.starts_case].results))
                    if unknown:
                        raise ValueError(
                            f"{where}.results: {unknown} are not results of {before.starts_case}"
                        )
            before = rung

    def find_step(self, step_id: str) -> tuple[str, Step]:
        """Return ``(case_type_id, step)``; step ids are unique within a profile."""
        for ct_id, ct in self.case_types.items():
            if step_id in ct.steps:
                return ct_id, ct.steps[step_id]
        raise KeyError(step_id)
