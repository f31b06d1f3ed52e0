"""Test settings: the demo site's, on SQLite by default or on whatever DATABASE_URL names."""

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import DATABASES

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
if os.environ.get("TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DB_NAME"]}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
# Every request opens its own connection, so the outage tests see a broken server at once.
DATABASES["default"]["CONN_MAX_AGE"] = 0
