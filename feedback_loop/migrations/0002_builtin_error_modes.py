from django.db import migrations

BUILTIN = [
    ("hallucination", "Hallucination", "States something false or unsupported: made-up facts, citations or APIs."),
    ("format", "Format", "Right content in the wrong shape: broken JSON, lists, code fences or markup."),
    ("refusal", "Refusal", "Declined or deflected a request it should have answered."),
    ("length", "Length", "Too long or too short for what was asked."),
]


def create(apps, schema_editor):
    ErrorMode = apps.get_model("feedback_loop", "ErrorMode")
    for slug, name, description in BUILTIN:
        ErrorMode.objects.update_or_create(
            project=None,
            slug=slug,
            defaults={"name": name, "description": description, "is_builtin": True},
        )


def remove(apps, schema_editor):
    apps.get_model("feedback_loop", "ErrorMode").objects.filter(
        project=None, slug__in=[slug for slug, _n, _d in BUILTIN]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("feedback_loop", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
