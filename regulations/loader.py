"""Loading regulation profiles: one TOML file per jurisdiction, validated against ``schema.Profile``.

Profiles live in ``regulations/profiles/`` (shipped with the package), or in the folder named by the
environment variable ``GOVSHARE_PROFILE_DIR`` when it is set. A profile's ``id`` must equal its file name.

Every error is a :class:`ProfileError` with a one-line message naming the file and the key path, e.g.::

    regulations/profiles/x.toml: case_types.sharing_application.steps.platform_check.working_days:
    Input should be greater than or equal to 0

(on one line), so that a clerk editing a profile sees at once what to fix.

A case pins ``(profile.id, profile.version)`` when it starts, and may also record
:func:`profile_digest` — the sha256 of the file bytes it ran under — so that an auditor can tell
exactly which rules applied.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from regulations.schema import Profile

__all__ = [
    "PROFILE_DIR_ENV",
    "ProfileError",
    "clear_cache",
    "list_profiles",
    "load_profile",
    "load_profile_file",
    "profile_digest",
    "profile_dir",
    "profile_path",
]

#: Environment variable naming a folder of profiles to use instead of the shipped ones.
PROFILE_DIR_ENV = "GOVSHARE_PROFILE_DIR"

_DEFAULT_DIR = Path(__file__).resolve().parent / "profiles"
_CUTOFF = re.compile(r"^(?:24:00|(?:[01]\d|2[0-3]):[0-5]\d)$")


class ProfileError(ValueError):
    """A profile that cannot be found, read or validated; the message is one line."""


def profile_dir() -> Path:
    """The folder profiles are read from (``$GOVSHARE_PROFILE_DIR`` or the shipped ``profiles/``)."""
    override = os.environ.get(PROFILE_DIR_ENV)
    return Path(override).expanduser() if override else _DEFAULT_DIR


def _display(path: Path) -> str:
    """The path as shown in messages: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _validation_message(where: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    message = first["msg"]
    # Our own model validators raise ValueError; pydantic prefixes those with "Value error, ".
    message = message.removeprefix("Value error, ")
    loc = _loc(first["loc"])
    text = f"{where}: {loc}: {message}" if loc else f"{where}: {message}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return _one_line(text)


def _parse(path: Path, data: bytes) -> Profile:
    where = _display(path)
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise ProfileError(_one_line(f"{where}: TOML syntax error: {exc}")) from None

    try:
        profile = Profile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(_validation_message(where, exc)) from None

    # Checks the schema leaves to the loader because they concern the file, not the rules.
    if profile.id != path.stem:
        raise ProfileError(
            f"{where}: id: '{profile.id}' does not match the file name (expected id = \"{path.stem}\")"
        )
    for case_type_id, case_type in profile.case_types.items():
        tested = case_type.facts_tested()
        if tested and case_type.facts is None:
            raise ProfileError(
                f"{where}: case_types.{case_type_id}: its transitions test {sorted(tested)}; "
                f"declare the facts its case type supplies: facts = {sorted(tested)}"
            )
    if not profile.version.strip():
        raise ProfileError(f"{where}: version: must not be empty")
    if not _CUTOFF.match(profile.deadline_cutoff):
        raise ProfileError(
            f"{where}: deadline_cutoff: '{profile.deadline_cutoff}' is not '24:00' or an office time 'HH:MM'"
        )
    return profile


def load_profile_file(path: str | os.PathLike[str]) -> Profile:
    """Read and validate one profile file (not cached)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{_display(path)}: cannot read: {exc.strerror or exc}") from None
    return _parse(path, data)


@dataclass(frozen=True)
class _Loaded:
    profile: Profile
    digest: str


_cache: dict[Path, _Loaded] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget loaded profiles (tests; a process that wants to pick up edited files)."""
    with _lock:
        _cache.clear()


def _known_ids(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.toml") if p.is_file())


def profile_path(profile_id: str) -> Path:
    """The file of ``profile_id``; :class:`ProfileError` (listing the known ids) if there is none."""
    directory = profile_dir()
    # An id is a file name, never a path: refuse separators so "../x" cannot escape the folder.
    if profile_id and re.fullmatch(r"[A-Za-z0-9_-]+", profile_id):
        path = directory / f"{profile_id}.toml"
        if path.is_file():
            return path
    known = _known_ids(directory)
    listing = ", ".join(known) if known else f"none in {_display(directory)}"
    raise ProfileError(f"unknown profile '{profile_id}'; known profiles: {listing}")


def _load(profile_id: str) -> _Loaded:
    path = profile_path(profile_id).resolve()
    with _lock:
        cached = _cache.get(path)
    if cached is not None:
        return cached
    data = _read(path)
    loaded = _Loaded(_parse(path, data), hashlib.sha256(data).hexdigest())
    with _lock:
        # Keep the first one loaded so that profile and digest always come from the same bytes.
        return _cache.setdefault(path, loaded)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{_display(path)}: cannot read: {exc.strerror or exc}") from None


def load_profile(profile_id: str, *, version: str | None = None) -> Profile:
    """The profile ``profile_id`` (cached per file).

    With ``version``, also check that the file on disk is still that version: a case started under
    one version must not silently run under another.
    """
    profile = _load(profile_id).profile
    if version is not None and profile.version != version:
        raise ProfileError(
            f"profile '{profile_id}' is at version '{profile.version}', not the pinned '{version}'"
        )
    return profile


def profile_digest(profile_id: str) -> str:
    """sha256 (hex) of the exact bytes :func:`load_profile` parsed for ``profile_id``."""
    return _load(profile_id).digest


def list_profiles() -> list[Profile]:
    """All profiles in :func:`profile_dir`, sorted by id; a broken file is an error, not skipped."""
    return [load_profile(profile_id) for profile_id in _known_ids(profile_dir())]
