"""Test settings: the demo site's, on SQLite by default or on whatever DATABASE_URL names."""

import os
import tempfile

from example_project.settings import *  # noqa: F403
from example_project.settings import BASE_DIR, DATABASES, TEMPLATES

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
# The demo site plus the test-only pages of the browser tests (tests/browser) under /_test/.
ROOT_URLCONF = "tests.urls"
TEMPLATES = [{**TEMPLATES[0], "DIRS": [*TEMPLATES[0]["DIRS"], BASE_DIR / "tests" / "templates"]}]
if os.environ.get("TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DB_NAME"]}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
    if not os.environ.get("TEST_DB_NAME"):
        # A file, not memory: with an in-memory database the live server's request threads
        # (several at once in the browser tests: a beacon and a page load) would all share the
        # test thread's one connection, and its transactions. One file per run, removed after it.
        DATABASES["default"]["TEST"] = {
            "NAME": os.path.join(tempfile.gettempdir(), f"feedback-loop-test-{os.getpid()}.sqlite3")
        }
# Every request opens its own connection, so the outage tests see a broken server at once.
DATABASES["default"]["CONN_MAX_AGE"] = 0

# The real-worker tests (tests/test_worker.py) start Celery workers with these settings and a
# smaller transaction size, so that a worker killed mid-batch has committed part of it.
if os.environ.get("TEST_PROCESS_CHUNK_TRACES"):
    FEEDBACK_LOOP = {
        **FEEDBACK_LOOP,  # noqa: F405
        "PROCESS_CHUNK_TRACES": int(os.environ["TEST_PROCESS_CHUNK_TRACES"]),
    }

# Servers the fault and load tests start (tests/services.py) take extra FEEDBACK_LOOP settings
# as JSON, e.g. no throttle for the load test.
if os.environ.get("TEST_FEEDBACK_LOOP"):
    import json

    FEEDBACK_LOOP = {**FEEDBACK_LOOP, **json.loads(os.environ["TEST_FEEDBACK_LOOP"])}
