"""Server keys: a setting's value, or a key file under ``var/`` made on first use.

A key the operator sets (``TOKEN_HASH_KEY`` …) is given as hex or base64 (standard or URL-safe) of at
least 32 bytes — the form ``ACTOR_SIGNING_KEY`` takes too (``workflows/engine/signing.py``); make one
with ``python -c "import secrets; print(secrets.token_hex(32))"``. Left empty, the key is
``<VAR_DIR>/<name>.key``: 32 random bytes, hex, mode 0600, written once by the first process that
needs it (``govshare run`` makes it before it starts the worker and the API) and read by every later
one. Creation is atomic — the file is written under a temporary name and hard-linked into place,
which fails if another process won — so processes starting together agree on one key. A key file
that exists but holds no usable key is an error, never silently replaced: replacing it would
invalidate everything made with the old key.

Several machines (APIs behind a load balancer, a CLI on another host) must share the key: set the
setting on all of them (or copy the file).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

MIN_KEY_BYTES = 32


class ServerKeyError(RuntimeError):
    """A configured key or a key file that holds no usable key (the message names which)."""


def parse_key(text: str, what: str) -> bytes:
    """A key written as hex or base64 (standard or URL-safe) of at least 32 bytes; ``what`` names it
    in the error."""
    text = text.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
            raw = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            raise ServerKeyError(f"{what}: neither hex nor base64") from None
    if len(raw) < MIN_KEY_BYTES:
        raise ServerKeyError(f"{what}: at least {MIN_KEY_BYTES} bytes are needed (hex or base64)")
    return raw


def key_from(setting_value: str, var_dir: Path | str, name: str) -> bytes:
    """The key: ``setting_value`` when set (hex or base64), else the key file ``<var_dir>/<name>.key``
    (made if missing). Cached per (value, folder, name): a process reads its key file once."""
    # An absolute, normalised folder as the cache key: ``Path.resolve`` (a system call per part) had
    # cost every authenticated request 2 % of the API's CPU.
    return _key(setting_value.strip(), os.path.abspath(var_dir), name)


@lru_cache(maxsize=32)
def _key(setting_value: str, var_dir: str, name: str) -> bytes:
    if setting_value:
        return parse_key(setting_value, f"the configured key {name}")
    path = Path(var_dir) / f"{name}.key"
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # atomic; FileExistsError: another process made it first (its key wins)
        except FileExistsError:
            pass
        except OSError:
            # A file system without hard links: create in place (a reader that sees it empty waits).
            with contextlib.suppress(FileExistsError):
                fd2 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd2, "w", encoding="ascii") as out:
                    out.write(tmp.read_text(encoding="ascii"))
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _read(path: Path) -> bytes:
    deadline = time.monotonic() + 2.0
    while True:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise ServerKeyError(f"{path}: not readable as a key ({err})") from err
        if text or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # being written by another process (the fallback path only)
    return parse_key(text, str(path))
