"""The regulation profiles: they load, cite their articles, hold the statutory numbers of
REGULATIONS.md, every case type's flow always ends with one of its results, and a broken file is
reported by file and key on one line."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from regulations import (
    PROFILE_DIR_ENV,
    ProfileError,
    clear_cache,
    list_profiles,
    load_profile,
    load_profile_file,
    profile_digest,
    step_deadline,
)
from regulations.schema import DIRECTORY_ROLES, CaseType, Profile, Transition

SHIPPED = Path(__file__).resolve().parents[1] / "regulations" / "profiles"
SEEDS = Path("/work/shared/seeds")  # the seed texts, where this checkout has them
PROFILE_IDS = ["hubei", "jiangsu", "luoyang", "luzhou", "yongcheng"]
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(PROFILE_DIR_ENV, raising=False)
    clear_cache()
    yield
    clear_cache()


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def test_all_five_profiles_load():
    profiles = list_profiles()
    assert [p.id for p in profiles] == PROFILE_IDS
    for profile in profiles:
        assert profile.version
        assert profile.seed.endswith(".txt")
        if SEEDS.is_dir():
            assert (SEEDS / profile.seed).is_file(), profile.seed
        assert load_profile(profile.id) is profile  # cached


def test_profile_digest_is_sha256_of_the_file():
    expected = hashlib.sha256((SHIPPED / "hubei.toml").read_bytes()).hexdigest()
    assert profile_digest("hubei") == expected


def test_pinned_version_is_checked():
    profile = load_profile("hubei")
    assert load_profile("hubei", version=profile.version) is profile
    with pytest.raises(ProfileError, match=r"profile 'hubei' is at version '.+', not the pinned '0\.0-old'"):
        load_profile("hubei", version="0.0-old")


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ProfileError) as info:
        load_profile("wuhan")
    assert str(info.value) == (
        "unknown profile 'wuhan'; known profiles: hubei, jiangsu, luoyang, luzhou, yongcheng"
    )


def test_profile_id_is_a_file_name_not_a_path():
    with pytest.raises(ProfileError, match=r"unknown profile '\.\./profiles/hubei'"):
        load_profile("../profiles/hubei")


def test_profile_dir_from_environment(tmp_path, monkeypatch):
    (tmp_path / "hubei.toml").write_bytes((SHIPPED / "hubei.toml").read_bytes())
    monkeypatch.setenv(PROFILE_DIR_ENV, str(tmp_path))
    assert [p.id for p in list_profiles()] == ["hubei"]
    with pytest.raises(ProfileError, match=r"unknown profile 'luzhou'; known profiles: hubei$"):
        load_profile("luzhou")


# --------------------------------------------------------------------------------------------------
# Articles and numbers (REGULATIONS.md)
# --------------------------------------------------------------------------------------------------

ARTICLE = re.compile(r"^(annex \d+, art\. )?\d+(\(\d+\))?$|^interpretation \d+\(\d+\)$")


def _all_articles(profile: Profile):
    for type_id, rule in profile.share_types.items():
        yield f"share_types.{type_id}", rule.article
        if rule.legal_basis_required:
            yield f"share_types.{type_id}.legal_basis_article", rule.legal_basis_article
    for type_id, rule in profile.open_types.items():
        yield f"open_types.{type_id}", rule.article
        if rule.legal_basis_required:
            yield f"open_types.{type_id}.legal_basis_article", rule.legal_basis_article
    for ct_id, ct in profile.case_types.items():
        yield f"case_types.{ct_id}", ct.article
        for i, transition in enumerate(ct.entry):
            if transition.result is not None:
                yield f"case_types.{ct_id}.entry[{i}]", transition.article
        for step_id, step in ct.steps.items():
            yield f"{ct_id}.steps.{step_id}", step.article
            if step.extension:
                yield f"{ct_id}.steps.{step_id}.extension", step.extension.article
        for rung in ct.escalation:
            yield f"{ct_id}.escalation.{rung.id}", rung.article
        for ground_id, ground in ct.grounds.items():
            yield f"{ct_id}.grounds.{ground_id}", ground.article


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_item_cites_an_article(profile_id):
    profile = load_profile(profile_id)
    cited = list(_all_articles(profile))
    assert cited
    for where, article in cited:
        assert article and ARTICLE.match(article), f"{profile_id}: {where}: bad article {article!r}"


STATUTORY_STEPS = [
    # profile, step, working days, article — REGULATIONS.md §4, §5, §6, §8
    ("hubei", "platform_check", 3, "19"),
    ("hubei", "platform_direct_authorization", 3, "21"),
    ("hubei", "provider_authorization", 10, "20"),
    ("hubei", "notify_consumer", 1, "20"),
    ("luzhou", "provider_acceptance", 5, "25"),
    ("luzhou", "objection_report", 3, "26"),
    ("luzhou", "objection_reply", 5, "26"),
    ("luzhou", "catalog_update", 15, "10"),
    ("jiangsu", "provider_response", 10, "16"),
    ("jiangsu", "catalog_update", 15, "9"),
    ("luoyang", "catalog_update_application", 10, "14"),
    ("luoyang", "catalog_update_review", 5, "14"),
    ("luoyang", "data_verification", 10, "19"),
    ("luoyang", "open_catalog_correction", 10, "32"),
    ("luoyang", "conditional_open_application", 10, "33"),
]


@pytest.mark.parametrize(("profile_id", "step_id", "working_days", "article"), STATUTORY_STEPS)
def test_statutory_limits(profile_id, step_id, working_days, article):
    _, step = load_profile(profile_id).find_step(step_id)
    assert step.working_days == working_days
    assert step.limit == working_days
    assert step.limit_basis == "statute"
    assert step.article == article


def test_statutory_steps_sit_in_their_case_types():
    expected = {
        ("hubei", "platform_check"): "sharing_application",
        ("hubei", "notify_consumer"): "sharing_application",
        ("luzhou", "objection_reply"): "data_objection",
        ("luzhou", "catalog_update"): "catalog_update",
        ("luoyang", "data_verification"): "data_objection",
        ("luoyang", "open_catalog_correction"): "open_catalog_correction",
        ("luoyang", "conditional_open_application"): "open_data_application",
        ("luoyang", "catalog_update_review"): "catalog_update",
    }
    for (profile_id, step_id), case_type in expected.items():
        assert load_profile(profile_id).find_step(step_id)[0] == case_type


def test_every_timed_step_is_in_the_table_or_says_statutory_none():
    """No number in a profile that REGULATIONS.md does not give (no invented statutory numbers)."""
    table = {(p, s) for p, s, _, _ in STATUTORY_STEPS}
    for profile in list_profiles():
        for ct in profile.case_types.values():
            for step_id, step in ct.steps.items():
                if (profile.id, step_id) in table:
                    continue
                if step.limit_from == "decision":
                    # A rectification period: the issuer sets it on the order (REGULATIONS.md §7), the
                    # profile holds no number for it, not even a cap.
                    assert (step.working_days, step.statutory, step.max_working_days) == (None, None, None)
                    assert step.local_policy_working_days is None
                    continue
                assert step.statutory == "none", f"{profile.id}.{step_id} has an unlisted number"
                assert step.working_days is None
                assert step.local_policy_working_days is None, "no local-policy value is shipped by default"


@pytest.mark.parametrize(
    ("step_id", "article"),
    [("data_verification", "19"), ("open_catalog_correction", "32"), ("conditional_open_application", "33")],
)
def test_luoyang_extensions(step_id, article):
    _, step = load_profile("luoyang").find_step(step_id)
    assert step.extension is not None
    assert step.extension.max_working_days == 10
    assert step.extension.max_count == 1
    assert step.extension.approver == "principal_head"
    assert step.extension.article == article


def test_only_luoyang_has_extensions():
    for profile in list_profiles():
        for ct in profile.case_types.values():
            for step_id, step in ct.steps.items():
                if step.extension is not None:
                    assert profile.id == "luoyang", f"{profile.id}.{step_id}"


def test_luoyang_sharing_has_no_numeric_deadline():
    ct = load_profile("luoyang").case_types["sharing_application"]
    assert list(ct.steps) == ["platform_review", "provider_consultation", "result_feedback"]
    for step in ct.steps.values():
        assert step.statutory == "none"
        assert step.limit is None
        assert step.limit_basis == "none"
        assert step.article == "annex 3, art. 13"


def test_untimed_steps_from_the_seeds():
    _, step = load_profile("hubei").find_step("catalog_update")
    assert (step.statutory, step.article) == ("none", "6")
    _, step = load_profile("luzhou").find_step("provider_provision")
    assert (step.statutory, step.article) == ("none", "25")
    for profile_id, step_id, article in [
        ("hubei", "objection_verification", "23"),
        ("hubei", "joint_verification", "17"),
        ("jiangsu", "objection_verification", "18"),
        ("luoyang", "open_catalog_change", "32"),
    ]:
        _, step = load_profile(profile_id).find_step(step_id)
        assert (step.statutory, step.limit, step.article) == ("none", None, article), step_id


def test_yongcheng_has_share_and_open_types_only():
    profile = load_profile("yongcheng")
    assert profile.case_types == {}
    assert set(profile.share_types) == {"unconditional", "conditional", "not_shared"}
    assert profile.share_types["not_shared"].legal_basis_required
    assert {k: v.name_zh for k, v in profile.open_types.items()} == {
        "open": "普遍开放类",
        "conditional_open": "授权开放类",
    }


@pytest.mark.parametrize(
    ("profile_id", "legal_basis"),
    [("hubei", "8(1)"), ("luzhou", "5(1)"), ("jiangsu", "11(1)"), ("luoyang", "25(1)")],
)
def test_not_shared_needs_a_legal_basis(profile_id, legal_basis):
    rule = load_profile(profile_id).share_types["not_shared"]
    assert rule.legal_basis_required
    assert rule.legal_basis_article == legal_basis


def test_luoyang_conditional_also_needs_a_legal_basis():
    rule = load_profile("luoyang").share_types["conditional"]
    assert (rule.legal_basis_required, rule.legal_basis_article) == (True, "25(1)")


ESCALATION = {
    "hubei": [
        ("report_to_leading_group_office", "platform", "26"),
        ("rectification_order", "leading_group", "26"),
        ("report_upward", "leading_group", "31"),
    ],
    "luzhou": [
        ("rectification_order", "leading_group", "42"),
        ("written_circular", "leading_group", "42"),
        ("efficiency_supervision", "leading_group", "42"),
    ],
    "jiangsu": [
        ("rectification_order", "leading_group", "25"),
        ("report_to_provincial_government", "leading_group", "25"),
    ],
}


@pytest.mark.parametrize("profile_id", sorted(ESCALATION))
def test_sharing_escalation_ladder(profile_id):
    ladder = load_profile(profile_id).case_types["sharing_application"].escalation
    assert [(r.id, r.actor, r.article) for r in ladder] == ESCALATION[profile_id]


def test_every_case_type_has_an_escalation_ladder():
    for profile in list_profiles():
        for ct_id, ct in profile.case_types.items():
            if (profile.id, ct_id) == ("luzhou", "complaint") or ct_id == "dispute":
                # Luzhou 44 sets no time and no escalation for handling a complaint; Hubei 25, Luzhou
                # 27, Jiangsu 16 none for a dispute's stages (it ends at the coordinator or the
                # leading group as a step of its own).
                assert ct.escalation == []
                continue
            assert ct.escalation, f"{profile.id}.{ct_id}"
            assert len({r.id for r in ct.escalation}) == len(ct.escalation)


def test_luoyang_ladder_ends_in_handling_under_law():
    profile = load_profile("luoyang")
    for ct_id in ("catalog_update", "data_objection", "open_data_application", "open_catalog_correction"):
        ladder = profile.case_types[ct_id].escalation
        assert [(r.id, r.article) for r in ladder] == [
            ("prohibited_act", "49(8)"),
            ("handled_under_law", "51"),
        ]


# --------------------------------------------------------------------------------------------------
# Case-type flows
# --------------------------------------------------------------------------------------------------

SHARING = [p for p in PROFILE_IDS if p != "yongcheng"]

CASE_TYPES = {
    "hubei": ["sharing_application", "catalog_update", "data_objection", "rectification_order", "dispute"],
    "jiangsu": ["sharing_application", "catalog_update", "data_objection", "rectification_order", "dispute"],
    "luoyang": [
        "sharing_application",
        "catalog_update",
        "data_objection",
        "open_data_application",
        "open_catalog_correction",
    ],
    "luzhou": [
        "sharing_application",
        "catalog_update",
        "data_objection",
        "rectification_order",
        "complaint",
        "dispute",
    ],
    "yongcheng": [],
}
ALL_CASE_TYPES = [(p, ct) for p, cts in CASE_TYPES.items() for ct in cts]


def test_every_shipped_case_type_loads():
    assert {p.id: list(p.case_types) for p in list_profiles()} == CASE_TYPES


def _paths(ct: CaseType):
    """Every path from the entry to an end, as (steps visited, result set along the way).

    The one loop allowed is a return: on the same deadline (``keeps_deadline``: a rectification report
    sent back) or with reasons (a change set returned for revision); it is followed once, not round
    again."""
    finished = []

    def follow(transition: Transition, visited: tuple[str, ...], result: str | None, returned: bool = False):
        if transition.result is not None:
            result = transition.result
        if transition.end:
            finished.append((visited, result))
            return
        if transition.step in visited:
            assert returned, f"cycle through {transition.step}"
            return
        step = ct.steps[transition.step]
        assert step.actions, f"step {transition.step} has no actions: a case would wait forever"
        for action in step.actions.values():
            for nxt in action.next:
                returns = action.keeps_deadline or (action.reason_required and action.result is None)
                follow(nxt, (*visited, transition.step), action.result or result, returns)

    for transition in ct.entry:
        follow(transition, (), None)
    return finished


@pytest.mark.parametrize(("profile_id", "case_type"), ALL_CASE_TYPES)
def test_every_step_has_actions_and_is_reachable(profile_id, case_type):
    ct = load_profile(profile_id).case_types[case_type]
    assert ct.entry, "a case type needs an entry"
    assert ct.reachable_steps() == set(ct.steps)
    for step_id, step in ct.steps.items():
        assert step.actions, step_id
        for action_id, action in step.actions.items():
            assert action.name_zh and action.name_en, f"{step_id}.{action_id}"
            assert re.fullmatch(r"[a-z][a-z0-9_]*", action_id), f"{step_id}.{action_id}"


@pytest.mark.parametrize(("profile_id", "case_type"), ALL_CASE_TYPES)
def test_results_list_is_exactly_the_results_set(profile_id, case_type):
    ct = load_profile(profile_id).case_types[case_type]
    used = {t.result for t in ct.entry if t.result}
    used |= {a.result for s in ct.steps.values() for a in s.actions.values() if a.result}
    assert used == set(ct.results)


@pytest.mark.parametrize(("profile_id", "case_type"), ALL_CASE_TYPES)
def test_flow_reaches_an_end_from_every_step(profile_id, case_type):
    ct = load_profile(profile_id).case_types[case_type]
    paths = _paths(ct)
    assert paths
    reached = {step for visited, _ in paths for step in visited}
    assert reached == set(ct.steps), "every step is reachable from the entry"
    for visited, result in paths:
        assert result in ct.results, f"path {visited} ends without a result"
    # Whatever the resource's attributes, the entry and every action have a way on: the last
    # transition of each list matches everything.
    assert ct.entry[-1].when == {}
    for step_id, step in ct.steps.items():
        for action_id, action in step.actions.items():
            assert action.next[-1].when == {}, f"{step_id}.{action_id}"


@pytest.mark.parametrize(("profile_id", "case_type"), ALL_CASE_TYPES)
def test_refusals_give_reasons(profile_id, case_type):
    ct = load_profile(profile_id).case_types[case_type]
    actions = [a for s in ct.steps.values() for a in s.actions.values()]
    if case_type in ("sharing_application", "open_data_application"):
        assert any(a.grant for a in actions)
    for action in actions:
        if action.result in ("refused", "rejected"):
            assert action.reason_required, action.name_en
        if action.grant:
            assert action.result == "granted"


def _first(transitions: list[Transition], attributes: dict[str, object]) -> Transition:
    return next(t for t in transitions if t.matches(attributes))


@pytest.mark.parametrize(
    ("profile_id", "share_type", "controlled", "expected"),
    [
        ("hubei", "not_shared", False, ("end", "rejected", "8(1)")),
        ("hubei", "unconditional", False, ("step", "platform_check", None)),
        ("luzhou", "not_shared", False, ("end", "rejected", "24")),
        ("luzhou", "unconditional", False, ("end", "granted", "25")),
        ("luzhou", "conditional", False, ("step", "provider_acceptance", None)),
        ("jiangsu", "not_shared", False, ("end", "rejected", "11(1)")),
        ("jiangsu", "unconditional", True, ("end", "granted", "16")),
        ("jiangsu", "conditional", False, ("step", "provider_response", None)),
        ("luoyang", "not_shared", False, ("end", "rejected", "25(1)")),
        ("luoyang", "unconditional", False, ("step", "platform_review", None)),
    ],
)
def test_sharing_entry(profile_id, share_type, controlled, expected):
    ct = load_profile(profile_id).case_types["sharing_application"]
    t = _first(ct.entry, {"share_type": share_type, "controlled_parameters": controlled})
    got = ("end", t.result, t.article) if t.end else ("step", t.step, t.article)
    assert got == expected


@pytest.mark.parametrize(
    ("share_type", "controlled", "next_step"),
    [
        ("unconditional", False, "platform_direct_authorization"),  # Hubei 12, 21
        ("unconditional", True, "provider_authorization"),  # Hubei 11: controlled parameters
        ("conditional", False, "provider_authorization"),  # Hubei 11, 20
    ],
)
def test_hubei_accept_routes_by_resource(share_type, controlled, next_step):
    ct = load_profile("hubei").case_types["sharing_application"]
    accept = ct.steps["platform_check"].actions["accept"]
    assert (
        _first(accept.next, {"share_type": share_type, "controlled_parameters": controlled}).step == next_step
    )


def test_hubei_provider_decision_goes_through_notify_consumer():
    ct = load_profile("hubei").case_types["sharing_application"]
    provider = ct.steps["provider_authorization"]
    assert {a: [t.step for t in x.next] for a, x in provider.actions.items()} == {
        "grant": ["notify_consumer"],
        "refuse": ["notify_consumer"],
    }
    direct = ct.steps["platform_direct_authorization"]
    for action in direct.actions.values():
        assert "provider" in action.notify  # Hubei 21: 授权结果应同步告知提供部门


def _flow(ct: CaseType) -> dict[str, dict[str, tuple[str | None, list[str]]]]:
    """step -> action -> (result, where it leads: step ids or "end")."""
    return {
        step_id: {
            action_id: (action.result, [t.step or "end" for t in action.next])
            for action_id, action in step.actions.items()
        }
        for step_id, step in ct.steps.items()
    }


def _timing(ct: CaseType) -> dict[str, tuple[str, int | None, str, str]]:
    return {
        step_id: (step.actor, step.working_days, step.article, step.counts_from)
        for step_id, step in ct.steps.items()
    }


def test_luoyang_catalog_update_application_then_review():
    # 第十四条: 变更之日起10个工作日内申请 → 收到申请之日起5个工作日内审核、更新目录并同步更新责任清单
    ct = load_profile("luoyang").case_types["catalog_update"]
    assert [t.step for t in ct.entry] == ["catalog_update_application"]
    assert _timing(ct) == {
        "catalog_update_application": ("provider", 10, "14", "case"),  # from the law change
        "catalog_update_review": ("platform", 5, "14", "opened"),  # from receipt
    }
    assert _flow(ct) == {
        "catalog_update_application": {"apply": (None, ["catalog_update_review"])},
        "catalog_update_review": {
            "update": ("updated", ["end"]),
            "return": (None, ["catalog_update_application"]),
            "reject": ("rejected", ["end"]),
        },
    }
    review = ct.steps["catalog_update_review"].actions
    assert review["reject"].reason_required and review["return"].reason_required
    # The application carries the change set, checked before it is taken; approval publishes it.
    apply = ct.steps["catalog_update_application"].actions["apply"]
    assert (apply.payload, apply.effect, review["update"].effect) == (
        True,
        "check_change_set",
        "publish_change_set",
    )


PUBLICATION = {
    "catalog_update": {"submit": (None, ["catalog_update_publication"])},
    "catalog_update_publication": {"publish": ("updated", ["end"]), "return": (None, ["catalog_update"])},
}


@pytest.mark.parametrize(("profile_id", "article"), [("luzhou", "10"), ("jiangsu", "9")])
def test_catalog_update_within_15_working_days_of_the_change(profile_id, article):
    ct = load_profile(profile_id).case_types["catalog_update"]
    assert _timing(ct) == {
        "catalog_update": ("provider", 15, article, "case"),
        # The seed names no review and no time for the platform's publication: untimed.
        "catalog_update_publication": ("platform", None, article, "opened"),
    }
    assert _flow(ct) == PUBLICATION


def test_hubei_catalog_update_is_untimed():
    ct = load_profile("hubei").case_types["catalog_update"]
    assert _timing(ct) == {
        "catalog_update": ("provider", None, "6", "opened"),
        "catalog_update_publication": ("platform", None, "6", "opened"),
    }
    assert _flow(ct) == PUBLICATION


def test_luzhou_objection_report_then_reply():
    # 第二十六条: 发现问题3个工作日内反馈提供部门 → 提供部门5个工作日内予以处理和回复
    ct = load_profile("luzhou").case_types["data_objection"]
    assert [t.step for t in ct.entry] == ["objection_report"]
    assert _timing(ct) == {
        "objection_report": ("consumer", 3, "26", "case"),  # from the finding
        "objection_reply": ("provider", 5, "26", "opened"),
    }
    assert _flow(ct) == {
        "objection_report": {"report": (None, ["objection_reply"])},
        "objection_reply": {"correct": ("corrected", ["end"]), "confirm": ("confirmed", ["end"])},
    }
    for action in ct.steps["objection_reply"].actions.values():
        assert "consumer" in action.notify  # 予以回复


def test_hubei_objection_and_joint_verification():
    # 第二十三条 提供部门及时校核, 确有错误的及时更正; 第十七条 部门间数据不一致的, 平台会同提供部门共同核实
    ct = load_profile("hubei").case_types["data_objection"]
    # 第十七条: an inconsistency between two providers goes straight to their joint verification.
    assert [(t.when, t.step) for t in ct.entry] == [
        ({"inconsistency": True}, "joint_verification"),
        ({}, "objection_verification"),
    ]
    assert ct.opened_by == ["consumer", "platform"]  # 第二十三条 the consumer; 第十七条 the platform's check
    assert ct.steps["objection_verification"].actions["refer_joint_verification"].adds_party == "provider"
    assert ct.notes["served_with_proof"].article == "23"
    assert _flow(ct) == {
        "objection_verification": {
            "correct": ("corrected", ["end"]),
            "confirm": ("confirmed", ["end"]),
            "refer_joint_verification": (None, ["joint_verification"]),
        },
        "joint_verification": {"correct": ("corrected", ["end"]), "confirm": ("confirmed", ["end"])},
    }
    joint = ct.steps["joint_verification"]
    assert (joint.actor, joint.assign, joint.join, joint.on_disagreement) == (
        "provider",
        "each",
        "all",
        "correct",
    )
    assert (joint.statutory, joint.article) == ("none", "17")
    assert "platform" in ct.steps["objection_verification"].actions["refer_joint_verification"].notify


def test_luoyang_data_verification():
    ct = load_profile("luoyang").case_types["data_objection"]
    assert _flow(ct) == {
        "data_verification": {"correct": ("corrected", ["end"]), "confirm": ("confirmed", ["end"])}
    }


def test_luoyang_open_data_answer():
    # 第三十三条: 10个工作日内答复, 同意的予以开放, 不同意的说明理由并提供依据, 延长不超过10个工作日
    ct = load_profile("luoyang").case_types["open_data_application"]
    assert _flow(ct) == {
        "conditional_open_application": {"grant": ("granted", ["end"]), "refuse": ("refused", ["end"])}
    }
    actions = ct.steps["conditional_open_application"].actions
    assert actions["grant"].grant
    assert actions["refuse"].reason_required
    assert "依据" in actions["refuse"].name_zh
    assert all("citizen" in a.notify for a in actions.values())
    # 第三十三条 "不同意的应当说明理由,并提供依据": the basis travels in the refusal's payload, checked.
    assert (actions["refuse"].payload, actions["grant"].payload) == (True, False)
    # 第三十三条 "公民、法人和其他组织通过开放系统……申请": citizens (and companies) open it, not departments.
    assert ct.opened_by == ["citizen"]


def test_luoyang_open_catalog_correction_then_change():
    # 第三十二条: 同意更正的, 提请市政务服务和大数据管理机构变更开放目录; 不同意的, 说明理由并提供依据
    ct = load_profile("luoyang").case_types["open_catalog_correction"]
    assert _timing(ct) == {
        "open_catalog_correction": ("provider", 10, "32", "opened"),
        "open_catalog_change": ("platform", None, "32", "opened"),
    }
    assert _flow(ct) == {
        "open_catalog_correction": {"agree": (None, ["open_catalog_change"]), "refuse": ("refused", ["end"])},
        "open_catalog_change": {"change": ("corrected", ["end"])},
    }
    assert ct.steps["open_catalog_correction"].actions["refuse"].reason_required
    actions = ct.steps["open_catalog_correction"].actions
    assert (actions["refuse"].payload, actions["agree"].payload) == (True, True)  # basis; legal basis (31)
    # 第三十二条 "变更政务数据资源开放目录": the platform's change publishes the correction.
    assert ct.steps["open_catalog_change"].actions["change"].effect == "change_open_catalog"
    assert ct.opened_by == ["citizen"]
    assert load_profile("luoyang").version == "1.7"


# --------------------------------------------------------------------------------------------------
# Validation errors: one line, naming the file and the key
# --------------------------------------------------------------------------------------------------

HUBEI = (SHIPPED / "hubei.toml").read_text(encoding="utf-8")
PLATFORM_CHECK = 'actor = "platform"\nworking_days = 3\narticle = "19"\n'
assert HUBEI.count(PLATFORM_CHECK) == 1


def _write_broken(tmp_path: Path, old: str, new: str, name: str = "hubei.toml") -> Path:
    assert HUBEI.count(old) == 1, old
    path = tmp_path / name
    path.write_text(HUBEI.replace(old, new), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ProfileError) as info:
        load_profile_file(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_key(tmp_path):
    path = _write_broken(tmp_path, PLATFORM_CHECK, PLATFORM_CHECK + "deadline_days = 3\n")
    assert _error(path) == (
        f"{path}: case_types.sharing_application.steps.platform_check.deadline_days: "
        "Extra inputs are not permitted"
    )


def test_negative_days(tmp_path):
    path = _write_broken(tmp_path, PLATFORM_CHECK, PLATFORM_CHECK.replace("= 3", "= -1"))
    assert _error(path) == (
        f"{path}: case_types.sharing_application.steps.platform_check.working_days: "
        "Input should be greater than or equal to 0"
    )


def test_missing_article(tmp_path):
    path = _write_broken(tmp_path, PLATFORM_CHECK, PLATFORM_CHECK.replace('article = "19"\n', ""))
    assert (
        _error(path) == f"{path}: case_types.sharing_application.steps.platform_check.article: Field required"
    )


def test_unknown_step_reference(tmp_path):
    old = 'result = "granted"\ngrant = true\nnext = [{ step = "notify_consumer" }]'
    path = _write_broken(tmp_path, old, old.replace("notify_consumer", "notify_the_consumer"))
    assert _error(path) == (
        f"{path}: case_types.sharing_application: steps.provider_authorization.actions.grant.next: "
        "unknown step 'notify_the_consumer'"
    )


MINIMAL = """\
id = "x"
version = "1.0"
name_zh = "某市"
name_en = "X City"
document = "某市办法"
seed = "x.txt"

[case_types.catalog_update]
name_zh = "目录更新"
name_en = "Catalog update"
article = "14"
results = ["updated"]
entry = [{ step = "application" }]

[case_types.catalog_update.steps.application]
name_zh = "申请更新目录"
name_en = "Application"
actor = "provider"
working_days = 10
article = "14"

[case_types.catalog_update.steps.review]
name_zh = "审核更新"
name_en = "Review"
actor = "platform"
working_days = 5
article = "14"

[case_types.catalog_update.steps.review.actions.update]
name_zh = "更新"
name_en = "Update"
result = "updated"
next = [{ end = true }]
"""

APPLY = """
[case_types.catalog_update.steps.application.actions.apply]
name_zh = "申请"
name_en = "Apply"
next = [{ step = "review" }]
"""

APPLY_AND_END = APPLY.replace('{ step = "review" }', "{ end = true }")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_profile_loads(tmp_path):
    profile = load_profile_file(_write(tmp_path, MINIMAL + APPLY))
    assert profile.case_types["catalog_update"].reachable_steps() == {"application", "review"}


def test_a_step_without_actions_is_refused(tmp_path):
    path = _write(tmp_path, MINIMAL)
    assert _error(path) == (
        f"{path}: case_types.catalog_update: steps.application.actions: a step needs at least one action"
    )


def test_an_unreachable_step_is_refused(tmp_path):
    path = _write(tmp_path, MINIMAL + APPLY_AND_END)
    assert _error(path) == (
        f"{path}: case_types.catalog_update: steps.review: not reached from entry nor from any decision"
    )


def test_a_shipped_placeholder_step_is_refused(tmp_path):
    """Taking the decisions off a shipped step is an error naming that step (no silent placeholders)."""
    luzhou = (SHIPPED / "luzhou.toml").read_text(encoding="utf-8")
    start = luzhou.index("[case_types.data_objection.steps.objection_reply.actions.correct]")
    end = luzhou.index("# 第四十二条(三)", start)
    path = tmp_path / "luzhou.toml"
    path.write_text(luzhou[:start] + luzhou[end:], encoding="utf-8")
    assert _error(path) == (
        f"{path}: case_types.data_objection: steps.objection_reply.actions: a step needs at least one action"
    )


def test_id_differs_from_file_name(tmp_path):
    path = tmp_path / "wuhan.toml"
    path.write_text(HUBEI, encoding="utf-8")
    assert _error(path) == f"{path}: id: 'hubei' does not match the file name (expected id = \"wuhan\")"


def test_toml_syntax_error(tmp_path):
    path = _write_broken(tmp_path, PLATFORM_CHECK, PLATFORM_CHECK.replace("= 3", "= "))
    line = HUBEI[: HUBEI.index(PLATFORM_CHECK)].count("\n") + 2  # the working_days line
    message = _error(path)
    assert message.startswith(f"{path}: TOML syntax error: ")
    assert message.endswith(f"(at line {line}, column 16)")


def test_bad_cutoff(tmp_path):
    path = _write_broken(tmp_path, 'deadline_cutoff = "24:00"', 'deadline_cutoff = "5pm"')
    assert _error(path) == f"{path}: deadline_cutoff: '5pm' is not '24:00' or an office time 'HH:MM'"


def test_paths_below_the_working_directory_are_shown_relative(tmp_path, monkeypatch):
    folder = tmp_path / "regulations" / "profiles"
    folder.mkdir(parents=True)
    (folder / "x.toml").write_text(
        HUBEI.replace('id = "hubei"', 'id = "x"').replace(
            PLATFORM_CHECK, PLATFORM_CHECK.replace("= 3", "= -3")
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(PROFILE_DIR_ENV, "regulations/profiles")
    with pytest.raises(ProfileError) as info:
        load_profile("x")
    assert str(info.value) == (
        "regulations/profiles/x.toml: case_types.sharing_application.steps.platform_check.working_days: "
        "Input should be greater than or equal to 0"
    )


def test_a_broken_file_breaks_the_listing(tmp_path, monkeypatch):
    (tmp_path / "hubei.toml").write_text(HUBEI, encoding="utf-8")
    (tmp_path / "broken.toml").write_text('id = "broken"\n', encoding="utf-8")
    monkeypatch.setenv(PROFILE_DIR_ENV, str(tmp_path))
    with pytest.raises(ProfileError, match=r"broken\.toml: version: Field required \(and \d+ more errors\)"):
        list_profiles()


# --------------------------------------------------------------------------------------------------
# step_deadline (with a stand-in calendar: the arithmetic itself is the calendar's, tested there)
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _FakeDeadline:
    start_at: datetime
    working_days: int
    cutoff: str | None
    profile: str | None = None
    profile_version: str | None = None
    step: str | None = None
    article: str | None = None


class _FakeCalendar:
    def __init__(self) -> None:
        self.calls: list[tuple[datetime, int, str | None]] = []

    def add_working_days(self, start: datetime, n: int, *, cutoff: str | None = None) -> _FakeDeadline:
        self.calls.append((start, n, cutoff))
        return _FakeDeadline(start, n, cutoff)


START = datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)


def test_step_deadline_takes_n_cutoff_and_article_from_the_profile():
    calendar = _FakeCalendar()
    profile = load_profile("hubei")
    deadline = step_deadline(profile, "provider_authorization", START, calendar=calendar)
    assert calendar.calls == [(START, 10, "24:00")]
    assert (deadline.profile, deadline.profile_version, deadline.step, deadline.article) == (
        "hubei",
        profile.version,
        "provider_authorization",
        "20",
    )


def test_step_deadline_override_keeps_the_article():
    calendar = _FakeCalendar()
    deadline = step_deadline(
        load_profile("luoyang"), "data_verification", START, calendar=calendar, working_days=20
    )
    assert calendar.calls == [(START, 20, "24:00")]
    assert deadline.article == "19"


def test_step_deadline_uses_local_policy_when_labelled(tmp_path):
    luoyang = (SHIPPED / "luoyang.toml").read_text(encoding="utf-8")
    anchor = '[case_types.sharing_application.steps.platform_review]\nname_zh = "组织审核"\n'
    assert anchor in luoyang
    path = tmp_path / "luoyang.toml"
    path.write_text(
        luoyang.replace(anchor, anchor + 'local_policy_working_days = 5\nlocal_policy_note = "test"\n'),
        encoding="utf-8",
    )
    profile = load_profile_file(path)
    _, step = profile.find_step("platform_review")
    assert (step.limit, step.limit_basis) == (5, "local_policy")
    calendar = _FakeCalendar()
    assert step_deadline(profile, "platform_review", START, calendar=calendar).article == "annex 3, art. 13"
    assert calendar.calls == [(START, 5, "24:00")]


def test_step_without_limit_has_no_deadline():
    with pytest.raises(ValueError) as info:
        step_deadline(load_profile("luoyang"), "platform_review", START, calendar=_FakeCalendar())
    assert (
        str(info.value)
        == "step platform_review of profile luoyang has no working-day limit (statutory: none)"
    )


def test_unknown_step():
    with pytest.raises(
        ValueError, match=r"profile jiangsu has no step 'platform_check'; its steps: provider_"
    ):
        step_deadline(load_profile("jiangsu"), "platform_check", START, calendar=_FakeCalendar())


def test_step_deadline_with_the_real_calendar():
    pytest.importorskip("calendars", reason="calendar package not yet available")
    from calendars import WorkingDayCalendar

    if not hasattr(WorkingDayCalendar, "default"):
        pytest.skip("calendar package not yet available")
    deadline = step_deadline(load_profile("hubei"), "platform_check", START)
    # REGULATIONS.md §3: 3 working days from 2026-09-30 end at 24:00 of Saturday 2026-10-10.
    assert deadline.due_at == datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI)
    assert (deadline.working_days, deadline.article, deadline.step) == (3, "19", "platform_check")
    assert not deadline.provisional


# -- each case type declares the facts its transitions test ------------------------------------------
FACTS = 'facts = ["share_type", "controlled_parameters", "sharing_mode", "settled_by_dispute"]\n'


def test_a_fact_its_case_type_does_not_declare_is_refused(tmp_path):
    test = '{ when = { share_type = "not_shared" }, end = true'
    path = _write_broken(tmp_path, test, '{ when = { resource_kind = "basic" }, end = true')
    message = _error(path)
    assert "case_types.sharing_application: entry: unknown fact(s) ['resource_kind']" in message
    assert (
        "declares facts = ['share_type', 'controlled_parameters', 'sharing_mode', 'settled_by_dispute']"
        in message
    )


def test_transitions_testing_facts_never_declared_are_refused(tmp_path):
    path = _write_broken(tmp_path, FACTS, "")
    assert _error(path) == (
        f"{path}: case_types.sharing_application: its transitions test ['controlled_parameters', "
        "'settled_by_dispute', 'share_type']; declare the facts its case type supplies: facts = "
        "['controlled_parameters', 'settled_by_dispute', 'share_type']"
    )


def test_rules_pinned_before_facts_were_declared_still_read():
    """A case started before case types declared their facts pinned rules without them: its history
    must still deserialize (REGULATIONS-level checks ran when that profile was loaded)."""
    rules = load_profile("hubei").case_types["sharing_application"].model_dump()
    rules.pop("facts")
    from regulations.schema import CaseType

    pinned = CaseType.model_validate(rules)
    assert pinned.facts is None
    assert pinned.facts_tested() == {"share_type", "controlled_parameters", "settled_by_dispute"}


# --------------------------------------------------------------------------------------------------
# Escalation ladders (REGULATIONS.md §7): task rungs and the rectification orders they start
# --------------------------------------------------------------------------------------------------

ORDER = "rectification_order"

# profile -> case type -> [(rung id, actor, article, starts_case, ground, follows, may_stop)]
_HUBEI_ORDER = [
    (ORDER, "coordinator", "31({})", ORDER, "31({})", ["done"], False),
    ("report_upward", "coordinator", "31", None, None, ["late"], False),
]
_LUZHOU_ORDER = [
    (ORDER, "leading_group", "42", ORDER, "42({})", ["done"], False),
    ("written_circular", "leading_group", "42", None, None, ["late"], False),
    ("efficiency_supervision", "leading_group", "42", None, None, ["done"], True),
]
_JIANGSU_ORDER = [
    (ORDER, "leading_group", "25", ORDER, "25({})", ["done"], False),
    ("report_to_provincial_government", "leading_group", "25", None, None, ["late"], False),
]
_LUOYANG_49 = [
    ("prohibited_act", "platform", "49(8)", None, None, ["done"], False),
    ("handled_under_law", "leading_group", "51", None, None, ["done"], False),
]


def _with_item(rungs, item):
    return [tuple(x.format(item) if isinstance(x, str) else x for x in rung) for rung in rungs]


LADDERS = {
    "hubei": {
        "sharing_application": [
            ("report_to_leading_group_office", "platform", "26", None, None, ["done"], False),
            (ORDER, "leading_group", "26", ORDER, "31(5)", ["done"], False),
            ("report_upward", "leading_group", "31", None, None, ["late"], False),
        ],
        "catalog_update": _with_item(_HUBEI_ORDER, 1),
        "data_objection": _with_item(_HUBEI_ORDER, 3),
        ORDER: [("report_upward", "leading_group", "31", None, None, ["done"], False)],
        "dispute": [],
    },
    "luzhou": {
        "sharing_application": _with_item(_LUZHOU_ORDER, 1),
        "catalog_update": _with_item(_LUZHOU_ORDER, 3),
        "data_objection": _with_item(_LUZHOU_ORDER, 3),
        ORDER: [
            ("written_circular", "leading_group", "42", None, None, ["done"], False),
            ("efficiency_supervision", "leading_group", "42", None, None, ["done"], True),
        ],
        "complaint": [],
        "dispute": [],
    },
    "jiangsu": {
        "sharing_application": _with_item(_JIANGSU_ORDER, 3),
        "catalog_update": _with_item(_JIANGSU_ORDER, 1),
        "data_objection": _with_item(_JIANGSU_ORDER, 4),
        ORDER: [("report_to_provincial_government", "leading_group", "25", None, None, ["done"], False)],
        "dispute": [],
    },
    "luoyang": {
        "sharing_application": [
            ("prohibited_act", "platform", "annex 3, art. 25(4)", None, None, ["done"], False),
            ("handled_under_law", "leading_group", "annex 3, art. 27", None, None, ["done"], False),
        ],
        "catalog_update": _LUOYANG_49,
        "data_objection": _LUOYANG_49,
        "open_data_application": _LUOYANG_49,
        "open_catalog_correction": _LUOYANG_49,
    },
}


def _shape(rung):
    return (rung.id, rung.actor, rung.article, rung.starts_case, rung.ground, rung.follows, rung.may_stop)


@pytest.mark.parametrize("profile_id", sorted(LADDERS))
def test_ladders_in_the_new_shape(profile_id):
    profile = load_profile(profile_id)
    assert {ct_id: [_shape(r) for r in ct.escalation] for ct_id, ct in profile.case_types.items()} == (
        LADDERS[profile_id]
    )


def test_luzhou_order_ladder_for_an_order_opened_by_hand():
    # 第四十二条: 未在规定时限内完成整改的予以书面通报 (the first rung follows the order's own breach),
    # 造成严重不良后果的按照行政效能监察的有关规定予以处理 (the leading group may stop there).
    ladder = load_profile("luzhou").case_types[ORDER].escalation
    assert [(r.id, r.follows, r.may_stop) for r in ladder] == [
        ("written_circular", ["done"], False),
        ("efficiency_supervision", ["done"], True),
    ]


@pytest.mark.parametrize("profile_id", sorted(LADDERS))
def test_every_rung_is_a_task_or_an_order_for_a_directory_role(profile_id):
    profile = load_profile(profile_id)
    for ct_id, ct in profile.case_types.items():
        for index, rung in enumerate(ct.escalation):
            where = f"{profile_id}.{ct_id}.{rung.id}"
            assert rung.actor in DIRECTORY_ROLES, where
            assert rung.name_zh and rung.name_en, where
            if rung.starts_case is None:
                # A task rung names what its actor records (not the schema's generic 已办理 / Done).
                assert (rung.action_zh, rung.action_en) != ("已办理", "Done"), where
                assert rung.ground is None, where
            else:
                assert rung.starts_case == ORDER, where
                assert rung.ground in profile.case_types[ORDER].grounds, where
                assert not rung.may_stop, where
            if index == 0:
                assert rung.follows == ["done"], f"{where}: the first rung follows the breach"
            elif ct.escalation[index - 1].starts_case:
                assert set(rung.follows) <= {"late", "result"}, where
            else:
                assert rung.follows == ["done"], where


def test_luoyang_has_no_rectification_order():
    # 第四十九条 lists prohibited acts, 第五十一条 "依法予以处罚": the seed orders no rectification.
    profile = load_profile("luoyang")
    assert ORDER not in profile.case_types and "complaint" not in profile.case_types
    for ct in profile.case_types.values():
        assert [r.starts_case for r in ct.escalation] == [None, None]
        assert [(r.action_zh, r.action_en) for r in ct.escalation] == [
            ("已记录", "Recorded"),
            ("已依法处理", "Handled under law"),
        ]


GROUNDS = {"hubei": ("31", 5), "luzhou": ("42", 7), "jiangsu": ("25", 7)}


@pytest.mark.parametrize("profile_id", sorted(GROUNDS))
def test_rectification_grounds_are_enumerated_with_articles(profile_id):
    article, count = GROUNDS[profile_id]
    ct = load_profile(profile_id).case_types[ORDER]
    expected = [f"{article}({n})" for n in range(1, count + 1)]
    assert list(ct.grounds) == expected
    for ground_id, ground in ct.grounds.items():
        assert ground.article == ground_id
        assert ground.name_zh and ground.name_en, ground_id
    # No other case type is opened on grounds.
    for ct_id, other in load_profile(profile_id).case_types.items():
        if ct_id != ORDER:
            assert other.grounds == {}, ct_id


def test_luzhou_refusing_to_rectify_is_a_ground():
    # 第四十二条(六) "对责令整改的问题,拒不整改的"
    ground = load_profile("luzhou").case_types[ORDER].grounds["42(6)"]
    assert "拒不整改" in ground.name_zh and ground.article == "42(6)"


@pytest.mark.parametrize(
    ("profile_id", "article", "opened_by"),
    [
        ("hubei", "31", ["leading_group", "coordinator"]),  # 26: LGO; 31: 本级政府相关职能部门
        ("luzhou", "42", ["leading_group"]),
        ("jiangsu", "25", ["leading_group"]),
    ],
)
def test_rectification_order_case_type(profile_id, article, opened_by):
    ct = load_profile(profile_id).case_types[ORDER]
    assert (ct.name_zh, ct.name_en, ct.article) == ("整改通知", "Rectification order", article)
    assert (ct.results, ct.facts, ct.opened_by) == (["rectified", "dismissed"], [], opened_by)
    assert [t.step for t in ct.entry] == ["rectification_issue"]
    assert _flow(ct) == {
        "rectification_issue": {"issue": (None, ["rectification"]), "dismiss": ("dismissed", ["end"])},
        "rectification": {"report": (None, ["rectification_review"])},
        "rectification_review": {"accept": ("rectified", ["end"]), "return": (None, ["rectification"])},
    }
    issue, rectification, review = (ct.steps[s] for s in ct.steps)
    # The seeds set no number: issuing and reviewing are untimed, the issuer sets the period on the order.
    assert (issue.actor, issue.statutory, issue.article) == ("issuer", "none", article)
    assert (review.actor, review.statutory, review.article) == ("issuer", "none", article)
    assert (rectification.actor, rectification.limit_from, rectification.article) == (
        "respondent",
        "decision",
        article,
    )
    assert rectification.limit is None and rectification.limit_basis == "decision"
    actions = {f"{s}.{a}": x for s, step in ct.steps.items() for a, x in step.actions.items()}
    assert actions["rectification_issue.issue"].sets_limit
    assert actions["rectification_issue.issue"].notify == ["respondent"]
    assert actions["rectification_issue.dismiss"].reason_required
    assert actions["rectification.report"].reason_required
    assert actions["rectification.report"].notify == ["issuer"]
    assert actions["rectification_review.accept"].notify == ["respondent"]
    back = actions["rectification_review.return"]
    assert (back.reason_required, back.keeps_deadline, back.sets_limit, back.notify) == (
        True,
        True,
        False,
        ["respondent"],
    )


def test_luzhou_complaint():
    # 第四十四条 "其他部门有权向领导小组或市政府办公室投诉,有关部门接到投诉后,应当及时调查处理,
    # 并将处理结果反馈投诉部门"
    ct = load_profile("luzhou").case_types["complaint"]
    assert (ct.name_zh, ct.name_en, ct.article) == ("投诉", "Complaint", "44")
    assert (ct.results, ct.facts, ct.opened_by) == (
        ["substantiated", "unsubstantiated"],
        [],
        ["consumer", "provider"],
    )
    assert [t.step for t in ct.entry] == ["complaint_investigation"]
    assert _flow(ct) == {
        "complaint_investigation": {
            "substantiated": ("substantiated", ["complaint_feedback"]),
            "unsubstantiated": ("unsubstantiated", ["complaint_feedback"]),
            "order": ("substantiated", ["complaint_feedback"]),
        },
        "complaint_feedback": {"inform": (None, ["end"])},
    }
    for step in ct.steps.values():
        assert (step.actor, step.statutory, step.article) == ("investigator", "none", "44")
        assert all(a.reason_required for a in step.actions.values())
    order = ct.steps["complaint_investigation"].actions["order"]
    assert (order.starts_case, order.issuer) == (ORDER, "leading_group")
    assert ct.steps["complaint_feedback"].actions["inform"].notify == ["complainant", "respondent"]


@pytest.mark.parametrize("profile_id", ["hubei", "jiangsu"])
def test_only_luzhou_has_complaints(profile_id):
    assert "complaint" not in load_profile(profile_id).case_types


# -- ladder validation: one line, naming the file and the rung -----------------------------------------


def _write_edited(tmp_path: Path, old: str, new: str, *, after: str) -> Path:
    """Hubei with the first ``old`` after ``after`` replaced (rungs repeat their keys across ladders)."""
    at = HUBEI.index(old, HUBEI.index(after))
    path = tmp_path / "hubei.toml"
    path.write_text(HUBEI[:at] + new + HUBEI[at + len(old) :], encoding="utf-8")
    return path


SHARING_LADDER = "[[case_types.sharing_application.escalation]]"


def test_a_rung_after_a_case_rung_that_follows_done_is_refused(tmp_path):
    path = _write_edited(tmp_path, 'follows = ["late"]\n', "", after=SHARING_LADDER)
    assert _error(path) == (
        f"{path}: case_types.sharing_application.escalation.2 (report_upward).follows: ['done'] "
        "cannot follow a case rung (use ['late', 'result'])"
    )


def test_a_rung_after_a_task_rung_that_follows_late_is_refused(tmp_path):
    # Make the order a task rung: the report upward can no longer follow it "late".
    path = _write_broken(tmp_path, 'starts_case = "rectification_order"\nground = "31(5)"\n', "")
    assert _error(path) == (
        f"{path}: case_types.sharing_application.escalation.2 (report_upward).follows: ['late'] "
        "cannot follow a task rung"
    )


def test_a_ground_the_order_type_does_not_list_is_refused(tmp_path):
    path = _write_broken(tmp_path, 'ground = "31(5)"', 'ground = "31(6)"')
    assert _error(path) == (
        f"{path}: case_types.sharing_application.escalation.1 (rectification_order).ground: "
        "'31(6)' is not one of rectification_order's grounds"
    )


def test_a_rung_starting_an_unknown_case_type_is_refused(tmp_path):
    old = 'starts_case = "rectification_order"\nground = "31(5)"'
    path = _write_broken(tmp_path, old, old.replace('"rectification_order"', '"rectification_notice"'))
    assert _error(path) == (
        f"{path}: case_types.sharing_application.escalation.1 (rectification_order).starts_case: "
        "no case type 'rectification_notice'"
    )


def test_results_the_order_cannot_end_with_are_refused(tmp_path):
    path = _write_edited(
        tmp_path,
        'follows = ["late"]\n',
        'follows = ["result"]\nresults = ["granted"]\n',
        after=SHARING_LADDER,
    )
    assert _error(path) == (
        f"{path}: case_types.sharing_application.escalation.2 (report_upward).results: ['granted'] "
        "are not results of rectification_order"
    )


def test_a_case_rung_may_not_stop_the_ladder(tmp_path):
    path = _write_broken(tmp_path, 'ground = "31(5)"', 'ground = "31(5)"\nmay_stop = true')
    assert (
        _error(path) == f"{path}: case_types.sharing_application.escalation.1: 'may_stop' is for a task rung"
    )


def test_a_ground_on_a_task_rung_is_refused(tmp_path):
    path = _write_broken(tmp_path, 'action_zh = "已报请"', 'action_zh = "已报请"\nground = "31(5)"')
    assert _error(path) == (
        f"{path}: case_types.sharing_application.escalation.0: 'ground' is for a rung that starts a case"
    )


def test_an_order_type_without_its_ground_list_breaks_the_ladders(tmp_path):
    start = HUBEI.index('[case_types.rectification_order.grounds."31(1)"]')
    end = HUBEI.index("[case_types.rectification_order.steps.rectification_issue]")
    path = tmp_path / "hubei.toml"
    path.write_text(HUBEI[:start] + HUBEI[end:], encoding="utf-8")
    assert "ground: '31(5)' is not one of rectification_order's grounds" in _error(path)
