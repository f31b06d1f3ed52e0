"""System checks for a host's configuration: ``python manage.py check`` names what is wrong."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.cache import InvalidCacheBackendError, caches

from feedback_loop import conf


@checks.register(checks.Tags.compatibility)
def check_dependencies(app_configs=None, **kwargs):
    errors: list[checks.CheckMessage] = []
    if not apps.is_installed("rest_framework"):
        errors.append(
            checks.Error(
                "feedback_loop needs Django REST framework for its server API.",
                hint="Add 'rest_framework' to INSTALLED_APPS.",
                id="feedback_loop.E001",
            )
        )
    if not apps.is_installed("django_filters"):
        errors.append(
            checks.Error(
                "feedback_loop needs django-filter for the API's list filters.",
                hint="Add 'django_filters' to INSTALLED_APPS.",
                id="feedback_loop.E002",
            )
        )
    if not apps.is_installed("django.contrib.staticfiles"):
        errors.append(
            checks.Warning(
                "feedback_loop's admin screens load their styles and scripts through the "
                "static files app.",
                hint="Add 'django.contrib.staticfiles' to INSTALLED_APPS, or serve "
                "feedback_loop/static/ yourself.",
                id="feedback_loop.W003",
            )
        )
    return errors


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    user_settings = getattr(settings, "FEEDBACK_LOOP", None) or {}
    if not isinstance(user_settings, dict):
        return [
            checks.Error(
                "FEEDBACK_LOOP must be a dict.",
                hint="For example FEEDBACK_LOOP = {'MAX_BATCH_SIZE': 100}.",
                id="feedback_loop.E003",
            )
        ]
    return [
        checks.Error(
            problem,
            hint="See the settings table in the README of django-feedback-loop.",
            id="feedback_loop.E003",
        )
        for problem in conf.validate(user_settings)
    ]


@checks.register(checks.Tags.caches)
def check_throttle_cache(app_configs=None, **kwargs):
    user_settings = getattr(settings, "FEEDBACK_LOOP", None) or {}
    if not isinstance(user_settings, dict):
        return []
    rate = user_settings.get("THROTTLE_RATE", conf.DEFAULTS["THROTTLE_RATE"])
    alias = user_settings.get("THROTTLE_CACHE", conf.DEFAULTS["THROTTLE_CACHE"])
    if rate is None:
        return []
    try:
        cache = caches[alias]
    except InvalidCacheBackendError:
        return [
            checks.Error(
                f"FEEDBACK_LOOP['THROTTLE_CACHE'] names the cache {alias!r}, "
                "which is not in CACHES.",
                hint="Name a configured cache, or set FEEDBACK_LOOP['THROTTLE_RATE'] = None.",
                id="feedback_loop.E004",
            )
        ]
    backend = f"{type(cache).__module__}.{type(cache).__qualname__}"
    if backend == "django.core.cache.backends.dummy.DummyCache":
        return [
            checks.Warning(
                f"The cache {alias!r} is a DummyCache, which cannot count requests, so the "
                "capture endpoint is not throttled.",
                hint="Point FEEDBACK_LOOP['THROTTLE_CACHE'] at Redis, Memcached or the "
                "database cache, or set FEEDBACK_LOOP['THROTTLE_RATE'] = None to say so.",
                id="feedback_loop.W001",
            )
        ]
    return []


@checks.register(checks.Tags.compatibility)
def check_celery_broker(app_configs=None, **kwargs):
    """The tasks are ``shared_task``s: they go to whatever Celery app is current in this
    process. Without the host's app (``proj/celery.py`` imported by ``proj/__init__.py``) that
    is Celery's default one, which publishes to ``amqp://localhost`` while capture answers
    ``accepted``: events nobody processes."""
    from celery import current_app

    conf = current_app.conf
    if conf.task_always_eager or conf.broker_url or conf.broker_write_url:
        return []
    return [
        checks.Warning(
            f"The Celery app feedback_loop's tasks use ({_app_name(current_app)}) has no broker "
            "and is not eager, so captured events would be published to "
            "Celery's default amqp://localhost and may never be processed.",
            hint="Create proj/celery.py and import it in proj/__init__.py as the README's "
            "Processing section shows, and set CELERY_BROKER_URL; or set "
            "CELERY_TASK_ALWAYS_EAGER = True to process events in the request.",
            id="feedback_loop.W004",
        )
    ]


def _app_name(app) -> str:
    return "Celery's default app" if app.main in (None, "default") else repr(app.main)


SUPPORTED_DATABASES = ("postgresql", "sqlite")


@checks.register(checks.Tags.compatibility)
def check_database(app_configs=None, **kwargs):
    """Capture writes a batch with INSERT ... ON CONFLICT DO NOTHING RETURNING (a repeated event
    is answered "duplicate", never stored twice), which PostgreSQL and SQLite speak."""
    from django.db import connections, router

    from feedback_loop.models import FeedbackEvent

    return database_problems(connections[router.db_for_write(FeedbackEvent)].vendor)


def database_problems(vendor: str) -> list[checks.CheckMessage]:
    if vendor in SUPPORTED_DATABASES:
        return []
    return [
        checks.Error(
            f"feedback_loop stores feedback events on PostgreSQL or SQLite, not {vendor}.",
            hint="Route feedback_loop's models to a PostgreSQL database (DATABASE_ROUTERS).",
            id="feedback_loop.E005",
        )
    ]


@checks.register(checks.Tags.database)
def check_statistics(app_configs=None, databases=None, **kwargs):
    """Run by ``migrate`` and ``check --database``: PostgreSQL keeps the events table's planner
    statistics only through autovacuum. Without them the planner cannot tell the table's
    indexes apart, and capture's count of a voter's events on a trace (a few index entries)
    was planned as a scan of the whole project's events through ``(project, user_id)``: on a
    never-analysed table each 100-event request cost PostgreSQL 66 ms instead of 3."""
    from django.db import connections, router

    from feedback_loop.models import FeedbackEvent

    alias = router.db_for_write(FeedbackEvent)
    if not databases or alias not in databases:
        return []
    return statistics_problems(connections[alias])


def statistics_problems(connection) -> list[checks.CheckMessage]:
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('autovacuum')")
        (autovacuum,) = cursor.fetchone()
    if autovacuum == "on":
        return []
    return [
        checks.Warning(
            "autovacuum is off on the PostgreSQL server that stores feedback events: the "
            "planner's statistics of the events table go stale or are never gathered, and "
            "capture's per-voter count can then read every event of a project on each request.",
            hint="Turn autovacuum on, or run ANALYZE on feedback_loop_feedbackevent and "
            "feedback_loop_trace regularly (daily, and after a bulk load).",
            id="feedback_loop.W005",
        )
    ]
