"""Keyed token digests: ``credential.hash_scheme``

Issue 23: a credential's token was stored as its unsalted SHA-256; new rows store HMAC-SHA256 under
the server's key (``TOKEN_HASH_KEY`` or ``var/token_hash.key``; ``govshare/core/tokens.py``) in the
same indexed column, ``token_sha256``. ``hash_scheme`` says which: every existing row is "sha256"
(the column's server default, which also stays the answer for a row inserted by hand without one);
the application writes "hmac-sha256". There is no data step — the keyed digest needs the token,
which only its holder has: a legacy row is rewritten when its token is next used (the API's lookup)
or, for the demo tokens, by the seed on the next start. Revoked legacy rows stay as they are.

A plain ``ALTER TABLE … ADD COLUMN`` on both databases (no table rebuild); skipped where present, so
a database made by ``create_all`` passes unchanged.

Revision ID: 0010
Revises: 0009
Create Date: 2027-03-16
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from govshare.core.migrations import guards

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    guards.add_column(
        "credential",
        sa.Column("hash_scheme", sa.String(length=16), nullable=False, server_default="sha256"),
    )


def downgrade() -> None:
    raise RuntimeError("govshare migrations go forward only: restore a backup to go back")
