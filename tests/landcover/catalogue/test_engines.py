"""A model's engine on the site (issue 15): registered with an engine, run by the worker on it (the map says
which), and chosen in the admin only where the model folder has that engine."""
from __future__ import annotations

import shutil

import pytest
import rasterio
from django.core.management import call_command

from landcover.catalogue.registry import register_model
from landcover.jobs import maps
from landcover.jobs.inference import predictor_for
from landcover.models import LandCoverMap, ModelVersion, Patch
from landcover.tasks import compute_map
from ml.engines import quantise
from ml.synthetic import make_scene

pytestmark = pytest.mark.django_db


def test_the_worker_maps_on_the_registered_engine(client, synthetic_tree, tiny_unet, tmp_path):
    folder = tmp_path / "unet"
    shutil.copytree(tiny_unet, folder)
    scenes = [make_scene(tmp_path / f"s{i}.tif", 260, 260, seed=10 + i) for i in range(2)]
    quantise(folder, scenes[:1], scenes[1:], tiles=4, min_agreement=0.0)
    call_command("ingest_sen12ms", str(synthetic_tree), "--name", "Synthetic SEN12MS", "--headers-only")
    version = register_model(folder, name="unet-int8", default=True, engine="int8")
    assert predictor_for(version).engine == "int8" and predictor_for(version).model is None
    assert client.get("/api/v1/models/").json()[0]["engine"] == "int8"

    job = client.get("/api/v1/maps/high/", {"patch": Patch.objects.first().pk}).json()
    assert compute_map.apply(args=[job["id"]]).get()["status"] == "done"
    with rasterio.open(maps.MAP_PRODUCT.folder(LandCoverMap.objects.get(pk=job["id"])) / "map.tif") as cog:
        assert cog.tags()["ENGINE"] == "int8"

    version.engine = "float32"
    version.save()
    assert predictor_for(version).engine == "float32" and predictor_for(version).model is not None


def test_the_admin_offers_only_engines_the_model_has(admin_client, tiny_unet, tmp_path):
    folder = tmp_path / "unet"
    shutil.copytree(tiny_unet, folder)
    version = register_model(folder, name="plain-unet")
    url = f"/admin/landcover/modelversion/{version.pk}/change/"
    form = {"name": version.name, "method": version.method, "path": version.path, "metrics": "{}",
            "engine": "int8"}
    response = admin_client.post(url, form)
    assert response.status_code == 200 and "has no int8 engine" in response.content.decode()
    assert ModelVersion.objects.get(pk=version.pk).engine == "default"

    scene = make_scene(tmp_path / "scene.tif", 260, 260, seed=12)
    quantise(folder, [scene], [scene], tiles=2, min_agreement=0.0)
    assert admin_client.post(url, form).status_code == 302
    assert ModelVersion.objects.get(pk=version.pk).engine == "int8"
