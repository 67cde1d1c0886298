"""The pages work under their real Content-Security-Policy in Chromium: nothing they load or run is blocked."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import MultiPolygon, Polygon

from landcover.catalogue.registry import register_model
from landcover.models import AreaMap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pages_run_under_the_content_security_policy(browser, live_server, tiny_unet):
    register_model(tiny_unet, name="tiny-unet", default=True)
    get_user_model().objects.create_user("carol", "c@example.org", "Land-cover-2026!")
    context = browser.new_context(base_url=live_server.url)  # the policy enforced, as for any visitor
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server.url)
                  else route.abort())
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/")
    page.goto("/map/")
    page.locator("#model-select option").first.wait_for(state="attached")  # map.js ran and read the API
    page.locator("#map.leaflet-container").wait_for()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("Land-cover-2026!")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/profile/")
    page.goto("/uploads/")
    page.locator("#jobs li").first.wait_for()  # uploads.js ran and listed the (no) jobs
    page.goto("/api/docs/")
    page.locator(".swagger-ui .info").wait_for()  # Swagger UI started from its own script file
    context.close()
    assert violations == []


def test_the_admins_geometry_map_runs_under_the_policy(browser, live_server, tiny_unet):
    """Issue 23 #4: django-leaflet's admin widget sets itself up in an inline script, refused by the policy
    (the footprint map stayed empty); it now carries the request's nonce and draws the area."""
    version = register_model(tiny_unet, name="tiny-unet", default=True)
    get_user_model().objects.create_superuser("root", "r@example.org", "Land-cover-2026!")
    area = AreaMap.objects.create(key="k" * 64, token="t" * 40, area_km2=1.0, model_version=version,
                                  geometry=MultiPolygon(Polygon.from_bbox((-75.65, 37.66, -75.63, 37.68)), srid=4326))
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("Land-cover-2026!")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/admin/landcover/areamap/{area.pk}/change/")
    page.locator(".leaflet-container path.leaflet-interactive").first.wait_for()  # the polygon drawn
    context.close()
    assert violations == []
    anonymous = browser.new_context(base_url=live_server.url).new_page()
    header = anonymous.goto("/map/").headers["content-security-policy"]
    assert "nonce-" not in header  # a page that runs nothing inline gets no nonce
