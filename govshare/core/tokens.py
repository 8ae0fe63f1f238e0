"""Bearer tokens at rest: a keyed digest, looked up by its index, compared in constant time (issue 23).

A credential row stores ``HMAC-SHA256(key, token)`` (hex) in ``credential.token_sha256`` with
``hash_scheme = "hmac-sha256"``. The key is the server's (``TOKEN_HASH_KEY``, or the key file
``<VAR_DIR>/token_hash.key``: :func:`govshare.core.keys.key_from`), so a copy of the table alone — a
backup, a read-only leak — does not let anyone test guesses at a token offline, as the unsalted SHA-256
did (the demo tokens, ``demo-<department>-<role>``, are guessable by design).

Rows written before migration 0010 hold the plain SHA-256 (``hash_scheme = "sha256"``). The lookup
computes both digests, fetches by the unique index (``token_sha256 IN (keyed, legacy)``) and accepts
a row only if its stored digest equals, by :func:`hmac.compare_digest`, the digest of *its own*
scheme. A legacy row that authenticates is rewritten to the keyed digest at once (we hold the token
then: :func:`upgrade`), and the seed rewrites the demo tokens it knows (:func:`upgrade_known`), so the
legacy path dies out; computing one extra SHA-256 per request while it exists costs nothing to speak
of (the second digest is always computed, so no timing tells whether legacy rows remain).

Why the index lookup does not leak the token through timing: the value searched for is a keyed
digest, which an attacker without the key can neither choose nor predict, so how far a B-tree
comparison gets says nothing usable about the token; the final equality check on the fetched row is
constant-time by construction (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import Session

from govshare.core.keys import key_from
from govshare.core.models import Credential

if TYPE_CHECKING:
    from govshare.core.settings import Settings

KEYED = "hmac-sha256"
LEGACY = "sha256"
SCHEMES = (KEYED, LEGACY)
KEY_FILE_NAME = "token_hash"


def server_key(settings: Settings | None = None) -> bytes:
    """The key of the stored digests: ``settings`` (default: the process's settings, environment and
    ``.env``), its ``TOKEN_HASH_KEY`` or else its key file under ``VAR_DIR``."""
    if settings is None:
        from govshare.core.settings import get_settings

        settings = get_settings()
    return key_from(settings.token_hash_key.get_secret_value(), settings.var_dir, KEY_FILE_NAME)


def keyed_digest(token: str, key: bytes) -> str:
    """HMAC-SHA256 of the token under ``key``, hex (64 characters: fits ``token_sha256``)."""
    return hmac.new(key, token.encode("utf-8"), hashlib.sha256).hexdigest()


def legacy_digest(token: str) -> str:
    """The unkeyed SHA-256 of rows made before migration 0010 (read only, never written anew)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_digest(token: str, key: bytes | None = None) -> str:
    """What a new credential stores for ``token`` (with ``hash_scheme`` :data:`KEYED`)."""
    return keyed_digest(token, server_key() if key is None else key)


def digests(token: str, key: bytes | None = None) -> dict[str, str]:
    """The token's digest under each scheme: what the lookup searches the index for."""
    key = server_key() if key is None else key
    return {KEYED: keyed_digest(token, key), LEGACY: legacy_digest(token)}


def matches(stored: str, scheme: str, wanted: dict[str, str]) -> bool:
    """Whether a fetched row's digest is the token's under the row's own scheme (constant time)."""
    expected = wanted.get(scheme)
    if expected is None:  # an unknown scheme identifies no one
        return False
    return hmac.compare_digest(stored.encode("ascii", "replace"), expected.encode("ascii"))


def upgrade(session: Session, credential_id: int, token: str, key: bytes | None = None) -> bool:
    """Rewrite a legacy row to the keyed digest (the caller has just proved the token). Only a row
    still legacy and still holding this token's SHA-256 changes; True if it did. The caller commits."""
    wanted = digests(token, key)
    result = session.exec(  # type: ignore[call-overload]
        update(Credential)
        .where(
            Credential.id == credential_id,  # type: ignore[arg-type]
            Credential.hash_scheme == LEGACY,  # type: ignore[arg-type]
            Credential.token_sha256 == wanted[LEGACY],  # type: ignore[arg-type]
        )
        .values(token_sha256=wanted[KEYED], hash_scheme=KEYED)
    )
    return bool(result.rowcount)


def upgrade_known(session: Session, tokens: Iterable[str], key: bytes | None = None) -> int:
    """Rewrite the legacy rows of tokens the server knows in plain (the demo tokens, at seed time);
    the number of rows rewritten. The caller commits."""
    key = server_key() if key is None else key
    done = 0
    for token in tokens:
        wanted = digests(token, key)
        result = session.exec(  # type: ignore[call-overload]
            update(Credential)
            .where(
                Credential.hash_scheme == LEGACY,  # type: ignore[arg-type]
                Credential.token_sha256 == wanted[LEGACY],  # type: ignore[arg-type]
            )
            .values(token_sha256=wanted[KEYED], hash_scheme=KEYED)
        )
        done += result.rowcount or 0
    return done
