from django.apps import AppConfig


class AssetsConfig(AppConfig):
    """Assets: stored images with their model identity, licence and provenance; search; files."""

    name = "assets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the multi-host settings checks (``manage.py check``).
        from assets import checks  # noqa: F401
