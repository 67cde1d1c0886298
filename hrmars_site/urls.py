"""The site's URLs: public pages, accounts, the landcover pages and API, discussions, the schema and docs, admin."""
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from discussions import urls as discussion_urls

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
    path("", include("discussions.urls")),
    path("comments/", include(discussion_urls.comment_urlpatterns)),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("landcover.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI with its start-up script as a file of its own: no inline script, so the site's CSP holds.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # ReDoc's page starts itself with an inline script and a web worker; this page alone allows them.
    path("api/redoc/", csp_update({"script-src": ["'unsafe-inline'"], "worker-src": ["blob:"]})(
        SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
    path("admin/", admin.site.urls),
]

handler400 = "hrmars_site.views.bad_request_view"
handler403 = "hrmars_site.views.permission_denied_view"
handler404 = "hrmars_site.views.not_found"
handler500 = "hrmars_site.views.server_error"
