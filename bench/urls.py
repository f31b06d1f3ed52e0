from django.urls import include, path

from bench import views

urlpatterns = [
    path("bench/insert", views.insert_one),
    path("bench/insert-batch", views.insert_batch),
    path("bench/copy-batch", views.copy_batch),
    path("", include("example_project.urls")),
]
