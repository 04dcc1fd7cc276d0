"""``/api/v1/plugins/``: list plugins with licence, capabilities and health; admins change them.

Configuration, config schema, health messages and load errors are shown to admins only: they
name weights paths, environment variables and base URLs (docs/roles.md).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from governance import roles
from governance.permissions import IsAdmin, IsViewer
from hallmark.api import invalid
from hallmark.sdk import ConfigInvalid
from plugins import services

_ADMINS_ONLY = "Admins only: left out for every other role."


class PluginSerializer(serializers.Serializer[Any]):
    """A plugin as the API shows it. Configuration and diagnostic details are for admins only."""

    id = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    description = serializers.CharField()
    distribution = serializers.CharField()
    enabled = serializers.BooleanField()
    broken = serializers.BooleanField()
    error = serializers.CharField(
        help_text="Why a broken plugin failed to load. Admins see the loader's message; every other "
        "role a fixed sentence (the message may name paths on the server)."
    )
    is_ai_model = serializers.BooleanField()
    license = serializers.DictField()
    capabilities = serializers.DictField()
    params_schema = serializers.DictField()
    config_schema = serializers.DictField(required=False, help_text=_ADMINS_ONLY)
    config = serializers.DictField(required=False, help_text=_ADMINS_ONLY)
    health = serializers.DictField(
        help_text="`status` (green, amber, red) for everyone; `message` (which may name weights "
        "paths, environment variables or URLs) for admins only."
    )


class PluginUpdateSerializer(serializers.Serializer[Any]):
    """The body of ``PATCH /api/v1/plugins/{id}/``."""

    enabled = serializers.BooleanField(required=False)
    config = serializers.DictField(required=False)


_BROKEN_FOR_NON_ADMINS = "The plugin failed to load; an admin can see why."


def plugin_data(state: services.PluginState, *, admin: bool) -> dict[str, Any]:
    """One plugin's description; what may reveal the server's layout is for ``admin`` only.

    Config holds weights paths, environment variable names and base URLs (never secrets), and
    health messages and load errors name the same: other roles get the plugin's declaration,
    whether it is enabled, and its health status alone.
    """
    cls = state.entry.plugin_class
    health = services.health(state.id)
    data: dict[str, Any] = {
        "id": state.id,
        "name": cls.name if cls else state.id,
        "version": cls.version if cls else state.entry.distribution_version,
        "description": cls.description if cls else "",
        "distribution": f"{state.entry.distribution} {state.entry.distribution_version}".strip(),
        "enabled": state.enabled,
        "broken": state.entry.broken,
        "error": state.entry.error if admin or not state.entry.error else _BROKEN_FOR_NON_ADMINS,
        "is_ai_model": cls.is_ai_model if cls else False,
        "license": cls.license.as_dict() if cls else {},
        "capabilities": cls.capabilities.as_dict() if cls else {},
        "params_schema": {k: v.as_dict() for k, v in cls.params_schema.items()} if cls else {},
        "health": health.as_dict() if admin else {"status": health.status},
    }
    if admin:
        data["config_schema"] = {k: v.as_dict() for k, v in cls.config_schema.items()} if cls else {}
        data["config"] = state.config
    return data


class PluginViewSet(viewsets.ViewSet):
    """Installed plugins. Everyone with a role reads; only admins enable, disable, configure."""

    lookup_value_regex = "[a-z0-9][a-z0-9-]{0,62}"
    pagination_class = None

    def get_permissions(self) -> list[Any]:
        return [IsAdmin()] if self.action == "partial_update" else [IsViewer()]

    @extend_schema(responses={200: PluginSerializer(many=True)})
    def list(self, request: Request) -> Response:
        """Every installed plugin, broken ones included, with its error."""
        admin = roles.has_role(request.user, roles.ADMIN)
        return Response([plugin_data(s, admin=admin) for s in services.states()])

    @extend_schema(responses={200: PluginSerializer, 404: OpenApiResponse(description="Not installed")})
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """One plugin."""
        admin = roles.has_role(request.user, roles.ADMIN)
        try:
            return Response(plugin_data(services.state(str(pk)), admin=admin))
        except LookupError:
            raise NotFound(f"No plugin {pk!r} is installed.") from None

    @extend_schema(
        request=PluginUpdateSerializer,
        responses={
            200: PluginSerializer,
            400: OpenApiResponse(description="Invalid config; `errors` names keys"),
        },
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Enable, disable or configure a plugin (admins). Config is validated against its schema."""
        body = request.data
        if not isinstance(body, dict):
            return invalid({"non_field_errors": ["The request body must be a JSON object."]})
        unknown = sorted(set(body) - {"enabled", "config"})
        if unknown:
            return invalid({name: ["Unknown field."] for name in unknown})
        enabled = body.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            return invalid({"enabled": ["Must be true or false."]})
        config = body.get("config")
        if config is not None and not isinstance(config, dict):
            return invalid({"config": ["Must be an object."]})
        try:
            services.update_plugin(str(pk), acting_user=request.user, enabled=enabled, config=config)
        except LookupError:
            raise NotFound(f"No plugin {pk!r} is installed.") from None
        except ConfigInvalid as exc:
            return invalid({f"config.{k}": v for k, v in exc.errors.items()}, "Invalid plugin configuration.")
        except services.PluginUnavailable as exc:
            return invalid({"enabled": [str(exc)]})
        return Response(plugin_data(services.state(str(pk)), admin=True))
