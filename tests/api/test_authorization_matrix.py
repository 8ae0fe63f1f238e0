"""The authorization matrix (issue 23): every endpoint that reads or changes a case × every role ×
own / other department × party / not party, for every case type — kept as a table, every cell run.

The rule is README, Security, "Who sees what": a department's credential sees a case when a party
row of its department is in its role, or in a case-only role (respondent, issuer, complainant,
investigator) that any of its acting credentials answers; the platform, the leading group and the
auditor see every case; a principal head every case of its department; a citizen exactly the cases
that name it. A case one may not see is 404 on every path, read or write. Who may *act* is the
engine's (``is_assignee``): the assignee of the open task decides, claims and asks for more time; the
applicant withdraws; a note is added by a party in a role its kind admits; an auditor never acts
(403 on every write, by its role).

How to read the table (``ROWS``, below):

* a row is ``(case types, roles, situations, who, outcome)``; a row with several types, roles or
  situations stands for each combination. Every (case type, role, situation) is covered once
  (``test_the_table_covers_every_combination``).
* the situation is where the caller stands towards the case — ``own`` / ``other``: its department
  is / is not one of the case's party departments; ``party`` / ``not party``: the caller itself
  answers / does not answer for a party row (its department's row in its role, or in a case-only
  role; a citizen: a row naming its identity; a principal head answers for no party row — its
  approval task is not one — and is tested as ``own · not party``). The test checks each row's
  situation against the live case's parties before it trusts the row.
* ``who`` is the caller: ``D1`` / ``D2`` / ``D3`` departments made for the test (a token for every
  department role; ``D3`` is party to nothing), a demo department (``bdb`` platform, ``lgo`` leading
  group, ``jxw`` coordinator, ``szfb`` government office, ``sjj`` audit bureau: their demo token in
  that role, or a credential made for the test in another role), ``citizen`` (demo-citizen) or
  ``company`` (demo-company), always in the row's role.
* the outcome is one token per endpoint, in :data:`ENDPOINTS` order — a status class (``2xx``,
  ``403``, ``404``, ``409``, ``422``) or, for the three collections, ``yes`` / ``no`` (the case,
  its task, its notices are listed for the caller) — or ``n/a: …``, a combination that cannot exist,
  with the reason; the test checks the reason against the live case (or the caller) instead.
* notices: besides what the case sent (which follows its profile's ``notify`` lists, not who may
  read it), each party row of each case gets one notice (``notify_every_party``), so ``yes`` is
  exactly "a party" — and every notice a caller is shown must be addressed to it (its department
  in a role it answers for, or its person).
* the type's own ``GET /<collection>/{id}`` exists for the sharing application only
  (``/applications/{id}``); the other types are read at ``/cases/{id}``, so their rows have 13
  tokens and the SA rows 14.

Writes are ones that would be valid for the right actor (a 2xx means "authorized"): a decision the
open task allows, an extension of 5 working days, a note of a kind the profile lists, a withdrawal
with a reason, a claim and its release. A step without an extension rule (or without a deadline)
answers 422 to any visible acting caller — the rule is checked before the assignee — and so does a
note on a case type whose profile lists no notes. Refusals run on one case per type; each write the
table expects to succeed runs on a fresh case of its own (claims and notes, which do not end
anything, on the same case, after the reads). Cases are made concurrently; nothing sleeps but the
wait for the escalation a late catalog update starts.

Where the product differs from the rule, the cell keeps the rule and :data:`KNOWN_DEVIATIONS`
records what it answers instead (the test fails if that changes, fixed or not): today one, the
platform withdrawing an escalation — with ``test_a_ladder_started_order_is_withdrawn_by_no_one``
(strict xfail) for the same cause on a rectification order the ladder starts.

The case types and where they stand when the cells run:

* SA  sharing application (hubei): consumer D1, provider D2 (its catalog entry), platform bdb; at
  ``provider_authorization`` (D2).
* RO  rectification order (hubei, issued by lgo): issuer lgo, respondent D2, platform bdb; at
  ``rectification`` (D2, any acting credential).
* CP  complaint (luzhou, D1's consumer about D2, to the government office): complainant D1,
  respondent D2, investigator szfb, platform bdb; at ``complaint_investigation`` (szfb).
* CU  catalog update (luoyang, registered by D2's provider): provider D2, platform bdb; at
  ``catalog_update_application`` (D2).
* DO  data objection (luoyang, reported by demo-citizen): the citizen, provider D2, platform bdb;
  at ``data_verification`` (D2; an extension its head approves).
* DS  dispute (hubei, D1 over D2's not-shared entry): consumer D1, provider D2, platform bdb,
  coordinator jxw, leading group lgo; at ``negotiation`` (D1, D2 and bdb each have a task; the
  claimed one is D1's).
* OD  open-data application and OC open-catalog correction (luoyang, by demo-citizen): the citizen,
  provider D2, platform bdb; at the provider's answer (an extension its head approves).
* ES  escalation (luoyang, started by a catalog update of D2 registered 60 days late): platform bdb,
  leading group lgo, respondent D2; at ``rung_prohibited_act`` (bdb).

Runs on SQLite and PostgreSQL like every API test.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

from api_helpers import AUDITOR, LEADING_GROUP, PLATFORM, auth
from sqlmodel import Session

from api.deps import ALL_ROLES
from calendars import SHANGHAI
from govshare.core import catalog
from govshare.core.models import Credential, Notification
from govshare.core.tokens import token_digest
from regulations.schema import CASE_ROLES
from workflows.engine.decisions import DEPARTMENT_CREDENTIALS

# ====================================================================================================
# The table
# ====================================================================================================

CASE_TYPES = ("SA", "RO", "CP", "CU", "DO", "DS", "OD", "OC", "ES")
ENDPOINTS = (
    "get",  # GET /cases/{id}
    "events",  # GET /cases/{id}/events
    "history",  # GET /cases/{id}/history (auditor, leading group, platform)
    "deadlines",  # GET /cases/{id}/deadlines/audit
    "list",  # GET /cases: lists the case (yes / no)
    "tasks",  # GET /tasks: lists a task of the case (yes / no)
    "notices",  # GET /notifications?case_id=: shows a notice of the case (yes / no)
    "decide",  # POST /cases/{id}/decisions
    "clock",  # POST /cases/{id}/tasks/{seq}/clock
    "note",  # POST /cases/{id}/notes
    "withdraw",  # POST /cases/{id}/withdrawal
    "claim",  # POST /cases/{id}/tasks/{seq}/claim
    "release",  # DELETE /cases/{id}/tasks/{seq}/claim
    "typed_get",  # GET /applications/{id} (the sharing application's own path; SA rows only)
)
READS = ("get", "events", "history", "deadlines", "list", "tasks", "notices", "typed_get")
WRITES = ("decide", "clock", "note", "withdraw", "claim", "release")

OWN_PARTY = "own · party"
OWN_NOT = "own · not party"
OTHER_PARTY = "other · party"
OTHER_NOT = "other · not party"
SITUATIONS = (OWN_PARTY, OWN_NOT, OTHER_PARTY, OTHER_NOT)

#: Combinations that cannot exist, each checked on the live case (or caller) by ``check_impossible``.
NO_DEPARTMENT = "n/a: a citizen or legal person has no department"
NOT_PLAYED = "n/a: no party row of the case is one this role answers for"
ALL_ANSWERED = "n/a: every party department has a row this role answers for (own department ⇒ party)"
NO_OUTSIDE_PARTY = (
    "n/a: a department's credential is a party only by its own department's rows"
    " (and no row names a person of a department)"
)
NO_PERSON = "n/a: the case names no person"

STATUS_CLASSES = ("2xx", "403", "404", "409", "422")
DEPT_ROLES = tuple(r for r in ALL_ROLES if r != "citizen")
ANY = CASE_TYPES

#: Role groups the rows name: the acting roles that see only what they are party to, and the acting
#: roles that see every case (README: the platform, the leading group).
OWN_ONLY = ("consumer", "provider", "coordinator", "government_office")
OVERSEERS = ("platform", "leading_group")
#: Nothing at all: every read 404 (the history route refuses the role first: 403), listed nowhere,
#: every write 404 (not even told that the case exists).
HIDDEN = "404 404 403 404 no  no  no  404 404 404 404 404 404"
HIDDEN_SA = HIDDEN + " 404"

# fmt: off
ROWS: list[tuple[Any, Any, Any, str, str]] = [
    # -- combinations that cannot exist, for every case type ---------------------------------------
    (ANY, DEPT_ROLES, OTHER_PARTY, "", NO_OUTSIDE_PARTY),
    (ANY, "citizen", (OWN_PARTY, OWN_NOT), "", NO_DEPARTMENT),
    (ANY, ("auditor", "principal_head"), OWN_PARTY, "", NOT_PLAYED),
    (("SA", "RO", "CP", "CU", "DS", "ES"), "citizen", OTHER_PARTY, "", NO_PERSON),
    # -- every case type: a citizen it does not name, another department's head, an auditor ---------
    #                                            get evt his dla lst tsk ntc dec clk not wdr clm rel
    ("SA", "citizen", OTHER_NOT, "company", HIDDEN_SA),
    (ANY[1:], "citizen", OTHER_NOT, "company", HIDDEN),
    ("SA", "principal_head", OTHER_NOT, "D3", HIDDEN_SA),
    (ANY[1:], "principal_head", OTHER_NOT, "D3", HIDDEN),
    # An auditor reads all of it, has no task and no notice, never acts (403, by its role).
    ("SA", "auditor", OWN_NOT, "D2",            "2xx 2xx 2xx 2xx yes no  no  403 403 403 403 403 403 2xx"),
    ("SA", "auditor", OTHER_NOT, "sjj",         "2xx 2xx 2xx 2xx yes no  no  403 403 403 403 403 403 2xx"),
    (ANY[1:], "auditor", OWN_NOT, "D2",         "2xx 2xx 2xx 2xx yes no  no  403 403 403 403 403 403"),
    (ANY[1:], "auditor", OTHER_NOT, "sjj",      "2xx 2xx 2xx 2xx yes no  no  403 403 403 403 403 403"),
    #
    # -- SA: consumer D1, provider D2, platform bdb; at provider_authorization (D2) -----------------
    #                                            get evt his dla lst tsk ntc dec clk not wdr clm rel own
    ("SA", "consumer", OWN_PARTY, "D1",         "2xx 2xx 403 2xx yes no  yes 403 422 422 2xx 403 403 2xx"),
    ("SA", "consumer", OWN_NOT, "D2", HIDDEN_SA),
    ("SA", "provider", OWN_PARTY, "D2",         "2xx 2xx 403 2xx yes yes yes 2xx 422 422 403 2xx 2xx 2xx"),
    ("SA", "provider", OWN_NOT, "D1", HIDDEN_SA),
    ("SA", ("coordinator", "government_office"), OWN_NOT, "D2", HIDDEN_SA),
    ("SA", OWN_ONLY, OTHER_NOT, "D3", HIDDEN_SA),
    ("SA", "platform", OWN_PARTY, "bdb",        "2xx 2xx 2xx 2xx yes no  yes 403 422 422 403 403 403 2xx"),
    ("SA", OVERSEERS, OWN_NOT, "D2",            "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403 2xx"),
    ("SA", OVERSEERS, OTHER_NOT, "D3",          "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403 2xx"),
    ("SA", ("leading_group", "coordinator", "government_office"), OWN_PARTY, "", NOT_PLAYED),
    ("SA", "principal_head", OWN_NOT, "D2",     "2xx 2xx 403 2xx yes no  no  403 422 422 403 403 403 2xx"),
    #
    # -- RO: issuer lgo, respondent D2, platform bdb; at rectification (D2, any acting credential) ---
    #                                            get evt his dla lst tsk ntc dec clk not wdr clm rel
    ("RO", "consumer", OWN_PARTY, "D2",         "2xx 2xx 403 2xx yes yes yes 2xx 422 422 403 2xx 2xx"),
    ("RO", ("provider", "coordinator", "government_office"), OWN_PARTY, "D2",
                                                "2xx 2xx 403 2xx yes yes yes 2xx 422 422 403 2xx 403"),
    ("RO", OWN_ONLY, OWN_NOT, "bdb", HIDDEN),
    ("RO", OWN_ONLY, OTHER_NOT, "D3", HIDDEN),
    ("RO", "platform", OWN_PARTY, "bdb",        "2xx 2xx 2xx 2xx yes no  yes 403 422 422 403 403 403"),
    ("RO", "platform", OWN_NOT, "", ALL_ANSWERED),
    ("RO", "leading_group", OWN_PARTY, "lgo",   "2xx 2xx 2xx 2xx yes no  yes 403 422 422 2xx 403 403"),
    ("RO", "leading_group", OWN_NOT, "bdb",     "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403"),
    ("RO", OVERSEERS, OTHER_NOT, "D3",          "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403"),
    ("RO", "principal_head", OWN_NOT, "D2",     "2xx 2xx 403 2xx yes no  no  403 422 422 403 403 403"),
    #
    # -- CP: complainant D1, respondent D2, investigator szfb, platform bdb; at complaint_investigation
    #                                            get evt his dla lst tsk ntc dec clk not wdr clm rel
    ("CP", "consumer", OWN_PARTY, "D1",         "2xx 2xx 403 2xx yes no  yes 403 422 422 2xx 403 403"),
    ("CP", ("provider", "coordinator"), OWN_PARTY, "D2",
                                                "2xx 2xx 403 2xx yes no  yes 403 422 422 403 403 403"),
    ("CP", "government_office", OWN_PARTY, "szfb",
                                                "2xx 2xx 403 2xx yes yes yes 2xx 422 422 403 2xx 2xx"),
    ("CP", OWN_ONLY, OWN_NOT, "bdb", HIDDEN),
    ("CP", OWN_ONLY, OTHER_NOT, "D3", HIDDEN),
    ("CP", "platform", OWN_PARTY, "bdb",        "2xx 2xx 2xx 2xx yes no  yes 403 422 422 403 403 403"),
    ("CP", "platform", OWN_NOT, "", ALL_ANSWERED),
    ("CP", "leading_group", OWN_PARTY, "D2",    "2xx 2xx 2xx 2xx yes no  yes 403 422 422 403 403 403"),
    ("CP", "leading_group", OWN_NOT, "bdb",     "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403"),
    ("CP", OVERSEERS, OTHER_NOT, "D3",          "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403"),
    ("CP", "principal_head", OWN_NOT, "D2",     "2xx 2xx 403 2xx yes no  no  403 422 422 403 403 403"),
    #
    # -- CU: provider D2, platform bdb; at catalog_update_application (D2) --------------------------
    #                                            get evt his dla lst tsk ntc dec clk not wdr clm rel
    ("CU", ("consumer", "leading_group", "coordinator", "government_office"), OWN_PARTY, "", NOT_PLAYED),
    ("CU", ("consumer", "coordinator", "government_office"), OWN_NOT, "D2", HIDDEN),
    ("CU", OWN_ONLY, OTHER_NOT, "D3", HIDDEN),
    ("CU", "provider", OWN_PARTY, "D2",         "2xx 2xx 403 2xx yes yes yes 2xx 422 422 2xx 2xx 2xx"),
    ("CU", "provider", OWN_NOT, "bdb", HIDDEN),
    ("CU", "platform", OWN_PARTY, "bdb",        "2xx 2xx 2xx 2xx yes no  yes 403 422 422 403 403 403"),
    ("CU", OVERSEERS, OWN_NOT, "D2",            "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403"),
    ("CU", OVERSEERS, OTHER_NOT, "D3",          "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403"),
    ("CU", "principal_head", OWN_NOT, "D2",     "2xx 2xx 403 2xx yes no  no  403 422 422 403 403 403"),
    #
    # -- DO: the citizen, provider D2, platform bdb; at data_verification (D2) -----------------------
    #                                            get evt his dla lst tsk ntc dec clk not wdr clm rel
    ("DO", ("consumer", "leading_group", "coordinator", "government_office"), OWN_PARTY, "", NOT_PLAYED),
    ("DO", ("consumer", "coordinator", "government_office"), OWN_NOT, "D2", HIDDEN),
    ("DO", OWN_ONLY, OTHER_NOT, "D3", HIDDEN),
    ("DO", "provider", OWN_PARTY, "D2",         "2xx 2xx 403 2xx yes yes yes 2xx 2xx 2xx 403 2xx 2xx"),
    ("DO", "provider", OWN_NOT, "bdb", HIDDEN),
    ("DO", "platform", OWN_PARTY, "bdb",        "2xx 2xx 2xx 2xx yes no  yes 403 403 2xx 403 403 403"),
    ("DO", OVERSEERS, OWN_NOT, "D2",            "2xx 2xx 2xx 2xx yes no  no  403 403 403 403 403 403"),
    ("DO", OVERSEERS, OTHER_NOT, "D3",          "2xx 2xx 2xx 2xx yes no  no  403 403 403 403 403 403"),
    ("DO", "principal_head", OWN_NOT, "D2",     "2xx 2xx 403 2xx yes no  no  403 403 403 403 403 403"),
    ("DO", "citizen", OTHER_PARTY, "citizen",   "2xx 2xx 403 2xx yes no  yes 403 403 403 2xx 403 403"),
    #
    # -- DS: consumer D1, provider D2, platform bdb, coordinator jxw, leading group lgo; negotiation --
    #                                            get evt his dla lst tsk ntc dec clk not wdr clm rel
    ("DS", "consumer", OWN_PARTY, "D1",         "2xx 2xx 403 2xx yes yes yes 2xx 422 2xx 2xx 2xx 2xx"),
    ("DS", "provider", OWN_PARTY, "D2",         "2xx 2xx 403 2xx yes yes yes 2xx 422 2xx 403 403 403"),
    ("DS", "platform", OWN_PARTY, "bdb",        "2xx 2xx 2xx 2xx yes yes yes 2xx 422 2xx 403 403 403"),
    ("DS", "leading_group", OWN_PARTY, "lgo",   "2xx 2xx 2xx 2xx yes no  yes 403 422 403 403 403 403"),
    ("DS", "coordinator", OWN_PARTY, "jxw",     "2xx 2xx 403 2xx yes no  yes 403 422 2xx 403 403 403"),
    ("DS", "government_office", OWN_PARTY, "", NOT_PLAYED),
    ("DS", ("consumer", "coordinator", "government_office"), OWN_NOT, "D2", HIDDEN),
    ("DS", "provider", OWN_NOT, "D1", HIDDEN),
    ("DS", OWN_ONLY, OTHER_NOT, "D3", HIDDEN),
    ("DS", OVERSEERS, OWN_NOT, "D2",            "2xx 2xx 2xx 2xx yes no  no  403 422 403 403 403 403"),
    ("DS", OVERSEERS, OTHER_NOT, "D3",          "2xx 2xx 2xx 2xx yes no  no  403 422 403 403 403 403"),
    ("DS", "principal_head", OWN_NOT, "D2",     "2xx 2xx 403 2xx yes no  no  403 422 403 403 403 403"),
    #
    # -- OD, OC: the citizen, provider D2, platform bdb; at the provider's answer (D2) ---------------
    #                                            get evt his dla lst tsk ntc dec clk not wdr clm rel
    (("OD", "OC"), ("consumer", "leading_group", "coordinator", "government_office"), OWN_PARTY, "",
     NOT_PLAYED),
    (("OD", "OC"), ("consumer", "coordinator", "government_office"), OWN_NOT, "D2", HIDDEN),
    (("OD", "OC"), OWN_ONLY, OTHER_NOT, "D3", HIDDEN),
    (("OD", "OC"), "provider", OWN_PARTY, "D2", "2xx 2xx 403 2xx yes yes yes 2xx 2xx 422 403 2xx 2xx"),
    (("OD", "OC"), "provider", OWN_NOT, "bdb", HIDDEN),
    (("OD", "OC"), "platform", OWN_PARTY, "bdb",
                                                "2xx 2xx 2xx 2xx yes no  yes 403 403 422 403 403 403"),
    (("OD", "OC"), OVERSEERS, OWN_NOT, "D2",    "2xx 2xx 2xx 2xx yes no  no  403 403 422 403 403 403"),
    (("OD", "OC"), OVERSEERS, OTHER_NOT, "D3",  "2xx 2xx 2xx 2xx yes no  no  403 403 422 403 403 403"),
    (("OD", "OC"), "principal_head", OWN_NOT, "D2",
                                                "2xx 2xx 403 2xx yes no  no  403 403 422 403 403 403"),
    (("OD", "OC"), "citizen", OTHER_PARTY, "citizen",
                                                "2xx 2xx 403 2xx yes no  yes 403 403 422 2xx 403 403"),
    #
    # -- ES: platform bdb, leading group lgo, respondent D2; at rung_prohibited_act (bdb) ------------
    #                                            get evt his dla lst tsk ntc dec clk not wdr clm rel
    ("ES", OWN_ONLY, OWN_PARTY, "D2",           "2xx 2xx 403 2xx yes no  yes 403 422 422 403 403 403"),
    ("ES", OWN_ONLY, OWN_NOT, "bdb", HIDDEN),
    ("ES", OWN_ONLY, OTHER_NOT, "D3", HIDDEN),
    ("ES", "platform", OWN_PARTY, "bdb",        "2xx 2xx 2xx 2xx yes yes yes 2xx 422 422 403 2xx 2xx"),
    ("ES", "platform", OWN_NOT, "lgo",          "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403"),
    ("ES", "leading_group", OWN_PARTY, "lgo",   "2xx 2xx 2xx 2xx yes no  yes 403 422 422 403 403 403"),
    ("ES", "leading_group", OWN_NOT, "bdb",     "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403"),
    ("ES", OVERSEERS, OTHER_NOT, "D3",          "2xx 2xx 2xx 2xx yes no  no  403 422 422 403 403 403"),
    ("ES", "principal_head", OWN_NOT, "D2",     "2xx 2xx 403 2xx yes no  no  403 422 422 403 403 403"),
]
# fmt: on

#: Cells where the product is known to differ from the table (the rule), each with the status it
#: answers and why: the test fails if such a cell stops answering that (fixed: remove the entry),
#: so a deviation is recorded, never silently accepted.
KNOWN_DEVIATIONS: dict[tuple[str, str, str, str], tuple[str, str]] = {
    # (none: the escalation withdrawn by the platform, found here, is refused since; issue 23)
}


# ====================================================================================================
# Reading the table
# ====================================================================================================


def _as_tuple(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def endpoints_of(case_type: str) -> tuple[str, ...]:
    return ENDPOINTS if case_type == "SA" else ENDPOINTS[:-1]


@dataclass(frozen=True)
class Combination:
    case_type: str
    role: str
    situation: str
    who: str
    outcome: str  # the row's tokens, or an n/a reason

    @property
    def impossible(self) -> bool:
        return self.outcome.startswith("n/a")

    def expected(self) -> dict[str, str]:
        tokens = self.outcome.split()
        names = endpoints_of(self.case_type)
        assert len(tokens) == len(names), (self, len(tokens))
        return dict(zip(names, tokens, strict=True))


def combinations() -> dict[tuple[str, str, str], Combination]:
    """Every (case type, role, situation) of the table; a repeat is an error."""
    found: dict[tuple[str, str, str], Combination] = {}
    for types, roles, situations, who, outcome in ROWS:
        for key in product(_as_tuple(types), _as_tuple(roles), _as_tuple(situations)):
            assert key not in found, f"{key} appears twice in the table"
            found[key] = Combination(*key, who=who, outcome=outcome)
    return found


def test_the_table_covers_every_combination():
    """Every case type × role × situation once, with one valid token per endpoint (or a reason)."""
    table = combinations()
    wanted = set(product(CASE_TYPES, ALL_ROLES, SITUATIONS))
    assert set(table) == wanted, (sorted(wanted - set(table)), sorted(set(table) - wanted))
    for combo in table.values():
        if combo.impossible:
            assert combo.outcome in (NO_DEPARTMENT, NOT_PLAYED, ALL_ANSWERED, NO_OUTSIDE_PARTY, NO_PERSON)
            continue
        assert combo.who, combo
        for endpoint, token in combo.expected().items():
            allowed = ("yes", "no") if endpoint in ("list", "tasks", "notices") else STATUS_CLASSES
            assert token in allowed, (combo, endpoint, token)
        # The rule's invariants, so that a typo in the table cannot pass for the product:
        expected = combo.expected()
        if combo.role == "auditor":  # reads everything, never acts
            assert all(expected[w] == "403" for w in WRITES), combo
        if expected["get"] == "404":  # not visible: 404 everywhere (the history route checks the role first)
            reads = [e for e in READS if e in expected and e not in ("history", "list", "tasks", "notices")]
            assert all(expected[e] == "404" for e in reads), combo
            assert all(expected[w] == "404" for w in WRITES), combo
            assert expected["list"] == expected["tasks"] == expected["notices"] == "no", combo
        else:
            assert expected["list"] == "yes", combo
        assert (expected["history"] == "2xx") == (combo.role in ("platform", "leading_group", "auditor"))
        # Every party row has a notice (``notify_every_party``): a party is shown one, no one else is.
        assert (expected["notices"] == "yes") == (combo.situation in (OWN_PARTY, OTHER_PARTY)), combo


# ====================================================================================================
# The running system: departments, tokens, cases
# ====================================================================================================

#: Demo tokens the seed gives (department, role) → token; other credentials of a demo department in
#: another role are made for the test (``World.token``).
DEMO_TOKENS = {
    ("bdb", "platform"): PLATFORM,
    ("lgo", "leading_group"): LEADING_GROUP,
    ("jxw", "coordinator"): "demo-jxw-coordinator",
    ("szfb", "government_office"): "demo-szfb-government_office",
    ("sjj", "auditor"): AUDITOR,
}
CITIZEN = "demo-citizen"
COMPANY = "demo-company"

#: Each case type's open task the cells act on: its step, and who it is assigned to.
TARGET = {
    "SA": ("provider_authorization", "D2"),
    "RO": ("rectification", "D2"),
    "CP": ("complaint_investigation", "szfb"),
    "CU": ("catalog_update_application", "D2"),
    "DO": ("data_verification", "D2"),
    "DS": ("negotiation", "D1"),
    "OD": ("conditional_open_application", "D2"),
    "OC": ("open_catalog_correction", "D2"),
    "ES": ("rung_prohibited_act", "bdb"),
}
CASE_TYPE_NAMES = {
    "SA": "sharing_application",
    "RO": "rectification_order",
    "CP": "complaint",
    "CU": "catalog_update",
    "DO": "data_objection",
    "DS": "dispute",
    "OD": "open_data_application",
    "OC": "open_catalog_correction",
    "ES": "escalation",
}
FIELDS = ["name", "credit_code", "address"]
BASIS = "《中华人民共和国个人信息保护法》第十三条"


def today() -> Any:
    return datetime.now(SHANGHAI).date()


@dataclass
class World:
    """The departments and tokens of one run, and the cases it made."""

    api: Any
    departments: dict[str, tuple[str, dict[str, str]]]  # D1/D2/D3 → (code, {role: token})
    minted: dict[tuple[str, str], str] = field(default_factory=dict)
    shared_entry: str = ""
    secret_entry: str = ""
    persons: dict[str, str] = field(default_factory=dict)  # token → its identity reference

    def code(self, who: str) -> str:
        if who in self.departments:
            return self.departments[who][0]
        return "" if who in ("citizen", "company") else who

    def token(self, who: str, role: str) -> str:
        if who == "citizen":
            return CITIZEN
        if who == "company":
            return COMPANY
        if who in self.departments:
            return self.departments[who][1][role]
        if (who, role) in DEMO_TOKENS:
            return DEMO_TOKENS[(who, role)]
        if (who, role) not in self.minted:
            self.minted[(who, role)] = mint(self.api, who, role)
        return self.minted[(who, role)]


def mint(api, department: str, role: str) -> str:
    """A credential of an existing (demo) department in ``role``, as ``System.new_department`` makes them."""
    token = f"test-mx{uuid.uuid4().hex[:8]}-{department}-{role}"
    with Session(api.engine) as session:
        session.add(
            Credential(
                token_sha256=token_digest(token),
                department_code=department,
                role=role,
                label=f"matrix {department} {role}",
                created_at=datetime.now(UTC),
            )
        )
        session.commit()
    return token


def publish_entries(api, code: str) -> tuple[str, str]:
    """Two entries of department ``code``: a conditional one, conditionally open (applied for, objected
    to, asked to be corrected) and a not-shared one (disputed)."""
    shared, secret = f"{code}-mx-shared", f"{code}-mx-secret"
    common = {
        "provider_department": code,
        "fields": list(FIELDS),
        "sharing_modes": ["online_query"],
        "kind": "departmental",
        "update_period": "monthly",
        "legal_basis": BASIS,
    }
    with Session(api.engine) as session:
        catalog.publish(
            session,
            [
                {
                    "id": shared,
                    "name_zh": "社会组织登记信息",
                    "name_en": "Social organisation registration",
                    "share_type": "conditional",
                    "open_type": "conditional_open",
                    **common,
                },
                {
                    "id": secret,
                    "name_zh": "案件侦办信息",
                    "name_en": "Investigation records",
                    "share_type": "not_shared",
                    **common,
                },
            ],
            department=code,
            now=datetime.now(UTC),
        )
        session.commit()
    return shared, secret


def notify_every_party(api, cases: list[dict[str, Any]]) -> None:
    """A notice of each case to each of its party rows, beside what the case itself sent (which
    depends on its profile's ``notify`` lists, not on who may read it): so that the notices column
    says, for every caller, whether it is shown the notices addressed to a party it answers for."""
    now = datetime.now(UTC)
    with Session(api.engine) as session:
        for case in cases:
            for role, code, person in party_rows(case):
                session.add(
                    Notification(
                        key=f"matrix:{case['id']}:{role}:{code}:{person}",
                        case_id=case["id"],
                        recipient_department=code,
                        recipient_role=role,
                        recipient_person=person,
                        kind="matrix_probe",
                        text_zh="授权矩阵测试通知",
                        text_en="Authorization matrix probe",
                        created_at=now,
                    )
                )
        session.commit()


async def call(api, method: str, path: str, token: str, **kw: Any) -> Any:
    return await api.http.request(method, path, headers=auth(token), **kw)


async def created(api, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await call(api, "POST", path, token, json=body)
    assert response.status_code == 201, (path, response.text)
    return response.json()


async def read_as_auditor(api, case_id: str) -> dict[str, Any]:
    response = await call(api, "GET", f"/cases/{case_id}", AUDITOR)
    assert response.status_code == 200, response.text
    return response.json()


async def make_case(world: World, case_type: str) -> str:
    """A case of ``case_type`` brought to where the cells run (``TARGET``): its id."""
    api, d2 = world.api, world.code("D2")
    if case_type == "SA":
        case = await api.apply(world.token("D1", "consumer"), resource_id=world.shared_entry, fields=FIELDS)
        await api.decide(PLATFORM, case["id"], "platform_check", "accept")
        return case["id"]
    if case_type == "RO":
        body = {
            "respondent_department": d2,
            "grounds": ["31(2)"],
            "period_working_days": 10,
            "description": "未按目录规定时限向共享平台提供数据,请按期整改",
            "profile": "hubei",
        }
        return (await created(api, "/rectification-orders", LEADING_GROUP, body))["id"]
    if case_type == "CP":
        body = {
            "respondent_department": d2,
            "addressed_to": "government_office",
            "conduct": "无正当理由拖延办理本局的数据共享申请",
            "profile": "luzhou",
        }
        return (await created(api, "/complaints", world.token("D1", "consumer"), body))["id"]
    if case_type in ("CU", "ES"):
        late = case_type == "ES"  # registered 60 days after the change: overdue at once, it escalates
        body = {
            "reason": "law_revision",
            "change_date": (today() - timedelta(days=60 if late else 1)).isoformat(),
            "description": "《社会组织登记管理条例》修订,登记信息项调整",
            "profile": "luoyang",
        }
        cu = (await created(api, "/catalog-updates", world.token("D2", "provider"), body))["id"]
        if not late:
            return cu
        return await escalation_of(api, cu)
    if case_type == "DO":
        body = {
            "resource_id": world.shared_entry,
            "records": ["统一社会信用代码 52410300MJ0000000X"],
            "fields": ["address"],
            "problem": "登记住所与实际不符",
            "evidence": "住所变更登记通知书",
            "profile": "luoyang",
        }
        return (await created(api, "/data-objections", CITIZEN, body))["id"]
    if case_type == "DS":
        body = {
            "resource_id": world.secret_entry,
            "matter": "履职确需",
            "duty": "刑罚执行衔接",
            "profile": "hubei",
        }
        return (await created(api, "/disputes", world.token("D1", "consumer"), body))["id"]
    if case_type == "OD":
        body = {
            "resource_id": world.shared_entry,
            "fields": ["name", "address"],
            "purpose": "社会组织研究,仅发表汇总结果",
            "delivery": "download",
            "profile": "luoyang",
        }
        return (await created(api, "/open-data-applications", CITIZEN, body))["id"]
    if case_type == "OC":
        body = {
            "resource_id": world.shared_entry,
            "open_type": "open",
            "reason": "登记信息依法应当公示",
            "profile": "luoyang",
        }
        return (await created(api, "/open-catalog-corrections", CITIZEN, body))["id"]
    raise AssertionError(case_type)


async def escalation_of(api, case_id: str) -> str:
    """The escalation the breach of ``case_id``'s first task starts (``ES-<case>-T1``), once its
    first rung is open."""
    es_id = f"ES-{case_id}-T1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = await call(api, "GET", f"/cases/{es_id}", AUDITOR)
        if response.status_code == 200 and response.json()["open_tasks"]:
            return es_id
        await asyncio.sleep(0.1)
    raise AssertionError(f"no escalation {es_id} with an open task in 30 s")


def target_task(world: World, case_type: str, case: dict[str, Any]) -> dict[str, Any]:
    step, who = TARGET[case_type]
    found = [t for t in case["open_tasks"] if t["step"] == step and t["assignee"]["code"] == world.code(who)]
    assert len(found) == 1, (case_type, case["id"], case["open_tasks"])
    return found[0]


# -- the writes, valid for the right actor -----------------------------------------------------------
def decision_body(case_type: str) -> dict[str, Any]:
    step = TARGET[case_type][0]
    if case_type == "SA":
        return {"step": step, "action": "refuse", "reason": "无法律依据"}
    if case_type == "RO":
        return {"step": step, "action": "report", "reason": "已按期整改,补齐数据"}
    if case_type == "CP":
        return {"step": step, "action": "unsubstantiated", "reason": "经调查,申请已在时限内办理"}
    if case_type == "CU":
        entry = {
            "name_zh": "社会组织变更信息",
            "name_en": "Social organisation changes",
            "share_type": "conditional",
            "kind": "departmental",
            "fields": ["name", "change_date"],
            "sharing_modes": ["online_query"],
            "update_period": "monthly",
            "legal_basis": BASIS,
        }
        item = {"action": "new", "resource_id": f"mx-cu-{uuid.uuid4().hex[:8]}", "entry": entry}
        return {"step": step, "action": "apply", "payload": {"items": [item]}}
    if case_type == "DO":
        return {"step": step, "action": "confirm", "reason": "经核对登记档案,数据无误"}
    if case_type == "DS":
        return {"step": step, "action": "agree_no_access", "reason": "涉及侦查秘密"}
    if case_type in ("OD", "OC"):
        return {"step": step, "action": "refuse", "reason": "涉及个人信息", "payload": {"basis": BASIS}}
    if case_type == "ES":
        return {"step": step, "action": "done"}
    raise AssertionError(case_type)


CLOCK_BODY = {"kind": "extension", "working_days": 5, "reason": "需调取历史档案"}
NOTE_BODY = {
    "DS": {"kind": "message", "text": "请说明不予共享的法律依据"},
}
#: A note of the kind Hubei 23 / Luoyang 19 list (data objections); other types list none (422).
DEFAULT_NOTE = {"kind": "served_with_proof", "text": "申请人持有效证明材料,已照常办理"}
WITHDRAW_BODY = {"reason": "业务调整,不再需要"}


# ====================================================================================================
# Running a cell
# ====================================================================================================


@dataclass(frozen=True)
class Cell:
    case_type: str
    role: str
    situation: str
    who: str
    endpoint: str
    expected: str

    def label(self) -> str:
        return f"{self.case_type} {self.role:<17} {self.situation:<17} {self.who:<7} {self.endpoint:<9}"


@dataclass
class Run:
    world: World
    cases: dict[str, dict[str, Any]]  # case type → the case the refusals and reads run on (as read)
    results: dict[Cell, str] = field(default_factory=dict)
    notes: dict[Cell, str] = field(default_factory=dict)  # a response excerpt, for a mismatch

    def record(self, cell: Cell, got: str, detail: str = "") -> None:
        assert cell not in self.results, cell
        self.results[cell] = got
        if detail:
            self.notes[cell] = detail


def succeeds(cell: Cell) -> bool:
    """Whether the write is expected to be taken — by the table, or by a known deviation (it then
    runs on a fresh case too, so that it changes no other cell's case)."""
    deviation = KNOWN_DEVIATIONS.get((cell.case_type, cell.role, cell.situation, cell.endpoint))
    return cell.expected == "2xx" or (deviation is not None and deviation[0] == "2xx")


def status_class(code: int) -> str:
    return "2xx" if 200 <= code < 300 else str(code)


async def contains(api, token: str, path: str, params: dict[str, Any], key: str, case_id: str) -> bool:
    """Whether a page of ``path`` (every page) lists ``case_id`` under ``key``."""
    offset = 0
    while True:
        response = await call(api, "GET", path, token, params={**params, "limit": 100, "offset": offset})
        assert response.status_code == 200, (path, token, response.text)
        page = response.json()
        if any(item[key] == case_id for item in page["items"]):
            return True
        offset += 100
        if offset >= page["total"]:
            return False


def answers(role: str, party_role: str) -> bool:
    """Whether a department's credential in ``role`` answers for its department's row in ``party_role``
    (README: its own role, and the case-only roles for an acting credential)."""
    if party_role == role:
        return True
    return role in DEPARTMENT_CREDENTIALS and party_role in CASE_ROLES


async def run_read(run: Run, cell: Cell, token: str) -> None:
    api, case = run.world.api, run.cases[cell.case_type]
    case_id = case["id"]
    kind = CASE_TYPE_NAMES[cell.case_type]
    if cell.endpoint in ("get", "events", "history", "deadlines", "typed_get"):
        path = {
            "get": f"/cases/{case_id}",
            "events": f"/cases/{case_id}/events",
            "history": f"/cases/{case_id}/history",
            "deadlines": f"/cases/{case_id}/deadlines/audit",
            "typed_get": f"/applications/{case_id}",
        }[cell.endpoint]
        params = {"include_history": "false"} if cell.endpoint == "history" else None
        response = await call(api, "GET", path, token, params=params)
        run.record(cell, status_class(response.status_code), response.text[:200])
    elif cell.endpoint == "list":
        params = {"case_type": kind, "department": run.world.code("D2")}
        got = await contains(api, token, "/cases", params, "id", case_id)
        run.record(cell, "yes" if got else "no")
    elif cell.endpoint == "tasks":
        got = await contains(api, token, "/tasks", {"case_type": kind}, "case_id", case_id)
        run.record(cell, "yes" if got else "no")
    elif cell.endpoint == "notices":
        response = await call(api, "GET", "/notifications", token, params={"case_id": case_id, "limit": 100})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        # Whatever is shown is the caller's (README: its department in a role it answers for, or its person).
        me = await whoami(run.world, token)
        strangers = [
            n
            for n in items
            if not (
                (n["recipient_person"] and n["recipient_person"] == me["person"])
                or (
                    not n["recipient_person"]
                    and me["department"]
                    and n["recipient_department"] == me["department"]
                    and answers(me["role"], n["recipient_role"])
                )
            )
        ]
        got = "yes" if items else "no"
        if strangers:
            got = "someone else's"
        run.record(cell, got, str([(n["recipient_department"], n["recipient_role"]) for n in items])[:200])
    else:
        raise AssertionError(cell)


async def whoami(world: World, token: str) -> dict[str, Any]:
    if token not in world.persons:
        response = await call(world.api, "GET", "/me", token)
        assert response.status_code == 200, response.text
        world.persons[token] = response.json()
    return world.persons[token]  # type: ignore[return-value]


async def run_write(run: Run, cell: Cell, token: str, case: dict[str, Any]) -> None:
    api, case_id = run.world.api, case["id"]
    seq = target_task(run.world, cell.case_type, case)["seq"]
    if cell.endpoint == "decide":
        response = await call(
            api, "POST", f"/cases/{case_id}/decisions", token, json=decision_body(cell.case_type)
        )
    elif cell.endpoint == "clock":
        response = await call(api, "POST", f"/cases/{case_id}/tasks/{seq}/clock", token, json=CLOCK_BODY)
    elif cell.endpoint == "note":
        body = NOTE_BODY.get(cell.case_type, DEFAULT_NOTE)
        response = await call(api, "POST", f"/cases/{case_id}/notes", token, json=body)
    elif cell.endpoint == "withdraw":
        response = await call(api, "POST", f"/cases/{case_id}/withdrawal", token, json=WITHDRAW_BODY)
    elif cell.endpoint == "claim":
        response = await call(api, "POST", f"/cases/{case_id}/tasks/{seq}/claim", token)
    elif cell.endpoint == "release":
        response = await call(api, "DELETE", f"/cases/{case_id}/tasks/{seq}/claim", token)
    else:
        raise AssertionError(cell)
    run.record(cell, status_class(response.status_code), response.text[:200])


async def bounded(work: list[Callable[[], Awaitable[None]]], limit: int = 12) -> None:
    """Run ``work`` concurrently, at most ``limit`` at a time (the worker shares the event loop)."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(one(job) for job in work))


# ====================================================================================================
# Checking what cannot exist, and each row's situation, on the live case
# ====================================================================================================


def party_rows(case: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(role, department code, person) of every party of the case."""
    return [(p["role"], p["code"], p.get("person", "")) for p in case["party_list"]]


def party_departments(case: dict[str, Any]) -> set[str]:
    return {code for _role, code, _person in party_rows(case) if code}


def answered_rows(case: dict[str, Any], code: str, role: str) -> list[tuple[str, str, str]]:
    return [r for r in party_rows(case) if r[1] == code and not r[2] and answers(role, r[0])]


async def check_impossible(world: World, combo: Combination, case: dict[str, Any]) -> str:
    """'' when the reason holds on the live case (or caller), else what contradicts it."""
    rows = party_rows(case)
    if combo.outcome == NO_DEPARTMENT:
        for token in (CITIZEN, COMPANY):
            me = await whoami(world, token)
            if me["department"] or me["role"] != "citizen":
                return f"{token} has department {me['department']!r}, role {me['role']}"
        return ""
    if combo.outcome == NOT_PLAYED:
        if combo.role == "principal_head":
            played = [r for r in rows if r[0] == "principal_head"]
        else:
            played = [r for r in rows if r[1] and answers(combo.role, r[0])]
        return f"rows {played} answer for {combo.role}" if played else ""
    if combo.outcome == ALL_ANSWERED:
        unanswered = [d for d in party_departments(case) if not answered_rows(case, d, combo.role)]
        return f"departments {unanswered} have no row {combo.role} answers for" if unanswered else ""
    if combo.outcome == NO_OUTSIDE_PARTY:
        persons = [r for r in rows if r[2] and r[1]]
        return f"rows {persons} name a person of a department" if persons else ""
    if combo.outcome == NO_PERSON:
        persons = [r for r in rows if r[2]]
        return f"rows {persons} name a person" if persons else ""
    return f"unknown reason {combo.outcome}"


async def check_situation(world: World, combo: Combination, case: dict[str, Any]) -> str:
    """'' when the row's caller stands where the row says, else what the live case says instead."""
    code, role = world.code(combo.who), combo.role
    if combo.who in ("citizen", "company"):
        me = await whoami(world, world.token(combo.who, role))
        named = any(person == me["person"] for _r, _c, person in party_rows(case))
        wanted = combo.situation == OTHER_PARTY
        return "" if named == wanted and not me["department"] else f"{combo.who}: named={named}"
    own = code in party_departments(case)
    party = bool(answered_rows(case, code, role))
    wanted_own = combo.situation in (OWN_PARTY, OWN_NOT)
    wanted_party = combo.situation in (OWN_PARTY, OTHER_PARTY)
    if (own, party) != (wanted_own, wanted_party):
        return f"{combo.who} ({code}) as {role}: own={own} party={party}"
    return ""


# ====================================================================================================
# The test
# ====================================================================================================


async def test_the_authorization_matrix(api):
    started = time.monotonic()
    table = combinations()
    world = World(
        api=api,
        departments={name: api.new_department(*DEPT_ROLES) for name in ("D1", "D2", "D3")},
    )
    world.shared_entry, world.secret_entry = publish_entries(api, world.code("D2"))

    live = [c for c in table.values() if not c.impossible]
    cells = [
        Cell(c.case_type, c.role, c.situation, c.who, endpoint, token)
        for c in live
        for endpoint, token in c.expected().items()
    ]
    for cell in cells:  # make every credential before the cases start (no write races on minting)
        world.token(cell.who, cell.role)

    # One case per type for the reads and the refusals; one fresh case per write expected to succeed
    # where it ends or changes the case (a decision, an extension, a withdrawal).
    fresh_cells = [c for c in cells if c.endpoint in ("decide", "clock", "withdraw") and succeeds(c)]
    ids = await asyncio.gather(
        *(make_case(world, t) for t in CASE_TYPES), *(make_case(world, c.case_type) for c in fresh_cells)
    )
    shared_ids, fresh_ids = ids[: len(CASE_TYPES)], ids[len(CASE_TYPES) :]
    read = await asyncio.gather(*(read_as_auditor(api, case_id) for case_id in shared_ids))
    run = Run(world=world, cases=dict(zip(CASE_TYPES, read, strict=True)))
    notify_every_party(api, read)
    fresh = dict(
        zip(fresh_cells, await asyncio.gather(*(read_as_auditor(api, i) for i in fresh_ids)), strict=True)
    )
    made = time.monotonic()

    # -- what cannot exist, and where each row's caller stands, on the live cases ------------------
    problems: list[str] = []
    checked_impossible = 0
    for combo in table.values():
        case = run.cases[combo.case_type]
        wrong = await (check_impossible if combo.impossible else check_situation)(world, combo, case)
        if wrong:
            problems.append(f"{combo.case_type} {combo.role} {combo.situation}: {wrong}")
        if combo.impossible:
            checked_impossible += len(endpoints_of(combo.case_type))

    # -- 1. reads (nothing has changed the cases yet) ---------------------------------------------
    reads = [c for c in cells if c.endpoint in READS]
    await bounded([lambda c=c: run_read(run, c, world.token(c.who, c.role)) for c in reads])
    phases = {"cases": made - started, "reads": time.monotonic() - made}

    # -- 2. refused writes, on the shared cases, unclaimed (release: step 3) ------------------------
    refusals = [c for c in cells if c.endpoint in WRITES and not succeeds(c) and c.endpoint != "release"]
    # One lane per case, a few Updates at a time: many at once on one workflow make the server abort
    # and retry them (they all answer the same, slower).
    await asyncio.gather(
        *(
            bounded(
                [
                    lambda c=c: run_write(run, c, world.token(c.who, c.role), run.cases[c.case_type])
                    for c in refusals
                    if c.case_type == t
                ],
                limit=3,
            )
            for t in CASE_TYPES
        )
    )

    # -- 3. claims: each assignee claims and releases in turn; then the claimer holds it while every
    #       other caller's release is refused, and releases it -------------------------------------
    async def claims_of(case_type: str) -> None:
        case = run.cases[case_type]
        mine = [c for c in cells if c.case_type == case_type]
        claimers = [c for c in mine if c.endpoint == "claim" and c.expected == "2xx"]
        releases = [c for c in mine if c.endpoint == "release"]
        holder = [c for c in releases if c.expected == "2xx"]
        assert len(holder) <= 1, holder
        holder_token = world.token(holder[0].who, holder[0].role) if holder else ""
        seq = target_task(world, case_type, case)["seq"]
        claim_path = f"/cases/{case['id']}/tasks/{seq}/claim"
        for cell in sorted(claimers, key=lambda c: world.token(c.who, c.role) == holder_token):
            token = world.token(cell.who, cell.role)
            await run_write(run, cell, token, case)
            if token != holder_token and run.results[cell] == "2xx":  # give it back for the next one
                released = await call(api, "DELETE", claim_path, token)
                assert released.status_code == 200, released.text
        await bounded(
            [
                lambda c=c: run_write(run, c, world.token(c.who, c.role), case)
                for c in releases
                if c not in holder
            ],
            limit=3,
        )
        for cell in holder:
            await run_write(run, cell, holder_token, case)

    phases["refusals"] = time.monotonic() - started - sum(phases.values())
    await asyncio.gather(*(claims_of(t) for t in CASE_TYPES))
    phases["claims"] = time.monotonic() - started - sum(phases.values())

    # -- 4. writes that succeed: notes on the shared case; the rest each on a fresh case ---------------
    notes = [c for c in cells if c.endpoint == "note" and c.expected == "2xx"]
    await bounded(
        [lambda c=c: run_write(run, c, world.token(c.who, c.role), run.cases[c.case_type]) for c in notes]
        + [lambda c=c: run_write(run, c, world.token(c.who, c.role), fresh[c]) for c in fresh_cells]
    )

    # -- every cell run, and each as the table says -------------------------------------------------
    assert set(run.results) == set(cells), sorted(c.label() for c in set(cells) - set(run.results))
    mismatches = []
    for cell in cells:
        got = run.results[cell]
        key = (cell.case_type, cell.role, cell.situation, cell.endpoint)
        deviation = KNOWN_DEVIATIONS.get(key)
        if deviation is not None:
            if got != deviation[0]:
                mismatches.append(f"{cell.label()} known deviation {deviation[0]} now answers {got}: update")
            continue
        if got != cell.expected:
            mismatches.append(
                f"{cell.label()} expected {cell.expected:<4} got {got:<4} {run.notes.get(cell, '')[:160]}"
            )
    total = sum(len(endpoints_of(t)) for t in CASE_TYPES) * len(ALL_ROLES) * len(SITUATIONS)
    assert len(cells) + checked_impossible == total, (len(cells), checked_impossible, total)
    elapsed = time.monotonic() - started
    phases["writes"] = elapsed - sum(phases.values())
    print(
        f"\nauthorization matrix ({api.database}): {total} cells = {len(cells)} run + "
        f"{checked_impossible} that cannot exist (checked); {len(fresh_cells)} fresh cases; "
        f"{elapsed:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()) + ")"
    )
    report = []
    if problems:
        report += ["situations the live cases contradict:", *problems]
    if mismatches:
        report += [f"{len(mismatches)} cells differ from the table:", *mismatches]
    assert not report, "\n".join(report)


async def test_a_ladder_started_order_is_withdrawn_by_no_one(api):
    """A rectification order the escalation ladder starts (Jiangsu 25: a catalog update registered
    late) has no applicant: its issuer is the leading group office, its respondent the department
    that breached. No one withdraws it — not the respondent, not the issuer (which dismisses it at
    its issue step), and not the platform, which the case names as its submitter."""
    code, tokens = api.new_department("provider")
    body = {
        "reason": "law_revision",
        "change_date": (today() - timedelta(days=60)).isoformat(),
        "description": "《户口登记条例》修订,户籍信息项调整",
        "profile": "jiangsu",
    }
    update = (await created(api, "/catalog-updates", tokens["provider"], body))["id"]
    order_id = f"RO-ES-{update}-T1-O"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = await call(api, "GET", f"/cases/{order_id}", AUDITOR)
        if response.status_code == 200 and response.json()["open_tasks"]:
            break
        await asyncio.sleep(0.1)
    order = response.json()
    assert {(p["role"], p["code"]) for p in order["party_list"]} == {
        ("issuer", "lgo"),
        ("respondent", code),
        ("platform", "bdb"),
    }
    for token in (tokens["provider"], LEADING_GROUP, PLATFORM):
        refused = await call(api, "POST", f"/cases/{order_id}/withdrawal", token, json=WITHDRAW_BODY)
        assert refused.status_code == 403, (token, refused.text)
