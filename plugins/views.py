"""Pages for admins: ``/plugins/`` (every plugin, its licence, capabilities, health, enabled
state) and ``/plugins/<id>/`` (the same and a configuration form generated from its schema).

Thin: every change goes through ``plugins.services.update_plugin``, which validates it with the
plugin's own ``clean_config`` and writes the audit event.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from governance import roles
from hallmark.sdk import ConfigInvalid
from plugins import services
from plugins.config_form import capability_words, config_inputs, read_config, typed_values


def _require_admin(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.ADMIN):
        raise PermissionDenied("Only admins manage plugins.")


def _state(plugin_id: str) -> services.PluginState:
    try:
        return services.state(plugin_id)
    except LookupError:
        raise Http404(f"No plugin {plugin_id!r} is installed.") from None


def _summary(state: services.PluginState) -> dict[str, Any]:
    """What the list and the detail page show of one plugin (admins see every message)."""
    cls = state.entry.plugin_class
    return {
        "id": state.id,
        "name": cls.name if cls else state.id,
        "version": cls.version if cls else state.entry.distribution_version,
        "description": cls.description if cls else "",
        "distribution": f"{state.entry.distribution} {state.entry.distribution_version}".strip(),
        "enabled": state.enabled,
        "broken": state.entry.broken,
        "error": state.entry.error,
        "is_ai_model": cls.is_ai_model if cls else False,
        "license": cls.license if cls else None,
        "capabilities": capability_words(cls.capabilities) if cls else [],
        "health": services.health(state.id),
    }


@login_required
def plugin_list(request: HttpRequest) -> HttpResponse:
    """Every installed plugin, broken ones included, with an enable or disable button."""
    _require_admin(request)
    return render(request, "plugins/list.html", {"plugins": [_summary(s) for s in services.states()]})


def _detail(
    request: HttpRequest,
    state: services.PluginState,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    problem: str = "",
    status: int = 200,
) -> HttpResponse:
    cls = state.entry.plugin_class
    context = {
        "plugin": _summary(state),
        "inputs": config_inputs(cls, state.config, typed, errors) if cls else (),
        "other_errors": [
            f"{k}: {' '.join(v)}" for k, v in (errors or {}).items() if cls and k not in cls.config_schema
        ],
        "problem": problem,
        "saved": request.GET.get("saved") == "1" and not errors,
    }
    return render(request, "plugins/detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def plugin_detail(request: HttpRequest, plugin_id: str) -> HttpResponseBase:
    """One plugin and its configuration form; a POST saves the configuration (audited)."""
    _require_admin(request)
    state = _state(plugin_id)
    cls = state.entry.plugin_class
    if request.method == "GET":
        return _detail(request, state)
    if cls is None:
        return _detail(request, state, problem="A broken plugin cannot be configured.", status=400)
    try:
        services.update_plugin(plugin_id, acting_user=request.user, config=read_config(cls, request.POST))
    except ConfigInvalid as exc:
        return _detail(request, state, typed=typed_values(cls, request.POST), errors=exc.errors, status=400)
    except services.PluginUnavailable as exc:
        return _detail(request, state, problem=str(exc), status=400)
    return redirect(f"{request.path}?saved=1")


@login_required
@require_POST
def plugin_enabled(request: HttpRequest, plugin_id: str) -> HttpResponseBase:
    """Enable (``enabled=true``) or disable a plugin (audited), then back to the list."""
    _require_admin(request)
    state = _state(plugin_id)
    wanted = request.POST.get("enabled")
    if wanted not in ("true", "false"):
        return _detail(
            request, state, problem="Say whether to enable (true) or disable (false) it.", status=400
        )
    try:
        services.update_plugin(plugin_id, acting_user=request.user, enabled=wanted == "true")
    except ConfigInvalid as exc:
        message = "Its saved configuration is invalid; fix it below, then enable it."
        return _detail(request, state, errors=exc.errors, problem=message, status=400)
    except services.PluginUnavailable as exc:
        return _detail(request, state, problem=str(exc), status=400)
    return redirect("plugins-page")
