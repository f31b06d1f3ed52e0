"""A trace's page: the conversation, the edit diff, the timeline and the review form."""

import html

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from feedback_loop import record_trace
from feedback_loop.models import (
    Trace,
)
from tests.curation import ADMIN, XSS, add, page

pytestmark = pytest.mark.django_db

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
