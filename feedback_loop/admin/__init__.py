"""The Django admin of feedback_loop: one module per model or screen, registered here.

- ``traces``: the review queue (the trace list) and a trace's page (``trace_page``), its bulk
  actions (``trace_actions``) and list filters (``queue_filters``); review mode (``review_mode``,
  with ``claims``) and the dashboard (``dashboard``, drawn by ``charts``) hang off its URLs;
- ``datasets``: datasets, their items, exports and frozen versions;
- ``experiments``: experiments (their pages and comparisons in ``experiment_pages``);
- ``scoring``: online scoring's rules, and a trace's automated scores (page panel, queue column);
- ``alerts``: alert rules and the episodes they opened;
- ``projects``, ``events``, ``pairs``, ``reviews``, ``error_modes``, ``failures``;
- shared: ``access`` (a curator sees only their projects), ``confirm`` (the one confirmation
  page), ``display`` (icons, short texts), ``diff`` (the bounded edit diff).
"""

from django.contrib import admin

from feedback_loop.admin.alerts import AlertAdmin, AlertRuleAdmin
from feedback_loop.admin.datasets import DatasetAdmin, DatasetItemAdmin, DatasetVersionAdmin
from feedback_loop.admin.error_modes import ErrorModeAdmin
from feedback_loop.admin.events import FeedbackEventAdmin
from feedback_loop.admin.experiments import ExperimentAdmin
from feedback_loop.admin.failures import ProcessingFailureAdmin
from feedback_loop.admin.pairs import PreferencePairAdmin
from feedback_loop.admin.projects import ProjectAdmin
from feedback_loop.admin.reviews import ReviewAdmin
from feedback_loop.admin.scoring import ScoringRuleAdmin
from feedback_loop.admin.traces import TraceAdmin
from feedback_loop.models import (
    Alert,
    AlertRule,
    Dataset,
    DatasetItem,
    DatasetVersion,
    ErrorMode,
    Experiment,
    FeedbackEvent,
    PreferencePair,
    ProcessingFailure,
    Project,
    Review,
    ScoringRule,
    Trace,
)

admin.site.register(Project, ProjectAdmin)
admin.site.register(Trace, TraceAdmin)
admin.site.register(FeedbackEvent, FeedbackEventAdmin)
admin.site.register(ErrorMode, ErrorModeAdmin)
admin.site.register(Review, ReviewAdmin)
admin.site.register(PreferencePair, PreferencePairAdmin)
admin.site.register(Dataset, DatasetAdmin)
admin.site.register(DatasetItem, DatasetItemAdmin)
admin.site.register(DatasetVersion, DatasetVersionAdmin)
admin.site.register(Experiment, ExperimentAdmin)
admin.site.register(ProcessingFailure, ProcessingFailureAdmin)
admin.site.register(ScoringRule, ScoringRuleAdmin)
admin.site.register(AlertRule, AlertRuleAdmin)
admin.site.register(Alert, AlertAdmin)
