"""The incremental pipeline's state (internal/increments.py): each voter's current vote on a
trace, the current ratings' sum and how many lie above and below the middle, regeneration
claims waiting for proof, and the indexes the pipeline reads a trace's pending and newest events
by. Existing votes are filled in from the stored events."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

VOTE_KINDS = ("thumbs", "rating")
BATCH = 500


def _voter(event):
    if event.voter:
        return event.voter
    if event.user_id:
        return f"cu:{event.user_id}"
    if event.session_id:
        return f"cs:{event.session_id}"
    return f"e:{event.pk}"


def fill_current_votes(apps, schema_editor):
    """Each voter's latest vote per trace (by the user's clock, then arrival), and the traces'
    rating tallies from them."""
    Trace = apps.get_model("feedback_loop", "Trace")
    Event = apps.get_model("feedback_loop", "FeedbackEvent")
    Vote = apps.get_model("feedback_loop", "CurrentVote")
    scale = getattr(settings, "FEEDBACK_LOOP", {}).get("RATING_SCALE", 5)
    middle = (scale + 1) / 2
    pks = list(Trace.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), BATCH):
        traces = {
            (t.project_id, t.key): t
            for t in Trace.objects.filter(pk__in=pks[start : start + BATCH])
        }
        by_project = {}
        for project_id, key in traces:
            by_project.setdefault(project_id, []).append(key)
        q = models.Q(pk__in=[])
        for project_id, keys in by_project.items():
            q |= models.Q(project_id=project_id, trace_key__in=keys)
        latest = {}
        events = Event.objects.filter(q, kind__in=VOTE_KINDS).order_by("timestamp", "pk")
        for event in events.iterator(chunk_size=2000):
            latest[(event.project_id, event.trace_key, event.kind, _voter(event))] = event
        votes, ratings = [], {}
        for (project_id, key, kind, voter), event in latest.items():
            trace = traces[(project_id, key)]
            votes.append(
                Vote(
                    trace=trace,
                    kind=kind,
                    voter=voter,
                    value=event.value,
                    timestamp=event.timestamp,
                    event_id=event.pk,
                )
            )
            if kind == "rating" and event.value is not None:
                ratings.setdefault(trace.pk, []).append(event.value)
        Vote.objects.bulk_create(votes, batch_size=1000)
        for pk, values in ratings.items():
            Trace.objects.filter(pk=pk).update(
                rating_sum=sum(values),
                ratings_high=sum(1 for v in values if v > middle),
                ratings_low=sum(1 for v in values if v < middle),
            )


class Migration(migrations.Migration):
    dependencies = [
        ("feedback_loop", "0018_full_text_search"),
    ]

    operations = [
        migrations.CreateModel(
            name="CurrentVote",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=16, verbose_name="kind")),
                ("voter", models.CharField(max_length=136, verbose_name="voter")),
                ("value", models.FloatField(null=True, verbose_name="value")),
                ("timestamp", models.DateTimeField(verbose_name="timestamp")),
                ("event_id", models.BigIntegerField(verbose_name="event")),
            ],
            options={
                "verbose_name": "current vote",
                "verbose_name_plural": "current votes",
            },
        ),
        migrations.CreateModel(
            name="RegenerationClaim",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("old_key", models.CharField(max_length=128, verbose_name="old answer")),
                ("new_key", models.CharField(max_length=128, verbose_name="new answer")),
                ("voter", models.CharField(max_length=136, verbose_name="voter")),
                (
                    "other_key",
                    models.CharField(
                        max_length=128, verbose_name="trace the voter must also be on"
                    ),
                ),
            ],
            options={
                "verbose_name": "regeneration claim",
                "verbose_name_plural": "regeneration claims",
            },
        ),
        migrations.RemoveIndex(
            model_name="feedbackevent",
            name="fl_event_unprocessed",
        ),
        migrations.AddField(
            model_name="trace",
            name="rating_sum",
            field=models.FloatField(default=0, editable=False, verbose_name="sum of ratings"),
        ),
        migrations.AddField(
            model_name="trace",
            name="ratings_high",
            field=models.PositiveIntegerField(
                default=0, editable=False, verbose_name="high ratings"
            ),
        ),
        migrations.AddField(
            model_name="trace",
            name="ratings_low",
            field=models.PositiveIntegerField(
                default=0, editable=False, verbose_name="low ratings"
            ),
        ),
        migrations.AddIndex(
            model_name="feedbackevent",
            index=models.Index(
                condition=models.Q(("processed_at__isnull", True)),
                fields=["project", "trace_key", "created_at"],
                name="fl_event_pending",
            ),
        ),
        migrations.AddIndex(
            model_name="feedbackevent",
            index=models.Index(
                condition=models.Q(("timestamp__isnull", False)),
                fields=["project", "trace_key", "timestamp"],
                name="fl_event_trace_time",
            ),
        ),
        migrations.AddField(
            model_name="currentvote",
            name="trace",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="current_votes",
                to="feedback_loop.trace",
            ),
        ),
        migrations.AddField(
            model_name="regenerationclaim",
            name="project",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, to="feedback_loop.project"
            ),
        ),
        migrations.AddConstraint(
            model_name="currentvote",
            constraint=models.UniqueConstraint(
                fields=("trace", "kind", "voter"), name="fl_vote_unique"
            ),
        ),
        migrations.AddIndex(
            model_name="regenerationclaim",
            index=models.Index(fields=["project", "new_key"], name="fl_claim_new"),
        ),
        migrations.AddConstraint(
            model_name="regenerationclaim",
            constraint=models.UniqueConstraint(
                fields=("project", "old_key", "new_key", "voter"), name="fl_claim_unique"
            ),
        ),
        migrations.RunPython(fill_current_votes, migrations.RunPython.noop, elidable=True),
    ]
