"""COG downloads that GIS tools can stream: HEAD, one byte range per request (206), several refused cleanly
(416), and GDAL reading a window of a stored map through /vsicurl/ from the live server without fetching
the whole file."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
import requests
from rasterio.windows import Window

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cog(catalogue, live_server):
    from landcover.jobs.maps import MAP_PRODUCT
    from landcover.models import LandCoverMap

    m = LandCoverMap.objects.filter(source="modis", status="done").order_by("pk").first()
    return f"{live_server.url}/api/v1/maps/{m.pk}/map.tif", MAP_PRODUCT.path(m, "map.tif")


def test_head_and_single_ranges(cog):
    url, path = cog
    data = path.read_bytes()
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and head.headers["Accept-Ranges"] == "bytes"
    assert int(head.headers["Content-Length"]) == len(data) and head.content == b""
    part = requests.get(url, headers={"Range": "bytes=100-1123"}, timeout=10)
    assert part.status_code == 206 and part.content == data[100:1124]
    assert part.headers["Content-Range"] == f"bytes 100-1123/{len(data)}"
    assert requests.get(url, headers={"Range": "bytes=-10"}, timeout=10).content == data[-10:]
    assert requests.get(url, headers={"Range": f"bytes={len(data) - 5}-"}, timeout=10).content == data[-5:]
    whole = requests.get(url, timeout=10)
    assert whole.status_code == 200 and whole.content == data


@pytest.mark.parametrize("header", ["bytes=0-10,20-30", "bytes=999999999-", "bytes=abc", "items=0-10"])
def test_several_or_impossible_ranges_are_416(cog, header):
    url, path = cog
    answer = requests.get(url, headers={"Range": header}, timeout=10)
    assert answer.status_code == 416 and answer.headers["Content-Range"] == f"bytes */{path.stat().st_size}"
    assert answer.json()["detail"]


def test_gdal_reads_a_window_through_vsicurl(cog):
    url, path = cog
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif",
                      CPL_DEBUG="ON"), rasterio.open(f"/vsicurl/{url}") as remote, rasterio.open(path) as local:
        assert remote.profile["width"] == local.profile["width"] and remote.crs == local.crs
        window = Window(10, 20, 64, 48)
        assert np.array_equal(remote.read(1, window=window), local.read(1, window=window))
        assert remote.tags()["CLASS_1"] == "Forest"


def test_wmts_capabilities_read_by_owslib_and_its_tiles_served(cog, live_server):
    from owslib.wmts import WebMapTileService

    url, path = cog
    capabilities = url.replace("map.tif", "wmts/")
    wmts = WebMapTileService(capabilities)
    layer = wmts.contents["landcover"]
    west, south, east, north = layer.boundingBoxWGS84
    with rasterio.open(path) as src:
        from rasterio.warp import transform_bounds

        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    assert west == pytest.approx(bounds[0], abs=1e-6) and north == pytest.approx(bounds[3], abs=1e-6)
    assert "GoogleMapsCompatible" in wmts.tilematrixsets and len(wmts.tilematrixsets["GoogleMapsCompatible"]
                                                                   .tilematrix) == 23
    tile = wmts.gettile(layer="landcover", tilematrixset="GoogleMapsCompatible", tilematrix="14",
                        row=_tile_row(north - (north - south) / 2, 14), column=_tile_col(west + (east - west) / 2, 14),
                        format="image/png")
    assert tile.read()[:8] == b"\x89PNG\r\n\x1a\n"
    # What QGIS reads besides (issue 23, finding 7): the operations, RESTful only, and the class layer's legend.
    assert {op.name for op in wmts.operations} == {"GetCapabilities", "GetTile"} and wmts.restonly
    legend = layer.styles["default"]["legend"]
    assert legend.endswith("/api/v1/classes/legend.png")
    image = requests.get(legend, timeout=10)
    assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"


def _tile_col(lon: float, z: int) -> int:
    return int((lon + 180) / 360 * 2**z)


def _tile_row(lat: float, z: int) -> int:
    import math

    return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
