"""How the engine speaks: refusals, the names of roles and parties, citations (zh-CN first).

Pure: no workflow API here, so the decision and clock checks that use it run in unit tests.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from temporalio.exceptions import ApplicationError

from regulations.citation import cite_zh
from workflows.case import Party

#: Who acts when the case itself acts (a breach starting an escalation, a joint step's rule).
SYSTEM_USER = "govshare"

ROLE_ZH = {
    "consumer": "使用部门",
    "provider": "提供部门",
    "platform": "共享平台管理部门",
    "leading_group": "领导小组办公室",
    "coordinator": "协调部门",
    "principal_head": "主要负责人",
    "auditor": "审计部门",
    "citizen": "申请人",
    "government_office": "市政府办公室",
    "issuer": "整改通知下达方",
    "respondent": "被责令整改部门",
    "complainant": "投诉部门",
    "investigator": "调查机构",
}

#: Statuses every case type shares; a case type's results come with their own labels (registry).
STATUS_ZH = {"in_progress": "办理中", "withdrawn": "已撤回", "closed": "已办结"}
STATUS_EN = {"in_progress": "in progress", "withdrawn": "withdrawn", "closed": "closed"}


def visible(text: str) -> bool:
    """Whether ``text`` has something a person can see: not only spaces, controls or format
    characters (zero-width spaces, joiners, direction marks)."""
    return any(not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Zs") for ch in text)


def refuse(error_type: str, zh: str, en: str) -> ApplicationError:
    """A refusal: English message, Chinese text in details (the API shows zh first)."""
    return ApplicationError(en, {"zh": zh, "en": en}, type=error_type, non_retryable=True)


@dataclass(frozen=True)
class Speaker:
    """What a case pinned for naming things: department names, its profile's title and annexes."""

    profile_name_zh: str = ""
    annex_titles_zh: dict[str, str] = field(default_factory=dict)
    department_names: dict[str, str] = field(default_factory=dict)
    #: The case type's result labels (``granted`` → (``同意授权``, ``granted``)), beside the shared ones.
    results: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Person reference → display name (a citizen, a principal head); never an ID number.
    person_names: dict[str, str] = field(default_factory=dict)

    def cite(self, article: str) -> str:
        return cite_zh(article, self.profile_name_zh, self.annex_titles_zh)

    def who_zh(self, party: Party) -> str:
        role = ROLE_ZH.get(party.role, party.role)
        person = self.person_names.get(party.person, party.person)
        if party.person and not party.department:  # a citizen, a company: no department
            return f"{role}({person})"
        who = f"{role}({self.department_names.get(party.department) or party.department})"
        return f"{who}{person}" if party.person else who

    @staticmethod
    def who_en(party: Party) -> str:
        return f"{party.role} {party.department or party.person}"

    def status_zh(self, status: str) -> str:
        return self.results[status][0] if status in self.results else STATUS_ZH.get(status, status)

    def status_en(self, status: str) -> str:
        return self.results[status][1] if status in self.results else STATUS_EN.get(status, status)
