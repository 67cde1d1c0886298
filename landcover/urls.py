from django.urls import path

from . import views

app_name = "landcover"

urlpatterns = [
    path("", views.MapPageView.as_view(), name="map"),
]
