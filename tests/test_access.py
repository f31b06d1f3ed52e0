"""Who may do what: a staff session needs the Django model permission that matches the
operation, in the server API as in the admin, and sees only the projects it curates (named as a
curator, or through a group). Superusers see every project; a secret key its own."""

import json
import uuid

import pytest
from django.contrib.auth.models import Group, Permission

from feedback_loop.models import (
    Dataset,
    DatasetItem,
    ErrorMode,
    FeedbackEvent,
    Project,
    Review,
    Trace,
)
from tests.conftest import API
from tests.factories import TraceFactory, UserFactory

pytestmark = pytest.mark.django_db

ADMIN = "/admin/feedback_loop"
ALL = "all"


def staff(*, perms=(), projects=(), via_group=False, superuser=False):
    """A staff user holding ``perms`` (codenames of the app, or ALL) who curates ``projects``."""
    user = UserFactory(is_staff=True, is_superuser=superuser)
    app = Permission.objects.filter(content_type__app_label="feedback_loop")
    granted = app if perms == ALL else app.filter(codename__in=perms)
    user.user_permissions.add(*granted)
    if via_group:
        group = Group.objects.create(name=f"curators-{user.pk}")
        user.groups.add(group)
        for project in projects:
            project.member_groups.add(group)
    else:
        for project in projects:
            project.members.add(user)
    return user


@pytest.fixture
def two_projects(db):
    mine, _ = Project.create("Mine")
    theirs, _ = Project.create("Theirs")
    for project, name in ((mine, "mine"), (theirs, "theirs")):
        trace = TraceFactory(project=project, key=name, sentiment="negative")
        Review.objects.create(trace=trace)
        FeedbackEvent.objects.create(
            project=project, event_id=uuid.uuid4(),
            trace_key=name, kind="thumbs", value=-1, timestamp=trace.created_at, user_id=name,
        )  # fmt: skip
        dataset = Dataset.objects.create(project=project, name=f"{name} set")
        DatasetItem.objects.create(dataset=dataset, trace=trace, input=name)
    return mine, theirs


def call(client, method, path, body=None):
    if method == "GET":
        return client.get(f"{API}{path}")
    if method == "DELETE":
        return client.delete(f"{API}{path}")
    return client.post(f"{API}{path}", json.dumps(body or {}), content_type="application/json")


def operations(mine: Project) -> list[tuple[str, str, dict | None, tuple[str, ...]]]:
    """(method, path, body, the permissions it needs) for every server API operation."""
    dataset = Dataset.objects.get(project=mine).pk
    key = mine.public_key
    return [
        ("GET", "/traces", None, ("view_trace",)),
        ("GET", "/traces/mine", None, ("view_trace",)),
        ("POST", "/traces", {"project": key, "traces": [{"trace_id": "new"}]},
         ("add_trace", "change_trace")),
        ("GET", "/events", None, ("view_feedbackevent",)),
        ("GET", "/stats", None, ("view_trace",)),
        ("GET", f"/users/mine?project={key}", None, ("view_feedbackevent",)),
        ("DELETE", f"/users/mine?project={key}", None, ("delete_feedbackevent",)),
        ("GET", "/datasets", None, ("view_dataset",)),
        ("POST", "/datasets", {"project": key, "name": "New"}, ("add_dataset",)),
        ("GET", f"/datasets/{dataset}", None, ("view_dataset",)),
        ("POST", f"/datasets/{dataset}/traces", {"trace_ids": ["mine"]}, ("change_dataset",)),
        ("POST", f"/datasets/{dataset}/versions", {}, ("change_dataset",)),
        ("GET", f"/datasets/{dataset}/export?format=jsonl", None,
         ("view_dataset", "export_dataset")),
    ]  # fmt: skip


# -- the server API ----------------------------------------------------------------------------


def test_staff_without_permissions_can_do_nothing_even_on_their_project(client, two_projects):
    # Before, any is_staff session listed every project's data, deleted end users, overwrote
    # traces and got valid tokens back, created datasets and froze versions.
    mine, _theirs = two_projects
    client.force_login(staff(projects=[mine]))
    for method, path, body, _needed in operations(mine):
        response = call(client, method, path, body)
        assert response.status_code == 403, (method, path, response.status_code)
        assert "permission" in response.json()["error"]["message"]
    assert FeedbackEvent.objects.filter(user_id="mine").exists()
    assert not Trace.objects.filter(key="new").exists()
    assert not Dataset.objects.filter(name="New").exists()


@pytest.mark.parametrize("index", range(13))
def test_each_operation_needs_exactly_its_permission(client, two_projects, index):
    mine, _theirs = two_projects
    method, path, body, needed = operations(mine)[index]
    for missing in needed:
        partial = [p for p in needed if p != missing]
        client.force_login(staff(perms=partial, projects=[mine]))
        assert call(client, method, path, body).status_code == 403, (path, missing)
    client.force_login(staff(perms=needed, projects=[mine]))
    response = call(client, method, path, body)
    assert response.status_code in (200, 201), (method, path, response.content[:300])


@pytest.mark.parametrize("via_group", [False, True])
def test_a_curator_sees_only_their_projects(client, two_projects, via_group):
    mine, theirs = two_projects
    client.force_login(staff(perms=ALL, projects=[mine], via_group=via_group))

    def ids(path):
        return [
            row.get("trace_id", row.get("name"))
            for row in call(client, "GET", path).json()["results"]
        ]

    assert ids("/traces") == ["mine"]
    assert ids("/events") == ["mine"]
    assert ids("/datasets") == ["mine set"]
    assert call(client, "GET", "/traces/theirs").status_code == 404
    assert call(client, "GET", "/stats").json()["totals"]["thumbs_down"] == 1
    theirs_set = Dataset.objects.get(project=theirs).pk
    assert call(client, "GET", f"/datasets/{theirs_set}/export?format=jsonl").status_code == 404
    assert call(client, "POST", f"/datasets/{theirs_set}/versions").status_code == 404

    named = call(client, "GET", f"/traces?project={theirs.public_key}")
    assert named.status_code == 403 and "curator" in named.json()["error"]["message"]
    for method, path, body in [
        ("POST", "/traces", {"project": theirs.public_key, "traces": [{"trace_id": "theirs"}]}),
        ("DELETE", f"/users/theirs?project={theirs.public_key}", None),
        ("POST", "/datasets", {"project": theirs.public_key, "name": "Sneaky"}),
    ]:
        assert call(client, method, path, body).status_code == 403, path
    assert FeedbackEvent.objects.filter(user_id="theirs").exists()
    assert not Dataset.objects.filter(name="Sneaky").exists()


def test_superusers_see_every_project_and_a_secret_key_its_own(client, two_projects, api):
    client.force_login(staff(superuser=True))
    rows = call(client, "GET", "/traces").json()["results"]
    assert sorted(row["trace_id"] for row in rows) == ["mine", "theirs"]
    client.logout()
    assert api.get("/traces").json()["results"] == []  # the fixture's own, empty project


# -- the admin ---------------------------------------------------------------------------------


def test_every_admin_screen_shows_a_curator_only_their_projects(client, two_projects):
    mine, theirs = two_projects
    client.force_login(staff(perms=ALL, projects=[mine]))
    theirs_trace = Trace.objects.get(key="theirs")
    theirs_set = Dataset.objects.get(project=theirs)

    queue = client.get(f"{ADMIN}/trace/").content.decode()
    assert ">mine<" in queue and ">theirs<" not in queue
    assert "Theirs" not in queue  # not even as a choice of the project filter
    page = client.get(f"{ADMIN}/trace/{theirs_trace.pk}/change/")
    assert page.status_code == 302  # "does not exist", as for a deleted object
    review = client.get(f"{ADMIN}/trace/review/")
    assert review.context["review"].trace.key == "mine"
    assert review.context["remaining"] == 1
    theirs_review = Review.objects.get(trace=theirs_trace)
    again = client.get(f"{ADMIN}/trace/review/", {"review": theirs_review.pk})
    assert again.context["review"].trace.key == "mine"
    posted = client.post(f"{ADMIN}/trace/review/", {"review": theirs_review.pk, "do": "confirm"})
    assert posted.status_code == 302
    assert Review.objects.get(pk=theirs_review.pk).status == "pending"

    dashboard = client.get(f"{ADMIN}/trace/dashboard/")
    assert [name for _pk, name in dashboard.context["projects"]] == ["Mine"]
    assert dashboard.context["negative_total"] == 1
    datasets = client.get(f"{ADMIN}/dataset/").content.decode()
    assert "mine set" in datasets and "theirs set" not in datasets
    assert client.get(f"{ADMIN}/dataset/{theirs_set.pk}/export/").status_code == 404
    assert client.get(f"{ADMIN}/dataset/{theirs_set.pk}/freeze/").status_code == 404
    events = client.get(f"{ADMIN}/feedbackevent/").content.decode()
    assert "mine" in events and ">theirs<" not in events
    projects = client.get(f"{ADMIN}/project/").content.decode()
    assert "Mine" in projects and "Theirs" not in projects
    item_form = client.get(f"{ADMIN}/datasetitem/add/").content.decode()
    assert "mine set" in item_form and "theirs set" not in item_form
    assert client.get(f"{ADMIN}/datasetitem/").content.decode().count("theirs set") == 0


def test_error_modes_a_curator_sees_are_the_shared_ones_and_their_projects(client, two_projects):
    mine, theirs = two_projects
    ErrorMode.objects.create(project=mine, slug="tone", name="Wrong tone")
    ErrorMode.objects.create(project=theirs, slug="secret-mode", name="Their secret mode")
    client.force_login(staff(perms=ALL, projects=[mine]))
    listed = client.get(f"{ADMIN}/errormode/").content.decode()
    assert "Wrong tone" in listed and "Hallucination" in listed
    assert "Their secret mode" not in listed
    queue = client.get(f"{ADMIN}/trace/", {"sentiment": "all", "review": "all"}).content.decode()
    assert "Wrong tone" in queue and "Their secret mode" not in queue
    shared = ErrorMode.objects.get(slug="hallucination")
    change = client.post(
        f"{ADMIN}/errormode/{shared.pk}/change/", {"name": "Renamed", "slug": "hallucination"}
    )
    assert change.status_code == 403
    assert ErrorMode.objects.get(pk=shared.pk).name == "Hallucination"


def test_exporting_needs_its_own_permission(client, two_projects):
    mine, _theirs = two_projects
    dataset = Dataset.objects.get(project=mine)
    client.force_login(staff(perms=["view_dataset"], projects=[mine]))
    page = client.get(f"{ADMIN}/dataset/{dataset.pk}/change/").content.decode()
    assert "?format=jsonl" not in page
    assert client.get(f"{ADMIN}/dataset/{dataset.pk}/export/").status_code == 403
    client.force_login(staff(perms=["view_dataset", "export_dataset"], projects=[mine]))
    assert "?format=jsonl" in client.get(f"{ADMIN}/dataset/{dataset.pk}/change/").content.decode()
    assert client.get(f"{ADMIN}/dataset/{dataset.pk}/export/").status_code == 200


def test_only_superusers_choose_curators_and_a_creator_curates_what_they_make(client, db):
    project, _ = Project.create("Shared")
    curator = staff(perms=["view_project", "change_project", "add_project"], projects=[project])
    outsider = staff()
    client.force_login(curator)
    page = client.get(f"{ADMIN}/project/{project.pk}/change/").content.decode()
    assert 'name="members"' not in page  # shown, not editable
    client.post(
        f"{ADMIN}/project/{project.pk}/change/",
        {
            "name": "Shared",
            "is_active": "on",
            "require_token": "on",
            "reviews_per_trace": 1,
            "members": [outsider.pk],
        },
    )
    assert list(project.members.all()) == [curator]
    created = client.post(
        f"{ADMIN}/project/add/",
        {"name": "Made by a curator", "is_active": "on", "reviews_per_trace": 1},
    )
    assert created.status_code == 200  # the page that shows the keys once
    assert list(Project.objects.get(name="Made by a curator").members.all()) == [curator]

    client.force_login(staff(superuser=True))
    Group.objects.create(name="Curators")  # a group to choose (checkboxes: none without one)
    page = client.get(f"{ADMIN}/project/{project.pk}/change/").content.decode()
    assert 'name="members"' in page and 'name="member_groups"' in page
