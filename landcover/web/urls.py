"""URLs of the pages: the map and the uploads page."""
from django.urls import path

from .. import urlconverters  # noqa: F401  (registers <id:>)
from . import views

app_name = "landcover"

urlpatterns = [
    path("map/", views.MapPageView.as_view(), name="map"),
    path("uploads/", views.UploadsPageView.as_view(), name="uploads"),
    path("uploads/<id:pk>/delete/", views.delete_upload, name="upload-delete"),
]
