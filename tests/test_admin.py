"""The Django admin as a curator uses it: every model's pages, project keys and their rotation."""

import hashlib
import html
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from feedback_loop.models import ErrorMode, PreferencePair, Project, ReviewStatus
from tests.factories import (
    DatasetFactory,
    DatasetItemFactory,
    ErrorModeFactory,
    FeedbackEventFactory,
    ReviewFactory,
    TraceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ADMIN = "/admin/feedback_loop"
API_TRACES = "/feedback/api/v1/traces"
SECRET_RE = re.compile(r'<code id="secret-key">(sk_[A-Za-z0-9_-]+)</code>')


@pytest.fixture
def rows(project):
    """One row of every model, each with a label that shows in its changelist."""
    trace = TraceFactory(project=project, key="trace-in-admin", input="Where is my parcel?")
    FeedbackEventFactory(project=project, trace_key="trace-in-admin", comment="event-in-admin")
    custom_mode = ErrorModeFactory(project=project, slug="mode-in-admin", name="Mode in admin")
    review = ReviewFactory(trace=trace, status=ReviewStatus.REVIEWED, notes="review notes")
    review.error_modes.add(custom_mode)
    dataset = DatasetFactory(project=project, name="dataset-in-admin")
    DatasetItemFactory(dataset=dataset, trace=trace, input="item-in-admin")
    PreferencePair.objects.create(
        project=project,
        source="edit",
        trace=trace,
        prompt="q",
        chosen="pair-in-admin",
        rejected="r",
        dedupe_key="k",
    )
    return {
        "project": project.name,
        "trace": "trace-in-admin",
        "feedbackevent": "event-in-admin",
        "errormode": "Mode in admin",
        "review": "trace-in-admin",
        "dataset": "dataset-in-admin",
        "datasetitem": "item-in-admin",
        "preferencepair": "pair-in-admin",
    }


MODELS = [
    "project",
    "trace",
    "feedbackevent",
    "errormode",
    "review",
    "dataset",
    "datasetitem",
    "preferencepair",
]
# Written by capture, the pipeline and the host's backend only; curators review them.
RECORDS = ("feedbackevent", "preferencepair", "trace")


def _html(response):
    return response.content.decode()


@pytest.mark.parametrize("model", MODELS)
def test_changelist_shows_the_rows(admin_client, rows, model):
    # The trace list opens on the review queue; "all" shows every trace.
    query = "?sentiment=all&review=all" if model == "trace" else ""
    response = admin_client.get(f"{ADMIN}/{model}/{query}")

    assert response.status_code == 200
    assert rows[model] in _html(response)
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", MODELS)
def test_changelist_search_answers(admin_client, rows, model):
    response = admin_client.get(f"{ADMIN}/{model}/", {"q": "in-admin"})

    assert response.status_code == 200


@pytest.mark.parametrize("model", [m for m in MODELS if m not in RECORDS])
def test_add_page_answers(admin_client, rows, model):
    response = admin_client.get(f"{ADMIN}/{model}/add/")

    assert response.status_code == 200
    assert "<form" in _html(response)


def test_feedback_events_are_records_and_cannot_be_added_or_edited(admin_client, rows):
    event = FeedbackEventFactory(comment="a record")

    add = admin_client.get(f"{ADMIN}/feedbackevent/add/")
    change = admin_client.get(f"{ADMIN}/feedbackevent/{event.pk}/change/")

    assert add.status_code == 403
    assert change.status_code == 200  # view only
    assert 'name="_save"' not in _html(change)
    assert "a record" in _html(change)


@pytest.mark.parametrize("model", MODELS)
def test_change_page_answers(admin_client, rows, model):
    from django.apps import apps

    obj = apps.get_model("feedback_loop", model).objects.order_by("pk").last()

    response = admin_client.get(f"{ADMIN}/{model}/{obj.pk}/change/")

    assert response.status_code == 200


@pytest.mark.parametrize("trace_id", ["trace-in-admin", "order#12&retry+1 ?"])
def test_trace_page_links_to_its_events(admin_client, project, trace_id):
    trace = TraceFactory(project=project, key=trace_id)
    FeedbackEventFactory(project=project, trace_key=trace_id, comment="on this trace")
    FeedbackEventFactory(project=project, trace_key="another-trace", comment="elsewhere")

    page = _html(admin_client.get(f"{ADMIN}/trace/{trace.pk}/change/"))
    (href,) = re.findall(r'<a href="([^"]*/feedbackevent/\?[^"]*)">1</a>', page)
    events = admin_client.get(html.unescape(href))

    assert events.status_code == 200
    assert events.context["cl"].result_count == 1
    assert "on this trace" in _html(events)
    assert "elsewhere" not in _html(events)


# -- project keys --------------------------------------------------------------------------------


def _add_project(client, **fields):
    data = {
        "name": "Shop assistant",
        "is_active": "on",
        "allowed_origins": "https://shop.example.com",
        "require_token": "on",
        "retention_days": "",
        "reviews_per_trace": "1",
    }
    data.update(fields)
    return client.post(f"{ADMIN}/project/add/", data)


def test_adding_a_project_shows_its_secret_key_once(admin_client, client):
    response = _add_project(admin_client)

    assert response.status_code == 200
    text = _html(response)
    (secret,) = SECRET_RE.findall(text)
    project = Project.objects.get(name="Shop assistant")
    assert project.secret_key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert project.secret_key_prefix == secret[:7]
    assert project.origin_list == ["https://shop.example.com"]
    assert project.public_key in text
    assert "shown this once" in text
    assert "no-store" in response["Cache-Control"]
    # The secret is in this page only: not in a cookie, a message, the session or the log.
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert all(secret not in morsel.value for morsel in admin_client.cookies.values())
    assert all(secret not in str(m) for m in get_messages(response.wsgi_request))
    assert all(secret not in str(v) for v in admin_client.session.values())
    assert all(secret not in entry.change_message for entry in LogEntry.objects.all())
    assert secret not in str(Project.objects.filter(pk=project.pk).values().get())
    # It works as the server API's bearer token.
    api = client.get(API_TRACES, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 200
    # And it is not shown again.
    again = _html(admin_client.get(f"{ADMIN}/project/{project.pk}/change/"))
    assert secret not in again
    assert "stored hashed" in again


def test_project_change_page_shows_public_key_and_rotate_links(admin_client, project, secret):
    response = admin_client.get(f"{ADMIN}/project/{project.pk}/change/")

    text = _html(response)
    assert response.status_code == 200
    assert project.public_key in text
    assert secret not in text
    assert secret[:7] in text  # the prefix helps tell keys apart
    assert f'href="{ADMIN}/project/{project.pk}/rotate/secret/"' in text
    assert f'href="{ADMIN}/project/{project.pk}/rotate/public/"' in text
    assert "Rotate secret key" in text
    assert "Rotate public key" in text


def test_get_rotate_asks_for_confirmation_and_changes_nothing(admin_client, project, secret):
    before = (project.public_key, project.secret_key_hash)

    secret_page = admin_client.get(f"{ADMIN}/project/{project.pk}/rotate/secret/")
    public_page = admin_client.get(f"{ADMIN}/project/{project.pk}/rotate/public/")

    assert secret_page.status_code == 200
    assert "Yes, rotate it" in _html(secret_page)
    assert "A new secret key replaces the current one" in _html(secret_page)
    assert public_page.status_code == 200
    assert "A new public key replaces the current one" in _html(public_page)
    project.refresh_from_db()
    assert (project.public_key, project.secret_key_hash) == before


def test_rotating_the_secret_key_shows_the_new_one_and_retires_the_old(
    admin_client, client, project, secret
):
    assert client.get(API_TRACES, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200

    response = admin_client.post(f"{ADMIN}/project/{project.pk}/rotate/secret/")

    assert response.status_code == 200
    (new_secret,) = SECRET_RE.findall(_html(response))
    assert new_secret != secret
    assert "no-store" in response["Cache-Control"]
    project.refresh_from_db()
    assert project.secret_key_hash == hashlib.sha256(new_secret.encode()).hexdigest()
    old = client.get(API_TRACES, HTTP_AUTHORIZATION=f"Bearer {secret}")
    new = client.get(API_TRACES, HTTP_AUTHORIZATION=f"Bearer {new_secret}")
    assert old.status_code == 401
    assert old.json()["error"]["message"] == "No active project has this secret key."
    assert new.status_code == 200
    assert LogEntry.objects.filter(object_id=str(project.pk)).first().get_change_message() == (
        "Rotated the secret key."
    )


def test_rotating_the_public_key_changes_it_and_says_so(admin_client, project, secret):
    old_key = project.public_key

    response = admin_client.post(f"{ADMIN}/project/{project.pk}/rotate/public/", follow=True)

    project.refresh_from_db()
    assert project.public_key != old_key
    assert project.public_key.startswith("pk_")
    assert response.redirect_chain == [(f"{ADMIN}/project/{project.pk}/change/", 302)]
    text = _html(response)
    assert f"The public key is now {project.public_key}" in text
    assert old_key not in text
    # The secret key is untouched.
    assert project.secret_key_hash == hashlib.sha256(secret.encode()).hexdigest()


def test_rotate_with_an_unknown_key_kind_goes_back_to_the_project(admin_client, project):
    before = (project.public_key, project.secret_key_hash)

    response = admin_client.post(f"{ADMIN}/project/{project.pk}/rotate/everything/")

    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN}/project/{project.pk}/change/"
    project.refresh_from_db()
    assert (project.public_key, project.secret_key_hash) == before


def test_staff_who_may_only_view_projects_cannot_rotate(client, project):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_project"))
    project.members.add(viewer)
    client.force_login(viewer)
    before = (project.public_key, project.secret_key_hash)

    page = client.get(f"{ADMIN}/project/{project.pk}/change/")
    rotate = client.post(f"{ADMIN}/project/{project.pk}/rotate/secret/")

    assert page.status_code == 200
    assert "Rotate secret key" not in _html(page)
    assert rotate.status_code == 403
    project.refresh_from_db()
    assert (project.public_key, project.secret_key_hash) == before


@pytest.mark.parametrize(
    "origins",
    ["ftp://x", "https://exa mple.com", "https://app.example.com/path", "https://exa_mple.com"],
)
def test_invalid_allowed_origins_are_a_form_error(admin_client, project, origins):
    added = _add_project(admin_client, allowed_origins=origins)
    changed = admin_client.post(
        f"{ADMIN}/project/{project.pk}/change/",
        {
            "name": project.name,
            "is_active": "on",
            "allowed_origins": origins,
            "reviews_per_trace": "1",
        },
    )

    for response in (added, changed):
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert list(errors) == ["allowed_origins"]
        assert "Not an origin" in errors["allowed_origins"][0]
        assert "Not an origin" in _html(response)
    assert not Project.objects.filter(name="Shop assistant").exists()
    project.refresh_from_db()
    assert project.allowed_origins == ""


def test_valid_allowed_origins_are_saved(admin_client, project):
    origins = "https://app.example.com\nhttps://*.example.org, *.example.net\nhttp://localhost:8000"

    response = admin_client.post(
        f"{ADMIN}/project/{project.pk}/change/",
        {
            "name": project.name,
            "is_active": "on",
            "allowed_origins": origins,
            "reviews_per_trace": "1",
        },
    )

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.origin_list == [
        "https://app.example.com",
        "https://*.example.org",
        "*.example.net",
        "http://localhost:8000",
    ]


# -- error modes ---------------------------------------------------------------------------------


def test_built_in_error_modes_exist_after_migrations():
    builtins = ErrorMode.objects.filter(project=None, is_builtin=True)

    assert set(builtins.values_list("slug", flat=True)) == {
        "hallucination",
        "format",
        "refusal",
        "length",
    }
    assert builtins.get(slug="hallucination").name == "Hallucination"


def test_built_in_error_modes_cannot_be_deleted(admin_client):
    mode = ErrorMode.objects.get(project=None, slug="hallucination")

    change = admin_client.get(f"{ADMIN}/errormode/{mode.pk}/change/")
    delete_page = admin_client.get(f"{ADMIN}/errormode/{mode.pk}/delete/")
    delete_post = admin_client.post(f"{ADMIN}/errormode/{mode.pk}/delete/", {"post": "yes"})
    bulk = admin_client.post(
        f"{ADMIN}/errormode/",
        {"action": "delete_selected", "_selected_action": [mode.pk], "post": "yes"},
    )

    assert change.status_code == 200
    assert f"/errormode/{mode.pk}/delete/" not in _html(change)
    assert delete_page.status_code == 403
    assert delete_post.status_code == 403
    assert bulk.status_code == 403
    assert ErrorMode.objects.filter(pk=mode.pk).exists()


def test_a_projects_own_error_mode_can_be_deleted(admin_client, project):
    mode = ErrorModeFactory(project=project, slug="tone", name="Tone")

    response = admin_client.post(f"{ADMIN}/errormode/{mode.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not ErrorMode.objects.filter(pk=mode.pk).exists()


# -- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"{ADMIN}/project/",
        f"{ADMIN}/trace/",
        f"{ADMIN}/project/add/",
        "/admin/",
    ],
)
def test_non_staff_user_is_sent_to_the_admin_login(client, path):
    client.force_login(UserFactory(is_staff=False))

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_non_staff_user_cannot_rotate_keys(client, project, secret):
    client.force_login(UserFactory(is_staff=False))
    before = (project.public_key, project.secret_key_hash)

    response = client.post(f"{ADMIN}/project/{project.pk}/rotate/secret/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert "sk_" not in _html(response)
    project.refresh_from_db()
    assert (project.public_key, project.secret_key_hash) == before


def test_the_queues_json_lines_export_needs_the_export_permission(client, db):
    """Trace text in bulk is an export: view permission alone does not offer or run it."""
    from tests.test_access import staff

    mine, _secret = Project.create("Mine")
    TraceFactory(project=mine)
    url = "/admin/feedback_loop/trace/?sentiment=all&review=all"
    selection = {"action": "export_jsonl", "_selected_action": [mine.traces.first().pk]}
    client.force_login(staff(perms=["view_trace"], projects=[mine]))
    assert 'value="export_jsonl"' not in client.get(url).content.decode()
    refused = client.post(url, selection)
    assert refused.get("Content-Disposition") is None
    client.force_login(staff(perms=["view_trace", "export_dataset"], projects=[mine]))
    assert 'value="export_jsonl"' in client.get(url).content.decode()
    exported = client.post(url, selection)
    assert exported["Content-Disposition"].startswith("attachment")
