from django.apps import AppConfig


class RoutingConfig(AppConfig):
    """Routing policies, circuit breakers per plugin and spending budgets."""

    name = "routing"
    default_auto_field = "django.db.models.BigAutoField"
