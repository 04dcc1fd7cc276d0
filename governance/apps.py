from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Audit trail, provenance, review, licence policy and roles."""

    name = "governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Audit every change of identity and role (``governance.identity_audit``)."""
        from governance import identity_audit

        identity_audit.connect()
