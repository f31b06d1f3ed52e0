"""Include with ``path("feedback/", include("feedback_loop.urls"))``."""

from django.urls import include, path

from feedback_loop import widget
from feedback_loop.api.schema_view import SchemaView

app_name = "feedback_loop"

urlpatterns = [
    # Before the API's own paths, which end with a catch-all JSON 404.
    path("api/v1/schema", SchemaView.as_view(), name="schema"),
    path("api/v1/", include("feedback_loop.api.urls")),
    path("widget/<str:version>/widget.js", widget.versioned, name="widget"),
    path("widget.js", widget.latest, name="widget-latest"),
]
