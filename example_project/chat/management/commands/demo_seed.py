"""Seed the demo: an admin user, the demo project and a few conversations with feedback."""

import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from example_project.chat import model, prompts
from feedback_loop import record_trace
from feedback_loop.conf import app_settings
from feedback_loop.evaluation import evaluate
from feedback_loop.evaluation.online import apply_scoring_rules
from feedback_loop.internal import verdicts
from feedback_loop.internal.datasets import add_traces, apply_rule
from feedback_loop.internal.pipeline import process_events
from feedback_loop.keys import hash_secret
from feedback_loop.models import (
    Dataset,
    DatasetKind,
    ErrorMode,
    FeedbackEvent,
    Project,
    Review,
    ReviewStatus,
    ScoringRule,
    Trace,
)

QUESTIONS = [
    "What is the capital of Australia?",
    "Give me JSON for Ada Lovelace",
    "How do I reset my password?",
    "Summarise the refund policy",
    "Write a poem about queues",
    "What changed in Django 5.2?",
    "How tall is Mount Everest?",
    "Explain DPO in one line",
]


# What users wrote instead of the stand-in's answer, by question.
EDITS = {
    1: '{"name": "Ada Lovelace", "born": 1815}',
    5: "Django 5.2 is a long-term support release. It adds composite primary keys, imports your "
    "models automatically in the shell, and makes form field rendering easier to customise.",
}
DEMO_SECRET_KEY = "sk_demo_secret_key_not_for_production"


class Command(BaseCommand):
    help = "Create the demo's admin user (admin / admin), project and sample feedback."

    def handle(self, *args, **options):
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write("Created the superuser admin (password: admin).")

        key = app_settings.DEFAULT_PROJECT
        project = Project.objects.filter(public_key=key).first()
        if project is None:
            project, _secret = Project.create("Demo chat")
            project.public_key = key
            self.stdout.write(f"Created the project {project.name!r}.")
        # A demo key, the same on every run, so the README's server API examples work as
        # they are; a real project's secret key is random and shown once.
        project.secret_key_hash = hash_secret(DEMO_SECRET_KEY)
        project.secret_key_prefix = DEMO_SECRET_KEY[:7]
        project.save(update_fields=["public_key", "secret_key_hash", "secret_key_prefix"])
        self.stdout.write(f"Demo project: public key {project.public_key}")
        self.stdout.write(
            f"              secret key {DEMO_SECRET_KEY} (a demo key: never in production)"
        )

        if project.traces.exists():
            self.stdout.write("Sample data is already there.")
            return
        now = timezone.now()
        for index, question in enumerate(QUESTIONS):
            trace = record_trace(
                project,
                f"seed-{index:02d}",
                input=question,
                output=model.answer(question),
                messages=[
                    {"role": "system", "content": "You are the demo's stand-in model."},
                    {"role": "user", "content": question},
                ],
                model="stand-in-1" if index % 3 else "stand-in-0",
                session_id=f"seed-session-{index % 3}",
                user_id=f"user-{index % 4}",
                # What the dashboard can break down by (?by=metadata.plan).
                metadata={"plan": "pro" if index % 4 == 0 else "free", "locale": "en"},
            )
            days_ago = 7 - index % 7
            trace.created_at = now - timedelta(days=days_ago, minutes=index)
            # The prompt changed three days ago: the dashboard compares the two releases.
            trace.release = "prompt-v2" if days_ago <= 3 else "prompt-v1"
            trace.save(update_fields=["created_at", "release"])
            when = trace.created_at + timedelta(seconds=30)
            events = [{"kind": "thumbs", "value": -1 if index % 3 == 0 else 1}]
            if index % 3 == 0:
                events[0].update(reasons=["hallucination"], comment="That is made up.")
            if index in EDITS:
                # The user wrote the answer they wanted: an edit pair.
                events.append(
                    {"kind": "edit", "text": EDITS[index], "metadata": {"text_format": "source"}}
                )
            if index % 5 == 2:
                events.append({"kind": "copy", "metadata": {"length": 24, "share": 0.4}})
            for event in events:
                FeedbackEvent.objects.create(
                    project=project,
                    event_id=uuid.uuid4(),
                    trace_key=trace.key,
                    session_id=trace.session_id,
                    user_id=trace.user_id,
                    timestamp=when,
                    **event,
                )
        # Roll up, triage and pair the seeded feedback as the Celery pipeline would.
        process_events(project.events.values_list("pk", flat=True))
        Dataset.objects.get_or_create(
            project=project,
            name="Regression set",
            defaults={"description": "Answers users corrected, with their corrections."},
        )
        pairs, _created = Dataset.objects.get_or_create(
            project=project,
            name="DPO pairs",
            kind=DatasetKind.PREFERENCE,
            defaults={"rule": {"filters": {"has_edit": True}}},
        )
        apply_rule(pairs)
        self._regression_set(project)
        self._two_reviewers(project)
        # Every answer checked for a refusal, as the periodic task would on live traffic.
        ScoringRule.objects.create(
            project=project, name="Refusals", scorers=["refusal"], sample_rate=1.0
        )
        apply_scoring_rules()
        self.stdout.write(self.style.SUCCESS(f"Seeded {len(QUESTIONS)} traces with feedback."))

    def _two_reviewers(self, project):
        """Two curators who audited some liked answers in review mode, two reviews per trace,
        neither seeing the other's verdict: they agree that four were fine and not on
        another. The dashboard's reviewers-vs-reviewers figures; the queue is left to the
        visitor, and the project back at one review per trace."""
        User = get_user_model()
        ann, bob = (
            User.objects.get_or_create(username=name, defaults={"is_staff": True})[0]
            for name in ("ann", "bob")
        )
        project.reviews_per_trace = 2
        project.save(update_fields=["reviews_per_trace"])
        too_long = tuple(ErrorMode.objects.filter(project=None, slug="length"))
        fine = verdicts.Answer(ReviewStatus.DISMISSED, ())
        liked = Trace.objects.filter(project=project, sentiment="positive").order_by("key")[:6]
        for n, trace in enumerate(liked):
            review, _created = Review.objects.get_or_create(trace=trace)
            verdicts.record(review, ann, fine)
            bob_says = verdicts.Answer(ReviewStatus.REVIEWED, too_long) if n == 2 else fine
            verdicts.record(review, bob, bob_says)
        project.reviews_per_trace = 1
        project.save(update_fields=["reviews_per_trace"])

    def _regression_set(self, project):
        """A curator's verdict on the two answers users rewrote (the JSON one's format, the
        Django one made up), the regression set built from them, and a first experiment on it:
        the baseline the README's `feedback_loop_eval ... --baseline latest` compares with."""
        regression = Dataset.objects.get(project=project, name="Regression set")
        traces = []
        for key, slug in (("seed-01", "format"), ("seed-05", "hallucination")):
            trace = Trace.objects.get(project=project, key=key)
            review, _ = Review.objects.get_or_create(
                trace=trace, defaults={"status": ReviewStatus.REVIEWED}
            )
            review.error_modes.set(ErrorMode.objects.filter(project=None, slug=slug))
            traces.append(trace.pk)
        add_traces(regression, traces)
        evaluate(
            regression,
            prompts.answer,
            scorers=["error_mode", "similarity"],
            name="prompt v1",
            metadata={"model": "stand-in", "prompt": "v1"},
        )
