"""Citing an article the way a Chinese reader expects: 《湖北省政务信息资源共享管理办法》第20条.

Profiles write articles compactly ("20", "8(1)", "annex 3, art. 13"); this turns them into the
citation shown to people. Pure and deterministic: workflows use it too.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"^(\d+)$")
_ITEM = re.compile(r"^(\d+)\((\d+)\)$")
_ANNEX = re.compile(r"^annex (\d+), art\. (\d+)$")


def cite_zh(article: str, title_zh: str = "", annex_titles_zh: dict[str, str] | None = None) -> str:
    """``cite_zh("8(1)", "湖北省…管理办法")`` → ``《湖北省…管理办法》第8条第(1)项``;
    ``cite_zh("annex 3, art. 13", t, {"3": "洛阳…(试行)"})`` → ``《洛阳…(试行)》第13条``."""
    if not article:
        return ""
    title = f"《{title_zh}》" if title_zh else ""
    if m := _PLAIN.match(article):
        return f"{title}第{m[1]}条"
    if m := _ITEM.match(article):
        return f"{title}第{m[1]}条第({m[2]})项"
    if m := _ANNEX.match(article):
        annex = (annex_titles_zh or {}).get(m[1])
        return f"《{annex}》第{m[2]}条" if annex else f"{title}附件{m[1]}第{m[2]}条"
    return f"{title}{article}"
