"""Settings for bench/capture.py: the demo site's, tuned to measure the capture endpoint.

The database comes from DATABASE_URL, as for the demo; capture.py points it at a dedicated
PostgreSQL database.
"""

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import DATABASES, FEEDBACK_LOOP

DEBUG = False
ROOT_URLCONF = "bench.urls"

# The throttle and the limit per voter still run on every request (their cost is part of the
# endpoint) but never trip: every request is one voter on one trace.
FEEDBACK_LOOP = {
    **FEEDBACK_LOOP,
    "THROTTLE_RATE": "100000000/min",
    "MAX_EVENTS_PER_VOTER": 10**12,
}

# Capture hands every accepted batch to Celery, as in production: the publish to Redis is part
# of the measured cost. No worker runs during the capture benchmark; capture.py empties this
# Redis database between rows.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15"
CELERY_TASK_ALWAYS_EAGER = False

# Reconnecting on every request would dominate a 1-event request; production keeps connections.
DATABASES["default"]["CONN_MAX_AGE"] = 600

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # 4xx warnings would flood the terminal; the benchmark counts non-2xx answers itself.
    "handlers": {"console": {"class": "logging.StreamHandler", "level": "ERROR"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}
