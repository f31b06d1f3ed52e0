"""``feedback_loop.conf.app_settings`` and the system checks that name a host's mistakes."""

import pytest
from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.test import override_settings

from feedback_loop import checks as fl_checks
from feedback_loop.conf import DEFAULTS, app_settings, parse_rate, validate

pytestmark = pytest.mark.django_db

DUMMY = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def ids(messages):
    return sorted(m.id for m in messages if m.id.startswith("feedback_loop."))


# -- settings ------------------------------------------------------------------------------------


def test_defaults():
    assert app_settings.MAX_BATCH_SIZE == 100
    assert app_settings.MAX_BODY_BYTES == 1024 * 1024
    assert app_settings.MAX_TEXT_CHARS == 65_536
    assert app_settings.MAX_COMMENT_CHARS == 4_000
    assert app_settings.RATING_SCALE == 5
    assert app_settings.CLOCK_SKEW_SECONDS == 300
    assert app_settings.TOKEN_MAX_AGE == 7 * 24 * 3600
    assert app_settings.THROTTLE_RATE == "1200/min"
    assert app_settings.THROTTLE_CACHE == "default"
    assert app_settings.NUM_PROXIES == 0
    assert app_settings.RETRY_AFTER_SECONDS == 5
    assert app_settings.PROJECT_CACHE_SECONDS == 10
    assert app_settings.MAX_TRACE_BATCH_SIZE == 100
    assert app_settings.PAGE_SIZE == 50
    assert app_settings.MAX_PAGE_SIZE == 500
    assert app_settings.ENDPOINT_URL is None
    # The demo settings name their project; nothing else is set.
    demo_project = settings.FEEDBACK_LOOP["DEFAULT_PROJECT"]
    assert demo_project == app_settings.DEFAULT_PROJECT
    assert set(settings.FEEDBACK_LOOP) == {"DEFAULT_PROJECT"}


def test_without_a_feedback_loop_setting_every_default_applies():
    from feedback_loop.triage import suggest_error_modes

    with override_settings(FEEDBACK_LOOP=None):
        plain = {
            name: getattr(app_settings, name) for name in DEFAULTS if name != "TRIAGE_CLASSIFIER"
        }
        assert plain == {k: v for k, v in DEFAULTS.items() if k != "TRIAGE_CLASSIFIER"}
        assert app_settings.DEFAULT_PROJECT is None
        # Dotted paths are imported on first use.
        assert app_settings.TRIAGE_CLASSIFIER is suggest_error_modes


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="Invalid feedback_loop setting: 'MAX_BATCHSIZE'"):
        _ = app_settings.MAX_BATCHSIZE


def test_override_settings_takes_effect_and_is_undone():
    assert app_settings.MAX_BATCH_SIZE == 100  # read (and cached) before

    with override_settings(FEEDBACK_LOOP={"MAX_BATCH_SIZE": 7, "THROTTLE_RATE": None}):
        assert app_settings.MAX_BATCH_SIZE == 7
        assert app_settings.THROTTLE_RATE is None
        assert app_settings.PAGE_SIZE == 50  # others keep their defaults
        assert app_settings.DEFAULT_PROJECT is None  # the dict is replaced, not merged

    assert app_settings.MAX_BATCH_SIZE == 100
    assert app_settings.THROTTLE_RATE == "1200/min"
    demo_project = settings.FEEDBACK_LOOP["DEFAULT_PROJECT"]
    assert demo_project == app_settings.DEFAULT_PROJECT


def test_override_settings_as_a_decorator():
    @override_settings(FEEDBACK_LOOP={"PAGE_SIZE": 3})
    def inside():
        return app_settings.PAGE_SIZE

    assert inside() == 3
    assert app_settings.PAGE_SIZE == 50


def test_the_settings_fixture_works_too(settings):
    settings.FEEDBACK_LOOP = {"RETRY_AFTER_SECONDS": 30}

    assert app_settings.RETRY_AFTER_SECONDS == 30


def test_the_settings_fixture_is_undone():
    assert app_settings.RETRY_AFTER_SECONDS == 5


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("1200/min", (1200, 60)),
        ("5/s", (5, 1)),
        ("10 / second", (10, 1)),
        ("100/h", (100, 3600)),
        ("1000/day", (1000, 86400)),
        (None, None),
    ],
)
def test_parse_rate(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["fast", "10/week", "/min", "-1/min", "10 per minute", ""])
def test_parse_rate_rejects_what_it_cannot_read(rate):
    with pytest.raises(ValueError, match="is not a rate such as '600/min'"):
        parse_rate(rate)


# -- system checks -------------------------------------------------------------------------------


def test_demo_settings_have_no_feedback_loop_problems():
    assert ids(checks.run_checks()) == []
    assert ids(checks.run_checks(include_deployment_checks=True)) == []


def test_manage_py_check_passes_with_the_demo_settings(capsys):
    call_command("check")

    assert "System check identified no issues" in capsys.readouterr().out


def _without(*names):
    return [app for app in settings.INSTALLED_APPS if app not in names]


def test_e001_when_rest_framework_is_not_installed():
    with override_settings(INSTALLED_APPS=_without("rest_framework")):
        messages = fl_checks.check_dependencies()
        through_registry = checks.run_checks(tags=[checks.Tags.compatibility])

    assert ids(messages) == ["feedback_loop.E001"]
    (error,) = messages
    assert error.level == checks.ERROR
    assert "Django REST framework" in error.msg
    assert error.hint == "Add 'rest_framework' to INSTALLED_APPS."
    assert ids(through_registry) == ["feedback_loop.E001"]


def test_e002_when_django_filters_is_not_installed():
    with override_settings(INSTALLED_APPS=_without("django_filters")):
        messages = fl_checks.check_dependencies()

    assert ids(messages) == ["feedback_loop.E002"]
    assert messages[0].hint == "Add 'django_filters' to INSTALLED_APPS."


def test_w003_when_staticfiles_is_not_installed():
    with override_settings(INSTALLED_APPS=_without("django.contrib.staticfiles")):
        messages = fl_checks.check_dependencies()

    assert ids(messages) == ["feedback_loop.W003"]
    assert messages[0].level == checks.WARNING


@pytest.mark.parametrize(
    ("user_settings", "words"),
    [
        ({"MAX_BATCHSIZE": 10}, "FEEDBACK_LOOP['MAX_BATCHSIZE'] is not a setting"),
        (
            {"MAX_BATCH_SIZE": 0},
            "FEEDBACK_LOOP['MAX_BATCH_SIZE'] must be a positive integer, not 0",
        ),
        ({"PAGE_SIZE": "50"}, "FEEDBACK_LOOP['PAGE_SIZE'] must be a positive integer, not '50'"),
        ({"TOKEN_MAX_AGE": True}, "FEEDBACK_LOOP['TOKEN_MAX_AGE'] must be a positive integer"),
        ({"NUM_PROXIES": -1}, "FEEDBACK_LOOP['NUM_PROXIES'] must be an integer >= 0, not -1"),
        ({"THROTTLE_RATE": "fast"}, "FEEDBACK_LOOP['THROTTLE_RATE']: 'fast' is not a rate"),
        ({"ENQUEUE_ON_CAPTURE": "yes"}, "FEEDBACK_LOOP['ENQUEUE_ON_CAPTURE'] must be True or"),
        ({"PROCESS_CHUNK_TRACES": 0}, "FEEDBACK_LOOP['PROCESS_CHUNK_TRACES'] must be a positive"),
        ({"SWEEP_AFTER_SECONDS": -5}, "FEEDBACK_LOOP['SWEEP_AFTER_SECONDS'] must be an integer"),
        (
            {"TRIAGE_CLASSIFIER": "myapp.nowhere.classify"},
            "FEEDBACK_LOOP['TRIAGE_CLASSIFIER']: cannot import 'myapp.nowhere.classify'",
        ),
        (
            {"TRIAGE_CLASSIFIER": 42},
            "FEEDBACK_LOOP['TRIAGE_CLASSIFIER'] must be a dotted path or a callable, not 42",
        ),
    ],
)
def test_e003_for_an_unknown_setting_or_a_bad_value(user_settings, words):
    with override_settings(FEEDBACK_LOOP=user_settings):
        messages = fl_checks.check_settings()
        through_registry = checks.run_checks()

    assert ids(messages) == ["feedback_loop.E003"]
    assert words in messages[0].msg
    assert messages[0].level == checks.ERROR
    assert "feedback_loop.E003" in ids(through_registry)


def test_e003_names_every_problem():
    with override_settings(FEEDBACK_LOOP={"MAX_BATCH_SIZE": 0, "COLOUR": "blue", "PAGE_SIZE": 2}):
        messages = fl_checks.check_settings()

    assert ids(messages) == ["feedback_loop.E003", "feedback_loop.E003"]
    assert sorted(m.msg for m in messages) == [
        "FEEDBACK_LOOP['COLOUR'] is not a setting of feedback_loop.",
        "FEEDBACK_LOOP['MAX_BATCH_SIZE'] must be a positive integer, not 0.",
    ]


def test_e003_when_feedback_loop_is_not_a_dict():
    with override_settings(FEEDBACK_LOOP=["MAX_BATCH_SIZE", 10]):
        messages = fl_checks.check_settings()

    assert ids(messages) == ["feedback_loop.E003"]
    assert messages[0].msg == "FEEDBACK_LOOP must be a dict."


def test_valid_settings_pass_validation():
    assert validate({"MAX_BATCH_SIZE": 1, "THROTTLE_RATE": None, "CLOCK_SKEW_SECONDS": 0}) == []


def test_e004_for_a_throttle_cache_that_is_not_configured():
    with override_settings(FEEDBACK_LOOP={"THROTTLE_CACHE": "throttle"}):
        messages = fl_checks.check_throttle_cache()
        through_registry = checks.run_checks(tags=[checks.Tags.caches])

    assert ids(messages) == ["feedback_loop.E004"]
    assert "'throttle'" in messages[0].msg
    assert "THROTTLE_RATE'] = None" in messages[0].hint
    assert ids(through_registry) == ["feedback_loop.E004"]


def test_a_configured_throttle_cache_passes():
    caches = {"default": LOCMEM, "throttle": LOCMEM}
    with override_settings(CACHES=caches, FEEDBACK_LOOP={"THROTTLE_CACHE": "throttle"}):
        assert fl_checks.check_throttle_cache() == []


def test_w001_for_a_dummy_throttle_cache():
    with override_settings(CACHES={"default": DUMMY}):
        messages = fl_checks.check_throttle_cache()

    assert ids(messages) == ["feedback_loop.W001"]
    assert messages[0].level == checks.WARNING
    assert "DummyCache" in messages[0].msg


def test_w001_names_the_throttle_cache_alias():
    caches = {"default": LOCMEM, "throttle": DUMMY}
    with override_settings(CACHES=caches, FEEDBACK_LOOP={"THROTTLE_CACHE": "throttle"}):
        messages = fl_checks.check_throttle_cache()

    assert ids(messages) == ["feedback_loop.W001"]
    assert "'throttle'" in messages[0].msg


def test_no_throttle_cache_check_when_throttling_is_off():
    with override_settings(
        CACHES={"default": DUMMY}, FEEDBACK_LOOP={"THROTTLE_RATE": None, "THROTTLE_CACHE": "nope"}
    ):
        assert fl_checks.check_throttle_cache() == []


def test_events_on_a_database_capture_cannot_write_to_are_an_error():
    from feedback_loop.checks import check_database, database_problems

    assert check_database() == []  # the suite's database: SQLite or PostgreSQL
    [error] = database_problems("mysql")
    assert error.id == "feedback_loop.E005" and "PostgreSQL or SQLite, not mysql" in error.msg


@pytest.fixture
def bare_celery_app():
    """Celery's default app as a site without its own proj/celery.py has it: no broker."""
    from celery import Celery, current_app

    previous = current_app._get_current_object()
    app = Celery("bare", set_as_current=True)
    yield app
    previous.set_current()


def test_w004_when_the_tasks_celery_app_has_no_broker_and_is_not_eager(bare_celery_app):
    from feedback_loop.checks import check_celery_broker

    (warning,) = check_celery_broker()
    assert warning.id == "feedback_loop.W004"
    assert "amqp://localhost" in warning.msg
    assert "CELERY_BROKER_URL" in warning.hint


def test_no_w004_with_a_broker_or_eager_tasks(bare_celery_app, monkeypatch):
    from feedback_loop.checks import check_celery_broker

    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    bare_celery_app.conf.broker_url = "redis://127.0.0.1:6379/0"
    assert check_celery_broker() == []
    bare_celery_app.conf.broker_url = None
    bare_celery_app.conf.task_always_eager = True
    assert check_celery_broker() == []


def test_the_demo_sites_celery_app_is_the_one_the_tasks_use():
    from celery import current_app

    from feedback_loop.tasks import process_events

    assert current_app.main == "example_project"
    assert process_events.app.main == "example_project"


def test_check_deploy_needs_no_schema_class_from_the_host():
    """`manage.py check --deploy` runs drf-spectacular's schema generation with the host's DRF
    settings, which a fresh site leaves at DRF's own AutoSchema."""
    from django.conf import settings
    from django.core import checks

    assert "DEFAULT_SCHEMA_CLASS" not in getattr(settings, "REST_FRAMEWORK", {})
    messages = checks.run_checks(include_deployment_checks=True)
    ours = [m for m in messages if m.id.startswith(("drf_spectacular", "feedback_loop"))]
    assert ours == []


def test_w005_says_when_the_events_database_runs_without_autovacuum(on_postgres):
    """Against the test server itself: the warning appears exactly when its autovacuum is off
    (this repository's CI server runs with it off), and never on SQLite."""
    from django.db import connection

    from feedback_loop.checks import check_statistics

    found = check_statistics(databases=["default"])
    if not on_postgres:
        assert found == []
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        (autovacuum,) = cursor.fetchone()
    assert [w.id for w in found] == ([] if autovacuum == "on" else ["feedback_loop.W005"])
    assert check_statistics(databases=[]) == []  # run only when asked to check the database
