"""The curation screens at the two common widths, 1280 px and 1920 px, with the admin's app
sidebar open (as it is by default), in Chromium, on the demo's data (issue 12, item 11): what
fits, what wraps, and review mode's keys."""

import re

import pytest
from playwright.sync_api import expect

from feedback_loop.models import Review, ReviewStatus
from tests.browser.helpers import log_in, seed_demo

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = [1280, 1920]
# How far an element's right edge is past its scrolling box's (0 when it fits).
OVERFLOW = "el => el.scrollWidth - el.clientWidth"
# The names of the error modes ticked in review mode.
TICKED = """() => [...document.querySelectorAll(".fl-modes input:checked")]
  .map((box) => box.closest("label").textContent.trim().replace(/^\\d+\\s*/, ""))"""


@pytest.fixture
def negative(demo_project):
    """The demo's data; returns a negative trace with a thumbs-down and an edit of a session
    with a 36-character id."""
    return seed_demo(demo_project)


def open_admin(page, width: int, path: str) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page)
    page.goto(path)
    expect(page.locator("#nav-sidebar")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_review_queue_fits_beside_the_open_sidebar(page, negative, width):
    open_admin(page, width, "/admin/feedback_loop/trace/")
    results = page.locator("#changelist-form .results")
    assert results.evaluate(OVERFLOW) == 0
    last = page.locator("#result_list thead th").last
    expect(last).to_have_text("Last signal")
    box = last.bounding_box()
    assert box["x"] + box["width"] <= width
    # Each row's last cell is on screen too: the date, short, the whole one in its title.
    date = page.locator("#result_list tbody tr").first.locator("td").last.locator("time")
    expect(date).to_have_attribute("title", re.compile(r"\d{4}, .*\d:\d\d"))
    assert date.bounding_box()["x"] + date.bounding_box()["width"] <= width


@pytest.mark.parametrize("width", WIDTHS)
def test_every_list_of_the_app_fits_beside_the_open_sidebar(page, negative, width):
    open_admin(page, width, "/admin/feedback_loop/trace/")
    lists = ["trace", "feedbackevent", "preferencepair", "project", "review", "dataset"]
    lists += ["datasetitem", "errormode"]
    overflowing = {}
    for name in lists:
        page.goto(f"/admin/feedback_loop/{name}/")
        results = page.locator("#changelist-form .results")
        expect(results.locator("tbody tr").first).to_be_visible()  # rows to lay out
        if past := results.evaluate(OVERFLOW):
            overflowing[name] = past
    assert overflowing == {}


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dashboard_shows_its_figures_in_one_row_and_charts_as_wide_as_their_boxes(
    page, negative, width
):
    open_admin(page, width, "/admin/feedback_loop/trace/dashboard/")
    cards = page.locator(".fl-figures > div")
    expect(cards).to_have_count(4)
    tops = {round(cards.nth(i).bounding_box()["y"]) for i in range(4)}
    assert len(tops) == 1, tops  # the fourth does not wrap onto a row of its own
    # Every panel with a chart (five at least) is filled by it; tables (the automated scores'
    # agreement) have no chart.
    panels = page.locator(".fl-panel:has(.fl-chart)")
    expect(page.locator(".fl-panel.fl-agreement")).to_have_count(1)
    assert panels.count() >= 5
    for i in range(panels.count()):
        panel = panels.nth(i)
        inner = panel.evaluate("el => el.clientWidth - 24")  # less its padding
        chart = panel.locator(".fl-chart")
        assert chart.bounding_box()["width"] >= 0.95 * inner, panel.inner_text()
        assert chart.bounding_box()["width"] <= inner + 1


@pytest.mark.parametrize("width", WIDTHS)
def test_the_events_list_keeps_ids_on_one_line_and_links_the_trace(page, negative, width):
    open_admin(page, width, "/admin/feedback_loop/feedbackevent/")
    row = page.locator("#result_list tbody tr").filter(has_text="Hi").first
    session = row.locator("td.field-who .fl-quiet .fl-id")
    full = session.get_attribute("title")
    assert len(full) == 36 and session.text_content() == full
    line = session.evaluate("el => parseFloat(getComputedStyle(el).lineHeight) || 16")
    assert session.bounding_box()["height"] < 1.5 * line  # one line, not four
    assert row.locator("td.field-edited_text").text_content() == "Hi"
    assert row.locator("td.field-short_comment").text_content() == "-"
    # The list fits beside the sidebar, long texts wrapped in their columns.
    assert page.locator("#changelist-form .results").evaluate(OVERFLOW) == 0
    row.locator("td.field-trace a").click()
    expect(page).to_have_url(re.compile(f"/admin/feedback_loop/trace/{negative.pk}/change/$"))
    # The demo records each answer's conversation: its system prompt and the question.
    expect(page.get_by_role("heading", name="Conversation (2 messages)")).to_be_visible()


def status(page):
    return page.locator(".fl-status")


def test_review_mode_keys_go_back_to_a_skipped_trace_and_confirm_what_they_did(page, negative):
    open_admin(page, 1280, "/admin/feedback_loop/trace/review/")
    first = status(page).locator("a").first.text_content()
    page.keyboard.press("j")  # skip
    expect(status(page)).not_to_contain_text(first)
    page.keyboard.press("k")  # back to the one skipped
    expect(status(page)).to_contain_text(first)

    # Dismissing unticks its error modes, and says so.
    key = first.removeprefix("trace ")
    review = Review.objects.get(trace__key=key)
    assert page.locator(".fl-modes input:checked").count() > 0  # the suggestions, ticked
    page.keyboard.press("x")
    expect(page.locator(".messagelist .success")).to_have_text(f"Dismissed trace {key}.")
    review.refresh_from_db()
    assert review.status == ReviewStatus.DISMISSED
    assert list(review.error_modes.all()) == []

    # Confirming says so too, with the error modes ticked.
    following = status(page).locator("a").first.text_content().removeprefix("trace ")
    page.keyboard.press("1")
    page.keyboard.press("2")
    ticked = page.evaluate(TICKED)
    page.keyboard.press("c")
    said = page.locator(".messagelist .success")
    expect(said).to_contain_text(f"Confirmed trace {following} as reviewed, with ")
    confirmed = Review.objects.get(trace__key=following)
    assert confirmed.status == ReviewStatus.REVIEWED
    assert sorted(m.name for m in confirmed.error_modes.all()) == sorted(ticked)
    for name in ticked:
        expect(said).to_contain_text(name)
