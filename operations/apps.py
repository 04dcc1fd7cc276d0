from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Operations: /healthz, /readyz, /metrics and the Celery beat maintenance tasks.

    It owns no model: it reads what the other apps own and calls their services, so it sits
    above every app in the import layers.
    """

    name = "operations"
    default_auto_field = "django.db.models.BigAutoField"
