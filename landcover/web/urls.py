"""URLs of the pages: the map, the uploads page, the competitions."""
from django.urls import path

from .. import urlconverters  # noqa: F401  (registers <id:>)
from . import competitions, views

app_name = "landcover"

urlpatterns = [
    path("map/", views.MapPageView.as_view(), name="map"),
    path("uploads/", views.UploadsPageView.as_view(), name="uploads"),
    path("uploads/<id:pk>/delete/", views.delete_upload, name="upload-delete"),
    path("competitions/", competitions.CompetitionsPage.as_view(), name="competitions"),
    path("competitions/<slug:slug>/", competitions.CompetitionPage.as_view(), name="competition"),
    path("competitions/<slug:slug>/submit/", competitions.submit, name="competition-submit"),
    path("competitions/submissions/<id:pk>/", competitions.SubmissionPage.as_view(), name="submission"),
]
