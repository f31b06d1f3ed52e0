"""``GET {mount}/api/v1/schema``: the OpenAPI 3 document of this app's endpoints only."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer

import feedback_loop


def only_feedback_loop(endpoints, **kwargs):
    """Preprocessing hook: keep this app's endpoints, whatever else the host's URLconf holds,
    and add the capture endpoint's POST, which a plain Django view answers on the event list's
    path."""
    from feedback_loop.api.capture import CaptureSchemaView
    from feedback_loop.api.views import EventListView

    kept = [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if getattr(callback, "cls", None) is not None
        and callback.cls.__module__.startswith("feedback_loop.api.")
        and not issubclass(callback.cls, SpectacularAPIView)
    ]
    capture = CaptureSchemaView.as_view()
    for path, path_regex, method, callback in list(kept):
        if callback.cls is EventListView and method == "GET":
            kept.append((path, path_regex, "POST", capture))
    return kept


NO_NUL = "^[^\\u0000]*$"


def strings_without_nul(result, generator, request, public):
    """Postprocessing hook: every free-text string says it may not hold a NUL character, which
    the API refuses (PostgreSQL cannot store one) with a 400 that names the field."""

    def visit(node):
        if isinstance(node, dict):
            if node.get("type") == "string" and not {"format", "enum", "pattern"} & set(node):
                node["pattern"] = NO_NUL
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    # Metadata: any JSON value, whose strings hold no NUL (PostgreSQL's jsonb cannot).
    schemas["JSONValue"] = {
        "nullable": True,
        "oneOf": [
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "array", "items": {"$ref": "#/components/schemas/JSONValue"}},
            {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/JSONValue"}},
        ],
    }
    visit(schemas)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                visit(operation.get("parameters", []))
    return result


class SecretKeyScheme(OpenApiAuthenticationExtension):
    target_class = "feedback_loop.api.authentication.SecretKeyAuthentication"
    name = "secretKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The project's secret key (sk_...). Never put it in a page.",
        }


class SchemaView(SpectacularAPIView):
    # Not an operation of the document; and with DRF's own AutoSchema (a host's default)
    # drf-spectacular's deploy check would refuse to describe it.
    schema = None
    authentication_classes = ()
    permission_classes = (AllowAny,)
    renderer_classes = [JSONRenderer]
    custom_settings = {
        "TITLE": "django-feedback-loop",
        "DESCRIPTION": (
            "Capture endpoint (public key) and server API (secret key as a bearer token, or a "
            "staff session) of django-feedback-loop."
        ),
        "VERSION": feedback_loop.__version__,
        "PREPROCESSING_HOOKS": ["feedback_loop.api.schema_view.only_feedback_loop"],
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "feedback_loop.api.schema_view.strings_without_nul",
        ],
    }
