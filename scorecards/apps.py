from django.apps import AppConfig


class ScorecardsConfig(AppConfig):
    """Benchmarks of model plugins against an acceptance checklist, and their scorecards."""

    name = "scorecards"
    default_auto_field = "django.db.models.BigAutoField"
