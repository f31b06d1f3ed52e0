"""``{% load feedback_loop %}``: the widget's script tag and signed trace tokens in templates."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, RequestContext, Template
from django.test import RequestFactory, override_settings

import feedback_loop
from feedback_loop.models import Project
from feedback_loop.tokens import TokenError, verify_token
from tests.factories import ErrorModeFactory

pytestmark = pytest.mark.django_db


def render(source, context=None, request=None):
    template = Template("{% load feedback_loop %}" + source)
    if request is not None:
        return template.render(RequestContext(request, context or {}))
    return template.render(Context(context or {}))


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(html):
    """The tags of ``html`` with their (unescaped) attributes."""
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture
def default_project(project):
    with override_settings(FEEDBACK_LOOP={"DEFAULT_PROJECT": project.public_key}):
        yield project


def test_script_tag_points_the_widget_at_the_endpoint_with_the_public_key(default_project):
    html = render("{% feedback_loop_script %}")

    [(tag, attrs)] = parse(html)
    assert tag == "script"
    assert attrs["src"] == f"/feedback/widget/{feedback_loop.__version__}/widget.js"
    assert "defer" in attrs
    assert attrs["data-endpoint"] == "/feedback/api/v1/events"
    assert attrs["data-key"] == default_project.public_key
    assert html.endswith("></script>")


@override_settings(ALLOWED_HOSTS=["shop.example.com"])
def test_endpoint_is_absolute_when_the_request_is_in_the_context(default_project):
    request = RequestFactory().get("/chat/", secure=True, HTTP_HOST="shop.example.com")

    [(_tag, attrs)] = parse(render("{% feedback_loop_script %}", request=request))

    assert attrs["data-endpoint"] == "https://shop.example.com/feedback/api/v1/events"
    assert attrs["data-key"] == default_project.public_key


def test_endpoint_url_setting_is_used_as_given(project):
    request = RequestFactory().get("/")
    settings = {"DEFAULT_PROJECT": project.public_key, "ENDPOINT_URL": "https://fb.example.net/e"}

    with override_settings(FEEDBACK_LOOP=settings):
        [(_tag, attrs)] = parse(render("{% feedback_loop_script %}", request=request))

    assert attrs["data-endpoint"] == "https://fb.example.net/e"


def test_project_given_to_the_tag_wins_over_the_default(default_project):
    other, _secret = Project.create("Other")

    by_object = parse(render("{% feedback_loop_script p %}", {"p": other}))
    by_key = parse(render("{% feedback_loop_script key %}", {"key": other.public_key}))

    assert by_object[0][1]["data-key"] == other.public_key
    assert by_key[0][1]["data-key"] == other.public_key


def test_extra_keyword_arguments_become_escaped_data_attributes(default_project):
    html = render(
        '{% feedback_loop_script toolbar="none" selector=sel max_retries=3 %}',
        {"sel": '.answer"><script>alert(1)</script>'},
    )

    [(tag, attrs)] = parse(html)  # nothing was injected: still one tag
    assert tag == "script"
    assert attrs["data-toolbar"] == "none"
    assert attrs["data-max-retries"] == "3"
    assert attrs["data-selector"] == '.answer"><script>alert(1)</script>'
    assert 'data-selector=".answer&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert "<script>alert" not in html


def test_script_tag_carries_the_servers_limits_and_whether_tokens_are_required(project):
    settings = {
        "DEFAULT_PROJECT": project.public_key,
        "MAX_BATCH_SIZE": 50,
        "RATING_SCALE": 10,
        "MAX_COMMENT_CHARS": 500,
        "MAX_TEXT_CHARS": 20_000,
        "MAX_REASONS": 3,
    }
    with override_settings(FEEDBACK_LOOP=settings):
        [(_tag, attrs)] = parse(render("{% feedback_loop_script %}"))
        project.require_token = False
        project.save()
        [(_tag, relaxed)] = parse(render("{% feedback_loop_script %}"))

    assert attrs["data-max-batch-size"] == "50"
    assert attrs["data-rating-scale"] == "10"
    assert attrs["data-max-comment-chars"] == "500"
    assert attrs["data-max-text-chars"] == "20000"
    assert attrs["data-max-reasons"] == "3"
    assert attrs["data-require-token"] == "true"
    assert relaxed["data-require-token"] == "false"


def test_script_tag_lists_the_built_in_error_modes_then_the_projects_own(default_project):
    ErrorModeFactory(project=default_project, slug="tone", name='Wrong "tone", too chummy')
    ErrorModeFactory(project=default_project, slug="outdated", name="Outdated")
    ErrorModeFactory(slug="elsewhere", name="Another project's")  # a project of its own

    html = render("{% feedback_loop_script %}")

    [(_tag, attrs)] = parse(html)
    assert json.loads(attrs["data-error-modes"]) == [
        {"id": "hallucination", "label": "Hallucination"},
        {"id": "format", "label": "Format"},
        {"id": "refusal", "label": "Refusal"},
        {"id": "length", "label": "Length"},
        {"id": "outdated", "label": "Outdated"},
        {"id": "tone", "label": 'Wrong "tone", too chummy'},
    ]
    assert "&quot;tone&quot;" in html  # escaped inside the attribute


def test_arguments_to_the_script_tag_win_over_the_servers_values(default_project):
    [(_tag, attrs)] = parse(render("{% feedback_loop_script max_batch_size=10 %}"))

    assert attrs["data-max-batch-size"] == "10"


def test_token_tag_gives_a_token_that_verifies(default_project):
    token = render('{% feedback_loop_token "t1" %}').strip()

    assert verify_token(token, project_pk=default_project.pk, trace_id="t1").user_id is None
    with pytest.raises(TokenError) as other_trace:
        verify_token(token, project_pk=default_project.pk, trace_id="t2")
    assert other_trace.value.code == "invalid_token"


def test_token_tag_in_an_attribute_with_a_variable_trace_and_user(default_project):
    html = render(
        '<div data-feedback-trace="{{ t.id }}" '
        'data-feedback-token="{% feedback_loop_token t.id user_id=uid %}"></div>',
        {"t": {"id": 42}, "uid": "end-user-9"},
    )

    [(_tag, attrs)] = parse(html)
    assert attrs["data-feedback-trace"] == "42"
    user = verify_token(attrs["data-feedback-token"], project_pk=default_project.pk, trace_id="42")
    assert user.user_id == "end-user-9"


def test_token_tag_with_max_age_expires(default_project):
    token = render('{% feedback_loop_token "t1" max_age=-1 %}').strip()

    with pytest.raises(TokenError) as expired:
        verify_token(token, project_pk=default_project.pk, trace_id="t1")
    assert expired.value.code == "token_expired"


def test_token_tag_for_another_project(default_project):
    other, _secret = Project.create("Other")

    token = render('{% feedback_loop_token "t1" key %}', {"key": other.public_key}).strip()

    assert verify_token(token, project_pk=other.pk, trace_id="t1").user_id is None
    with pytest.raises(TokenError):
        verify_token(token, project_pk=default_project.pk, trace_id="t1")


@pytest.mark.parametrize("source", ["{% feedback_loop_script %}", '{% feedback_loop_token "t1" %}'])
def test_without_default_project_or_argument_the_tags_say_what_to_set(project, source):
    with override_settings(FEEDBACK_LOOP={}), pytest.raises(ImproperlyConfigured) as exc:
        render(source)

    message = str(exc.value)
    assert "FEEDBACK_LOOP['DEFAULT_PROJECT']" in message
    assert "public key" in message


def test_default_project_naming_no_project_says_which_key(db):
    with (
        override_settings(FEEDBACK_LOOP={"DEFAULT_PROJECT": "pk_gone"}),
        pytest.raises(Project.DoesNotExist, match=re.escape("pk_gone")),
    ):
        render("{% feedback_loop_script %}")


# -- the widget's own URL ----------------------------------------------------------------------

WIDGET_FILE = Path(feedback_loop.__file__).parent / "static" / "feedback_loop" / "widget.js"


def test_the_widget_is_served_under_its_version_for_a_year(client):
    response = client.get(f"/feedback/widget/{feedback_loop.__version__}/widget.js")
    assert response.status_code == 200
    assert response.content == WIDGET_FILE.read_bytes()
    assert response["Content-Type"].startswith("text/javascript")
    assert "max-age=31536000" in response["Cache-Control"]
    assert "immutable" in response["Cache-Control"]
    assert response["Access-Control-Allow-Origin"] == "*"
    again = client.get(
        f"/feedback/widget/{feedback_loop.__version__}/widget.js",
        HTTP_IF_NONE_MATCH=response["ETag"],
    )
    assert again.status_code == 304 and again.content == b""


def test_another_version_is_sent_to_the_current_one(client):
    response = client.get("/feedback/widget/0.0.1/widget.js")
    assert response.status_code == 302
    assert response["Location"] == f"/feedback/widget/{feedback_loop.__version__}/widget.js"
    assert "immutable" not in response["Cache-Control"]


def test_the_unversioned_widget_is_cached_for_minutes(client):
    response = client.get("/feedback/widget.js")
    assert response.content == WIDGET_FILE.read_bytes()
    assert "max-age=300" in response["Cache-Control"]
    assert client.post("/feedback/widget.js").status_code == 405


def test_the_widget_url_setting_points_the_tag_elsewhere(default_project):
    cdn = "https://cdn.example.com/feedback_loop/widget.js"
    with override_settings(
        FEEDBACK_LOOP={"DEFAULT_PROJECT": default_project.public_key, "WIDGET_URL": cdn}
    ):
        [(_tag, attrs)] = parse(render("{% feedback_loop_script %}"))
    assert attrs["src"] == cdn
