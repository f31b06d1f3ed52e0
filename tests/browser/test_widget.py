"""The widget in a real browser, on the demo chat page and on test-only pages (tests/urls.py).

Every test checks what reached the database (the FeedbackEvent rows), not only what the page shows.
"""

import pytest
from django.db import DatabaseError
from playwright.sync_api import expect

from feedback_loop.internal import capture
from feedback_loop.models import ErrorMode, Project, Trace
from tests.browser.helpers import (
    APPEND_LATER,
    EVENTS,
    FAILED_LOAD,
    OUTBOX,
    rows,
    summary,
    toolbar,
    wait_sent,
    wait_until,
)
from tests.urls import STRICT_CSP

pytestmark = pytest.mark.django_db(transaction=True)

# The element that has focus, looking into open shadow roots (the toolbar lives in one).
FOCUSED = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  return el && { tag: el.tagName, action: el.dataset.a || null, reason: el.dataset.r || null,
                 part: el.getAttribute("part"), inPopover: !!el.closest("[role=dialog]") };
}"""
SELECT_PART = """([id, start, end]) => {
  const content = document.querySelector(`[data-feedback-trace="${id}"] [data-feedback-content]`);
  const range = document.createRange();
  range.setStart(content.firstChild, start);
  range.setEnd(content.firstChild, end);
  getSelection().removeAllRanges();
  getSelection().addRange(range);
  return [getSelection().toString(), content.innerText];
}"""


# -- helpers -------------------------------------------------------------------------------------


def ask(page, question: str) -> str:
    """Ask the demo chat a question; returns the trace id of the answer, once it has a toolbar."""
    page.get_by_placeholder("Ask the stand-in model…").fill(question)
    page.locator("form.ask").get_by_role("button", name="Send").click()
    turn = page.locator(".turn").filter(has=page.locator(".question", has_text=question))
    trace_id = turn.locator("[data-feedback-trace]").get_attribute("data-feedback-trace")
    assert trace_id == Trace.objects.get(input=question).key
    expect(toolbar(page, trace_id).get_by_role("button", name="Good answer")).to_be_visible()
    return trace_id


# -- the demo chat -------------------------------------------------------------------------------


def test_thumbs_down_with_reasons_and_comment_on_the_demo_chat(page):
    page.goto("/")
    ask(page, "What is the capital of Australia?")
    second = ask(page, "Give me JSON")
    bar = toolbar(page, second)
    status = bar.get_by_role("status")

    # Hold the votes on their way: the toolbar must not thank before the server has answered.
    held, released = [], []

    def hold(route):
        kinds = {event["kind"] for event in route.request.post_data_json["events"]}
        if released or "thumbs" not in kinds:
            route.continue_()
        else:
            held.append(route)

    page.route(EVENTS, hold)
    bad = bar.get_by_role("button", name="Bad answer")
    bad.click()
    expect(bad).to_have_attribute("aria-pressed", "true")
    expect(bar.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "false")
    dialog = bar.get_by_role("dialog", name="What went wrong?")
    expect(dialog).to_be_visible()
    wait_until(page, lambda: held, "the vote to be sent")
    dialog.get_by_role("button", name="Made things up").click()
    dialog.get_by_role("button", name="Refused").click()
    expect(dialog.get_by_role("button", name="Made things up")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(dialog.get_by_role("button", name="Wrong format")).to_have_attribute(
        "aria-pressed", "false"
    )
    dialog.get_by_role("textbox", name="Tell us more (optional)").fill(
        "It cited a paper that does not exist."
    )
    dialog.get_by_role("button", name="Send").click()
    expect(dialog).to_be_hidden()
    assert status.text_content() == ""
    assert rows(kind="thumbs") == []

    released.append(True)
    for route in held:
        route.continue_()
    expect(status).to_have_text("Thanks!")
    # "Thanks!" means the server accepted, which it does only once the rows are stored.
    thumbs = rows(kind="thumbs")
    assert [summary(e) for e in thumbs] == [
        (second, "thumbs", -1.0, [], ""),
        (
            second,
            "thumbs",
            -1.0,
            ["hallucination", "refusal"],
            "It cited a paper that does not exist.",
        ),
    ]
    assert all(e.metadata == {} and e.text == "" and e.session_id for e in thumbs)


def test_a_rejected_vote_says_not_sent(page, browser_errors):
    browser_errors.allow("FeedbackLoop error: invalid_token")
    page.goto("/_test/answers/?forged=tampered")
    bar = toolbar(page, "tampered")
    bar.get_by_role("button", name="Good answer").click()
    expect(bar.get_by_role("status")).to_have_text("Not sent")
    assert page.evaluate("window.__fl.rejected.map((r) => r.error.code)") == ["invalid_token"]
    assert rows() == []


def test_rating_on_the_demo_chat(page):
    page.goto("/")
    trace_id = ask(page, "Write a poem")
    bar = toolbar(page, trace_id)
    stars = [bar.get_by_role("button", name=f"Rate {n} of 5") for n in range(1, 6)]

    stars[3].click()
    for n, star in enumerate(stars, 1):
        expect(star).to_have_attribute("aria-pressed", "true" if n <= 4 else "false")
    expect(bar.get_by_role("status")).to_have_text("Thanks!")
    assert [(e.trace_key, e.kind, e.value) for e in rows()] == [(trace_id, "rating", 4.0)]

    stars[1].click()
    for n, star in enumerate(stars, 1):
        expect(star).to_have_attribute("aria-pressed", "true" if n <= 2 else "false")
    wait_sent(page, 2)
    assert [(e.trace_key, e.kind, e.value) for e in rows()] == [
        (trace_id, "rating", 4.0),
        (trace_id, "rating", 2.0),
    ]


def test_edit_on_the_demo_chat_sends_the_new_version(page):
    page.goto("/")
    trace_id = ask(page, "What is the capital of Australia?")
    answer = page.locator(f'[data-feedback-trace="{trace_id}"]')
    content = answer.locator("[data-feedback-content]")
    expect(content).to_have_text("The capital of Australia is Canberra.")

    answer.get_by_role("button", name="Edit").click()
    expect(content).to_have_attribute("contenteditable", "true")
    expect(content).to_be_focused()
    # The demo says how to finish: Save, where Edit was.
    expect(answer.get_by_role("button", name="Edit")).to_be_hidden()
    page.keyboard.press("Control+A")
    page.keyboard.type("Canberra, not Sydney, is the capital of Australia.")
    answer.get_by_role("button", name="Save").click()
    expect(content).not_to_have_attribute("contenteditable", "true")
    expect(answer.get_by_role("button", name="Save")).to_be_hidden()
    expect(answer.get_by_role("button", name="Edit")).to_be_visible()

    wait_sent(page, 1)
    [edit] = rows()
    assert (edit.trace_key, edit.kind) == (trace_id, "edit")
    assert edit.text == "Canberra, not Sydney, is the capital of Australia."


def test_regenerate_on_the_demo_chat(page):
    page.goto("/")
    old = ask(page, "Tell me about quantum computing")
    answers = page.locator(".answer")
    page.locator(f'[data-feedback-trace="{old}"]').get_by_role("button", name="Regenerate").click()
    expect(answers).to_have_count(2)
    new = answers.nth(1).get_attribute("data-feedback-trace")
    assert new != old
    expect(answers.nth(1)).to_have_attribute("data-feedback-regenerated-from", old)
    assert Trace.objects.get(key=new).regenerated_from.key == old

    # The regenerate left with the page (fetch or beacon); the next page re-sends its outbox.
    wait_until(page, lambda: rows(kind="regenerate"), "the regenerate event")
    toolbar(page, new).get_by_role("button", name="Good answer").click()
    expect(toolbar(page, new).get_by_role("status")).to_have_text("Thanks!")

    [regenerate] = rows(kind="regenerate")
    assert regenerate.trace_key == old
    [thumbs] = rows(kind="thumbs")
    assert (thumbs.trace_key, thumbs.value) == (new, 1.0)
    assert thumbs.metadata == {"regenerated_from": old}
    assert not rows(kind="abandon", trace_key=old)  # regenerating is a signal


def test_copying_part_of_an_answer(page):
    page.goto("/")
    trace_id = ask(page, "What is the capital of Australia?")
    selected, whole = page.evaluate(SELECT_PART, [trace_id, 4, 24])
    assert selected == "capital of Australia"
    page.keyboard.press("Control+C")

    wait_sent(page, 1)
    [copy] = rows()
    assert (copy.trace_key, copy.kind) == (trace_id, "copy")
    assert copy.text == ""  # the copied text itself is only sent when the page opts in
    assert copy.metadata["length"] == len(selected) == 20
    assert 0 < copy.metadata["share"] < 1
    assert copy.metadata["share"] == pytest.approx(len(selected) / len(whole), abs=0.001)


def test_leaving_the_demo_chat_right_after_an_answer_is_abandonment(page):
    page.goto("/")
    trace_id = ask(page, "Write a poem")
    page.goto("/_test/left/")
    [abandon] = wait_until(page, lambda: rows(kind="abandon"), "the abandon event")
    assert abandon.trace_key == trace_id
    assert 0 <= abandon.metadata["after_ms"] < 60_000


# -- test pages ----------------------------------------------------------------------------------


def test_abandon_only_for_the_answer_left_without_a_signal(page):
    page.goto("/_test/answers/?ids=older,voted&later=appended")
    page.evaluate(APPEND_LATER, "appended")
    expect(toolbar(page, "appended")).to_have_count(1)
    toolbar(page, "voted").get_by_role("button", name="Good answer").click()
    wait_sent(page, 1)

    page.get_by_role("link", name="Leave").click()
    expect(page).to_have_title("Elsewhere")
    wait_until(page, lambda: rows(kind="abandon"), "the abandon event")
    # The abandon events left in one beacon: those that are not stored now never will be.
    [abandon] = rows(kind="abandon")
    assert abandon.trace_key == "appended"
    assert 0 <= abandon.metadata["after_ms"] < 60_000
    assert [summary(e) for e in rows(kind="thumbs")] == [("voted", "thumbs", 1.0, [], "")]


def test_answer_added_after_load_gets_a_toolbar(page):
    page.goto("/_test/answers/?ids=first&later=streamed")
    expect(page.locator("[data-feedback-toolbar]")).to_have_count(1)
    page.evaluate(APPEND_LATER, "streamed")
    bar = toolbar(page, "streamed")
    expect(bar).to_have_count(1)
    expect(page.locator("[data-feedback-toolbar]")).to_have_count(2)

    bar.get_by_role("button", name="Good answer").click()
    expect(bar.get_by_role("status")).to_have_text("Thanks!")
    assert [summary(e) for e in rows()] == [("streamed", "thumbs", 1.0, [], "")]


def test_answers_inside_open_shadow_roots_get_toolbars(page):
    page.goto("/_test/shadow/?ids=in-shadow&later=shadow-later")
    page.evaluate(APPEND_LATER, "shadow-later")
    for trace_id in ("in-shadow", "shadow-later"):
        # The toolbar sits next to the answer inside the component's shadow root.
        in_component = page.locator(f'answer-card[trace-id="{trace_id}"]')
        expect(in_component.locator("[data-feedback-toolbar]")).to_have_count(1)
    toolbar(page, "in-shadow").get_by_role("button", name="Good answer").click()
    toolbar(page, "shadow-later").get_by_role("button", name="Bad answer").click()
    dialog = toolbar(page, "shadow-later").get_by_role("dialog")
    dialog.get_by_role("button", name="Too long").click()
    dialog.get_by_role("button", name="Send").click()

    expect(toolbar(page, "shadow-later").get_by_role("status")).to_have_text("Thanks!")
    expect(toolbar(page, "in-shadow").get_by_role("status")).to_have_text("Thanks!")
    assert sorted(summary(e) for e in rows()) == [
        ("in-shadow", "thumbs", 1.0, [], ""),
        ("shadow-later", "thumbs", -1.0, [], ""),
        ("shadow-later", "thumbs", -1.0, ["length"], ""),
    ]


def test_votes_during_an_outage_arrive_once_when_the_endpoint_is_back(page, browser_errors):
    browser_errors.allow(FAILED_LOAD)
    page.goto("/_test/answers/?ids=a,b,c")
    failed = []

    def down(route):
        # First the endpoint answers 503 with Retry-After, then the network fails outright.
        failed.append(route.request.post_data_json)
        if len(failed) == 1:
            route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Content-Type": "application/json"},
                body='{"error": {"code": "unavailable", "message": "Down for maintenance."}}',
            )
        else:
            route.abort("failed")

    page.route(EVENTS, down)
    toolbar(page, "a").get_by_role("button", name="Good answer").click()
    toolbar(page, "b").get_by_role("button", name="Bad answer").click()
    page.keyboard.press("Escape")  # no reasons
    toolbar(page, "c").get_by_role("button", name="Good answer").click()
    wait_until(page, lambda: len(failed) >= 2, "two failed sends")
    assert rows() == []
    for trace_id in "abc":
        assert toolbar(page, trace_id).get_by_role("status").text_content() == ""
    queued = page.evaluate("window.__fl.queued.map((e) => e.event_id)")
    assert len(queued) == 3
    assert sorted(page.evaluate(OUTBOX)) == sorted(queued)  # kept in localStorage meanwhile

    page.unroute(EVENTS)
    for trace_id in "abc":
        expect(toolbar(page, trace_id).get_by_role("status")).to_have_text(
            "Thanks!", timeout=10_000
        )
    stored = rows()
    assert sorted(str(e.event_id) for e in stored) == sorted(queued)  # each exactly once
    assert sorted(summary(e) for e in stored) == [
        ("a", "thumbs", 1.0, [], ""),
        ("b", "thumbs", -1.0, [], ""),
        ("c", "thumbs", 1.0, [], ""),
    ]
    assert page.evaluate(OUTBOX) == []
    # Every failed try carried the same events again, never new copies of them.
    assert {e["event_id"] for body in failed for e in body["events"]} <= set(queued)


@pytest.fixture
def endpoint_down(monkeypatch, settings):
    """The capture endpoint's storage fails: it answers 503 (Retry-After: 1), to fetch and to
    sendBeacon alike (a beacon sent while a page unloads escapes Playwright's routes)."""
    settings.FEEDBACK_LOOP = {**settings.FEEDBACK_LOOP, "RETRY_AFTER_SECONDS": 1}
    insert = capture.insert_events

    class Outage:
        down = True
        refused = 0

        @classmethod
        def insert_events(cls, *args, **kwargs):
            if cls.down:
                cls.refused += 1
                raise DatabaseError("test: storage is down")
            return insert(*args, **kwargs)

    monkeypatch.setattr(capture, "insert_events", Outage.insert_events)
    return Outage


def test_events_queued_before_a_reload_are_sent_after_it(page, browser_errors, endpoint_down):
    browser_errors.allow(FAILED_LOAD)
    page.goto("/_test/answers/?ids=a,b")
    toolbar(page, "a").get_by_role("button", name="Good answer").click()
    toolbar(page, "b").get_by_role("button", name="Bad answer").click()
    dialog = toolbar(page, "b").get_by_role("dialog")
    dialog.get_by_role("button", name="Wrong format").click()
    dialog.get_by_role("button", name="Send").click()
    wait_until(page, lambda: endpoint_down.refused >= 1, "a refused send")
    queued = page.evaluate("window.__fl.queued.map((e) => e.event_id)")
    assert len(queued) == 3
    assert sorted(page.evaluate(OUTBOX)) == sorted(queued)

    page.reload()
    expect(toolbar(page, "a")).to_have_count(1)
    refused = endpoint_down.refused
    wait_until(page, lambda: endpoint_down.refused > refused, "the reloaded page to send")
    assert rows() == []

    endpoint_down.down = False
    wait_until(page, lambda: len(rows()) >= 3, "the events queued before the reload")
    wait_until(page, lambda: page.evaluate(OUTBOX) == [], "the outbox to empty")
    stored = rows()
    assert sorted(str(e.event_id) for e in stored) == sorted(queued)  # each exactly once
    assert sorted(summary(e) for e in stored) == [
        ("a", "thumbs", 1.0, [], ""),
        ("b", "thumbs", -1.0, [], ""),
        ("b", "thumbs", -1.0, ["format"], ""),
    ]


def test_strict_content_security_policy(page):
    response = page.goto("/_test/csp/?ids=strict")
    assert response.headers["content-security-policy"] == STRICT_CSP
    bar = toolbar(page, "strict")
    good = bar.get_by_role("button", name="Good answer")
    expect(good).to_be_visible()
    # Styled by its constructed stylesheet, which the policy allows (inline styles it would not).
    assert good.locator("svg").evaluate("el => getComputedStyle(el).width") == "16px"

    good.click()
    expect(bar.get_by_role("status")).to_have_text("Thanks!")
    assert [summary(e) for e in rows()] == [("strict", "thumbs", 1.0, [], "")]
    assert page.evaluate("window.__fl.csp") == []


def test_keyboard_only(page):
    page.goto("/_test/answers/?ids=keys")
    bar = toolbar(page, "keys")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED)["action"] == "down":
            break
    else:
        pytest.fail("Tab never reached the thumbs-down button")

    page.keyboard.press("Enter")
    dialog = bar.get_by_role("dialog", name="What went wrong?")
    expect(dialog).to_be_visible()
    focused = page.evaluate(FOCUSED)
    assert focused["inPopover"]
    assert (focused["action"], focused["reason"]) == ("chip", "hallucination")  # the first reason
    page.keyboard.press(" ")
    made_up = dialog.get_by_role("button", name="Made things up")
    expect(made_up).to_have_attribute("aria-pressed", "true")
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED)["tag"] == "TEXTAREA":
            break
    else:
        pytest.fail("Tab never reached the comment box")
    page.keyboard.type("Too vague to act on.")
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["part"] == "button send"
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    assert page.evaluate(FOCUSED)["action"] == "down"
    expect(bar.get_by_role("status")).to_have_text("Thanks!")

    # Enter again retracts the vote; once more votes down and reopens the popover.
    page.keyboard.press("Enter")
    expect(bar.get_by_role("button", name="Bad answer")).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    assert page.evaluate(FOCUSED)["inPopover"]
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate(FOCUSED)["action"] == "down"
    expect(bar.get_by_role("button", name="Bad answer")).to_have_attribute("aria-pressed", "true")

    wait_sent(page, 4)
    assert [summary(e) for e in rows()] == [
        ("keys", "thumbs", -1.0, [], ""),
        ("keys", "thumbs", -1.0, ["hallucination"], "Too vague to act on."),
        ("keys", "thumbs", 0.0, [], ""),
        ("keys", "thumbs", -1.0, [], ""),
    ]


RERENDER_ONE = """id => {
  const old = document.querySelector(`[data-feedback-trace="${id}"]`);
  old.replaceWith(old.cloneNode(true));
}"""
# A framework rendering the whole list again from its state: new elements, same trace ids.
RERENDER_ALL = """() => {
  const log = document.getElementById("log");
  log.replaceChildren(...[...log.querySelectorAll("[data-feedback-trace]")].map((answer) => {
    const item = document.createElement("li");
    item.append(answer.cloneNode(true));
    return item;
  }));
}"""


def test_rerendered_answers_keep_one_toolbar_showing_the_vote(page):
    page.goto("/_test/answers/?ids=liked,disliked")
    toolbar(page, "liked").get_by_role("button", name="Good answer").click()
    toolbar(page, "disliked").get_by_role("button", name="Bad answer").click()
    page.keyboard.press("Escape")
    wait_sent(page, 2)
    toolbars = page.locator("[data-feedback-toolbar]")

    page.evaluate(RERENDER_ONE, "liked")
    expect(toolbars).to_have_count(2)
    expect(toolbar(page, "liked")).to_have_count(1)
    expect(toolbar(page, "liked").get_by_role("button", name="Good answer")).to_have_attribute(
        "aria-pressed", "true"
    )

    page.evaluate(RERENDER_ALL)
    expect(toolbars).to_have_count(2)
    for trace_id, pressed, other in (
        ("liked", "Good answer", "Bad answer"),
        ("disliked", "Bad answer", "Good answer"),
    ):
        bar = toolbar(page, trace_id)
        expect(bar).to_have_count(1)
        expect(bar.get_by_role("button", name=pressed)).to_have_attribute("aria-pressed", "true")
        expect(bar.get_by_role("button", name=other)).to_have_attribute("aria-pressed", "false")

    # The new toolbar works: a second press on the pressed thumb retracts the vote.
    toolbar(page, "liked").get_by_role("button", name="Good answer").click()
    wait_sent(page, 3)
    assert [summary(e) for e in rows(trace_key="liked")] == [
        ("liked", "thumbs", 1.0, [], ""),
        ("liked", "thumbs", 0.0, [], ""),
    ]


def test_a_morphing_rerender_that_drops_the_toolbar_gets_it_back(page):
    page.goto("/_test/answers/?ids=morphed")
    toolbar(page, "morphed").get_by_role("button", name="Good answer").click()
    # Morphing libraries (idiomorph in htmx and Turbo, morphdom) keep the answer element and
    # remove the nodes their new HTML lacks: the toolbar.
    page.evaluate("() => document.querySelector('[data-feedback-toolbar]').remove()")
    expect(toolbar(page, "morphed").get_by_role("button", name="Good answer")).to_have_attribute(
        "aria-pressed", "true", timeout=1_000
    )
    wait_sent(page, 1)
    assert [summary(e) for e in rows()] == [("morphed", "thumbs", 1.0, [], "")]


# -- the server's settings, as the template tag hands them to the widget -------------------------

VOTE_ALL = "ids => { for (const id of ids) FeedbackLoop.thumbs(id, 1); }"


def capture_bodies(page) -> list[dict]:
    """The bodies of the page's capture requests (fetch; beacons are not seen), as they go."""
    bodies = []

    def seen(request):
        if request.method == "POST" and "/api/v1/events" in request.url:
            bodies.append(request.post_data_json)

    page.on("request", seen)
    return bodies


@pytest.mark.parametrize("tag", ["rendered", "hand"])
def test_batches_follow_the_servers_max_batch_size(page, settings, browser_errors, tag):
    """With MAX_BATCH_SIZE 3 the tag's data-max-batch-size keeps every request within it; a tag
    written by hand sends 8, gets 413 too_many_events and splits the batch until it fits."""
    browser_errors.allow(r"status of 413")
    settings.FEEDBACK_LOOP = {**settings.FEEDBACK_LOOP, "MAX_BATCH_SIZE": 3}
    ids = [f"batch{i}" for i in range(8)]
    bodies = capture_bodies(page)
    page.goto(f"/_test/answers/?ids={','.join(ids)}" + ("&tag=hand" if tag == "hand" else ""))
    expect(toolbar(page, ids[0])).to_have_count(1)

    page.evaluate(VOTE_ALL, ids)
    wait_until(page, lambda: len(rows()) >= 8, "the eight votes")
    wait_sent(page, 8)
    assert sorted(e.trace_key for e in rows()) == sorted(ids)  # each once, none dropped
    sizes = [len(body["events"]) for body in bodies]
    # Rendered: batches of at most 3. By hand: 8 and 4 are refused, then halves of 4 go.
    assert sizes == ([3, 3, 2] if tag == "rendered" else [8, 4, 2, 2, 2, 2])
    assert page.evaluate("window.__fl.rejected") == []


def test_the_projects_error_modes_and_rating_scale_reach_the_widget(page, settings, demo_project):
    settings.FEEDBACK_LOOP = {**settings.FEEDBACK_LOOP, "RATING_SCALE": 10}
    ErrorMode.objects.create(project=demo_project, slug="tone", name="Wrong tone")
    ErrorMode.objects.create(project=Project.create("Other")[0], slug="other", name="Not ours")
    page.goto("/_test/answers/?ids=modes&signals=thumbs,reasons,rating")
    bar = toolbar(page, "modes")
    expect(bar.get_by_role("button", name="Rate 10 of 10")).to_be_visible()

    bar.get_by_role("button", name="Bad answer").click()
    dialog = bar.get_by_role("dialog", name="What went wrong?")
    expect(dialog.get_by_role("button", name="Not ours")).to_have_count(0)
    dialog.get_by_role("button", name="Made things up").click()
    dialog.get_by_role("button", name="Wrong tone").click()
    dialog.get_by_role("button", name="Send").click()
    bar.get_by_role("button", name="Rate 7 of 10").click()
    wait_sent(page, 3)
    assert [(e.kind, e.value, e.reasons) for e in rows()] == [
        ("thumbs", -1.0, []),
        ("thumbs", -1.0, ["hallucination", "tone"]),
        ("rating", 7.0, []),
    ]
