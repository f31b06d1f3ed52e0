"""The review queue and its bulk actions, as a curator works through them."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from feedback_loop import record_trace
from feedback_loop.models import (
    Dataset,
    PreferencePair,
    Review,
    ReviewStatus,
    Trace,
)
from tests.curation import ADMIN, add, listed, page, run

pytestmark = pytest.mark.django_db

# -- the queue ---------------------------------------------------------------------------------


def test_the_trace_list_opens_on_negative_traces_not_reviewed(admin_client, queue):
    response = admin_client.get(f"{ADMIN}/trace/")
    assert listed(response) == ["long", "bad"]  # most recent signal first
    Review.objects.filter(trace__key="bad").update(status=ReviewStatus.REVIEWED)
    assert listed(admin_client.get(f"{ADMIN}/trace/")) == ["long"]
    everything = admin_client.get(f"{ADMIN}/trace/", {"sentiment": "all", "review": "all"})
    assert sorted(listed(everything)) == ["bad", "good", "long"]
    text = page(everything)
    assert "Negative or mixed" in text and "Not reviewed" in text  # the filters' defaults


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"signal": "edit"}, ["long"]),
        ({"signal": "thumbs_down"}, ["bad"]),
        ({"mode": "length"}, ["long"]),
        ({"mode": "hallucination"}, ["bad"]),
        ({"labels": "suggested"}, ["long", "bad"]),
        ({"labels": "confirmed"}, []),
        ({"model": "m2"}, ["long"]),
        ({"q": "alert"}, ["bad"]),  # a user's comment
        ({"q": "Goethe"}, ["bad"]),  # the output
        ({"sentiment": "positive", "review": "all"}, ["good"]),
    ],
)
def test_queue_filters_and_search(admin_client, queue, params, expected):
    assert listed(admin_client.get(f"{ADMIN}/trace/", params)) == expected


def test_the_queue_sorts_by_signal_strength(admin_client, queue):
    add(queue, "bad", value=-1, user_id="u9")
    add(queue, "bad", kind="regenerate")
    run(queue)
    # The sort parameter counts the columns as the page shows them (the checkbox first).
    columns = admin_client.get(f"{ADMIN}/trace/").context["cl"].list_display
    column = columns.index("signals_strength")
    response = admin_client.get(f"{ADMIN}/trace/", {"o": f"-{column}"})
    assert listed(response) == ["long", "bad"]  # weakest first, reversed
    response = admin_client.get(f"{ADMIN}/trace/", {"o": str(column)})
    assert listed(response) == ["bad", "long"]


def test_the_queue_shows_signals_and_modes_at_a_glance(admin_client, queue):
    text = page(admin_client.get(f"{ADMIN}/trace/"))
    assert 'title="1 thumbs down"' in text and 'title="1 edits"' in text
    assert "Length?" in text and "Hallucination?" in text  # suggested, not confirmed


def test_the_queue_page_costs_the_same_queries_however_many_events(admin_client, project):
    def fill(count):
        for i in range(count):
            record_trace(project, f"t{count}-{i}", input=f"q{i}", output="a")
            for j in range(6):
                add(project, f"t{count}-{i}", value=-1, user_id=f"u{j}", reasons=["format"])
            add(project, f"t{count}-{i}", kind="edit", text="b")
        run(project)

    fill(3)
    admin_client.get(f"{ADMIN}/trace/")  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        assert len(listed(admin_client.get(f"{ADMIN}/trace/"))) == 3
    fill(40)
    with CaptureQueriesContext(connection) as many:
        assert len(listed(admin_client.get(f"{ADMIN}/trace/"))) == 43
    assert len(many) == len(few) <= 15


# -- actions -----------------------------------------------------------------------------------


def action(client, name, traces, **extra):
    return client.post(
        f"{ADMIN}/trace/?sentiment=all&review=all",
        {"action": name, "_selected_action": [t.pk for t in traces], **extra},
    )


def test_label_action_asks_first_then_labels(admin_client, queue):
    from feedback_loop.models import ErrorMode

    traces = list(Trace.objects.filter(key__in=["bad", "long"]))
    confirm = action(admin_client, "label_error_mode", traces)
    assert "This applies to 2 traces" in page(confirm)
    refusal = ErrorMode.objects.get(slug="refusal")
    done = action(admin_client, "label_error_mode", traces, apply="yes", mode=refusal.pk)
    assert done.status_code == 302
    assert all(
        list(t.review.error_modes.values_list("slug", flat=True)) == ["refusal"] for t in traces
    )
    assert "Labelled 2 traces “Refusal”." in [str(m) for m in get_messages(done.wsgi_request)]


def test_mark_reviewed_and_add_to_dataset_actions(admin_client, queue):
    traces = list(Trace.objects.filter(key__in=["bad", "long"]))
    assert "This applies to 2 traces" in page(action(admin_client, "mark_reviewed", traces))
    action(admin_client, "mark_reviewed", traces, apply="yes")
    assert set(Review.objects.values_list("status", flat=True)) == {"reviewed"}
    dataset = Dataset.objects.create(project=queue, name="Reg")
    done = action(admin_client, "add_to_dataset", traces, apply="yes", dataset=dataset.pk)
    assert dataset.items.count() == 2
    assert "Added 2 items to “Reg” from 2 traces" in str(list(get_messages(done.wsgi_request))[-1])


def test_build_pairs_and_export_actions(admin_client, queue):
    PreferencePair.objects.all().delete()
    traces = list(Trace.objects.all())
    done = action(admin_client, "build_preference_pairs", traces, apply="yes")
    assert "(1 new)" in str(list(get_messages(done.wsgi_request))[-1])
    export = action(admin_client, "export_jsonl", traces)
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert len(lines) == 3
    assert '"expected_output": "Paris."' in next(x for x in lines if '"long"' in x)


def test_the_queue_search_box_has_a_visible_label(admin_client, queue):
    text = page(admin_client.get(f"{ADMIN}/trace/"))
    assert (
        '<label for="searchbar">Searches trace ids, inputs, outputs and users\' comments.</label>'
        in text
    )
    assert 'aria-describedby="searchbar_helptext"' not in text
