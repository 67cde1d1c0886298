"""Settings come from the environment; production settings pass `check --deploy`."""
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from hrmars_site import env
from tests.conftest import ROOT

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-enough-7Hq2vXbN9pLr4TzW",
    "ALLOWED_HOSTS": "hrmars.example.org",
    "DATABASE_URL": "postgis://hrmars:hrmars@127.0.0.1:5432/hrmars",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
}
CLEARED = ("HRMARS_HTTPS", "HRMARS_STATIC_MANIFEST", "HRMARS_DATA_DIR", "DJANGO_ALLOW_ASYNC_UNSAFE")


def manage(args, extra_env, tmp_path):
    environ = {k: v for k, v in os.environ.items() if k not in CLEARED and k not in PRODUCTION_ENV}
    environ.update(extra_env)
    environ["HRMARS_DATA_DIR"] = str(tmp_path)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True)


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_https_hardening_is_off(tmp_path):
    # The check is able to fail: without HTTPS hardening Django warns.
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], {**PRODUCTION_ENV, "HRMARS_HTTPS": "0"}, tmp_path)
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout


def test_missing_secret_key_is_a_clear_error(tmp_path):
    environ = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = manage(["check"], environ, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_non_spatial_database_url_is_rejected(tmp_path):
    result = manage(["check"], {**PRODUCTION_ENV, "DATABASE_URL": "postgres://u:p@localhost/db"}, tmp_path)
    assert result.returncode != 0
    assert "postgis:// or spatialite://" in result.stderr


def test_geodjango_uses_a_gdal_that_blocks_file_and_network_access():
    from django.contrib.gis.gdal import GDAL_VERSION

    assert GDAL_VERSION >= (3, 9)


@pytest.mark.parametrize("raw,expected", [("1", True), ("yes", True), ("off", False), ("", False)])
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env.env_bool("X_FLAG", not expected) is expected


def test_env_bool_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        env.env_bool("X_FLAG", False)


def test_env_list_and_int(monkeypatch):
    monkeypatch.setenv("X_LIST", " a.org, b.org ,,")
    monkeypatch.setenv("X_INT", "12")
    assert env.env_list("X_LIST", []) == ["a.org", "b.org"]
    assert env.env_int("X_INT", 0) == 12
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured):
        env.env_int("X_INT", 0)


def test_cache_urls():
    assert env.cache_from_url("redis://h:6379/2")["BACKEND"].endswith("RedisCache")
    assert env.cache_from_url("file:///tmp/c") == {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": "/tmp/c",
    }
    with pytest.raises(ImproperlyConfigured, match="scheme must be"):
        env.cache_from_url("memcache://x")


def test_the_embedded_tile_cache_is_a_store_of_its_own(tmp_path):
    """The file cache of the embedded mode culls a third of its 300 entries when full: tiles get their own folder
    and size (HRMARS_TILE_CACHE_ENTRIES), so a map session's tiles outlive the API answers around them."""
    code = ("from django.conf import settings; import json; "
            "print(json.dumps({k: settings.CACHES[k] for k in ('default', 'tiles')}))")
    env = {"DEBUG": "1", "CACHE_URL": f"file://{tmp_path}/cache", "HRMARS_TILE_CACHE_ENTRIES": "1234"}
    result = manage(["shell", "-c", code], env, tmp_path)
    assert result.returncode == 0, result.stderr
    import json

    caches = json.loads(result.stdout.strip().splitlines()[-1])
    assert caches["tiles"]["LOCATION"] != caches["default"]["LOCATION"]
    assert caches["tiles"]["OPTIONS"]["MAX_ENTRIES"] == 1234


@pytest.mark.django_db
def test_public_api_reads_carry_cors_and_never_credentials(client):
    """A web GIS client on another origin reads the API (issue 23, finding 9): tiles, STAC, COGs with byte ranges;
    never with the user's cookies, and only reads."""
    origin = "https://gis.example.org"
    answer = client.get("/api/v1/stac/", HTTP_ORIGIN=origin)
    assert answer.status_code == 200 and answer["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer
    assert "Content-Range" in answer["Access-Control-Expose-Headers"]
    preflight = client.options("/api/v1/maps/1/map.tif", HTTP_ORIGIN=origin,
                               HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="range")
    assert preflight["Access-Control-Allow-Origin"] == "*" and "range" in preflight["Access-Control-Allow-Headers"]
    assert "POST" not in preflight["Access-Control-Allow-Methods"]  # reads only
    page = client.get("/", HTTP_ORIGIN=origin)
    assert "Access-Control-Allow-Origin" not in page  # the site's pages are not shared


@pytest.mark.django_db
def test_a_body_over_its_routes_limit_is_refused_unread_and_nothing_is_kept(client, settings, tmp_path):
    """Issue 23, finding 21: a 300 MB post to /api/v1/areas/ (files up to 5 MB) was written to disk in full. Now
    the declared size is refused with 413 before a byte is read; within the limit the view answers as before."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every file would stream to FILE_UPLOAD_TEMP_DIR
    settings.AREA_MAX_FILE_KB = 4
    def big():
        return SimpleUploadedFile("area.geojson", b"{" + b" " * 200_000 + b"}")

    answer = client.post("/api/v1/areas/", {"file": big()})
    assert answer.status_code == 413 and "accepts at most" in answer.json()["detail"]
    assert client.post("/api/v1/maps/1/accuracy/", {"file": big()}).status_code == 413
    assert not list(tmp_path.iterdir())  # nothing was written
    small = client.post("/api/v1/areas/", {"file": SimpleUploadedFile("area.geojson", b"{}")})
    assert small.status_code == 400  # read and refused by the view, for what it is
    settings.MAX_BODY_KB = 1
    assert client.post("/api/v1/changes/", {"before": "x" * 5000}, content_type="application/json").status_code == 413


@pytest.mark.django_db
def test_the_api_docs_fetch_nothing_from_elsewhere(client):
    """Issue 23, finding 13: ReDoc linked Google Fonts, which the Content-Security-Policy blocked."""
    page = client.get("/api/redoc/")
    assert page.status_code == 200 and "fonts.googleapis" not in page.content.decode()
    assert "system-ui" in page.content.decode()  # ReDoc draws with the system's fonts
