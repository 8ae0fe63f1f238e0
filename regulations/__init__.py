"""Regulation profiles: the rules of each jurisdiction as data (DESIGN.md, "Rules as data").

One TOML file per jurisdiction under ``regulations/profiles/`` (see ``regulations/README.md``),
validated against :mod:`regulations.schema`, loaded by :mod:`regulations.loader`; a step's deadline
is computed by :func:`regulations.deadlines.step_deadline` with the working-day calendar.
"""

from regulations.deadlines import find_step, step_deadline
from regulations.loader import (
    PROFILE_DIR_ENV,
    ProfileError,
    clear_cache,
    list_profiles,
    load_profile,
    load_profile_file,
    profile_digest,
    profile_dir,
    profile_path,
)
from regulations.schema import (
    Action,
    CaseType,
    Extension,
    Profile,
    Role,
    Rung,
    ShareType,
    ShareTypeRule,
    Step,
    Transition,
)

__all__ = [
    "PROFILE_DIR_ENV",
    "Action",
    "CaseType",
    "Extension",
    "Profile",
    "ProfileError",
    "Role",
    "Rung",
    "ShareType",
    "ShareTypeRule",
    "Step",
    "Transition",
    "clear_cache",
    "find_step",
    "list_profiles",
    "load_profile",
    "load_profile_file",
    "profile_digest",
    "profile_dir",
    "profile_path",
    "step_deadline",
]
