"""Every screen of the app, and the widget's toolbar and popover, checked by axe-core in Chromium.

axe-core comes from npm (tests/browser/axe, installed by ``make install-axe``) and runs in the
page with its default rules (WCAG 2.x A and AA, and its best practices). Django's own user list
passes with no violation: it is checked first, so that an axe which checks nothing cannot pass.
Each screen is checked in the light and the dark theme (the admin and the widget follow
``prefers-color-scheme``), at 1280 px.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from example_project.chat.prompts import answer_v2
from feedback_loop.evaluation import evaluate
from feedback_loop.models import Dataset, Experiment, PreferencePair, Trace
from tests.browser.helpers import log_in, seed_demo, toolbar

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SCHEMES = ["light", "dark"]


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        message = "axe-core is not installed: make install-axe (npm needed)."
        if os.environ.get("CI"):
            pytest.fail(message)  # CI runs make test, which installs it
        pytest.skip(message)
    return AXE.read_text()


def axe(page, source: str, within: str | None = None) -> dict:
    """Run axe-core on the page as it is now (or on the elements ``within`` selects, shadow
    roots included); returns its violations and the rules that passed."""
    if not page.evaluate("!!window.axe"):
        page.add_script_tag(content=source)
    return page.evaluate(
        """async (within) => {
          const context = within ? { include: [[within]] } : document;
          const result = await axe.run(context, { resultTypes: ["violations"] });
          return {
            passes: result.passes.length,
            passed: result.passes.map((rule) => rule.id),
            violations: result.violations.map((v) => ({
              rule: v.id,
              impact: v.impact,
              nodes: v.nodes.map((n) => [n.target.join(" >> "), n.failureSummary]),
            })),
          };
        }""",
        within,
    )


def summary(violations: list[dict]) -> dict[str, list[str]]:
    """Rule -> the elements that break it, each with axe's reason (its first one)."""
    return {
        v["rule"]: [f"{target}: {' '.join(why.split())[:240]}" for target, why in v["nodes"]]
        for v in violations
    }


@pytest.fixture
def seeded(demo_project):
    seed_demo(demo_project)
    return demo_project


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_screen_of_the_admin_passes_axe(page, axe_source, seeded, scheme):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.emulate_media(color_scheme=scheme)
    log_in(page)

    # The control: Django's own user list.
    page.goto("/admin/auth/user/")
    control = axe(page, axe_source)
    assert control["violations"] == []
    assert control["passes"] > 10 and "color-contrast" in control["passed"]

    edited = Trace.objects.filter(project=seeded, edit_count__gt=0).first()
    dataset = Dataset.objects.get(project=seeded, name="DPO pairs")
    assert PreferencePair.objects.exists()
    experiment = Experiment.objects.get(project=seeded)  # the demo's "prompt v1"
    second = evaluate(
        experiment.dataset, answer_v2, scorers=experiment.scorers, baseline=experiment
    )
    screens = {
        "queue": "/admin/feedback_loop/trace/",
        "trace page": f"/admin/feedback_loop/trace/{edited.pk}/change/",
        "review mode": "/admin/feedback_loop/trace/review/",
        "dashboard": "/admin/feedback_loop/trace/dashboard/",
        "datasets": "/admin/feedback_loop/dataset/",
        "dataset page": f"/admin/feedback_loop/dataset/{dataset.pk}/change/",
        "events": "/admin/feedback_loop/feedbackevent/",
        "pairs": "/admin/feedback_loop/preferencepair/",
        "project page": f"/admin/feedback_loop/project/{seeded.pk}/change/",
        "experiments": "/admin/feedback_loop/experiment/",
        "experiment page": f"/admin/feedback_loop/experiment/{experiment.pk}/change/",
        "comparison": f"/admin/feedback_loop/experiment/{second.pk}/compare/{experiment.pk}/",
        "scoring rules": "/admin/feedback_loop/scoringrule/",
    }
    found = {}
    for name, url in screens.items():
        page.goto(url)
        result = axe(page, axe_source)
        assert result["passes"] > 10, name
        if result["violations"]:
            found[name] = summary(result["violations"])
    assert found == {}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_widget_toolbar_and_its_popover_pass_axe(page, axe_source, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto("/_test/answers/?ids=a11y-1&signals=thumbs,reasons,comment,rating")
    # A page that follows the reader's theme, as the widget's default theme ("auto") does: dark
    # in the dark theme.
    page.add_style_tag(content=":root { color-scheme: light dark; background: Canvas }")
    bar = toolbar(page, "a11y-1")
    expect(bar.get_by_role("button", name="Good answer")).to_be_visible()
    closed = axe(page, axe_source, "[data-feedback-toolbar]")
    bar.get_by_role("button", name="Bad answer").click()
    expect(bar.get_by_role("dialog")).to_be_visible()
    opened = axe(page, axe_source, "[data-feedback-toolbar]")
    # axe looked inside the toolbar's shadow root: its buttons are named.
    assert "button-name" in closed["passed"] and "button-name" in opened["passed"]
    assert summary(closed["violations"]) == {}
    assert summary(opened["violations"]) == {}
