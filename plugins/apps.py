from django.apps import AppConfig


class PluginsConfig(AppConfig):
    """Plugin SDK, registry, per-plugin settings and the built-in plugins."""

    name = "plugins"
    default_auto_field = "django.db.models.BigAutoField"
