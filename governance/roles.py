"""Roles: viewer, creator, reviewer, admin (Django groups made by a data migration).

Viewers read; creators generate; reviewers review and read the audit log; admins do all of it
and manage plugins. Superusers count as admins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

VIEWER = "viewer"
CREATOR = "creator"
REVIEWER = "reviewer"
ADMIN = "admin"
ROLES = (VIEWER, CREATOR, REVIEWER, ADMIN)

# What each group grants: a creator and a reviewer can also read; an admin can do everything.
_GRANTS: dict[str, set[str]] = {
    VIEWER: {VIEWER},
    CREATOR: {VIEWER, CREATOR},
    REVIEWER: {VIEWER, REVIEWER},
    ADMIN: {VIEWER, CREATOR, REVIEWER, ADMIN},
}


def roles_of(user: AbstractBaseUser | AnonymousUser | None) -> set[str]:
    """Every role the user holds, directly or through a broader role."""
    if user is None or not user.is_authenticated:
        return set()
    if getattr(user, "is_superuser", False):
        return set(ROLES)
    cached: set[str] | None = getattr(user, "_hallmark_roles", None)
    if cached is not None:
        return cached
    return remember_role_groups(user, user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]


def remember_role_groups(user: AbstractBaseUser | AnonymousUser, groups: Iterable[str]) -> set[str]:
    """Keep on this user object (one request's) the roles its ``groups`` grant, and return them.

    For a user whose groups were read already (``governance.token_auth`` reads them with the
    token). Never kept beyond the object: the next request reads the groups again.
    """
    granted: set[str] = set()
    for group in set(groups) & set(ROLES):
        granted |= _GRANTS[group]
    user._hallmark_roles = granted  # type: ignore[union-attr]  # cached per user object
    return granted


def has_role(user: AbstractBaseUser | AnonymousUser | None, role: str) -> bool:
    """True when the user holds ``role`` (or a role that includes it)."""
    return role in roles_of(user)


def roles_context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: ``roles`` lists the current user's roles in a stable order."""
    held = roles_of(getattr(request, "user", None))
    return {"roles": [role for role in ROLES if role in held]}
