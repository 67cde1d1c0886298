"""A stored map whose file is damaged (issue 23, finding 18): it used to break STAC search for everyone and answer
500s with no reason on its tiles, exports and accuracy. Now search goes on without its grid, and every route
that reads the file says the file is damaged, for this result alone."""
from __future__ import annotations

import morecantile
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from landcover.jobs.maps import MAP_PRODUCT
from landcover.models import LandCoverMap
from tests.landcover.conftest import centre

pytestmark = pytest.mark.django_db


def test_a_damaged_map_says_so_and_breaks_nothing_else(catalogue):
    client = APIClient()
    broken, healthy = LandCoverMap.objects.filter(status="done").order_by("pk")[:2]
    path = MAP_PRODUCT.path(broken, "map.tif")
    path.write_bytes(path.read_bytes()[:600])  # truncated: the header survives in part, the pixels do not
    url = f"/api/v1/maps/{broken.pk}/"
    lat, lon = centre(broken.patch)
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    answers = {
        "tile": client.get(url + f"tiles/{tile.z}/{tile.x}/{tile.y}.png"),
        "vectors": client.get(url + "vectors.geojson"),
        "sample": client.get(url + "sample.geojson"),
        "accuracy": client.post(url + "accuracy/", {"file": SimpleUploadedFile("p.csv", b"lon,lat,class\n%f,%f,1\n"
                                                                             % (lon, lat))}, format="multipart"),
    }
    for what, answer in answers.items():
        assert answer.status_code == 500 and "damaged" in answer.json()["detail"], (what, answer.status_code)
    search = client.get("/api/v1/stac/search", {"collections": "catalogue-maps", "limit": 100})
    assert search.status_code == 200 and len(search.json()["features"]) == 24  # everybody else's search goes on
    lat, lon = centre(healthy.patch)
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    assert client.get(f"/api/v1/maps/{healthy.pk}/tiles/{tile.z}/{tile.x}/{tile.y}.png").status_code == 200
