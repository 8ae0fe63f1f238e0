"""A reason must say something a reader can see (issue 23): ``govshare.core.text.has_visible_text``,
the API's request types built on it, and the engine validators' checks.

Over HTTP (a rejection, a withdrawal, an extension, a suspension, an approver's name):
``tests/api/test_visible_reasons.py``.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

import pytest
from engine_cases import PROFILE
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from api.requests import (
    ClockCreate,
    DecisionCreate,
    DemandCreate,
    DisputeCreate,
    NoteCreate,
    WithdrawalCreate,
)
from calendars import SHANGHAI, WorkingDayCalendar
from govshare.core.text import INVISIBLE_FILLERS, has_visible_text, visible_characters
from workflows.case import ERROR_INVALID, Actor, ClockRequest, DecisionRequest, Party, Task
from workflows.engine import approvals, clock, decisions
from workflows.engine.words import Speaker

#: One of each kind of invisible character (and some of the usual suspects).
INVISIBLE = [
    "\u200b",  # ZERO WIDTH SPACE (Cf)
    "\u200c",  # ZERO WIDTH NON-JOINER (Cf)
    "\u200d",  # ZERO WIDTH JOINER (Cf)
    "\u2060",  # WORD JOINER (Cf)
    "\ufeff",  # BOM / ZERO WIDTH NO-BREAK SPACE (Cf)
    "\u00ad",  # SOFT HYPHEN (Cf)
    "\u180e",  # MONGOLIAN VOWEL SEPARATOR (Cf)
    "\u200e",  # LEFT-TO-RIGHT MARK (Cf)
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE (Cf)
    "\u2066",  # LEFT-TO-RIGHT ISOLATE (Cf)
    "\u2062",  # INVISIBLE TIMES (Cf)
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A (Cf)
    "\U000e007f",  # CANCEL TAG (Cf)
    "\U0001d173",  # MUSICAL SYMBOL BEGIN BEAM (Cf)
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x1f",
    "\x7f",
    "\x85",  # Cc
    " ",
    "\u00a0",
    "\u1680",
    "\u2002",
    "\u2009",
    "\u200a",
    "\u202f",
    "\u205f",
    "\u3000",  # Zs (U+3000 IDEOGRAPHIC SPACE)
    "\u2028",  # LINE SEPARATOR (Zl)
    "\u2029",  # PARAGRAPH SEPARATOR (Zp)
    "\u3164",  # HANGUL FILLER
    "\u115f",  # HANGUL CHOSEONG FILLER
    "\u1160",  # HANGUL JUNGSEONG FILLER
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u2800",  # BRAILLE PATTERN BLANK
    "\u034f",  # COMBINING GRAPHEME JOINER (Mn): a mark with nothing to mark
    "\u0301",  # COMBINING ACUTE ACCENT (Mn) alone
    "\ufe0f",  # VARIATION SELECTOR-16 (Mn) alone
    "\U000e0100",  # VARIATION SELECTOR-17 (Mn)
    "\u17b4",  # KHMER VOWEL INHERENT AQ
]

VISIBLE = [
    "理由",
    "a",
    "0",
    "。",
    "!",
    "-",
    "_",
    "·",
    "※",
    "😀",
    "\u00e9",
    "e\u0301",  # a mark on a letter
    "ㄱ",
    "한",
    "𠀀",  # CJK extension B
    "\u2801",  # a braille pattern that is not blank
    "ℹ",
    "$",
]


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c[0]):04X}")
def test_invisible_characters_alone_or_together_are_no_text(char: str) -> None:
    assert not has_visible_text(char)
    assert not has_visible_text(char * 5)
    assert not has_visible_text(" " + char + "\u200b" + "\u3000")
    assert not has_visible_text("".join(INVISIBLE))


@pytest.mark.parametrize("text", VISIBLE)
def test_visible_text_is_text_even_wrapped_in_invisible_characters(text: str) -> None:
    assert has_visible_text(text)
    assert has_visible_text("\u200b" + text + "\u3164\u2800 ")
    assert has_visible_text("".join(INVISIBLE) + text)


def test_the_rule_by_category_holds_for_every_character_of_those_categories() -> None:
    for code in range(0x110000):
        char = chr(code)
        category = unicodedata.category(char)
        if category in ("Cf", "Cc", "Zs", "Zl", "Zp") or char in INVISIBLE_FILLERS:
            assert not has_visible_text(char), f"U+{code:04X}"
        elif category == "Mn":
            assert not has_visible_text(char) and has_visible_text("a" + char), f"U+{code:04X}"
        elif category in ("Lu", "Ll", "Lo", "Nd", "Po", "So", "Sm"):
            assert has_visible_text(char), f"U+{code:04X}"


def test_odd_inputs() -> None:
    assert not has_visible_text("")
    assert not has_visible_text(None)
    assert not has_visible_text(42)
    assert visible_characters("\u200b理\u3000由\u2800") == "理由"


# -- the API's request types -------------------------------------------------------------------------
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


@pytest.mark.parametrize("blank", [ZERO_WIDTH, "\u3164", "\u2800\u2800", "\u3000\u200b", "\u034f"])
def test_a_required_text_that_shows_nothing_is_refused(blank: str) -> None:
    for model, fields in (
        (WithdrawalCreate, {"reason": blank}),
        (NoteCreate, {"kind": "served_with_proof", "text": blank}),
        (DemandCreate, {"title": blank}),
    ):
        with pytest.raises(ValidationError) as exc:
            model.model_validate(fields)
        (error,) = exc.value.errors()
        assert error["type"] == "blank_text" and "visible text" in error["msg"], error
    assert (
        WithdrawalCreate.model_validate({"reason": ZERO_WIDTH + "业务调整"}).reason == ZERO_WIDTH + "业务调整"
    )


@pytest.mark.parametrize("blank", [ZERO_WIDTH, "\u3164", "\u2800", "\u180e\u2028"])
def test_a_reason_required_only_sometimes_that_shows_nothing_is_read_as_empty(blank: str) -> None:
    """So the engine's own rule refuses it, with its article, when the action needs one."""
    assert DecisionCreate.model_validate({"step": "s", "action": "reject", "reason": blank}).reason == ""
    clock_change = ClockCreate.model_validate({"kind": "extension", "reason": blank, "approver_name": blank})
    assert clock_change.reason == "" and clock_change.approver_name == ""
    assert DecisionCreate.model_validate({"step": "s", "action": "x", "reason": " 理由 "}).reason == "理由"
    with pytest.raises(ValidationError) as exc:
        DisputeCreate.model_validate({"resource_id": "r", "matter": "争议", "duty": blank})
    assert exc.value.errors()[0]["type"] == "duty_required"


# -- the engine's validators -------------------------------------------------------------------------
JOINT = PROFILE.case_types["engine_joint"]
CLOCK = PROFILE.case_types["engine_clock"]
SPEAKER = Speaker(profile_name_zh="引擎测试规范", department_names={"gaj": "公安局"})
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)


def _task(step_id: str, rules=JOINT, **kw) -> Task:
    step = rules.steps[step_id]
    return Task(
        task_id="C/1",
        seq=1,
        step=step_id,
        name_zh=step.name_zh,
        name_en=step.name_en,
        assignee=Party(department="gaj", role=step.actor),
        actions=list(step.actions),
        opened_at=T0,
        article=step.article,
        limit_basis=step.limit_basis,
        group=f"{step_id}#1",
        **kw,
    )


def _refusal(call) -> tuple[str, str]:
    with pytest.raises(ApplicationError) as exc:
        call()
    return exc.value.type or "", exc.value.details[0]["zh"]


def test_the_decision_validator_refuses_an_invisible_reason_with_the_article() -> None:
    task = _task("joint_verification")
    case = decisions.Situation(
        rules=JOINT, tasks=[task], parties=[task.assignee], closed=False, speaker=SPEAKER
    )
    gaj = Actor("gaj", "provider", "clerk")
    blank = DecisionRequest(actor=gaj, action="correct", task_id="C/1", reason=ZERO_WIDTH + "\u3164")
    # What the handler (and a replay) runs lets it through, as recorded histories ran …
    _task_found, action = decisions.check_decision(blank, case)
    # … the validator does not.
    kind, zh = _refusal(lambda: decisions.check_reason_visible(blank, task, action, SPEAKER))
    assert kind == ERROR_INVALID and "必须说明理由" in zh and SPEAKER.cite(task.article) in zh
    said = DecisionRequest(actor=gaj, action="correct", task_id="C/1", reason="\u200b数据有误")
    decisions.check_reason_visible(said, task, action, SPEAKER)
    confirm = JOINT.steps["joint_verification"].actions["confirm"]
    decisions.check_reason_visible(
        DecisionRequest(actor=gaj, action="confirm", task_id="C/1"), task, confirm, SPEAKER
    )


def test_the_clock_validator_refuses_invisible_reasons_and_approver_names() -> None:
    deadline = WorkingDayCalendar.default().add_working_days(T0, 5)
    task = _task("joint_verification", deadline=deadline)
    step = JOINT.steps["joint_verification"]
    gaj = Actor("gaj", "provider", "clerk")

    def extension(reason: str, approver: str) -> ClockRequest:
        return ClockRequest(
            actor=gaj, task_id="C/1", kind="extension", working_days=5, reason=reason, approver_name=approver
        )

    no_name = extension("数据量大", ZERO_WIDTH)
    clock.check_change(no_name, task, step, [task.assignee], SPEAKER)  # strip() lets it through
    kind, zh = _refusal(lambda: clock.check_text_visible(no_name, step, SPEAKER))
    assert kind == ERROR_INVALID and "请填写批准人" in zh
    no_reason = extension("\u2800\u3164", "王局长")
    clock.check_change(no_reason, task, step, [task.assignee], SPEAKER)
    assert _refusal(lambda: clock.check_text_visible(no_reason, step, SPEAKER)) == (
        ERROR_INVALID,
        "延期须说明理由",
    )
    clock.check_text_visible(extension("数据量大", "王局长"), step, SPEAKER)

    review = CLOCK.steps["review"]
    platform = Actor("bdb", "platform", "clerk")
    stop = ClockRequest(actor=platform, task_id="C/1", kind="suspension", reason="\u200b\u200b")
    assert _refusal(lambda: clock.check_text_visible(stop, review, SPEAKER)) == (
        ERROR_INVALID,
        "中止计时须说明理由",
    )
    clock.check_text_visible(ClockRequest(actor=platform, task_id="C/1", kind="resume"), review, SPEAKER)


def test_the_heads_refusal_needs_a_visible_reason() -> None:
    head = Actor("gaj", "principal_head", "head")
    blank = DecisionRequest(actor=head, action=approvals.REFUSE, task_id="C/2", reason="\u3164")
    assert _refusal(lambda: approvals.check_refusal_visible(blank)) == (ERROR_INVALID, "不批准延期须说明理由")
    approvals.check_refusal_visible(DecisionRequest(actor=head, action=approvals.APPROVE, task_id="C/2"))
    approvals.check_refusal_visible(
        DecisionRequest(actor=head, action=approvals.REFUSE, task_id="C/2", reason="否")
    )
