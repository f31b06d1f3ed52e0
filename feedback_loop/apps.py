from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackLoopConfig(AppConfig):
    name = "feedback_loop"
    verbose_name = _("Feedback loop")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from feedback_loop import checks, signals  # noqa: F401  (registers checks and receivers)
        from feedback_loop.evaluation import online  # noqa: F401  (a scoring rule's scorer check)
        from feedback_loop.filters import check_rule
        from feedback_loop.models import datasets

        # The rule language reads the models, so the models get its check from here.
        if check_rule not in datasets.rule_checks:
            datasets.rule_checks.append(check_rule)
