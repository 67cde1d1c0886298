from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from landcover import views as landcover_views

from . import views

admin.site.site_header = "HR-MARS administration"
admin.site.site_title = "HR-MARS admin"

urlpatterns = [
    path("", views.PageView.as_view(template_name="pages/home.html", nav="home"), name="home"),
    path("methods/", views.PageView.as_view(template_name="pages/methods.html", nav="methods"), name="methods"),
    path("team/", views.TeamView.as_view(), name="team"),
    path("health/", views.health, name="health"),
    path("", include("feedback.urls")),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("map/", include("landcover.urls")),
    path("uploads/", landcover_views.UploadsPageView.as_view(), name="uploads"),
    path("uploads/<int:pk>/delete/", landcover_views.delete_upload, name="upload-delete"),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("landcover.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
]
