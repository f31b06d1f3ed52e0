"""Security properties across the app, in one place: every admin page and action of the app
needs staff rights; a public key cannot read; exports neutralise spreadsheet formulas. (The
capture endpoint's token, origin, CORS and throttle tests live in test_capture.py.)"""

import re

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, reverse

from feedback_loop.models import Dataset, Review, Trace
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def admin_urls(objects: dict[str, int]) -> list[str]:
    """Every URL the admin serves for this app's models, with sample object ids filled in."""
    urls = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "feedback_loop":
            continue
        for pattern in model_admin.urls:
            for leaf in _leaves(pattern):
                if not leaf.name:
                    continue
                kwargs = {}
                for name in leaf.pattern.converters if hasattr(leaf.pattern, "converters") else {}:
                    kwargs[name] = objects[model._meta.model_name]
                for name in re.findall(r"<(?:\w+:)?(\w+)>", str(leaf.pattern)):
                    kwargs[name] = "secret" if name == "which" else objects[model._meta.model_name]
                try:
                    urls.append(reverse(f"admin:{leaf.name}", kwargs=kwargs))
                except Exception:  # a catch-all redirect pattern without a fixed name
                    continue
    return sorted(set(urls))


def _leaves(pattern):
    if isinstance(pattern, URLResolver):
        for child in pattern.url_patterns:
            yield from _leaves(child)
    elif isinstance(pattern, URLPattern):
        yield pattern


@pytest.fixture
def objects(project):
    trace = Trace.objects.create(project=project, key="t", input="q", output="a")
    review = Review.objects.create(trace=trace)
    dataset = Dataset.objects.create(project=project, name="D")
    from feedback_loop.models import (
        Alert,
        AlertRule,
        DatasetItem,
        DatasetVersion,
        ErrorMode,
        Experiment,
        FeedbackEvent,
        PreferencePair,
        ProcessingFailure,
        ScoringRule,
    )

    event = FeedbackEvent.objects.create(
        project=project, event_id="00000000-0000-4000-8000-000000000001", trace_key="t",
        kind="thumbs", value=1, timestamp=trace.created_at,
    )  # fmt: skip
    pair = PreferencePair.objects.create(
        project=project, source="edit", trace=trace, chosen="a", rejected="b", dedupe_key="k"
    )
    version = DatasetVersion.objects.create(dataset=dataset, number=1)
    alert_rule = AlertRule.objects.create(
        project=project, name="A", kind="above", metric="edit", threshold=0.5
    )
    experiment = Experiment.objects.create(
        project=project, dataset=dataset, version=version, name="E", task="t"
    )
    return {
        "project": project.pk,
        "trace": trace.pk,
        "review": review.pk,
        "dataset": dataset.pk,
        "datasetitem": DatasetItem.objects.create(dataset=dataset, input="x").pk,
        "datasetversion": version.pk,
        "experiment": experiment.pk,
        "scoringrule": ScoringRule.objects.create(project=project, name="R", scorers=[]).pk,
        "alertrule": alert_rule.pk,
        "alert": Alert.objects.create(rule=alert_rule, message="m").pk,
        "errormode": ErrorMode.objects.create(project=project, slug="s", name="S").pk,
        "feedbackevent": event.pk,
        "preferencepair": pair.pk,
        "processingfailure": ProcessingFailure.objects.create(project=project, trace_key="t").pk,
    }


def test_every_admin_page_of_the_app_needs_staff(client, objects):
    urls = admin_urls(objects)
    assert len(urls) > 40  # the models' pages plus review mode, dashboard, rotate, export
    assert "/admin/feedback_loop/trace/review/" in urls
    client.force_login(UserFactory(is_staff=False))
    for url in urls:
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, (url, response.status_code)
            assert response["Location"].startswith("/admin/login/"), url


def test_actions_need_staff_and_change_nothing_for_others(client, objects):
    client.force_login(UserFactory(is_staff=False))
    response = client.post(
        "/admin/feedback_loop/trace/",
        {"action": "mark_reviewed", "_selected_action": [objects["trace"]], "apply": "yes"},
    )
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert Review.objects.get().status == "pending"


def test_staff_without_change_rights_cannot_review_or_freeze(client, objects):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_trace", "view_dataset"])
    )
    Dataset.objects.get().project.members.add(viewer)
    client.force_login(viewer)
    assert client.get("/admin/feedback_loop/trace/review/").status_code == 403
    freeze = client.post(f"/admin/feedback_loop/dataset/{objects['dataset']}/freeze/")
    assert freeze.status_code == 403
    assert Dataset.objects.get().versions.count() == 1  # the fixture's, no new one
    assert client.get("/admin/feedback_loop/trace/dashboard/").status_code == 200
