from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The workspace: the library query, tags, collections and export of assets."""

    name = "workspace"
    default_auto_field = "django.db.models.BigAutoField"
