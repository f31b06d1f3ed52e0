"""Schemathesis against the project's own OpenAPI document, every operation, in CI: no answer
is a 5xx and every answer conforms to the document (status codes, content types, bodies), for
generated valid and invalid requests alike."""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection

from feedback_loop.models import Project

schema = schemathesis.openapi.from_wsgi("/feedback/api/v1/schema", get_wsgi_application())
CREDENTIALS: dict[str, str] = {}


@schema.auth(refresh_interval=None)  # asked for every case: each test has its own project
class SecretKey:
    """The project's secret key as the bearer token; schemathesis also tries without it."""

    def get(self, case, context):
        # Also called while collecting, before any project exists.
        return CREDENTIALS.get("secret", "sk_not_yet")

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture
def keys(db):
    # Requests go straight to the WSGI handler, whose request signals would close the test's
    # database connection (and its transaction); Django's test client detaches them the same way.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    project, secret = Project.create("Fuzzed", require_token=False)
    CREDENTIALS["secret"] = secret
    yield project
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("FL_EXAMPLES", "30")),
    # The same examples on every run, so that CI is not at the mercy of a lucky draw;
    # FL_EXPLORE=1 draws new ones, FL_EXAMPLES=300 draws more of them (and the README's
    # schemathesis run explores further).
    derandomize=not os.environ.get("FL_EXPLORE"),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_documented(case, keys):
    excluded = []
    if case.operation.method.upper() == "POST" and case.operation.path.endswith("/events"):
        # The public capture endpoint names its project by the body's key or the header; a
        # generated key names no project. Its events are judged one by one: an invalid event
        # is answered 200 with "rejected" and a reason in its result, as documented.
        if isinstance(case.body, dict) and "key" in case.body:
            case.body["key"] = keys.public_key
        if case.headers and "X-Feedback-Key" in case.headers:
            case.headers["X-Feedback-Key"] = keys.public_key
        excluded.append(negative_data_rejection)
    if case.operation.method.upper() == "POST" and case.operation.path.endswith("/traces"):
        # A conversation has rules no JSON Schema states (it ends with the user's turn, a tool
        # message names its call, each content part holds its own keys); one that breaks them
        # is a 400 naming the message, as documented.
        from schemathesis.specs.openapi.checks import positive_data_acceptance

        excluded.append(positive_data_acceptance)
    if case.operation.path.endswith("/traces") and (case.query or {}).get("where"):
        # A where expression has a grammar (feedback_loop/where.py) no JSON Schema states; one
        # that breaks it is a 400 naming the parameter, its position and the reason.
        from schemathesis.specs.openapi.checks import positive_data_acceptance

        excluded.append(positive_data_acceptance)
    if case.operation.path.endswith("/stats/compare") and "by" in (case.query or {}):
        # A metadata key is a path of the where language (metadata.plan), read by its scanner
        # and its rules for keys; one that breaks them is a 400 naming the parameter and why.
        from schemathesis.specs.openapi.checks import positive_data_acceptance

        excluded.append(positive_data_acceptance)
    case.call_and_validate(excluded_checks=excluded)
