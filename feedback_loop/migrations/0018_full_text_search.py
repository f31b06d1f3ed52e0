"""GIN indexes for the queue's full-text search on PostgreSQL (internal/search.py); nothing on
other databases, which search with icontains."""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models
from django.db.models import Q


class AddIndexOnPostgreSQL(migrations.AddIndex):
    """An index only PostgreSQL can build: part of every database's model state (so the models
    and the migrations agree), created only on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def searchable(field):
    # As internal/search.py's: "<" and ">" made spaces.
    return models.Func(
        models.F(field),
        models.Value("<>"),
        models.Value("  "),
        function="translate",
        output_field=models.TextField(),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("feedback_loop", "0017_sweeper_progress"),
    ]

    operations = [
        AddIndexOnPostgreSQL(
            model_name="trace",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.search.SearchVector(
                    searchable("input"), searchable("output"), config="simple"
                ),
                name="fl_trace_text_search",
            ),
        ),
        AddIndexOnPostgreSQL(
            model_name="feedbackevent",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.search.SearchVector(searchable("comment"), config="simple"),
                condition=~Q(comment=""),
                name="fl_event_comment_search",
            ),
        ),
    ]
