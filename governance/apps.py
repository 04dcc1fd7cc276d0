from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Audit trail, provenance, review, licence policy and roles."""

    name = "governance"
    default_auto_field = "django.db.models.BigAutoField"
