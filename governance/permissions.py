"""DRF permission classes, one per role."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from governance import roles


class _RolePermission(BasePermission):
    role: str = roles.VIEWER
    message = "You do not have the role this action needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        return roles.has_role(request.user, self.role)


class IsViewer(_RolePermission):
    """Read access: any of the four roles."""

    role = roles.VIEWER
    message = "You need the viewer role (or a broader one) to read this."


class IsCreator(_RolePermission):
    """May submit and cancel generations."""

    role = roles.CREATOR
    message = "You need the creator role to generate images."


class IsReviewer(_RolePermission):
    """May review assets and read the audit log."""

    role = roles.REVIEWER
    message = "You need the reviewer role for this."


class IsAdmin(_RolePermission):
    """May enable, disable and configure plugins."""

    role = roles.ADMIN
    message = "Only admins may change plugins."
