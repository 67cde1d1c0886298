"""Dynamic World on the site (issue 12): imported with its checksums checked, registered as the default for
real places, while synthetic patches keep the demo model; every map it makes carries its attribution; its bf16
engine measured at import (issue 15) is the one the worker runs."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import rasterio
from django.core.management import call_command

from landcover.catalogue.registry import register_model
from landcover.jobs import maps
from landcover.models import LandCoverMap, ModelVersion, Patch
from landcover.tasks import compute_map
from ml.runtime import bf16_supported
from ml.synthetic import make_scene
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.django_db
SHARED_DW = SHARED_DATA.parent / "models" / "dynamicworld"
needs_shared = pytest.mark.skipif(not (SHARED_DW / "forward").is_dir() or not (SHARED_DATA / "sen12ms").is_dir(),
                                  reason="../shared/models/dynamicworld or ../shared/data/sen12ms is missing")


@needs_shared
def test_real_places_get_dynamic_world_and_synthetic_ones_the_demo_model(client, synthetic_tree, tiny_unet):
    call_command("ingest_sen12ms", str(synthetic_tree), "--name", "Synthetic SEN12MS")
    call_command("ingest_sen12ms", str(SHARED_DATA / "sen12ms"), "--name", "SEN12MS (samples)")
    register_model(tiny_unet, name="demo-unet", default=True)
    held_out = [str(p) for p in sorted((SHARED_DATA / "sen12ms").rglob("*_s2_*.tif"))]
    call_command("import_dynamicworld", "--source", str(SHARED_DW), "--held-out", *held_out)
    call_command("import_dynamicworld", "--source", str(SHARED_DW))  # idempotent
    dw = ModelVersion.objects.get(name="dynamic-world")
    assert dw.is_default and dw.method == "pretrained" and not dw.synthetic_training

    models = client.get("/api/v1/models/").json()
    assert models[0]["name"] == "dynamic-world" and models[0]["licence"] == "Apache-2.0"
    assert "Dynamic World Project by Google" in models[0]["attribution"] and models[0]["level"] == "L1C"
    assert {"name": "snow_and_ice", "code": 8} in models[0]["classes"]
    if bf16_supported():  # the engine it runs on, and that engine's measured fidelity and its reference
        assert models[0]["engine"] == "default" and models[0]["runs_on"] == "bf16"
        bf16 = models[0]["engines"]["bf16"]
        assert bf16["agreement"] >= 0.995 and bf16["measured_on"] == [p.rsplit("/", 1)[1] for p in held_out]

    real = Patch.objects.filter(dataset__synthetic=False, s2_path__contains="p36").get()
    job = client.get("/api/v1/maps/high/", {"patch": real.pk}).json()
    assert job["model"] == "dynamic-world" and "Dynamic World Project" in job["attribution"]
    assert compute_map.apply(args=[job["id"]]).get()["status"] == "done"
    # Its bf16 engine was measured on the SEN12MS patches at import and kept their classes: the worker ran it.
    with rasterio.open(maps.MAP_PRODUCT.folder(LandCoverMap.objects.get(pk=job["id"])) / "map.tif") as cog:
        assert cog.tags()["ENGINE"] == ("bf16" if bf16_supported() else "float32")
    done = client.get(job["url"]).json()
    shares = {row["name"]: row["percent"] for row in done["statistics"]}
    assert shares["Croplands"] > 50 and done["note"] == ""  # real imagery, real model: no warning

    synthetic = Patch.objects.filter(dataset__synthetic=True).first()
    assert client.get("/api/v1/maps/high/", {"patch": synthetic.pk}).json()["model"] == "demo-unet"
    upload_default = client.get("/api/v1/maps/high/", {"patch": real.pk, "model": "demo-unet"}).json()
    assert upload_default["model"] == "demo-unet" and "not meaningful" in upload_default["note"]


def test_an_unreachable_source_is_a_clear_error(tmp_path):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="could not be imported"):
        call_command("import_dynamicworld", "--source", str(tmp_path / "nowhere"))
    assert not ModelVersion.objects.exists()


@needs_shared
def test_a_failed_engine_measurement_leaves_dynamic_world_on_float32(tmp_path):
    speck = make_scene(tmp_path / "speck.tif", 4, 4, seed=6)  # smaller than any tile: nothing to measure on
    err = io.StringIO()
    call_command("import_dynamicworld", "--source", str(SHARED_DW), "--held-out", str(speck), stderr=err)
    dw = ModelVersion.objects.get(name="dynamic-world")
    assert dw.card.get("default_engine", "float32") == "float32" and dw.is_default
    if bf16_supported():
        assert "could not be measured (no held-out tiles" in err.getvalue()
    assert not (Path(dw.path) / "model.onnx").exists()
