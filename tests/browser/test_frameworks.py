"""The widget in the chat frontends people build (issue 14): each test runs a fixture that
behaves like one class of host (tests/templates/widget_tests/, served by tests/urls.py) and
checks what reached the database. Each of them fails on the widget of commit bc76b35 (run them
with FEEDBACK_LOOP_TEST_WIDGET, see conftest.py)."""

import re

import pytest
from playwright.sync_api import expect

from feedback_loop.models import Trace
from tests.browser.helpers import OUTBOX, rows, summary, toolbar, wait_sent, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


# -- 1. web components whose shadow roots appear after the widget started --------------------------


def test_answers_in_shadow_roots_attached_after_the_widget_started(page):
    page.goto("/_test/page/component_later/?ids=lazy,upgraded")
    for trace_id in ("lazy", "upgraded"):
        expect(toolbar(page, trace_id)).to_have_count(1)
    toolbar(page, "lazy").get_by_role("button", name="Good answer").click()
    toolbar(page, "upgraded").get_by_role("button", name="Bad answer").click()
    page.keyboard.press("Escape")
    wait_sent(page, 2)
    assert sorted(summary(e) for e in rows()) == [
        ("lazy", "thumbs", 1.0, [], ""),
        ("upgraded", "thumbs", -1.0, [], ""),
    ]


# -- 2. a streamed answer whose token comes with its last chunk ------------------------------------


def ask_chat(page, question: str):
    page.get_by_role("textbox", name="Question").fill(question)
    page.get_by_role("button", name="Send").click()


@pytest.mark.parametrize("tag", ["rendered", "hand"])
def test_a_vote_while_the_answer_streams_waits_for_its_token(page, tag):
    page.goto("/_test/page/chat/?later=streamed" + ("&tag=hand" if tag == "hand" else ""))
    page.evaluate("chat.hold = true")
    ask_chat(page, "Why is the sky blue?")
    bar = toolbar(page, "streamed")
    bar.get_by_role("button", name="Bad answer").click()
    dialog = bar.get_by_role("dialog", name="What went wrong?")
    expect(dialog).to_be_visible()
    bar.evaluate("host => { host.dataset.mark = 'drawn before the token' }")
    page.wait_for_timeout(1_000)  # the first vote has been sent (and, by hand, refused) by now
    assert rows() == []

    page.evaluate("chat.finish()")
    answer = page.locator('[data-feedback-trace="streamed"]')
    expect(answer).to_have_attribute("data-feedback-token", re.compile(r"."))
    # The same toolbar: not torn down and drawn again when the token came.
    expect(bar).to_have_attribute("data-mark", "drawn before the token")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Too long").click()
    dialog.get_by_role("button", name="Send").click()
    expect(bar.get_by_role("status")).to_have_text("Thanks!")
    wait_sent(page, 2)
    assert [summary(e) for e in rows()] == [
        ("streamed", "thumbs", -1.0, [], ""),
        ("streamed", "thumbs", -1.0, ["length"], ""),
    ]
    assert page.evaluate("window.__fl.rejected") == []


# -- 3. a regenerated answer nobody touches --------------------------------------------------------

REGENERATE = """([id, from, later]) => {
  const template = document.querySelector(`template[data-later="${id}"]`);
  const item = document.importNode(template.content, true);
  const answer = item.querySelector("[data-feedback-trace]");
  if (!later) answer.dataset.feedbackRegeneratedFrom = from;
  document.getElementById("log").append(item);
  if (later) setTimeout(() => { answer.dataset.feedbackRegeneratedFrom = from; }, 300);
}"""


def test_a_regenerated_answer_is_linked_as_it_appears(page):
    page.goto("/_test/answers/?ids=first&later=second,third")
    # The proof the server asks for: the same voter sent an event on the answer it replaced.
    toolbar(page, "first").get_by_role("button", name="Bad answer").click()
    page.keyboard.press("Escape")
    page.evaluate(REGENERATE, ["second", "first", False])  # rendered with the attribute
    page.evaluate(REGENERATE, ["third", "second", True])  # the attribute set after it appeared
    wait_until(page, lambda: len(rows(kind="custom")) == 2, "the two links")
    links = {e.trace_key: (e.name, e.metadata) for e in rows(kind="custom")}
    assert links == {
        "second": ("regenerated", {"regenerated_from": "first"}),
        "third": ("regenerated", {"regenerated_from": "second"}),
    }
    # Processed (eagerly, right after each request's commit), the links hold: the server asks
    # for an event of the same token-bound voter on the old answer (the vote on "first", the
    # link on "second").
    wait_until(page, lambda: not rows(processed_at=None), "the events to be processed")
    assert Trace.objects.get(key="second").regenerated_from.key == "first"
    assert Trace.objects.get(key="third").regenerated_from.key == "second"


# -- 4. abandonment goes to the newest answer: virtual lists, single-page apps ---------------------


def test_history_rows_a_virtual_list_mounts_are_not_abandoned(page):
    ids = [f"v{i:02}" for i in range(40)]
    page.goto(f"/_test/page/virtual/?ids={','.join(ids)}")
    expect(toolbar(page, "v39")).to_have_count(1)
    # Scroll up through the history: rows mount above as the bottom ones unmount.
    for _ in range(12):
        page.locator("#list").evaluate("list => { list.scrollTop -= 300; }")
        page.wait_for_timeout(50)
    expect(page.locator('[data-feedback-trace="v00"]')).to_have_count(1)
    expect(page.locator('[data-feedback-trace="v39"]')).to_have_count(0)

    page.get_by_role("link", name="Leave").click()
    expect(page).to_have_title("Elsewhere")
    [abandon] = wait_until(page, lambda: rows(kind="abandon"), "the abandon event")
    assert abandon.trace_key == "v39"  # the newest answer, not a history row seen later


def test_leaving_a_single_page_chat_right_after_asking_is_abandonment(page):
    page.goto("/_test/page/chat/?ids=earlier&later=spa")
    ask_chat(page, "Where is Perth?")
    expect(page.locator('[data-feedback-trace="spa"]')).to_have_attribute(
        "data-feedback-token", re.compile(r".")
    )
    # The form's submit was handled by the page (no navigation), so this is leaving the answer.
    page.get_by_role("link", name="Leave").click()
    expect(page).to_have_title("Elsewhere")
    [abandon] = wait_until(page, lambda: rows(kind="abandon"), "the abandon event")
    assert abandon.trace_key == "spa"
    assert 0 <= abandon.metadata["after_ms"] < 60_000


# -- 5. edits: the source, only what the user typed, not while streaming ---------------------------


def test_edits_send_the_source_and_only_what_the_user_typed(page):
    page.goto("/_test/page/markdown/?ids=md1,md2")
    first = page.locator('[data-feedback-trace="md1"]')
    content = first.locator("[data-feedback-content]")
    expect(content.locator("strong")).to_have_count(1)

    # Editing shows the Markdown source, and the edit is sent as such.
    first.get_by_role("button", name="Edit").click()
    expect(content).to_have_attribute("contenteditable", "true")
    expect(content).to_have_text(re.compile(r"^\*\*Answer md1: .*\*\*\s+- first point$"))
    page.keyboard.press("Control+A")
    page.keyboard.type("**Canberra** is the capital of Australia.")
    page.locator("h1").click()
    expect(content.locator("strong")).to_have_text(
        "Answer md1: the capital of Australia is Canberra."
    )

    # A re-render while editing, and no typing: no edit.
    second = page.locator('[data-feedback-trace="md2"]')
    second.get_by_role("button", name="Edit").click()
    expect(second.locator("[data-feedback-content]")).to_have_attribute("contenteditable", "true")
    page.evaluate("rerender()")
    page.locator("h1").click()

    # An answer still streaming cannot be edited.
    page.get_by_role("button", name="Stream one more").click()
    streaming = page.locator('[data-feedback-trace="streaming"]')
    page.wait_for_timeout(300)
    streaming.get_by_role("button", name="Edit").click()
    expect(streaming.locator("[data-feedback-content]")).not_to_have_attribute(
        "contenteditable", "true"
    )

    wait_sent(page, 1)
    page.wait_for_timeout(1_000)  # anything else would have been sent by now
    [edit] = rows()
    assert (edit.trace_key, edit.kind) == ("md1", "edit")
    assert edit.text == "**Canberra** is the capital of Australia."
    assert edit.metadata == {"text_format": "source"}


# -- 6. the answer as shown, for traces the host never registered ----------------------------------


def test_an_unregistered_trace_gets_its_output_from_the_widget(page):
    page.goto("/_test/answers/?unregistered=sunny")
    bar = toolbar(page, "sunny")
    bar.get_by_role("button", name="Good answer").click()
    expect(bar.get_by_role("status")).to_have_text("Thanks!")
    bar.get_by_role("button", name="Good answer").click()  # retract: a second event
    wait_sent(page, 2)
    shown = "Unregistered answer sunny: it is sunny in Perth."
    assert [e.output for e in rows()] == [shown, ""]  # once per trace
    wait_until(page, lambda: Trace.objects.filter(key="sunny").exists(), "the trace")
    trace = Trace.objects.get(key="sunny")
    assert (trace.output, trace.registered) == (shown, False)


# -- 7. copy buttons -------------------------------------------------------------------------------


def test_copy_buttons_record_what_they_copy(page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/_test/page/copy/?ids=cp")
    answer = page.locator('[data-feedback-trace="cp"]')
    source = answer.get_attribute("data-feedback-source")
    answer.get_by_role("button", name="Copy", exact=True).click()
    answer.get_by_role("button", name="Copy code").click()
    wait_sent(page, 2)
    copies = [(e.metadata["length"], e.metadata["share"]) for e in rows(kind="copy")]
    # The marked button: the Markdown source as shown (not the rendered text's length); the
    # page's own FeedbackLoop.copy(id, text): the share of the answer that text is.
    assert copies == [
        (len(source), 1),
        (len("print(42)"), pytest.approx(len("print(42)") / len(source), abs=0.001)),
    ]


# -- 8. what the user pressed, after a reload ------------------------------------------------------


def test_votes_and_ratings_show_again_after_a_reload(page):
    page.goto("/_test/answers/?ids=liked,rated&signals=thumbs,rating")
    toolbar(page, "liked").get_by_role("button", name="Good answer").click()
    toolbar(page, "rated").get_by_role("button", name="Rate 4 of 5").click()
    wait_sent(page, 2)

    page.reload()
    good = toolbar(page, "liked").get_by_role("button", name="Good answer")
    expect(good).to_have_attribute("aria-pressed", "true")
    for n in range(1, 6):
        star = toolbar(page, "rated").get_by_role("button", name=f"Rate {n} of 5")
        expect(star).to_have_attribute("aria-pressed", "true" if n <= 4 else "false")
    good.click()  # pressed again: retracted
    expect(good).to_have_attribute("aria-pressed", "false")
    wait_sent(page, 1)
    assert [(e.trace_key, e.kind, e.value) for e in rows()] == [
        ("liked", "thumbs", 1.0),
        ("rated", "rating", 4.0),
        ("liked", "thumbs", 0.0),
    ]


# -- 9. a page the server refuses ------------------------------------------------------------------


def posts(page) -> list:
    """The capture POSTs the page makes (fetch), as they go."""
    seen = []
    page.on("request", lambda r: seen.append(r) if r.method == "POST" and "events" in r.url else 0)
    return seen


def warnings(page) -> list[str]:
    seen = []
    page.on("console", lambda m: seen.append(m.text) if m.type == "warning" else 0)
    return seen


def test_a_page_from_an_origin_the_project_does_not_allow_stops_and_says_why(
    page, demo_project, browser_errors
):
    # Another origin: the refusal comes without CORS headers, so the page sees a network error.
    browser_errors.allow(r"FeedbackLoop error: refused")
    browser_errors.allow(r"blocked by CORS policy|Failed to load resource")
    demo_project.allowed_origins = "https://chat.example.com"
    demo_project.save()
    sent, warned = posts(page), warnings(page)
    page.goto("/_test/answers/?ids=far&tag=hand&endpoint=cross")
    toolbar(page, "far").get_by_role("button", name="Good answer").click()
    page.wait_for_function("window.__fl.queued.length === 1")
    page.wait_for_timeout(5_000)  # long enough for three retries of the old backoff
    assert len(sent) == 1
    assert len(warned) == 1
    assert "allow " + page.evaluate("location.origin") in warned[0]
    assert page.evaluate(OUTBOX) == page.evaluate("window.__fl.queued.map((e) => e.event_id)")
    assert rows() == []


def test_an_unknown_key_stops_the_page_and_keeps_its_events(page, browser_errors):
    browser_errors.allow(r"FeedbackLoop error: invalid_key")
    browser_errors.allow(r"status of 401")
    sent, warned = posts(page), warnings(page)
    page.goto("/_test/answers/?ids=lost&tag=hand&key=pk_unknown")
    toolbar(page, "lost").get_by_role("button", name="Good answer").click()
    page.wait_for_function("window.__fl.queued.length === 1")
    page.wait_for_timeout(3_000)
    assert len(sent) == 1
    assert len(warned) == 1 and "data-key pk_unknown" in warned[0]
    assert len(page.evaluate(OUTBOX)) == 1  # kept, for a page that may send it
    assert page.evaluate("window.__fl.rejected") == []


# -- 10. placement: a scrolling log, a flex row, the stars, "Thanks!" ------------------------------


def test_the_toolbar_and_popover_find_their_place_in_a_chat_layout(page):
    page.goto("/_test/page/scroll/?ids=p1,p2,p3,p4,p5&signals=thumbs,reasons,comment,rating")
    bubble = page.locator('[data-feedback-trace="p5"]')
    bar = bubble.locator("[data-feedback-toolbar-slot] > [data-feedback-toolbar]")
    expect(bar).to_have_count(1)  # in the bubble, not beside it in the row
    expect(bar.get_by_role("group", name="Rating")).to_contain_text("Rating")

    bar.get_by_role("button", name="Bad answer").click()
    dialog = bar.get_by_role("dialog", name="What went wrong?")
    expect(dialog).to_be_visible()
    log = page.locator("#log").bounding_box()
    box = dialog.bounding_box()
    # At the bottom of the scrolling log it opens upward, whole, and leaves the input free.
    assert log["y"] <= box["y"] and box["y"] + box["height"] <= log["y"] + log["height"]
    assert box["y"] + box["height"] <= bar.bounding_box()["y"] + 1

    # The vote is accepted meanwhile; "Thanks!" waits until the popover is done with.
    page.wait_for_function("window.__fl.sent.length === 1")
    status = bar.get_by_role("status")
    expect(status).to_have_text("")
    page.keyboard.press("Escape")
    expect(status).to_have_text("Thanks!")


@pytest.mark.parametrize(
    ("fixture", "width", "height", "trace_id"),
    [
        ("scroll", 320, 640, "p5"),  # at the bottom of a scrolling log, beside an avatar
        ("narrow", 360, 640, "n1"),  # at the right end of a right-aligned bubble
        ("answers", 340, 240, "a3"),  # mid-screen in a short window: room neither below nor above
    ],
)
def test_the_popover_stays_inside_a_narrow_viewport(page, fixture, width, height, trace_id):
    page.set_viewport_size({"width": width, "height": height})
    ids = ",".join(trace_id[0] + str(n) for n in range(1, 6))
    page.goto(f"/_test/page/{fixture}/?ids={ids}")
    answer = page.locator(f'[data-feedback-trace="{trace_id}"]')
    answer.evaluate("el => el.scrollIntoView({block: 'center'})")
    # In the answer's slot, or right after it.
    bar = page.locator(
        f'[data-feedback-trace="{trace_id}"] [data-feedback-toolbar],'
        f' [data-feedback-trace="{trace_id}"] + [data-feedback-toolbar]'
    )
    bar.get_by_role("button", name="Bad answer").click()
    dialog = bar.get_by_role("dialog", name="What went wrong?")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box["height"] < height, box  # it can fit
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, box
    # Whole and usable where it is: a reason is chosen and sent.
    dialog.get_by_role("button", name="Wrong format").click()
    dialog.get_by_role("button", name="Send").click()
    expect(bar.get_by_role("status")).to_have_text("Thanks!")
    wait_sent(page, 2)
    assert [summary(e) for e in rows()] == [
        (trace_id, "thumbs", -1.0, [], ""),
        (trace_id, "thumbs", -1.0, ["format"], ""),
    ]
