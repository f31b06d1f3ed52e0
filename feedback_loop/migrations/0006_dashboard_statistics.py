"""A PostgreSQL statistics object on the dashboard's grouping (UTC day of the last signal,
model): without it the planner expects one group per distinct timestamp and sorts every trace
of the window instead of aggregating them in a small hash table. Other databases skip it."""

from django.db import migrations

CREATE = (
    "CREATE STATISTICS IF NOT EXISTS fl_trace_signal_day "
    "ON ((last_signal_at AT TIME ZONE 'UTC')::date), model FROM feedback_loop_trace"
)
DROP = "DROP STATISTICS IF EXISTS fl_trace_signal_day"


def create(apps, schema_editor):
    connection = schema_editor.connection
    # Statistics on expressions arrived in PostgreSQL 14.
    if connection.vendor == "postgresql" and connection.pg_version >= 140000:
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("feedback_loop", "0005_trace_strength")]
    operations = [migrations.RunPython(create, drop)]
