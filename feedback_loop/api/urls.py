from django.urls import path, re_path

from feedback_loop.api import dataset_views, experiment_views, release_views, views
from feedback_loop.api.base import not_found
from feedback_loop.api.index import api_index

urlpatterns = [
    path("", api_index, name="index"),
    path("events", views.events, name="events"),
    path("traces", views.TraceListView.as_view(), name="traces"),
    # Ids are the host's strings: anything (slashes, newlines too) up to the end of the path.
    re_path(
        r"^traces/(?P<trace_id>[\s\S]+)$", views.TraceDetailView.as_view(), name="trace-detail"
    ),
    path("stats", views.StatsView.as_view(), name="stats"),
    path("stats/compare", release_views.ReleaseComparisonView.as_view(), name="stats-compare"),
    path("stats/agreement", views.AgreementStatsView.as_view(), name="stats-agreement"),
    re_path(r"^users/(?P<user_id>[\s\S]+)$", views.UserDataView.as_view(), name="user-data"),
    path("datasets", dataset_views.DatasetListView.as_view(), name="datasets"),
    path("datasets/<str:pk>", dataset_views.DatasetDetailView.as_view(), name="dataset-detail"),
    path(
        "datasets/<str:pk>/traces",
        dataset_views.DatasetTracesView.as_view(),
        name="dataset-traces",
    ),
    path(
        "datasets/<str:pk>/versions",
        dataset_views.DatasetVersionsView.as_view(),
        name="dataset-versions",
    ),
    path(
        "datasets/<str:pk>/export",
        dataset_views.DatasetExportView.as_view(),
        name="dataset-export",
    ),
    path("experiments", experiment_views.ExperimentListView.as_view(), name="experiments"),
    path(
        "experiments/<str:pk>",
        experiment_views.ExperimentDetailView.as_view(),
        name="experiment-detail",
    ),
    path(
        "experiments/<str:pk>/results",
        experiment_views.ExperimentResultsView.as_view(),
        name="experiment-results",
    ),
    path(
        "experiments/<str:pk>/compare",
        experiment_views.ExperimentCompareView.as_view(),
        name="experiment-compare",
    ),
    # Anything else under the API answers a JSON 404, never the site's HTML error page.
    re_path(r"^[\s\S]*$", not_found, name="not-found"),
]
