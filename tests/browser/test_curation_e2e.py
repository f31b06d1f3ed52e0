"""The whole loop in a real browser: a user's thumbs-down with a reason and an edit in the demo
chat, then a curator's review in the admin, then the DPO file a training job would load."""

import json

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from example_project.chat.views import SYSTEM_PROMPT
from feedback_loop.models import Dataset, DatasetKind, Review, Trace
from tests.browser.helpers import toolbar, wait_sent, wait_until
from tests.browser.test_widget import ask


def test_a_thumbs_down_and_an_edit_end_up_as_a_reviewed_dpo_pair(page, demo_project):
    get_user_model().objects.create_superuser("curator", "c@example.com", "pw")
    dataset = Dataset.objects.create(
        project=demo_project, name="DPO pairs", kind=DatasetKind.PREFERENCE
    )

    # The user: a thumbs-down with the reason "Wrong format", then their own version.
    page.goto("/")
    question = "Give me JSON for Ada Lovelace"
    trace_id = ask(page, question)
    bar = toolbar(page, trace_id)
    bar.get_by_role("button", name="Bad answer").click()
    bar.get_by_role("button", name="Wrong format").click()
    bar.get_by_role("button", name="Send").click()
    answer = page.locator(f'[data-feedback-trace="{trace_id}"]')
    answer.get_by_role("button", name="Edit").click()
    page.keyboard.press("Control+A")
    fixed = '{"name": "Ada Lovelace", "born": 1815}'
    page.keyboard.type(fixed)
    page.locator("h1").click()
    wait_sent(page, 2)
    trace = wait_until(
        page,
        lambda: Trace.objects.filter(key=trace_id, sentiment="negative").first(),
        "the pipeline to roll the trace up",
    )
    model_answer = trace.output

    # The curator: the trace waits in the queue with the suggested error mode.
    page.goto("/admin/login/?next=/admin/feedback_loop/trace/")
    page.fill("#id_username", "curator")
    page.fill("#id_password", "pw")
    page.get_by_role("button", name="Log in").click()
    row = page.locator("#result_list tbody tr").filter(has_text=question)
    expect(row).to_contain_text("Format?")  # suggested, not confirmed yet

    # Review mode: confirm the suggestion, add the trace to the DPO set, with the keyboard.
    page.get_by_role("link", name="Review mode").click()
    expect(page.locator(".fl-status")).to_contain_text(trace_id)
    expect(page.locator(".fl-diff ins").first).to_be_visible()
    expect(page.get_by_role("checkbox", name="Format")).to_be_checked()
    page.keyboard.press("d")
    expect(page.locator(".messagelist")).to_contain_text("Added to “DPO pairs”.")
    page.keyboard.press("c")
    expect(page.locator(".fl-empty")).to_contain_text("The queue is empty")
    review = Review.objects.get(trace__key=trace_id)
    assert review.status == "reviewed" and review.reviewer.username == "curator"
    assert list(review.error_modes.values_list("slug", flat=True)) == ["format"]

    # The export a DPO trainer loads.
    export = f"/admin/feedback_loop/dataset/{dataset.pk}/export/?format=dpo"
    page.goto(export)
    expect(page.locator("#content-main")).to_contain_text("1 rows from 1 items.")
    response = page.request.get(export + "&download=1")
    assert response.ok
    assert "dpo-pairs.dpo.jsonl" in response.headers["content-disposition"]
    [pair] = [json.loads(line) for line in response.text().splitlines()]
    # TRL's conversational form: the conversation the demo recorded (its system prompt, then the
    # question), the answers as the assistant's turns. The user edited the answer's source (the
    # demo gives the widget its Markdown).
    assert pair == {
        "id": pair["id"],
        "prompt": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ],
        "chosen": [{"role": "assistant", "content": fixed}],
        "rejected": [{"role": "assistant", "content": model_answer}],
    }
