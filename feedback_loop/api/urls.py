from django.urls import path

from feedback_loop.api import views

urlpatterns = [
    path("events", views.EventsView.as_view(), name="events"),
    path("traces", views.TraceListView.as_view(), name="traces"),
    path("traces/<path:trace_id>", views.TraceDetailView.as_view(), name="trace-detail"),
    path("stats", views.StatsView.as_view(), name="stats"),
    path("users/<path:user_id>", views.UserDataView.as_view(), name="user-data"),
    path("datasets", views.DatasetListView.as_view(), name="datasets"),
    path("datasets/<int:pk>", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<int:pk>/traces", views.DatasetTracesView.as_view(), name="dataset-traces"),
    path(
        "datasets/<int:pk>/versions", views.DatasetVersionsView.as_view(), name="dataset-versions"
    ),
    path("datasets/<int:pk>/export", views.DatasetExportView.as_view(), name="dataset-export"),
]
