"""Human-facing text: Chinese (zh-CN) first, English beside it.

Notices are rendered here from the plain parameters a workflow hands to the notify activity, so the
wording can improve without touching any workflow history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from calendars import SHANGHAI
from regulations.citation import cite_zh
from workflows import registry


def format_due(iso: str, lang: str = "zh") -> str:
    """'2026-10-11T00:00:00+08:00' → '2026-10-10 24:00' (the end of the N-th working day, as a clerk
    reads it), or the office-closing time when the profile uses one."""
    if not iso:
        return "不限期" if lang == "zh" else "no time limit"
    due = datetime.fromisoformat(iso).astimezone(SHANGHAI)
    if due.hour == 0 and due.minute == 0:
        day = (due - timedelta(days=1)).date()
        return f"{day.isoformat()} 24:00"
    return due.strftime("%Y-%m-%d %H:%M")


def article_zh(params: dict[str, Any], article: str | None = None) -> str:
    article = article if article is not None else params.get("article", "")
    return cite_zh(article or "", params.get("profile_name_zh", ""), params.get("annex_titles_zh"))


def _limit_zh(params: dict[str, Any]) -> str:
    if params.get("limit_basis") == "local_policy":
        return "(本地规定时限,非法定时限)"
    if params.get("limit_basis") == "decision":
        return "(期限由下达方设定,非法定时限)"
    if params.get("provisional"):
        return "(该年度节假日安排尚未公布,期限为暂定)"
    return ""


def _limit_en(params: dict[str, Any]) -> str:
    if params.get("limit_basis") == "local_policy":
        return " (local policy, not statute)"
    if params.get("limit_basis") == "decision":
        return " (period set by the issuer, not statute)"
    if params.get("provisional"):
        return " (provisional: that year's holiday notice is not yet published)"
    return ""


def render_notice(kind: str, p: dict[str, Any]) -> tuple[str, str]:
    case = p.get("case_id", "")
    # What the case is about, as every case type names it (its subject); notices of cases started
    # before subjects travelled with them name the application's resource.
    subject_zh = p.get("subject_zh") or p.get("resource_zh", "")
    subject_en = p.get("subject_en") or p.get("resource_en", "") or subject_zh
    res_zh, res_en = (f"({subject_zh})" if subject_zh else ""), (f" ({subject_en})" if subject_en else "")
    step_zh, step_en = p.get("step_zh", ""), p.get("step_en", "")
    due_zh, due_en = format_due(p.get("due_at", ""), "zh"), format_due(p.get("due_at", ""), "en")
    art_zh, art_en = article_zh(p), f"art. {p.get('article', '')}"
    result = p.get("result", "") or p.get("status", "")
    result_zh, result_en = _result_words(p, result)
    if kind == "task_assigned":
        if not p.get("due_at"):  # an untimed step (the seed sets no number)
            return (
                f"【待办】案件 {case}{res_zh}待您办理“{step_zh}”(不限期),依据{art_zh}。",
                f"[Task] Case {case}{res_en} awaits your '{step_en}' (no time limit; {art_en}).",
            )
        return (
            f"【待办】案件 {case}{res_zh}待您办理“{step_zh}”,"
            f"请于 {due_zh} 前完成,依据{art_zh}{_limit_zh(p)}。",
            f"[Task] Case {case}{res_en} awaits your '{step_en}', due {due_en} ({art_en}){_limit_en(p)}.",
        )
    if kind == "reminder":
        return (
            f"【提醒】案件 {case} 的“{step_zh}”今日到期(截止 {due_zh}),依据{art_zh}。",
            f"[Reminder] '{step_en}' on case {case} is due today (by {due_en}), {art_en}.",
        )
    if kind == "breach":
        return (
            f"【超期】案件 {case} 的“{step_zh}”已超过期限 {due_zh},违反{art_zh},请尽快办理。",
            f"[Overdue] '{step_en}' on case {case} passed its deadline {due_en} ({art_en}); act now.",
        )
    if kind == "breach_supervision":
        return (
            f"【超期督办】案件 {case} 的“{step_zh}”已超过期限 {due_zh}({art_zh}),请督促办理。",
            f"[Overdue, for supervision] '{step_en}' on case {case} passed {due_en} ({art_en}).",
        )
    if kind == "decided":
        reason = p.get("reason", "")
        return (
            f"【办理结果】案件 {case}{res_zh}“{step_zh}”结果:{result_zh}"
            + (f",理由:{reason}" if reason else "")
            + "。",
            f"[Result] Case {case}{res_en} '{step_en}': {result_en}"
            + (f"; reason: {reason}" if reason else "")
            + ".",
        )
    if kind == "clock_extended":
        return (
            f"【期限延长】案件 {case} 的“{step_zh}”经批准延期,期限延至 {due_zh}(依据{art_zh})。",
            f"[Deadline extended] '{step_en}' on case {case} was extended with approval; now due {due_en} "
            f"({art_en}).",
        )
    if kind == "extension_refused":
        reason = p.get("reason", "")
        return (
            f"【延期未获批准】案件 {case} 的“{step_zh}”延期申请未获主要负责人批准"
            + (f",理由:{reason}" if reason else "")
            + f";请于 {due_zh} 前完成(依据{art_zh})。",
            f"[Extension refused] The principal head did not approve the extension of '{step_en}' on case "
            f"{case}" + (f" ({reason})" if reason else "") + f"; it is still due {due_en} ({art_en}).",
        )
    if kind == "note_added":
        return (
            f"【案件记录】案件 {case}{res_zh}新增记录:{p.get('note_zh', '')}",
            f"[Note] Case {case}{res_en}: {p.get('note_en', '')}",
        )
    if kind == "clock_suspended":
        left = p.get("working_days_left")
        return (
            f"【计时中止】案件 {case} 的“{step_zh}”计时已中止,剩余 {left} 个工作日,恢复计时后继续计算"
            f"(依据{art_zh})。",
            f"[Clock stopped] '{step_en}' on case {case} is on hold with {left} working days left; "
            f"counting goes on when it resumes ({art_en}).",
        )
    if kind == "clock_resumed":
        left = p.get("working_days_left")
        return (
            f"【计时恢复】案件 {case} 的“{step_zh}”恢复计时,剩余 {left} 个工作日,请于 {due_zh} 前完成"
            f"(依据{art_zh})。",
            f"[Clock resumed] '{step_en}' on case {case} runs again with {left} working days left; "
            f"due {due_en} ({art_en}).",
        )
    if kind == "deadline_changed":
        return (
            f"【期限调整】节假日安排公布后,案件 {case} 的“{step_zh}”期限重新计算为 {due_zh}(依据{art_zh})。",
            f"[Deadline changed] After the new holiday notice, '{step_en}' on case {case} is due {due_en}.",
        )
    if kind == "withdrawn":
        return (
            f"【撤回】案件 {case}{res_zh}已由申请部门撤回,“{step_zh}”无需再办理。",
            f"[Withdrawn] Case {case}{res_en} was withdrawn; '{step_en}' needs no action.",
        )
    if kind == "case_closed":
        reason = p.get("result_reason", "")
        basis = article_zh(p, p.get("result_article", ""))
        return (
            f"【办结】您的{p.get('case_type_zh') or _case_type_words(p)[0]} {case}{res_zh}"
            f"已办结:{result_zh}"
            + (f",理由:{reason}" if reason else "")
            + (f"(依据{basis})" if basis else "")
            + "。",
            f"[Closed] Your {p.get('case_type_en') or _case_type_words(p)[1]} {case}{res_en} "
            f"is {result_en}"
            + (f"; reason: {reason}" if reason else "")
            + (f" (art. {p.get('result_article')})" if p.get("result_article") else "")
            + ".",
        )
    return (f"案件 {case}:{kind}", f"Case {case}: {kind}")


def _result_words(p: dict[str, Any], result: str) -> tuple[str, str]:
    """A result as people read it: the label the case sent with its notice, else its case type's
    (notices of cases started before the labels travelled with them)."""
    if p.get("result_zh"):
        return p["result_zh"], p.get("result_en") or result
    return registry.status_words(p.get("case_type", ""), result)


def _case_type_words(p: dict[str, Any]) -> tuple[str, str]:
    kind = registry.by_case_type(p.get("case_type", ""))
    return (kind.name_zh, kind.name_en.lower()) if kind else ("申请", "case")
