"""Human-facing text: citations and notices, Chinese first."""

from __future__ import annotations

from activities.messages import format_due, render_notice
from regulations import load_profile
from regulations.citation import cite_zh

HUBEI = "湖北省政务信息资源共享管理办法"


def test_citations() -> None:
    assert cite_zh("20", HUBEI) == "《湖北省政务信息资源共享管理办法》第20条"
    assert cite_zh("8(1)", HUBEI) == "《湖北省政务信息资源共享管理办法》第8条第(1)项"
    luoyang = load_profile("luoyang")
    assert cite_zh("annex 3, art. 13", luoyang.title_zh, luoyang.annex_titles_zh) == (
        "《洛阳市政务数据和电子政务建设管理办法(试行)》第13条"
    )
    assert (
        cite_zh("19", luoyang.title_zh, luoyang.annex_titles_zh)
        == "《洛阳市政务数据资源共享管理暂行办法》第19条"
    )
    assert cite_zh("annex 2, art. 5", "X") == "《X》附件2第5条"
    assert cite_zh("", HUBEI) == ""


def test_every_profile_cites_a_title() -> None:
    for profile_id in ("hubei", "luzhou", "jiangsu", "luoyang", "yongcheng"):
        assert load_profile(profile_id).title_zh.endswith("办法")


def test_due_is_shown_as_the_end_of_the_working_day() -> None:
    # 00:00 of 10-11 is 24:00 of the 3rd working day 10-10, which is how the regulation counts.
    assert format_due("2026-10-11T00:00:00+08:00") == "2026-10-10 24:00"
    assert format_due("2026-10-10T09:30:00Z") == "2026-10-10 17:30"
    assert format_due("") == "不限期"


def test_task_notice_cites_article_and_labels_local_policy() -> None:
    params = {
        "case_id": "SA-1",
        "resource_zh": "人口基本信息",
        "step_zh": "提供部门授权",
        "step_en": "Authorization by the provider",
        "due_at": "2026-12-09T00:00:00+08:00",
        "article": "20",
        "profile_name_zh": HUBEI,
        "limit_basis": "statute",
    }
    zh, en = render_notice("task_assigned", params)
    assert "2026-12-08 24:00" in zh and "《湖北省政务信息资源共享管理办法》第20条" in zh
    assert "local policy" not in en and "本地规定" not in zh
    zh, en = render_notice("task_assigned", {**params, "limit_basis": "local_policy"})
    assert "本地规定时限,非法定时限" in zh and "local policy, not statute" in en
    zh, _ = render_notice("task_assigned", {**params, "provisional": True})
    assert "暂定" in zh


def test_closing_notice_gives_result_reason_and_basis() -> None:
    zh, en = render_notice(
        "case_closed",
        {
            "case_id": "SA-2",
            "case_type": "sharing_application",
            "resource_zh": "刑事案件侦查信息",
            "status": "rejected",
            "result": "rejected",
            "result_reason": "不予共享类资源。依据:《中华人民共和国保守国家秘密法》",
            "result_article": "8(1)",
            "profile_name_zh": HUBEI,
        },
    )
    assert zh.startswith("【办结】") and "不予受理" in zh and "保守国家秘密法" in zh and "第8条第(1)项" in zh
    assert "rejected" in en and "art. 8(1)" in en


def test_an_untimed_task_and_an_issuer_set_period_are_told_as_such() -> None:
    base = {"case_id": "ES-SA-1-T1", "step_zh": "报请领导小组办公室", "step_en": "Report", "article": "26"}
    zh, en = render_notice("task_assigned", {**base, "profile_name_zh": HUBEI})
    assert "(不限期)" in zh and "请于" not in zh and "no time limit" in en
    period = {**base, "due_at": "2026-12-18T00:00:00+08:00", "limit_basis": "decision"}
    zh, en = render_notice("task_assigned", period)
    assert "请于 2026-12-17 24:00 前完成" in zh and "期限由下达方设定,非法定时限" in zh
    assert "set by the issuer, not statute" in en


def test_a_refused_extension_and_a_note_are_told_as_such() -> None:
    params = {
        "case_id": "DO-1",
        "subject_zh": "数据疑义:户籍信息",
        "step_zh": "校核数据",
        "step_en": "Verification of the data",
        "due_at": "2026-12-17T00:00:00+08:00",
        "article": "19",
        "profile_name_zh": "洛阳市政务数据资源共享管理暂行办法",
    }
    zh, en = render_notice("extension_refused", {**params, "reason": "应按期完成"})
    assert zh.startswith("【延期未获批准】") and "应按期完成" in zh and "2026-12-16 24:00" in zh
    assert "第19条" in zh and "still due" in en
    zh, en = render_notice(
        "note_added", {**params, "note_zh": "凭合法有效证明材料照常办理:已办理", "note_en": "x"}
    )
    assert zh == "【案件记录】案件 DO-1(数据疑义:户籍信息)新增记录:凭合法有效证明材料照常办理:已办理"
