"""Experiments in the admin: the list, an experiment's page, the comparison of two, and sending
outputs to the review queue; what a curator sees after two runs of feedback_loop.evaluate."""

import pytest

from feedback_loop import conversations
from feedback_loop.evaluation import evaluate
from feedback_loop.models import Experiment, Project, Review, Trace
from tests.curation import ADMIN, listed, page
from tests.factories import DatasetFactory, DatasetItemFactory
from tests.test_access import ALL, staff

pytestmark = pytest.mark.django_db

EXPERIMENTS = f"{ADMIN}/experiment"

# What each run answers, by question: the baseline gets 2 + 2 wrong and fails on Hamlet; the
# new prompt fixes both and breaks France.
BASELINE = {"Capital of France?": "Paris.", "2 + 2?": "5", "Largest planet?": "Jupiter"}
NEW = {**BASELINE, "Capital of France?": "Lyon.", "2 + 2?": "4", "Who wrote Hamlet?": "Shakespeare"}


def baseline_task(item):
    if item.input == "Who wrote Hamlet?":
        raise RuntimeError("the model timed out")
    return BASELINE[item.input or conversations.last_user_text(item.messages)]


def new_task(item):
    return NEW[item.input or conversations.last_user_text(item.messages)]


@pytest.fixture
def runs(db):
    """A dataset of four items (one a conversation), run by the baseline and by a new prompt."""
    project, _ = Project.create("Experiments")
    dataset = DatasetFactory(project=project, name="Regressions")
    items = [
        DatasetItemFactory(
            dataset=dataset, input="Capital of France?", expected_output="Paris",
            metadata={"error_modes": ["hallucination"]},
        ),
        DatasetItemFactory(
            dataset=dataset, input="2 + 2?", expected_output="4",
            metadata={"error_modes": ["format"]},
        ),
        DatasetItemFactory(
            dataset=dataset, input="Who wrote Hamlet?", expected_output="Shakespeare"
        ),
        DatasetItemFactory(
            dataset=dataset, input="", expected_output="Jupiter",
            messages=[
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Largest planet?"},
            ],
        ),
    ]  # fmt: skip
    before = evaluate(
        dataset, baseline_task, scorers=["exact"], name="prompt v1",
        metadata={"model": "small-1", "prompt_version": "v1"}, concurrency=1,
    )  # fmt: skip
    after = evaluate(
        dataset, new_task, scorers=["exact", "contains"], name="prompt v2", baseline=before,
        version=before.version, metadata={"model": "small-2", "prompt_version": "v2"},
        concurrency=1,
    )  # fmt: skip
    return project, [str(item.pk) for item in items], before, after


def test_the_list_shows_each_scorers_mean(admin_client, runs):
    project, _ids, before, after = runs
    DatasetFactory(project=project, name="Another set")  # the dataset filter offers two
    text = page(admin_client.get(f"{EXPERIMENTS}/"))
    assert "prompt v1" in text and "prompt v2" in text
    assert "Regressions v1" in text
    assert "small-2 · v2" in text  # the metadata, compactly
    assert "exact <strong>0.50</strong>" in text  # the baseline: 2 of 4
    assert "exact <strong>0.75</strong>" in text and "contains <strong>0.75</strong>" in text
    assert "1 / 4" in text  # the baseline's error
    assert "0 / 4" in text
    # Filters by dataset and status, search by name.
    assert f"dataset__id__exact={before.dataset_id}" in text
    assert "status__exact=finished" in text
    found = page(admin_client.get(f"{EXPERIMENTS}/", {"q": "v2"}))
    assert "prompt v2" in found and "prompt v1" not in found
    # Read-only: no adding, no saving; deleting counts the results instead of listing them.
    assert admin_client.get(f"{EXPERIMENTS}/add/").status_code == 403
    assert 'name="_save"' not in page(admin_client.get(f"{EXPERIMENTS}/{after.pk}/change/"))
    delete = page(admin_client.get(f"{EXPERIMENTS}/{after.pk}/delete/"))
    assert "4 results" in delete and "Experiment results: 4" in delete


def test_the_experiment_page_has_its_summary_chart_and_items(admin_client, runs):
    _project, ids, before, after = runs
    response = admin_client.get(f"{EXPERIMENTS}/{after.pk}/change/")
    text = page(response)
    assert '<svg class="fl-chart"' in text
    chart = str(response.context["modes_chart"])
    for label in ("hallucination", "format", "(none)", "exact", "contains"):
        assert label in chart
    assert "hallucination · exact: 0%" in chart and "format · exact: 100%" in chart
    assert "p50" in text and "p95" in text
    assert "3 / 4" in text  # passed / scored for each scorer
    # The baseline and the comparison with it; the other experiments of the dataset to pick.
    compare_url = f"{EXPERIMENTS}/{after.pk}/compare/{before.pk}/"
    assert f'href="{compare_url}"' in text
    assert f'<option value="{before.pk}" selected>' in text
    # Every item: its input (a conversation's last user turn), expected output, output, scores.
    assert [row["result"].item_id for row in response.context["result_rows"]] == ids
    assert "Largest planet?" in text and "Lyon." in text and "Shakespeare" in text
    assert "the output differs from the expected output" in text

    failures = admin_client.get(f"{EXPERIMENTS}/{after.pk}/change/", {"failures": "1"})
    assert [row["result"].item_id for row in failures.context["result_rows"]] == [ids[0]]
    text = page(failures)
    assert "Lyon." in text and "Largest planet?" not in text and "Shakespeare" not in text
    # The baseline's failures: a wrong answer and an error.
    failures = admin_client.get(f"{EXPERIMENTS}/{before.pk}/change/", {"failures": "1"})
    assert [row["result"].item_id for row in failures.context["result_rows"]] == ids[1:3]
    assert "RuntimeError: the model timed out" in page(failures)


def test_the_page_is_paginated(admin_client, runs, monkeypatch):
    from feedback_loop.admin import experiment_pages

    _project, ids, _before, after = runs
    monkeypatch.setattr(experiment_pages, "PER_PAGE", 3)
    second = admin_client.get(f"{EXPERIMENTS}/{after.pk}/change/", {"p": "2"})
    assert [row["result"].item_id for row in second.context["result_rows"]] == ids[3:]
    assert "p=1" in page(second)


def test_the_comparison_lists_the_regression_first(admin_client, runs):
    _project, ids, before, after = runs
    response = admin_client.get(f"{EXPERIMENTS}/{after.pk}/compare/{before.pk}/")
    text = page(response)
    rows = response.context["item_rows"]
    assert [(row["item_id"], row["kind"]) for row in rows] == [
        (ids[0], "regressed"),
        (ids[1], "improved"),
        (ids[2], "improved"),
        (ids[3], "unchanged"),
    ]
    exact = response.context["comparison"].scorers[0]
    assert (exact.scorer, exact.baseline_mean, exact.mean) == ("exact", 0.5, 0.75)
    assert (len(exact.improved), len(exact.regressed), exact.unchanged) == (2, 1, 1)
    # The regressed item comes first, with both outputs diffed and both sides' reasons.
    first = text.index(f"#{ids[0]}")
    assert first < text.index(f"#{ids[1]}") < text.index(f"#{ids[3]}")
    assert "<del>Paris</del>" in text and "<ins>Lyon</ins>" in text
    section = text[first : text.index(f"#{ids[1]}")]
    assert "the output is the expected output" in section
    assert "the output differs from the expected output" in section
    assert "exact: 1.00 → 0.00" in section
    assert "RuntimeError: the model timed out" in text  # the baseline's error, beside its output
    # The "Compare with" form leads to the same page.
    picked = admin_client.get(f"{EXPERIMENTS}/{after.pk}/compare/", {"other": before.pk})
    assert picked.status_code == 302 and picked.url.endswith(f"/compare/{before.pk}/")
    # Only experiments of the same dataset compare.
    elsewhere = evaluate(
        DatasetItemFactory(input="2 + 2?").dataset, new_task, scorers=["exact"], concurrency=1
    )
    assert admin_client.get(f"{EXPERIMENTS}/{after.pk}/compare/{elsewhere.pk}/").status_code == 404


def test_a_curator_sees_only_the_experiments_of_their_projects(client, runs):
    _project, _ids, before, after = runs
    mine, _ = Project.create("Mine")
    client.force_login(staff(perms=ALL, projects=[mine]))
    text = page(client.get(f"{EXPERIMENTS}/"))
    assert "prompt v1" not in text and "prompt v2" not in text
    assert "Regressions" not in text  # not even as a choice of the dataset filter
    # Another project's experiment "does not exist", as anywhere in the admin.
    assert client.get(f"{EXPERIMENTS}/{after.pk}/change/").status_code == 302
    for url in (f"compare/{before.pk}/", "send/", "compare/"):
        assert client.get(f"{EXPERIMENTS}/{after.pk}/{url}").status_code == 404, url
    assert client.post(f"{EXPERIMENTS}/{after.pk}/send/", {"which": "all"}).status_code == 404
    assert not Trace.objects.exists()


def test_sending_needs_the_trace_permissions(client, runs):
    project, _ids, _before, after = runs
    client.force_login(staff(perms=["view_experiment"], projects=[project]))
    text = page(client.get(f"{EXPERIMENTS}/{after.pk}/change/"))
    assert "/send/" not in text
    assert client.get(f"{EXPERIMENTS}/{after.pk}/send/").status_code == 403
    assert "send_to_review_queue" not in page(client.get(f"{EXPERIMENTS}/"))
    client.force_login(
        staff(perms=["view_experiment", "add_trace", "change_trace"], projects=[project])
    )
    assert f"{EXPERIMENTS}/{after.pk}/send/" in page(
        client.get(f"{EXPERIMENTS}/{after.pk}/change/")
    )
    assert "send_to_review_queue" in page(client.get(f"{EXPERIMENTS}/"))


def test_sending_outputs_to_the_review_queue_creates_traces_once(admin_client, runs):
    project, ids, before, after = runs
    action = {"action": "send_to_review_queue", "_selected_action": [before.pk]}
    confirm = page(admin_client.post(f"{EXPERIMENTS}/", action))
    assert "Only failures" in confirm and 'name="apply"' in confirm
    for _attempt in range(2):
        response = admin_client.post(f"{EXPERIMENTS}/", {**action, "apply": "yes", "which": "all"})
        assert response.status_code == 302
        assert Trace.objects.count() == 4
    message = page(admin_client.get(response.url))
    assert "Sent 4 outputs of “prompt v1” to the review queue (0 new traces, 4 there" in message

    key = f"experiment-{before.pk}-{ids[3]}"
    trace = Trace.objects.get(key=key)
    assert trace.project == project
    assert (trace.input, trace.output, trace.model) == ("Largest planet?", "Jupiter", "small-1")
    assert trace.metadata == {"experiment": before.pk, "experiment_name": "prompt v1",
                              "item_id": ids[3]}  # fmt: skip
    assert [m["role"] for m in conversations.of_trace(trace.pk)] == ["system", "user"]
    errored = Trace.objects.get(key=f"experiment-{before.pk}-{ids[2]}")
    assert errored.metadata["error"] == "RuntimeError: the model timed out"
    # Failures wait in the review queue as negative traces, the rest as mixed; each has a
    # pending review, so review mode hands them out too.
    sentiments = dict(Trace.objects.values_list("key", "sentiment"))
    assert sentiments == {
        f"experiment-{before.pk}-{ids[0]}": "mixed",
        f"experiment-{before.pk}-{ids[1]}": "negative",
        f"experiment-{before.pk}-{ids[2]}": "negative",
        key: "mixed",
    }
    assert Review.objects.filter(status="pending").count() == 4
    queue = admin_client.get(f"{ADMIN}/trace/")
    assert sorted(listed(queue)) == sorted(sentiments)

    # From the experiment's page, only its failures; sending them again adds nothing.
    assert "Only failures" in page(admin_client.get(f"{EXPERIMENTS}/{after.pk}/send/"))
    for _attempt in range(2):
        admin_client.post(f"{EXPERIMENTS}/{after.pk}/send/", {"which": "failures"})
    sent = Trace.objects.filter(key__startswith=f"experiment-{after.pk}-")
    assert list(sent.values_list("key", "output", "model", "sentiment")) == [
        (f"experiment-{after.pk}-{ids[0]}", "Lyon.", "small-2", "negative")
    ]
    page_text = page(admin_client.get(f"{EXPERIMENTS}/{after.pk}/change/"))
    assert "1 output sent to the review queue" in page_text
    assert Experiment.objects.count() == 2


def test_every_experiment_page_needs_staff(client, runs):
    from tests.factories import UserFactory

    _project, _ids, before, after = runs
    client.force_login(UserFactory(is_staff=False))
    for url in ("", f"{after.pk}/change/", f"{after.pk}/compare/{before.pk}/", f"{after.pk}/send/"):
        for method in (client.get, client.post):
            response = method(f"{EXPERIMENTS}/{url}")
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/"), url
    assert not Trace.objects.exists()
