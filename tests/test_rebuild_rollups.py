"""feedback_loop_rebuild_rollups: the pipeline's repair path recomputes traces from their
events, for one project or a window of days, and leaves what the pipeline would."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from feedback_loop.models import PreferencePair, Project, Review, Trace
from tests.curation import add, run

pytestmark = pytest.mark.django_db

FIGURES = ("sentiment", "thumbs_up", "thumbs_down", "edit_count", "strength", "score")


def figures(project):
    return {t["key"]: t for t in Trace.objects.filter(project=project).values("key", *FIGURES)}


@pytest.fixture
def processed(project):
    add(project, "a", value=-1, user_id="u1", reasons=["hallucination"])
    add(project, "a", value=1, user_id="u1", minutes=5)  # u1 changed their mind
    add(project, "b", value=-1, user_id="u2")
    Trace.objects.create(project=project, key="c", output="The answer.")
    add(project, "c", kind="edit", text="A better answer.", user_id="u3")
    run(project)
    return figures(project)


def rebuild(*args) -> str:
    out, err = StringIO(), StringIO()
    call_command("feedback_loop_rebuild_rollups", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_a_damaged_rollup_is_rebuilt_as_the_pipeline_left_it(project, processed):
    Trace.objects.filter(project=project).update(
        sentiment="none", thumbs_up=7, thumbs_down=0, edit_count=0, strength=0, score=None
    )
    Review.objects.all().delete()
    PreferencePair.objects.all().delete()

    said = rebuild()

    assert figures(project) == processed
    assert "Rebuilt the rollups of 3 traces." in said and "3/3 traces" in said
    assert Review.objects.filter(trace__key="b").exists()  # the queue again
    assert PreferencePair.objects.filter(trace__key="c", source="edit").exists()


def test_only_the_project_and_the_days_asked_for(project, processed):
    other, _secret = Project.create("Other")
    add(other, "x", value=-1, user_id="u9")
    run(other)
    Trace.objects.update(thumbs_up=9)
    Trace.objects.filter(project=project, key="b").update(
        last_signal_at=timezone.now() - timedelta(days=40)
    )

    assert "of 2 traces" in rebuild("--project", project.public_key, "--since", "30")

    mine = figures(project)
    assert mine["a"]["thumbs_up"] == processed["a"]["thumbs_up"] == 1
    assert mine["b"]["thumbs_up"] == 9  # its last signal is older than 30 days
    assert Trace.objects.get(project=other).thumbs_up == 9  # another project


def test_a_project_that_does_not_exist_is_a_command_error(project):
    with pytest.raises(CommandError, match="No project 'nope'"):
        rebuild("--project", "nope")
    with pytest.raises(CommandError, match="1 or more"):
        rebuild("--since", "0")
