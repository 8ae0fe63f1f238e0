"""People who sign in: users, browser sessions, tokens that belong to a user and expire, claims

New table ``user_account`` (issue 22): a person of a department holding one or more roles there, or a
citizen; the password kept only as an Argon2id hash; the OIDC subject once signed in that way; every
user is a party identity (``person_id``). New table ``web_session``: a signed-in browser (the SHA-256
of its cookie, the role it acts in, its CSRF token, when it ends). ``credential`` gets ``user_id``
and ``expires_at`` (``govshare tokens issue``). ``task`` gets ``claimed_by`` (签收: who of the
assignee department works it) and ``decided_by`` (who decided it; a person's 已办 list), with an
index for that list.

No data step: existing credentials stay department tokens without expiry; existing tasks are
unclaimed and their ``decided_by`` stays "" (the pages read older decisions from the task's detail).
Each step skips what exists, so a database made by ``create_all`` passes unchanged.

Revision ID: 0009
Revises: 0008
Create Date: 2027-03-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from govshare.core.migrations import guards

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    guards.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("department_code", sa.String(), nullable=True),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=True),
        sa.Column("oidc_subject", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["department_code"], ["department.code"]),
        sa.ForeignKeyConstraint(["person_id"], ["party_identity.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("oidc_subject"),
        indexes=[
            ("ix_user_account_username", ["username"], True),
            ("ix_user_account_department_code", ["department_code"], False),
            ("ix_user_account_person_id", ["person_id"], False),
        ],
    )
    guards.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False, server_default="password"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=[
            ("ix_web_session_token_sha256", ["token_sha256"], True),
            ("ix_web_session_user_id", ["user_id"], False),
        ],
    )
    add_user = not guards.has_column("credential", "user_id")
    if add_user:
        # A batch: SQLite rebuilds the table to add a foreign key; PostgreSQL alters it.
        with op.batch_alter_table("credential") as batch:
            batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
            batch.create_foreign_key("credential_user_id_fkey", "user_account", ["user_id"], ["id"])
    guards.add_column("credential", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    guards.create_index("credential", "ix_credential_user_id", ["user_id"])
    guards.add_column(
        "task", sa.Column("claimed_by", sa.String(length=64), nullable=False, server_default="")
    )
    guards.add_column(
        "task", sa.Column("decided_by", sa.String(length=128), nullable=False, server_default="")
    )
    guards.create_index("task", "ix_task_decided_by", ["decided_by", "closed_at"])


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
