"""Public pages: they render, share navigation and credits, are accessible and use no CDN."""
import re
from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

PUBLIC_PAGES = ["home", "methods", "team", "feedback:contact", "feedback:feedback", "login", "accounts:signup",
                "password_reset"]


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> list[tuple[str, dict]]:
    c = Collector()
    c.feed(html)
    return c.tags


@pytest.mark.django_db
@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_page_renders_with_navigation_and_credits(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<nav id="site-nav"' in html and 'aria-label="Main"' in html
    for credit in ("Copernicus Sentinel-2", "SEN12MS", "DFC2020"):
        assert credit in html
    assert '<html lang="en">' in html
    assert 'name="viewport"' in html


@pytest.mark.django_db
@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_no_cdn_and_every_asset_is_ours(client, name):
    tags = parse(client.get(reverse(name)).content.decode())
    assets = [a.get("src") for t, a in tags if t in ("script", "img") and a.get("src")]
    assets += [a["href"] for t, a in tags if t == "link" and a.get("href")]
    assert assets, "page has no assets at all?"
    for url in assets:
        parsed = urlparse(url)
        assert not parsed.netloc, f"{url} is loaded from another host"
        assert url.startswith("/static/")
        assert finders.find(url.removeprefix("/static/")), f"{url} does not exist in static/"


@pytest.mark.django_db
@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_accessibility_basics(client, name):
    html = client.get(reverse(name)).content.decode()
    tags = parse(html)
    for tag, attrs in tags:
        if tag == "img":
            assert "alt" in attrs, f"<img src={attrs.get('src')}> has no alt text"
    labelled = {a.get("for") for t, a in tags if t == "label"}
    for tag, attrs in tags:
        if tag in ("input", "textarea", "select") and attrs.get("type") not in ("hidden", "submit"):
            assert attrs.get("id") in labelled, f"<{tag} name={attrs.get('name')}> has no <label>"
    assert 'class="skip-link" href="#main"' in html
    assert len(re.findall(r"<h1[ >]", html)) == 1


@pytest.mark.django_db
def test_current_page_is_marked_in_navigation(client):
    html = client.get(reverse("team")).content.decode()
    assert re.search(r'href="/team/"\s+aria-current="page"', html)


@pytest.mark.django_db
def test_landing_page_says_what_it_is(client):
    html = client.get("/").content.decode()
    assert "10 m land-cover maps from Sentinel-2" in html
    assert "The problem" in html and "Features" in html


@pytest.mark.django_db
def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


@pytest.mark.django_db
def test_health_reports_database_and_broker(client):
    response = client.get("/health/")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_api_docs_are_served_locally(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert "/api/v1/me/" in schema.json()["paths"]
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs
    assert "cdn" not in docs.lower()


@pytest.mark.django_db
def test_https_redirect_spares_the_health_check(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/").status_code == 301
    assert client.get("/health/").status_code == 200
