"""The site's URLs: public pages, accounts, the landcover pages and API, the schema and docs, admin."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

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
    path("", include("landcover.web.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("landcover.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
]
