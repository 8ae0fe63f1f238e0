"""Whether a deployment's role directory lets a profile's cases run: pure, no database.

A profile names roles, not departments: an escalation rung's ``actor`` and an action's ``issuer``
(who issues the case the decision starts) are roles that the deployment's role directory
(``govshare.core.directory``: role → department code) resolves to a department. A rung or an action
whose directory role no department plays cannot be carried out; :func:`unplayed_roles` lists each
one, :func:`check_directory` refuses them all at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from regulations.loader import ProfileError
from regulations.schema import DIRECTORY_ROLES, Profile

__all__ = ["check_directory", "unplayed_roles"]


def unplayed_roles(
    profile: Profile, directory: Mapping[str, str], case_types: list[str] | None = None
) -> list[str]:
    """One message per escalation rung whose ``actor``, and per action whose ``issuer``, is a
    directory role that no department plays in ``directory`` (role → department code), for every
    case type of ``profile`` or only those named in ``case_types``. Each message names the profile,
    the case type, the rung (its index and id) or the step and action, and the role, e.g.
    ``hubei: case_types.sharing_application.escalation[1] (rectification_order): no department plays
    role leading_group``. A case type named that the profile does not have is a :class:`ProfileError`.
    """
    if case_types is None:
        chosen = list(profile.case_types)
    else:
        unknown = [ct for ct in case_types if ct not in profile.case_types]
        if unknown:
            raise ProfileError(
                f"{profile.id}: no case type {', '.join(repr(ct) for ct in unknown)}; "
                f"the profile has {', '.join(profile.case_types) or 'none'}"
            )
        chosen = list(dict.fromkeys(case_types))

    def unplayed(role: str | None) -> bool:
        return role is not None and role in DIRECTORY_ROLES and not directory.get(role)

    messages: list[str] = []
    for ct_id in chosen:
        case_type = profile.case_types[ct_id]
        where = f"{profile.id}: case_types.{ct_id}"
        for index, rung in enumerate(case_type.escalation):
            if unplayed(rung.actor):
                messages.append(
                    f"{where}.escalation[{index}] ({rung.id}): no department plays role {rung.actor}"
                )
        for step_id, step in case_type.steps.items():
            for action_id, action in step.actions.items():
                if unplayed(action.issuer):
                    messages.append(
                        f"{where}.steps.{step_id}.actions.{action_id}.issuer: "
                        f"no department plays role {action.issuer}"
                    )
    return messages


def check_directory(
    profile: Profile, directory: Mapping[str, str], case_types: list[str] | None = None
) -> None:
    """:class:`ProfileError` listing every message of :func:`unplayed_roles` (none: returns)."""
    messages = unplayed_roles(profile, directory, case_types)
    if messages:
        raise ProfileError("; ".join(messages))
