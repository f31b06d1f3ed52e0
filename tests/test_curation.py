"""Curation in the admin as a curator works through it: the queue, a trace's page, review mode,
bulk actions, the dashboard, dataset pages and exports."""

import html
import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format

from feedback_loop import record_trace
from feedback_loop.admin import claims
from feedback_loop.internal.pipeline import process_events
from feedback_loop.models import (
    Dataset,
    DatasetKind,
    DatasetVersion,
    FeedbackEvent,
    PreferencePair,
    Review,
    ReviewStatus,
    Trace,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADMIN = "/admin/feedback_loop"
XSS = '<script>alert("x")</script><a href="javascript:alert(1)">click</a>'


def add(project, trace_id, kind="thumbs", minutes=10, **fields):
    return FeedbackEvent.objects.create(
        project=project,
        event_id=uuid.uuid4(),
        trace_key=trace_id,
        kind=kind,
        timestamp=timezone.now() - timedelta(minutes=minutes),
        **fields,
    )


def run(project):
    process_events(project.events.values_list("pk", flat=True))


@pytest.fixture
def queue(project):
    """A small queue: a hallucination, an over-long answer the user cut, a liked answer."""
    record_trace(project, "bad", input="Who wrote Hamlet?", output="Hamlet was written by Goethe.")
    record_trace(
        project,
        "long",
        input="Capital of France?",
        output="Paris is the capital of France, and it has been for a very long time, since "
        "the Middle Ages, through kings and republics alike.",
        model="m2",
    )
    record_trace(project, "good", input="2 + 2?", output="4")
    add(project, "bad", value=-1, reasons=["hallucination"], comment=XSS, user_id="u1")
    add(project, "long", kind="edit", text="Paris.", user_id="u2", minutes=5)
    add(project, "good", value=1, user_id="u3")
    run(project)
    return project


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def listed(response) -> list[str]:
    return [t.key for t in response.context["cl"].result_list]


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


# -- a trace's page ----------------------------------------------------------------------------


def test_the_trace_page_shows_the_conversation_a_diff_and_the_timeline(admin_client, queue):
    trace = Trace.objects.get(key="long")
    text = page(admin_client.get(f"{ADMIN}/trace/{trace.pk}/change/"))
    assert "Capital of France?" in text
    assert "<ins>Paris.</ins>" in text or "<del>" in text
    assert "The model's answer" in text and "The user's version" in text
    assert "Timeline" in text and "u2" in text


def test_user_text_is_shown_escaped_never_run(admin_client, queue):
    trace = Trace.objects.get(key="bad")
    for url in (f"{ADMIN}/trace/{trace.pk}/change/", f"{ADMIN}/trace/?q=alert"):
        text = page(admin_client.get(url))
        assert '<script>alert("x")' not in text
        assert 'href="javascript:' not in text
    text = page(admin_client.get(f"{ADMIN}/trace/{trace.pk}/change/"))
    assert html.escape(XSS, quote=True).replace("&#x27;", "'")[:30] in text.replace("&#x27;", "'")


def test_the_review_form_is_prefilled_from_the_edit_and_the_suggestions(admin_client, queue):
    trace = Trace.objects.get(key="long")
    response = admin_client.get(f"{ADMIN}/trace/{trace.pk}/change/")
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert form.initial["expected_output"] == "Paris."
    assert [m.slug for m in form.initial["error_modes"]] == ["length"]


def test_an_edit_not_processed_yet_is_diffed_and_prefills_the_expected_output(admin_client, queue):
    # The page's diff and the form's prefill read the trace's events the same way: an edit the
    # pipeline has not processed yet is in both (before, the prefill followed a foreign key the
    # pipeline filled later, so the diff showed the edit and the form did not offer it).
    record_trace(queue, "fresh", input="Capital of Italy?", output="Rome is the capital city.")
    add(queue, "fresh", kind="edit", text="Rome.")
    trace = Trace.objects.get(key="fresh")
    response = admin_client.get(f"{ADMIN}/trace/{trace.pk}/change/")
    assert [d["event"].text for d in response.context["diffs"]] == ["Rome."]
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert form.initial["expected_output"] == "Rome."


def test_saving_the_review_confirms_modes_and_records_the_reviewer(admin_client, queue):
    trace = Trace.objects.get(key="long")
    review = trace.review
    length = trace.suggested_error_modes.get()
    response = admin_client.post(
        f"{ADMIN}/trace/{trace.pk}/change/",
        {
            "review-TOTAL_FORMS": "1",
            "review-INITIAL_FORMS": "1",
            "review-MIN_NUM_FORMS": "0",
            "review-MAX_NUM_FORMS": "1",
            "review-0-id": str(review.pk),
            "review-0-trace": str(trace.pk),
            "review-0-status": "reviewed",
            "review-0-error_modes": [str(length.pk)],
            "review-0-expected_output": "Paris.",
            "review-0-notes": "too long",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.status == "reviewed" and review.reviewer.username == "admin"
    assert review.reviewed_at is not None
    assert [m.slug for m in review.error_modes.all()] == ["length"]


# -- review mode -------------------------------------------------------------------------------


def staff_client(name):
    client = Client()
    client.force_login(UserFactory(username=name, is_staff=True, is_superuser=True))
    return client


def shown(response):
    return response.context["review"].trace.key if response.context["review"] else None


def test_review_mode_walks_the_queue_and_two_reviewers_never_share_a_trace(queue):
    ann, bob = staff_client("ann"), staff_client("bob")
    first = shown(ann.get(f"{ADMIN}/trace/review/"))
    second = shown(bob.get(f"{ADMIN}/trace/review/"))
    assert {first, second} == {"bad", "long"}
    # Reloading keeps one's own claim.
    assert shown(ann.get(f"{ADMIN}/trace/review/")) == first
    # Bob cannot take Ann's trace by its link either.
    review = Review.objects.get(trace__key=first)
    response = bob.get(f"{ADMIN}/trace/review/", {"review": review.pk})
    assert shown(response) == second
    assert "Another reviewer has that trace now" in page(response)


def test_confirming_in_review_mode_saves_and_moves_on(queue):
    ann = staff_client("ann")
    response = ann.get(f"{ADMIN}/trace/review/")
    text = page(response)
    assert "<kbd>1</kbd>" in text and "Keys: 1-9 toggle an error mode" in text
    review = response.context["review"]
    mode = review.trace.suggested_error_modes.first()
    done = ann.post(
        f"{ADMIN}/trace/review/",
        {
            "review": review.pk,
            "do": "confirm",
            "status": "reviewed",
            "error_modes": [mode.pk],
            "expected_output": "fixed",
            "notes": "",
        },
    )
    assert done.status_code == 302
    review.refresh_from_db()
    assert (review.status, review.expected_output, review.claimed_by) == ("reviewed", "fixed", None)
    nxt = ann.get(done["Location"])
    assert shown(nxt) not in (None, review.trace.key)
    assert nxt.context["previous_url"].endswith(f"review={review.pk}")
    assert nxt.context["remaining"] == 1


def test_dismiss_skip_and_an_empty_queue(queue):
    ann = staff_client("ann")
    first = ann.get(f"{ADMIN}/trace/review/").context["review"]
    ann.post(f"{ADMIN}/trace/review/", {"review": first.pk, "do": "skip"})
    second = ann.get(f"{ADMIN}/trace/review/").context["review"]
    assert second.pk != first.pk
    ann.post(
        f"{ADMIN}/trace/review/",
        {"review": second.pk, "do": "dismiss", "status": "reviewed", "expected_output": ""},
    )
    assert Review.objects.get(pk=second.pk).status == "dismissed"
    third = ann.get(f"{ADMIN}/trace/review/").context["review"]
    assert third.pk == first.pk  # the skipped one comes back when nothing else is left
    ann.post(
        f"{ADMIN}/trace/review/",
        {"review": third.pk, "do": "confirm", "status": "reviewed", "expected_output": ""},
    )
    assert "The queue is empty" in page(ann.get(f"{ADMIN}/trace/review/"))


def test_add_to_dataset_from_review_mode(queue):
    dataset = Dataset.objects.create(project=queue, name="Regressions")
    ann = staff_client("ann")
    review = ann.get(f"{ADMIN}/trace/review/").context["review"]
    response = ann.post(
        f"{ADMIN}/trace/review/", {"review": review.pk, "do": "dataset", "dataset": dataset.pk}
    )
    assert response["Location"].endswith(f"review={review.pk}")
    assert dataset.items.get().trace == review.trace
    message = [str(m) for m in get_messages(response.wsgi_request)]
    assert message == ["Added to “Regressions”."]


def test_an_expired_claim_frees_the_trace(queue):
    ann, bob = (UserFactory(username=n, is_staff=True, is_superuser=True) for n in ("ann", "bob"))
    got = claims.claim_next(ann)
    Review.objects.filter(pk=got.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert claims.claim_next(bob, skip=[r.pk for r in Review.objects.exclude(pk=got.pk)]) == got


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reviewers_claiming_at_the_same_moment_get_different_traces(project):
    for i in range(12):
        record_trace(project, f"t{i}", input="q", output="a")
        add(project, f"t{i}", value=-1)
    run(project)
    users = [UserFactory(username=f"r{i}", is_staff=True, is_superuser=True) for i in range(6)]
    got, barrier = {}, threading.Barrier(len(users))

    def claim(user):
        barrier.wait()
        review = claims.claim_next(user)
        got[user.username] = review.pk if review else None
        connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert None not in got.values() and len(set(got.values())) == len(users)


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


# -- dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_draws_its_charts(admin_client, queue):
    record_trace(queue, "odd", input="q", output="a", model='<img src=x onerror="alert(1)">')
    add(queue, "odd", value=-1)
    run(queue)
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/"))
    assert text.count('<svg class="fl-chart"') == 5
    assert "Hallucination (0 confirmed)" in text
    assert "<img src=x" not in text and "&lt;img src=x" in text
    assert "Satisfaction over time" in text
    other = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"project": "999", "days": "7"}))
    assert "No error modes suggested or confirmed" in other


def test_curation_pages_need_staff(client, queue):
    user = UserFactory(is_staff=False)
    client.force_login(user)
    for url in (f"{ADMIN}/trace/", f"{ADMIN}/trace/review/", f"{ADMIN}/trace/dashboard/"):
        assert client.get(url).status_code == 302  # to the login page


# -- datasets ----------------------------------------------------------------------------------


def test_a_dataset_page_exports_and_freezes(admin_client, queue):
    dataset = Dataset.objects.create(project=queue, name="Pairs", kind=DatasetKind.PREFERENCE)
    from feedback_loop.internal.datasets import add_traces

    add_traces(dataset, Trace.objects.values_list("pk", flat=True))
    text = page(admin_client.get(f"{ADMIN}/dataset/{dataset.pk}/change/"))
    assert "?format=dpo" in text and "?format=openai-preference" in text
    assert "?format=openai-chat" not in text  # does not fit a preference set
    export = admin_client.get(f"{ADMIN}/dataset/{dataset.pk}/export/", {"format": "dpo"})
    assert b'"chosen": "Paris."' in b"".join(export.streaming_content)
    assert "copy of its 1 items" in page(admin_client.get(f"{ADMIN}/dataset/{dataset.pk}/freeze/"))
    admin_client.post(f"{ADMIN}/dataset/{dataset.pk}/freeze/", {"note": "v1"})
    version = DatasetVersion.objects.get()
    assert (version.number, version.item_count, version.note) == (1, 1, "v1")
    text = page(admin_client.get(f"{ADMIN}/dataset/{dataset.pk}/change/"))
    assert "version=1" in text
    # A frozen version is read-only.
    change = admin_client.get(f"{ADMIN}/datasetversion/{version.pk}/change/")
    assert 'name="_save"' not in page(change)


def test_adding_an_item_that_is_already_in_the_dataset_is_a_form_error(admin_client, project):
    from feedback_loop.models import DatasetItem

    dataset = Dataset.objects.create(project=project, name="Set")
    DatasetItem.objects.create(dataset=dataset, input="q", expected_output="a")
    response = admin_client.post(
        f"{ADMIN}/datasetitem/add/",
        {"dataset": dataset.pk, "input": "q", "expected_output": "a", "metadata": "{}"},
    )
    assert "already has an item with this content" in page(response)
    assert dataset.items.count() == 1


def test_the_app_index_leads_to_the_queue_review_mode_and_dashboard(admin_client):
    text = page(admin_client.get("/admin/feedback_loop/"))
    for url in (f"{ADMIN}/trace/", f"{ADMIN}/trace/review/", f"{ADMIN}/trace/dashboard/"):
        assert f'href="{url}"' in text


# -- the admin's screens at common widths (issue 12, item 11): what the HTML says ----------------


SESSION = "0b9f6f8e-3c1d-4f7a-9a55-2f1e8d6c4b3a"  # 36 characters, as the widget makes them


def test_the_events_list_links_traces_and_keeps_text_and_comments_apart(admin_client, queue):
    add(queue, "bad", value=-1, comment="Made up.", session_id=SESSION, user_id="u7")
    add(queue, "bad", value=-1, reasons=["format"], comment="Broken.")
    add(queue, "unregistered", value=1)  # no trace yet: the events came first
    response = admin_client.get(f"{ADMIN}/feedbackevent/")
    text = page(response)
    names = response.context["cl"].list_display
    assert names.index("short_comment") != names.index("edited_text")
    # The edit's text is in the text column, the comment in the comment column.
    edit = response.context["cl"].result_list.get(kind="edit")
    rows = {row.pk: row for row in response.context["cl"].result_list}
    assert rows[edit.pk].text == "Paris."
    assert '<td class="field-edited_text">Paris.</td>' in text
    assert '<td class="field-short_comment">Made up.</td>' in text
    assert '<span class="fl-reasons">format</span> Broken.' in text
    assert "TEXT (EDITED, COPIED)" in text.upper()
    # A trace id links to the trace's page; one not registered yet is plain text.
    bad = Trace.objects.get(key="bad")
    assert f'<a class="fl-id" href="{ADMIN}/trace/{bad.pk}/change/" title="bad">bad</a>' in text
    assert '<span class="fl-id" title="unregistered">unregistered</span>' in text
    # A session id whole in its title, cut short on screen by the fl-id class, under the user.
    assert (
        '<span class="fl-id" title="u7">u7</span><span class="fl-quiet">'
        f'<span class="fl-id" title="{SESSION}">{SESSION}</span></span>'
    ) in text


def test_the_events_list_filters_processed_events_in_words(admin_client, queue):
    add(queue, "bad", value=1)  # not processed yet
    text = page(admin_client.get(f"{ADMIN}/feedbackevent/"))
    assert "By processing" in text and ">Processed</a>" in text and ">Not processed</a>" in text
    assert "Not empty" not in text
    waiting = admin_client.get(f"{ADMIN}/feedbackevent/", {"processed": "no"})
    assert [e.processed_at for e in waiting.context["cl"].result_list] == [None]
    done = admin_client.get(f"{ADMIN}/feedbackevent/", {"processed": "yes"})
    assert len(done.context["cl"].result_list) == 3
    assert all(e.processed_at for e in done.context["cl"].result_list)


def test_the_trace_page_writes_dates_one_way_and_presets_the_saved_status(admin_client, queue):
    trace = Trace.objects.get(key="long")
    text = page(admin_client.get(f"{ADMIN}/trace/{trace.pk}/change/"))
    # Every date in DATETIME_FORMAT ("Dec. 6, 2026, 10:15 a.m."), none as 12/06/2026.
    event = trace.events.get()
    when = date_format(timezone.localtime(event.timestamp), "DATETIME_FORMAT")
    assert f'<td class="nowrap">{when}</td>' in text
    assert date_format(timezone.localtime(event.timestamp), "SHORT_DATE_FORMAT") not in text
    # The heading says "pending", and so does the status the form will save.
    assert '<span class="inline_label">pending: long' in text
    assert '<option value="pending" selected>' in text
    assert '<option value="reviewed" selected>' not in text


def test_review_mode_goes_back_to_a_skipped_trace_and_says_what_it_saved(queue):
    ann = staff_client("ann")
    first = ann.get(f"{ADMIN}/trace/review/").context["review"]
    ann.post(f"{ADMIN}/trace/review/", {"review": first.pk, "do": "skip"})
    second = ann.get(f"{ADMIN}/trace/review/")
    # "k" (Previous) goes back to the trace just skipped.
    assert second.context["previous_url"].endswith(f"review={first.pk}")
    back = ann.get(second.context["previous_url"])
    assert back.context["review"].pk == first.pk

    # Confirming says so, with the error modes.
    review = back.context["review"]
    mode = review.trace.suggested_error_modes.first()
    done = ann.post(
        f"{ADMIN}/trace/review/",
        {"review": review.pk, "do": "confirm", "status": "reviewed", "error_modes": [mode.pk]},
    )
    said = [str(m) for m in get_messages(done.wsgi_request)]
    assert said == [f"Confirmed trace {review.trace.key} as reviewed, with {mode.name}."]


def test_dismissing_unticks_the_error_modes(queue, admin_client):
    ann = staff_client("ann")
    review = ann.get(f"{ADMIN}/trace/review/").context["review"]
    modes = list(review.trace.suggested_error_modes.values_list("pk", flat=True))
    assert modes  # ticked for the reviewer
    done = ann.post(
        f"{ADMIN}/trace/review/",
        {"review": review.pk, "do": "dismiss", "status": "reviewed", "error_modes": modes},
    )
    review.refresh_from_db()
    assert review.status == "dismissed" and not review.error_modes.exists()
    said = [str(m) for m in get_messages(done.wsgi_request)]
    assert said == [f"Dismissed trace {review.trace.key}."]


def test_the_queue_search_box_has_a_visible_label(admin_client, queue):
    text = page(admin_client.get(f"{ADMIN}/trace/"))
    assert (
        '<label for="searchbar">Searches trace ids, inputs, outputs and users\' comments.</label>'
        in text
    )
    assert 'aria-describedby="searchbar_helptext"' not in text
