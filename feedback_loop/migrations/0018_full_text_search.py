"""GIN indexes for the queue's full-text search on PostgreSQL (internal/search.py); nothing on
other databases, which search with icontains.

They are built here and kept out of the models' state: a GinIndex in a model's Meta makes
Django 6 ask every site for ``django.contrib.postgres`` in INSTALLED_APPS (check postgres.E005),
SQLite sites included. The expressions are internal/search.py's ``search_vector``, written out
(a query uses an index only with the very same expression; tests/test_search.py reads a plan).
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations, models
from django.db.models import Q


def searchable(field):
    return models.Func(
        models.F(field),
        models.Value("<>"),
        models.Value("  "),
        function="translate",
        output_field=models.TextField(),
    )


def indexes(apps):
    trace_index = GinIndex(
        SearchVector(searchable("input"), searchable("output"), config="simple"),
        name="fl_trace_text_search",
    )
    comment_index = GinIndex(
        SearchVector(searchable("comment"), config="simple"),
        condition=~Q(comment=""),
        name="fl_event_comment_search",
    )
    return [
        (apps.get_model("feedback_loop", "Trace"), trace_index),
        (apps.get_model("feedback_loop", "FeedbackEvent"), comment_index),
    ]


def add(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for model, index in indexes(apps):
            schema_editor.add_index(model, index)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for model, index in indexes(apps):
            schema_editor.remove_index(model, index)


class Migration(migrations.Migration):
    dependencies = [
        ("feedback_loop", "0017_sweeper_progress"),
    ]

    operations = [migrations.RunPython(add, remove)]
