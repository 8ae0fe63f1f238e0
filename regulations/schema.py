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
]

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
    next: list[Transition] = Field(min_length=1)


class Extension(_Strict):
    """An approved extension of a step's limit (Luoyang 19, 32, 33: once, ≤ 10 WD, principal head)."""

    max_working_days: int = Field(gt=0)
    max_count: int = Field(default=1, gt=0)
    approver: Role
    article: str = Field(min_length=1)


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

    def _check_join(self) -> Step:
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


class Rung(_Strict):
    """One rung of the escalation ladder after a breach (REGULATIONS.md §7)."""

    id: str
    name_zh: str
    name_en: str
    actor: Role
    article: str = Field(min_length=1)
    #: A case type of the same profile that a breach reaching this rung starts (e.g. a
    #: rectification order); the rung is only named on the breach when this is unset.
    starts_case: str | None = None


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

    @model_validator(mode="after")
    def _references_resolve(self) -> CaseType:
        def check(where: str, transitions: list[Transition]) -> None:
            for t in transitions:
                unknown = sorted(set(t.when) - set(self.facts or ())) if self.facts is not None else []
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
                check(f"steps.{step_id}.actions.{action_id}.next", action.next)
                for t in action.next:
                    target = self.steps.get(t.step) if t.step else None
                    sets = target is not None and target.limit_from == "decision"
                    if sets != action.sets_limit and target is not None:
                        raise ValueError(
                            f"steps.{step_id}.actions.{action_id}: 'sets_limit' must be "
                            f"{str(sets).lower()} for a decision opening step '{t.step}'"
                        )
        for step_id in self.steps:
            if step_id not in self.reachable_steps():
                raise ValueError(f"steps.{step_id}: not reached from entry nor from any decision")
        for step_id, step in self.steps.items():
            if step.limit_from == "decision" and any(t.step == step_id for t in self.entry):
                raise ValueError(
                    f"entry: step '{step_id}' takes its limit from a decision; no decision opens it"
                )
        return self

    def facts_tested(self) -> set[str]:
        """Every fact a transition of this case type tests."""
        tested = {key for t in self.entry for key in t.when}
        for step in self.steps.values():
            for action in step.actions.values():
                tested |= {key for t in action.next for key in t.when}
        return tested

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
        """Roles that must have a party for a case of this type to run (every reachable step's actor)."""
        return {self.steps[s].actor for s in self.reachable_steps()}


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
            for index, rung in enumerate(ct.escalation):
                if rung.starts_case is not None and rung.starts_case not in self.case_types:
                    where = f"case_types.{ct_id}.escalation.{index}.starts_case"
                    raise ValueError(f"{where}: no case type '{rung.starts_case}'")
        return self

    def find_step(self, step_id: str) -> tuple[str, Step]:
        """Return ``(case_type_id, step)``; step ids are unique within a profile."""
        for ct_id, ct in self.case_types.items():
            if step_id in ct.steps:
                return ct_id, ct.steps[step_id]
        raise KeyError(step_id)
