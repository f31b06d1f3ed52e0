"""The events list: what the HTML says at common widths."""

import pytest

from feedback_loop.models import CurrentVote, FeedbackEvent, Trace
from tests.curation import ADMIN, add, page, run

pytestmark = pytest.mark.django_db

# -- the events list ---------------------------------------------------------------------------


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


@pytest.mark.parametrize("how", ["one", "selected"])
def test_deleting_events_rebuilds_their_traces(admin_client, project, how):
    keep = add(project, "t", value=1, voter="u:ann")
    gone = add(project, "t", value=1, voter="u:bob")
    run(project)
    assert Trace.objects.get(key="t").thumbs_up == 2

    if how == "one":
        admin_client.post(f"{ADMIN}/feedbackevent/{gone.pk}/delete/", {"post": "yes"})
    else:
        admin_client.post(
            f"{ADMIN}/feedbackevent/",
            {"action": "delete_selected", "_selected_action": [gone.pk], "post": "yes"},
        )

    assert list(FeedbackEvent.objects.values_list("pk", flat=True)) == [keep.pk]
    trace = Trace.objects.get(key="t")
    assert (trace.thumbs_up, trace.sentiment) == (1, "positive")
    assert list(CurrentVote.objects.values_list("voter", flat=True)) == ["u:ann"]
