"""Database tables (SQLModel): departments, credentials, the catalog, and the projection of cases.

Temporal's event history is the source of truth for a case; the ``case``/``task`` tables are a query
projection written by idempotent activities (each write carries the case's revision, and an older
revision never overwrites a newer one), and ``audit_event`` is append-only with a per-case sequence.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, event
from sqlmodel import Field, SQLModel


class Department(SQLModel, table=True):
    """A government department (政务部门) or the platform operator."""

    code: str = Field(primary_key=True, max_length=64)
    name_zh: str
    name_en: str = ""
    created_at: datetime


class PartyIdentity(SQLModel, table=True):
    """A party who is not a department (Luoyang: 公民、法人和其他组织 report doubtful data and apply for
    open data), or a person acting in a department (its principal head 主要负责人, who approves
    extensions). ``id`` is an opaque reference (``P-`` + 10 hex): it is what credentials, workflows,
    case parties and notifications carry and what logs may show. The ID number is kept here only:
    no case, log line or response carries it, except ``GET /me`` for the identity itself, masked."""

    __tablename__ = "party_identity"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)  # person | legal_person | organisation
    name: str  # display name: 李明 / 洛阳某某科技有限公司
    id_type: str = Field(max_length=32)  # resident_id | unified_social_credit_code | passport | other
    id_number: str = Field(max_length=64)
    #: Set for a person acting for or in a department (e.g. its principal head); None for a citizen,
    #: a legal person or an organisation acting for itself.
    department: str | None = Field(default=None, foreign_key="department.code", index=True, max_length=64)
    created_at: datetime


def new_party_id() -> str:
    """A fresh identity reference: ``P-`` and 10 hex digits, saying nothing about who it is."""
    return f"P-{secrets.token_hex(5)}"


class Credential(SQLModel, table=True):
    """A bearer token: a department acting in one role, a person of a department (``person_id`` and
    ``department_code``: e.g. its principal head), or a party who is not a department (``person_id``
    only: a citizen, a legal person). Only a digest is stored: ``token_sha256`` holds the keyed
    HMAC-SHA256 (``hash_scheme`` "hmac-sha256", ``govshare/core/tokens.py``), or for a row made before
    migration 0010 the plain SHA-256 ("sha256") until the token is next used."""

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, index=True, max_length=64)
    #: How ``token_sha256`` was made: "hmac-sha256" (keyed, every new row) or "sha256" (legacy).
    hash_scheme: str = Field(default="hmac-sha256", max_length=16)
    department_code: str | None = Field(default=None, foreign_key="department.code", index=True)
    person_id: str | None = Field(default=None, foreign_key="party_identity.id", index=True, max_length=64)
    #: consumer | provider | platform | leading_group | coordinator | government_office | auditor |
    #: principal_head | citizen
    role: str = Field(max_length=32)
    label: str = ""  # who holds it, e.g. "demo: 市公安局 clerk"
    created_at: datetime
    revoked_at: datetime | None = None
    #: The user the token was issued to (``govshare tokens issue``); None for a department's own
    #: token (the demo tokens, tokens made before users existed).
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    #: After this instant the token is refused (``govshare tokens issue --days``); None: no expiry.
    expires_at: datetime | None = None


class UserAccount(SQLModel, table=True):
    """A person who signs in to the pages (issue 22): a clerk, a reviewer, a head, an auditor of a
    department (``department_code``) holding one or more roles there, or a citizen acting for itself
    (no department, role ``citizen``). Every user is also a party identity (``person_id``): what the
    engine records as the person who claimed or decided a task, and what the pages show by name.

    The password is kept only as an Argon2id hash (argon2-cffi); a user signed in through OIDC may
    have none. ``oidc_subject`` is ``<issuer>|<sub>``, set on the first OIDC sign-in."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    display_name: str
    department_code: str | None = Field(default=None, foreign_key="department.code", index=True)
    person_id: str = Field(foreign_key="party_identity.id", index=True, max_length=64)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    password_hash: str | None = None
    oidc_subject: str | None = Field(default=None, unique=True, max_length=300)
    created_at: datetime
    password_changed_at: datetime | None = None
    disabled_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A signed-in browser (issue 22): the cookie holds a random token, the row only its SHA-256.
    ``role`` is the role the user acts in now (a user with several switches between them);
    ``csrf_token`` is the value every form of the session must send back. Signing out sets
    ``ended_at``; a session also ends ``expires_at`` or after a quiet ``WEB_SESSION_IDLE_MINUTES``."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, index=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    role: str = Field(max_length=32)
    csrf_token: str = Field(max_length=64)
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    #: How the session was opened: password | oidc.
    method: str = Field(default="password", max_length=16)


class RoleAssignment(SQLModel, table=True):
    """Which department plays a directory role in this deployment (the role directory): the
    platform 共享平台, the leading group office 领导小组办公室, the coordinator 同级政府相关职能部门, the
    municipal government office 市政府办公室. Escalation rungs and linked cases name these roles; one
    department per role (``govshare.core.directory``, ``govshare directory``)."""

    __tablename__ = "role_directory"

    role: str = Field(primary_key=True, max_length=32)
    department: str = Field(foreign_key="department.code", max_length=64)
    note: str = ""
    updated_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Resource(SQLModel, table=True):
    """A catalog entry (政务信息资源目录) as currently published: the newest of its versions
    (``resource_version``), kept current by ``govshare.core.catalog.publish`` — never written
    otherwise, so the row, its newest version and its search terms (``resource_term``) agree.

    ``version`` is the current version's number; an application pins it (its resource snapshot).
    A withdrawn entry keeps its row (``status = "withdrawn"``) and its history.
    """

    #: Browsing the catalog (``govshare.core.catalog.search`` without text): a status, maybe a
    #: department, a share type or a kind, in id order — each answered in order off one index.
    __table_args__ = (
        Index("ix_resource_status_id", "status", "id"),
        Index("ix_resource_department_status_id", "provider_department", "status", "id"),
        Index("ix_resource_status_share_type", "status", "share_type", "id"),
        Index("ix_resource_status_kind", "status", "kind", "id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    version: int = 1
    name_zh: str
    name_en: str = ""
    provider_department: str = Field(foreign_key="department.code", index=True)
    share_type: str = Field(max_length=16)  # unconditional | conditional | not_shared (Hubei 7)
    controlled_parameters: bool = False  # 需要管控参数 (Hubei 11, 12)
    sharing_modes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    legal_basis: str = (
        ""  # required for not_shared (Hubei 8(1), Jiangsu 11(1)); Luoyang 25(1) conditional too
    )
    created_at: datetime
    description: str = ""  # 资源摘要
    classification: str = ""  # 资源分类 (Hubei 6, Luzhou 8)
    kind: str = Field(default="departmental", max_length=16)  # basic | thematic | departmental (Luzhou 18)
    format: str = ""  # 资源格式, e.g. 数据库表 / 电子文件
    update_period: str = Field(default="none", max_length=16)  # realtime … yearly | none (更新周期)
    usage_requirements: str = ""  # 使用要求
    open_type: str = Field(default="", max_length=16)  # open | conditional_open | not_open | "" (Luoyang 30)
    #: The fields that are basic items (基础信息项) of a basic resource: shared unconditionally
    #: (Hubei 8(2), Luoyang 25(2), Luzhou 22).
    basic_items: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    status: str = Field(default="published", max_length=16)  # published | withdrawn
    published_at: datetime = Field(default_factory=_utcnow)  # when the current version was published
    updated_at: datetime = Field(default_factory=_utcnow)  # last write of this row (publish, refresh)
    #: The provider's last recorded data refresh (Hubei 17, Luzhou 23) and when the next one is due
    #: under ``update_period`` (None: no period, or withdrawn).
    last_refreshed_at: datetime | None = None
    next_refresh_due: datetime | None = Field(default=None, index=True)


class ResourceVersion(SQLModel, table=True):
    """One published version of a catalog entry, immutable once written (a listener refuses an
    update): ``data`` holds every field of the entry as published; ``change`` says what the version
    did (new | changed | withdrawn); ``case_id`` is the catalog-update case that published it ("" for
    an import)."""

    __tablename__ = "resource_version"

    resource_id: str = Field(primary_key=True, foreign_key="resource.id", max_length=64)
    version: int = Field(primary_key=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    change: str = Field(max_length=16)
    published_at: datetime
    published_by: str = Field(max_length=64)  # the department that published it
    case_id: str = Field(default="", max_length=64)


class ResourceTerm(SQLModel, table=True):
    """The catalog's search index (``govshare.core.catalog``): one row per distinct term of an entry
    (character unigrams and bigrams of its Chinese text, word prefixes of its English name and id).
    ``tier`` orders the hits: 0 the term is in the entry's name, 1 elsewhere, 2 the entry is
    withdrawn. ``ix_resource_term_term`` walks one term's entries in rank order; the primary key
    answers "has this entry this term". On SQLite the table is its primary key (WITHOUT ROWID)."""

    __tablename__ = "resource_term"
    __table_args__ = (
        Index("ix_resource_term_term", "term", "tier", "resource_id"),
        {"sqlite_with_rowid": False},
    )

    term: str = Field(primary_key=True, max_length=32)
    resource_id: str = Field(primary_key=True, max_length=64)
    tier: int = 0


class ResourceRefresh(SQLModel, table=True):
    """A provider's record that it refreshed an entry's data (Hubei 17, Luzhou 23: keep shared data
    current, within the update period the catalog gives)."""

    __tablename__ = "resource_refresh"

    id: int | None = Field(default=None, primary_key=True)
    resource_id: str = Field(foreign_key="resource.id", index=True, max_length=64)
    refreshed_at: datetime
    department: str = Field(max_length=64)
    note: str = ""


@event.listens_for(ResourceVersion, "before_update")
def _published_versions_never_change(_mapper: Any, _connection: Any, target: ResourceVersion) -> None:
    raise ValueError(
        f"resource_version {target.resource_id} v{target.version} is published and never changes"
    )


class Case(SQLModel, table=True):
    """Projection of one case (one workflow) for lists and filters."""

    __table_args__ = (
        #: The case lists at scale (migration 0011): by type and overdue, by type and status, newest first.
        Index("ix_case_type_overdue", "case_type", "overdue", "submitted_at", "id"),
        Index("ix_case_type_status", "case_type", "status", "submitted_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    workflow_id: str = Field(unique=True, max_length=128)
    case_type: str = Field(index=True, max_length=32)
    profile_id: str = Field(max_length=32)
    profile_version: str = Field(max_length=32)
    status: str = Field(index=True, max_length=32)
    result: str = ""
    subject_zh: str = ""
    submitted_at: datetime = Field(index=True)
    closed_at: datetime | None = None
    overdue: bool = Field(default=False, index=True)
    next_due_at: datetime | None = None
    revision: int = 0
    updated_at: datetime
    #: Set when a step's write could not be stored as it was (activities/records.py): what was done.
    record_error: str = ""
    #: The workflow type running the case: which engine answers its Updates (workflows/registry.py).
    workflow_type: str = Field(default="SharingApplication", max_length=64)
    #: 1: the frozen first generation (``detail`` is the whole CaseState); 2: ``detail`` is the case
    #: header, tasks are in ``task.detail`` and parties in ``case_party``.
    engine: int = 1
    subject_en: str = ""
    #: The whole CaseState as JSON: the detail view and the API read it without touching Temporal.
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: What lists and inboxes show of the case beside its subject, as its case type names the fields
    #: (an application: resource_id, consumer_department, provider_department).
    summary: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


class Task(SQLModel, table=True):
    """Projection of one task (a waiting step) — the inbox of a department."""

    __table_args__ = (
        Index("ix_task_inbox", "assignee_department", "status", "due_at"),
        #: The inbox at scale (migration 0011): its filter (department, status, role) and its order.
        Index(
            "ix_task_inbox_role",
            "assignee_department",
            "status",
            "assignee_role",
            "due_at",
            "opened_at",
            "id",
        ),
        #: A person's 已办 (done by me) list.
        Index("ix_task_decided_by", "decided_by", "closed_at"),
    )

    id: str = Field(primary_key=True, max_length=128)
    case_id: str = Field(foreign_key="case.id", index=True, max_length=64)
    seq: int
    step: str = Field(max_length=64)
    name_zh: str
    name_en: str
    assignee_department: str = Field(max_length=64)
    assignee_role: str = Field(max_length=32)
    status: str = Field(max_length=16)  # open | done | cancelled
    opened_at: datetime
    due_at: datetime | None = None
    working_days: int | None = None
    article: str = ""
    limit_basis: str = ""
    provisional: bool = False
    overdue: bool = False
    action: str = ""
    closed_at: datetime | None = None
    #: The step run the task belongs to (a step sent to several parties has one task each).
    group: str = ""
    suspended: bool = False
    #: The person who claimed the task (签收; their identity reference), "" while unclaimed.
    claimed_by: str = Field(default="", max_length=64)
    #: Who decided it (the decision's ``actor.user``): a person's "done by me" list reads it.
    decided_by: str = Field(default="", max_length=128)
    #: Second-generation cases: the whole task (clock, decision, breach) as JSON.
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class CaseParty(SQLModel, table=True):
    """A party to a case: a department (or one person of it) in a role. Visibility and lists read it."""

    __tablename__ = "case_party"
    __table_args__ = (
        UniqueConstraint("case_id", "role", "department", "person", name="uq_case_party"),
        Index("ix_case_party_department", "department", "case_id"),
        #: What a department may see in a role (migration 0011).
        Index("ix_case_party_department_role", "department", "role", "case_id"),
        #: A person's cases (a citizen sees exactly those, ``api.deps.visible_condition``).
        Index("ix_case_party_person", "person", "case_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True, max_length=64)
    role: str = Field(max_length=32)
    department: str = Field(max_length=64)
    person: str = Field(default="", max_length=128)


class CaseLink(SQLModel, table=True):
    """A link from one case to another (started, started_by, linked, linked_from), shown on its timeline."""

    __tablename__ = "case_link"
    __table_args__ = (UniqueConstraint("case_id", "linked_case_id", "relation", name="uq_case_link"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=64)
    linked_case_id: str = Field(index=True, max_length=128)
    linked_workflow_id: str = Field(max_length=200)
    case_type: str = Field(max_length=32)
    relation: str = Field(max_length=16)
    at: datetime
    reason_zh: str = ""
    reason_en: str = ""
    wait: bool = False
    status: str = ""
    result: str = ""


class AuditEvent(SQLModel, table=True):
    """Append-only audit trail (Hubei 27, Luzhou 34/35: log every step; keep ≥ 2 years)."""

    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_audit_case_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=64)
    seq: int
    at: datetime
    kind: str = Field(max_length=48)
    actor_department: str = ""
    actor_role: str = ""
    actor_user: str = ""
    summary_zh: str = ""
    summary_en: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    recorded_at: datetime
    #: The case's hash chain (migration 0008, ``govshare.core.audit_trail``): ``hash`` is SHA-256 over
    #: the row's content and ``prev_hash``, the hash of the case's event before it (64 zeros for its
    #: first). NULL on rows written before 0008 (``govshare audit verify``: unchained).
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)


class AccessEvent(SQLModel, table=True):
    """One read of a case or of shared data over the API (Hubei 27, Luzhou 34/35: who read what, when,
    from where — an auditor's reads too), written after the answer by ``api/access_log.py``.

    Append-only (PostgreSQL and SQLite refuse UPDATE and DELETE, migration 0008) and one hash chain
    in ``id`` order: ``id`` is given by the writer (the head's plus one, under the chain's lock), and
    ``hash`` covers the row's content and ``prev_hash`` (``govshare.core.audit_trail``). ``department``,
    ``role``, ``user`` (the credential's label) and ``person`` are "" for an unauthenticated request."""

    __tablename__ = "access_event"
    __table_args__ = (
        #: Who read this case / resource.
        Index("ix_access_event_subject", "subject_type", "subject_id", "id"),
        #: What this department read.
        Index("ix_access_event_department", "department", "id"),
    )

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime
    department: str = Field(default="", max_length=64)
    role: str = Field(default="", max_length=32)
    user: str = Field(default="", max_length=200)
    person: str = Field(default="", max_length=64)
    method: str = Field(max_length=16)
    path: str
    #: case (one case: /cases/{id}…, /applications/{id}…) | cases (a list) | resource | resources (a
    #: query) | resource_export
    subject_type: str = Field(default="", max_length=16)
    subject_id: str = Field(default="", max_length=128)
    query: str = ""
    status: int
    client: str = Field(default="", max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class Notification(SQLModel, table=True):
    """A message to a department or to one person (an inbox entry), zh-CN first, English beside it.
    A citizen's notice has no department and its ``recipient_person``; a person of a department
    (a principal head) has both."""

    __table_args__ = (
        Index("ix_notification_inbox", "recipient_department", "created_at"),
        Index("ix_notification_person_inbox", "recipient_person", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)  # idempotency: a retried activity writes nothing new
    case_id: str = Field(index=True, max_length=64)
    recipient_department: str = Field(max_length=64)
    recipient_role: str = Field(max_length=32)
    #: The recipient's identity (``party_identity.id``), "" for a notice to a department.
    recipient_person: str = Field(default="", max_length=64)
    kind: str = Field(max_length=48)
    text_zh: str
    text_en: str
    created_at: datetime
    read_at: datetime | None = None


class IdempotencyKey(SQLModel, table=True):
    """A client's ``Idempotency-Key`` on a write, claimed for the request it stands for (its digest):
    the same request again is a retry (a create: the case it names), another is refused
    (``api/idempotency.py``). ``department_code`` holds the caller's scope (``Caller.principal``):
    the department's code, or ``gaj/P-…`` / ``~P-…`` for a person's credential."""

    __table_args__ = (UniqueConstraint("department_code", "key", name="uq_idempotency_department_key"),)

    id: int | None = Field(default=None, primary_key=True)
    department_code: str = Field(max_length=64)
    key: str = Field(max_length=100)
    request_sha256: str = Field(max_length=64)
    case_id: str = Field(max_length=64)
    created_at: datetime


class WorkerHeartbeat(SQLModel, table=True):
    """A running worker (``python worker.py``), rewritten every few seconds (``govshare.core.heartbeat``)
    and deleted when it stops cleanly: ``GET /healthz`` reads whether a live worker serves its task
    queue (a worker that died leaves a row that goes stale)."""

    __tablename__ = "worker_heartbeat"

    worker_id: str = Field(primary_key=True, max_length=200)  # host:pid:random
    host: str = Field(max_length=255)
    pid: int
    task_queue: str = Field(index=True, max_length=200)
    started_at: datetime
    last_seen: datetime


class ResponsibilityItem(SQLModel, table=True):
    """An entry on a department's responsibility list (责任清单, Luoyang 13–14): a catalog entry the
    department must provide and keep fresh. Added when the entry is published (new or changed),
    closed (``removed_at``) when it is withdrawn; ``case_id`` is the catalog-update case that did it
    ("" for the seed or an import). ``govshare.core.catalog_lists`` keeps it."""

    __tablename__ = "responsibility_item"
    __table_args__ = (Index("ix_responsibility_item_department", "department", "removed_at", "resource_id"),)

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(foreign_key="department.code", max_length=64)
    resource_id: str = Field(foreign_key="resource.id", index=True, max_length=64)
    added_at: datetime
    removed_at: datetime | None = None
    case_id: str = Field(default="", max_length=64)


class DataDemand(SQLModel, table=True):
    """A department's stated need for data from others (需求清单, Luoyang 12): open until the
    platform names a published catalog entry that answers it (then the department can apply), or
    the department withdraws it. An open demand counts as unmet."""

    __tablename__ = "data_demand"
    __table_args__ = (
        Index("ix_data_demand_department_status", "department", "status"),
        Index("ix_data_demand_provider_status", "provider_department", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(foreign_key="department.code", max_length=64)
    title: str
    description: str = ""
    fields_wanted: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    provider_department: str | None = Field(default=None, max_length=64)
    status: str = Field(default="open", max_length=16)  # open | answered | withdrawn
    answered_by_resource: str | None = Field(default=None, max_length=64)
    reviewed_by: str = Field(default="", max_length=64)  # the platform department that answered it
    created_at: datetime
    answered_at: datetime | None = None
