from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Audit trail, provenance, review, licence policy and roles."""

    name = "governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Audit every change of identity and role (``governance.identity_audit``); count failed
        logins per address (``governance.login_guard``)."""
        from django.contrib.auth.signals import user_login_failed

        from governance import identity_audit, login_guard

        identity_audit.connect()
        user_login_failed.connect(login_guard.count_failed_login, dispatch_uid="hallmark-login-failures-per-address")
