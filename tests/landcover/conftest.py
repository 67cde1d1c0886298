"""Fixtures of the landcover tests: each test starts with an empty cache and its own storage folders,
and `catalogue` gives the synthetic tree ingested (with MODIS maps) and a tiny U-Net as default model."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from landcover.catalogue.registry import register_model
from landcover.models import Patch
from tests.isolation import isolated_cache_and_storage  # noqa: F401  (autouse: registered by this import)
from tests.landcover.competitions import benchmark, sandbox_limits  # noqa: F401  (fixtures: registered by this import)


@pytest.fixture
def catalogue(synthetic_tree, tiny_unet):
    """The synthetic tree ingested with its MODIS maps, and the tiny U-Net as default model."""
    call_command("ingest_sen12ms", str(synthetic_tree), "--name", "Synthetic SEN12MS")
    register_model(tiny_unet, name="tiny-unet", default=True)
    return Patch.objects.select_related("dataset").order_by("pk")


@pytest.fixture
def tiny_unet_model(tiny_unet):
    """The tiny U-Net registered as the site's default model."""
    return register_model(tiny_unet, name="tiny-unet", default=True)


def api_client_of(django_user_model, username: str) -> APIClient:
    """An API client logged in as a new user of that name."""
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user(username, f"{username}@example.org",
                                                                    f"pw-{username}-1234"))
    return client


@pytest.fixture
def alice(django_user_model, tiny_unet_model) -> APIClient:
    """An API client of the user alice, with the tiny U-Net as the site's model."""
    return api_client_of(django_user_model, "alice")


@pytest.fixture
def bob(django_user_model, tiny_unet_model) -> APIClient:
    """An API client of another user, bob."""
    return api_client_of(django_user_model, "bob")


def centre(patch: Patch) -> tuple[float, float]:
    """(lat, lon) of a patch's centre."""
    c = patch.footprint.centroid
    return c.y, c.x


def bbox_of(patch: Patch, pad: float = 0.0) -> str:
    """The bbox parameter of a patch's footprint, padded by `pad` degrees."""
    x0, y0, x1, y1 = patch.footprint.extent
    return f"{x0 - pad},{y0 - pad},{x1 + pad},{y1 + pad}"


@pytest.fixture
def july_item(stac_api, tmp_path):
    """A third dated item of the west half on the loopback STAC API for one test: 2024-07-10, clear, with rows
    650–760 turned to open water (the land cover changed there); taken out again afterwards."""
    import os

    from tests import stac_server

    item = stac_server.make_item(stac_api.scene, stac_api.folder, stac_api.files_url, "july", (0, stac_server.SPLIT),
                                 "2024-07-10T15:50:00Z", 1.0, None, "02.14", 0,
                                 paint=(slice(650, 760), slice(0, stac_server.SPLIT)))
    dsn = os.environ["HRMARS_STAC_TEST_DSN"]
    stac_server.load_pgstac(dsn, stac_server.collection(list(stac_api.items.values())), [item], tmp_path)
    try:
        yield item
    finally:
        stac_server.remove_items(dsn, ["july"])
