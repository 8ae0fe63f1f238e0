"""Baseline: the schema of commit 76b4170

The tables as ``create_all`` made them at commit 76b4170: departments, credentials, the catalog,
the case/task projection, the audit trail, notifications, idempotency keys.

A database made before migrations that already has all of these tables is stamped at this revision
instead of running it (``govshare.core.db``); one that lacks some of them (a release before
Idempotency-Key had no ``idempotencykey``) runs it, and the tables it has are kept as they are.

Revision ID: 0001
Revises:
Create Date: 2026-10-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from govshare.core.migrations import guards

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables of the baseline, parents first.
TABLES = (
    "department",
    "credential",
    "resource",
    "case",
    "task",
    "auditevent",
    "notification",
    "idempotencykey",
)


def _when(name: str, nullable: bool = False) -> sa.Column:
    # sqlmodel >= 0.0.45 maps datetime to UTCDateTime, i.e. DateTime(timezone=True).
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    guards.create_table(
        "department",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(), nullable=False),
        sa.Column("name_en", sa.String(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("code"),
    )
    guards.create_table(
        "credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("department_code", sa.String(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        _when("created_at"),
        _when("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["department_code"], ["department.code"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=[
            ("ix_credential_department_code", ["department_code"], False),
            ("ix_credential_token_sha256", ["token_sha256"], True),
        ],
    )
    guards.create_table(
        "resource",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name_zh", sa.String(), nullable=False),
        sa.Column("name_en", sa.String(), nullable=False),
        sa.Column("provider_department", sa.String(), nullable=False),
        sa.Column("share_type", sa.String(length=16), nullable=False),
        sa.Column("controlled_parameters", sa.Boolean(), nullable=False),
        sa.Column("sharing_modes", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("legal_basis", sa.String(), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(["provider_department"], ["department.code"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=[("ix_resource_provider_department", ["provider_department"], False)],
    )
    guards.create_table(
        "case",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.String(length=128), nullable=False),
        sa.Column("case_type", sa.String(length=32), nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("profile_version", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("result", sa.String(), nullable=False),
        sa.Column("consumer_department", sa.String(length=64), nullable=False),
        sa.Column("provider_department", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(), nullable=False),
        sa.Column("subject_zh", sa.String(), nullable=False),
        _when("submitted_at"),
        _when("closed_at", nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        _when("next_due_at", nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        _when("updated_at"),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id"),
        indexes=[
            ("ix_case_case_type", ["case_type"], False),
            ("ix_case_consumer_department", ["consumer_department"], False),
            ("ix_case_overdue", ["overdue"], False),
            ("ix_case_provider_department", ["provider_department"], False),
            ("ix_case_status", ["status"], False),
            ("ix_case_submitted_at", ["submitted_at"], False),
        ],
    )
    guards.create_table(
        "task",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(), nullable=False),
        sa.Column("name_en", sa.String(), nullable=False),
        sa.Column("assignee_department", sa.String(length=64), nullable=False),
        sa.Column("assignee_role", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _when("opened_at"),
        _when("due_at", nullable=True),
        sa.Column("working_days", sa.Integer(), nullable=True),
        sa.Column("article", sa.String(), nullable=False),
        sa.Column("limit_basis", sa.String(), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        _when("closed_at", nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=[
            ("ix_task_case_id", ["case_id"], False),
            ("ix_task_inbox", ["assignee_department", "status", "due_at"], False),
        ],
    )
    guards.create_table(
        "auditevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _when("at"),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("actor_department", sa.String(), nullable=False),
        sa.Column("actor_role", sa.String(), nullable=False),
        sa.Column("actor_user", sa.String(), nullable=False),
        sa.Column("summary_zh", sa.String(), nullable=False),
        sa.Column("summary_en", sa.String(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _when("recorded_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "seq", name="uq_audit_case_seq"),
        indexes=[("ix_auditevent_case_id", ["case_id"], False)],
    )
    guards.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("recipient_department", sa.String(length=64), nullable=False),
        sa.Column("recipient_role", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("text_zh", sa.String(), nullable=False),
        sa.Column("text_en", sa.String(), nullable=False),
        _when("created_at"),
        _when("read_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        indexes=[
            ("ix_notification_case_id", ["case_id"], False),
            ("ix_notification_inbox", ["recipient_department", "created_at"], False),
        ],
    )
    guards.create_table(
        "idempotencykey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("department_code", "key", name="uq_idempotency_department_key"),
    )


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
