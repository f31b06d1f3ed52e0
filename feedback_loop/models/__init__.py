"""The data model, one module per concept: projects, traces, feedback events (and the table of
signal kinds), conversations, curation (error modes, reviews), preference pairs, datasets,
experiments, online scoring, alerts, processing failures."""

from feedback_loop.models.alerts import Alert, AlertKind, AlertRule
from feedback_loop.models.conversations import Conversation, Message
from feedback_loop.models.curation import ErrorMode, Review, ReviewStatus, Verdict
from feedback_loop.models.datasets import (
    Dataset,
    DatasetItem,
    DatasetKind,
    DatasetVersion,
    DatasetVersionItem,
    content_digest,
)
from feedback_loop.models.events import (
    COUNTED_BY_KIND,
    SIGNALS,
    SIGNALS_BY_NAME,
    VOTE_KINDS,
    EventKind,
    FeedbackEvent,
    Signal,
    claimed_voter,
    counters_of_kind,
    is_bound_voter,
    trace_keys_q,
)
from feedback_loop.models.experiments import PASS, Experiment, ExperimentResult, ExperimentStatus
from feedback_loop.models.failures import ProcessingFailure
from feedback_loop.models.pairs import PairSource, PreferencePair
from feedback_loop.models.pipeline import CurrentVote, PipelineProgress, RegenerationClaim
from feedback_loop.models.projects import Project
from feedback_loop.models.scoring import ScoringRule, TraceScore
from feedback_loop.models.traces import NEEDS_REVIEW, Sentiment, Trace, TraceKey

__all__ = [
    "COUNTED_BY_KIND",
    "NEEDS_REVIEW",
    "PASS",
    "SIGNALS",
    "SIGNALS_BY_NAME",
    "VOTE_KINDS",
    "Alert",
    "AlertKind",
    "AlertRule",
    "Conversation",
    "CurrentVote",
    "Dataset",
    "DatasetItem",
    "DatasetKind",
    "DatasetVersion",
    "DatasetVersionItem",
    "ErrorMode",
    "EventKind",
    "Experiment",
    "ExperimentResult",
    "ExperimentStatus",
    "FeedbackEvent",
    "Message",
    "PairSource",
    "PipelineProgress",
    "PreferencePair",
    "ProcessingFailure",
    "Project",
    "RegenerationClaim",
    "Review",
    "ReviewStatus",
    "ScoringRule",
    "Sentiment",
    "Signal",
    "Trace",
    "TraceKey",
    "TraceScore",
    "Verdict",
    "claimed_voter",
    "content_digest",
    "counters_of_kind",
    "is_bound_voter",
    "trace_keys_q",
]
