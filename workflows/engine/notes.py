"""Notes on a running case, beside deciding, changing the clock and withdrawing.

A case type's profile lists the kinds of note its parties may add (``CaseType.notes``): Hubei 23 —
while the provider checks doubtful data, a citizen or company with valid proof is still served
("已提供合法有效证明材料的,受理单位应当照常办理"), and the case records that instruction; a dispute's
negotiation — the parties' messages and proposals. A note changes no task and no deadline: it is a
dated entry on the case (``attributes["notes"]``) and a line of the audit trail, told to the other
parties.

Pure functions: the engine passes what the case holds and gets an entry, or a refusal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from regulations.schema import CaseType
from workflows.case import ERROR_CONFLICT, ERROR_FORBIDDEN, ERROR_INVALID, NoteRequest, Party
from workflows.engine.decisions import is_assignee
from workflows.engine.words import ROLE_ZH, Speaker, refuse, visible


def check(
    req: NoteRequest,
    rules: CaseType,
    parties: list[Party],
    closed: bool,
    speaker: Speaker,
    *,
    agreed: bool = False,
) -> None:
    """Refuse a note the case does not take: a closed case (409), a kind its profile does not list
    (422), an author who plays none of the roles that may add it (403), a text with nothing visible
    in it where the kind needs one (422), a proposal once a party of the running step has agreed to
    the one before (``agreed``: 409) or without terms (422)."""
    if closed:
        raise refuse(ERROR_CONFLICT, "案件已办结,不能再添加记录", "the case is closed")
    kind = rules.notes.get(req.kind)
    if kind is None:
        kinds = "、".join(f"{k}({v.name_zh})" for k, v in rules.notes.items()) or "(无)"
        raise refuse(
            ERROR_INVALID,
            f"{rules.name_zh}可添加的记录为:{kinds}",
            f"a {rules.name_en.lower()} takes notes of kinds: {', '.join(rules.notes) or 'none'}",
        )
    if not any(p.role in kind.by and is_assignee(req.actor, p) for p in parties):
        allowed = "、".join(ROLE_ZH.get(r, r) for r in kind.by)
        raise refuse(
            ERROR_FORBIDDEN,
            f"“{kind.name_zh}”由本案的{allowed}添加({speaker.cite(kind.article)})",
            f"a '{kind.name_en}' note is added by this case's {', '.join(kind.by)} (art. {kind.article})",
        )
    if kind.text_required and not visible(req.text):
        raise refuse(ERROR_INVALID, f"“{kind.name_zh}”须填写内容", f"a '{kind.name_en}' note needs text")
    if kind.proposal and agreed:
        raise refuse(
            ERROR_CONFLICT,
            "已有当事方同意现行方案,不能再提出新方案;不同意的请选择协商不成",
            "a party has agreed to the current proposal: no new proposal; disagree by ending the negotiation",
        )
    if kind.proposal and not req.payload:
        raise refuse(
            ERROR_INVALID, f"“{kind.name_zh}”须在 payload 中写明方案条款", "a proposal needs its terms"
        )


def entry(req: NoteRequest, rules: CaseType, now: datetime, seq: int) -> dict[str, Any]:
    """The note as the case keeps it (JSON: it travels in the header's attributes)."""
    kind = rules.notes[req.kind]
    return {
        "seq": seq,
        "kind": req.kind,
        "name_zh": kind.name_zh,
        "name_en": kind.name_en,
        "article": kind.article,
        "at": now.isoformat(),
        "by": {"department": req.actor.department, "role": req.actor.role, "user": req.actor.user},
        "text": req.text.strip(),
        "payload": req.payload,
    }


def proposals(rules: CaseType, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The case's proposals, oldest first (the notes of a ``proposal`` kind)."""
    return [n for n in kept if n["kind"] in rules.notes and rules.notes[n["kind"]].proposal]


def words(req: NoteRequest, rules: CaseType, speaker: Speaker) -> tuple[str, str]:
    kind = rules.notes[req.kind]
    text = req.text.strip()
    return (
        f"{kind.name_zh}:{text}({speaker.cite(kind.article)})",
        f"{kind.name_en}: {text} (art. {kind.article})",
    )


def told(req: NoteRequest, parties: list[Party]) -> list[Party]:
    """Every other party, once each (the author is not told of its own note)."""
    seen: list[Party] = []
    for p in parties:
        if is_assignee(req.actor, p) or p in seen:
            continue
        seen.append(p)
    return seen
