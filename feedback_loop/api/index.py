"""``GET {mount}/api/v1/``: what is here, as DRF's API root answers, for a person or a client
finding their way (the OpenAPI document has the details)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse

import feedback_loop

# (name, URL name, path arguments shown as placeholders, methods, what it is)
ENDPOINTS = [
    ("events", "events", {}, "POST (public key), GET", "capture events; list them"),
    ("traces", "traces", {}, "GET, POST", "list traces; register them and get tokens"),
    ("trace", "trace-detail", {"trace_id": "{trace_id}"}, "GET", "one trace"),
    ("stats", "stats", {}, "GET", "satisfaction, signals, error modes, models"),
    ("stats_compare", "stats-compare", {}, "GET", "two releases compared, with intervals"),
    (
        "stats_agreement",
        "stats-agreement",
        {},
        "GET",
        "users, reviewers, triage and scorers against reviewers",
    ),
    ("user_data", "user-data", {"user_id": "{user_id}"}, "GET, DELETE", "an end user's data"),
    ("datasets", "datasets", {}, "GET, POST", "list and create datasets"),
    ("dataset", "dataset-detail", {"pk": "{id}"}, "GET", "one dataset"),
    ("dataset_traces", "dataset-traces", {"pk": "{id}"}, "POST", "add traces to a dataset"),
    ("dataset_versions", "dataset-versions", {"pk": "{id}"}, "POST", "freeze a version"),
    ("dataset_export", "dataset-export", {"pk": "{id}"}, "GET", "stream an export"),
    ("experiments", "experiments", {}, "GET, POST", "list experiments; start one"),
    ("experiment", "experiment-detail", {"pk": "{id}"}, "GET", "one experiment, its summary"),
    ("experiment_results", "experiment-results", {"pk": "{id}"}, "GET", "its results"),
    ("experiment_compare", "experiment-compare", {"pk": "{id}"}, "GET", "compare with a baseline"),
]


def api_index(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            {"error": {"code": "method_not_allowed", "message": "The index answers GET."}},
            status=405,
        )
        response["Allow"] = "GET, HEAD"
        return response

    def url(name: str, kwargs: dict[str, str]) -> str:
        return request.build_absolute_uri(reverse(f"feedback_loop:{name}", kwargs=kwargs))

    return JsonResponse(
        {
            "name": "django-feedback-loop",
            "version": feedback_loop.__version__,
            "schema": url("schema", {}),
            "credentials": "POST events: the project's public key. Everything else: the "
            "secret key as 'Authorization: Bearer sk_...', or a staff session.",
            "endpoints": {
                key: {
                    "url": url(name, kwargs).replace("%7B", "{").replace("%7D", "}"),
                    "methods": methods,
                    "description": what,
                }
                for key, name, kwargs, methods, what in ENDPOINTS
            },
        },
        json_dumps_params={"indent": 2},
    )
