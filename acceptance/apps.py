from django.apps import AppConfig


class AcceptanceConfig(AppConfig):
    """Checklists, the registry of checks behind them, and each asset's check results."""

    name = "acceptance"
    default_auto_field = "django.db.models.BigAutoField"
