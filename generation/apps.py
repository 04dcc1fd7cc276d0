from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """Generation jobs: submission, execution on Celery workers, cancellation, recovery."""

    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from generation import worker_signals  # noqa: F401 - connects the worker's recovery sweep
