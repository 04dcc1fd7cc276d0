from django.apps import AppConfig


class AssetsConfig(AppConfig):
    """Assets: stored images with their model identity, licence and provenance; search; files."""

    name = "assets"
    default_auto_field = "django.db.models.BigAutoField"
