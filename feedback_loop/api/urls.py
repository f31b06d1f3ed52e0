from django.urls import path, re_path

from feedback_loop.api import views

urlpatterns = [
    path("events", views.EventsView.as_view(), name="events"),
    path("traces", views.TraceListView.as_view(), name="traces"),
    # Ids are the host's strings: anything (slashes, newlines too) up to the end of the path.
    re_path(
        r"^traces/(?P<trace_id>[\s\S]+)$", views.TraceDetailView.as_view(), name="trace-detail"
    ),
    path("stats", views.StatsView.as_view(), name="stats"),
    re_path(r"^users/(?P<user_id>[\s\S]+)$", views.UserDataView.as_view(), name="user-data"),
    path("datasets", views.DatasetListView.as_view(), name="datasets"),
    path("datasets/<str:pk>", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<str:pk>/traces", views.DatasetTracesView.as_view(), name="dataset-traces"),
    path(
        "datasets/<str:pk>/versions", views.DatasetVersionsView.as_view(), name="dataset-versions"
    ),
    path("datasets/<str:pk>/export", views.DatasetExportView.as_view(), name="dataset-export"),
    # Anything else under the API answers a JSON 404, never the site's HTML error page.
    re_path(r"^[\s\S]*$", views.not_found, name="not-found"),
]
