"""The widget in the chat frontends people build (issue 14): each test runs a fixture that
behaves like one class of host (tests/templates/widget_tests/, served by tests/urls.py) and
checks what reached the database. Each of them fails on the widget of commit bc76b35 (run them
with FEEDBACK_LOOP_TEST_WIDGET, see conftest.py)."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import rows, summary, toolbar, wait_sent

pytestmark = pytest.mark.django_db(transaction=True)


# -- 1. web components whose shadow roots appear after the widget started -----------------------


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
