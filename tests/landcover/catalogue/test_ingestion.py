"""Catalogue: ingestion from headers (idempotent, bad files named), model registration, constraints, admin."""
import shutil

import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from landcover.models import Dataset, LandCoverMap, ModelVersion, Patch, Scene
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.django_db


def test_ingest_synthetic_tree_is_idempotent(synthetic_tree, capsys):
    call_command("ingest_sen12ms", str(synthetic_tree), "--name", "Synthetic SEN12MS")
    assert "24 patches added, 0 already there, 0 bad" in capsys.readouterr().out
    dataset = Dataset.objects.get()
    assert dataset.synthetic and "Synthetic" in dataset.description
    assert Scene.objects.count() == 6 and Patch.objects.count() == 24
    patch = Patch.objects.get(scene__roi="ROIs1158", scene__season="spring", scene__scene_id="1", patch_id=1)
    assert patch.width == 256 and patch.crs.startswith("EPSG:326") and patch.dfc_path.endswith("_dfc_1_p1.tif")
    # Scene 1 is placed at (-114.26, 41.91): its first patch's top-left corner.
    assert patch.footprint.buffer(0.001).contains(Point(-114.26, 41.91, srid=4326))
    assert 0.02 < patch.footprint.extent[2] - patch.footprint.extent[0] < 0.05  # 2.56 km in longitude degrees

    call_command("ingest_sen12ms", str(synthetic_tree), "--name", "Synthetic SEN12MS")
    assert "0 patches added, 24 already there" in capsys.readouterr().out
    assert Patch.objects.count() == 24


def test_bad_files_are_reported_by_name_without_stopping(synthetic_tree, tmp_path, capsys):
    tree = tmp_path / "tree"
    shutil.copytree(synthetic_tree, tree)
    broken = next(tree.glob("ROIs1868_summer/s2_2/*_p3.tif"))
    broken.write_bytes(b"II*\x00 truncated")
    call_command("ingest_sen12ms", str(tree))
    captured = capsys.readouterr()
    assert "23 patches added" in captured.out and "1 bad file" in captured.out
    assert f"skipped {broken}" in captured.err


def test_ingest_of_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="SEN12MS folder not found"):
        call_command("ingest_sen12ms", str(tmp_path / "nope"))


@pytest.mark.skipif(not (SHARED_DATA / "sen12ms").is_dir(), reason="real SEN12MS samples not found")
def test_real_sen12ms_footprints(capsys):
    call_command("ingest_sen12ms", str(SHARED_DATA / "sen12ms"))
    assert not Dataset.objects.get().synthetic
    desert = Patch.objects.get(scene__scene_id="4", patch_id=30)
    centre = desert.footprint.centroid
    assert desert.crs == "EPSG:32628"
    assert -14.8 < centre.x < -14.6 and 20.0 < centre.y < 20.2  # Mauritania
    texas = Patch.objects.get(scene__scene_id="27")
    assert -103 < texas.footprint.centroid.x < -102 and 32 < texas.footprint.centroid.y < 33


def test_ingest_dfc2020(tmp_path, capsys):
    from ml.synthetic import make_dfc2020_tree

    make_dfc2020_tree(tmp_path, patches=3, split="test")
    call_command("ingest_dfc2020", str(tmp_path), "--split", "test")
    assert Patch.objects.filter(dataset__kind="dfc2020").count() == 3
    assert Scene.objects.get().scene_id == "test"


def test_register_model_and_default(tiny_unet, tiny_boc, tmp_path, capsys):
    call_command("register_model", str(tiny_unet), "--name", "unet-test")
    unet = ModelVersion.objects.get(name="unet-test")
    assert unet.is_default and unet.method == "unet" and unet.synthetic_training and "mIoU" in unet.metrics
    call_command("register_model", str(tiny_boc), "--name", "boc-test", "--default")
    assert list(ModelVersion.objects.filter(is_default=True).values_list("name", flat=True)) == ["boc-test"]
    call_command("register_model", str(tiny_unet), "--name", "unet-test")  # re-registering updates
    assert ModelVersion.objects.count() == 2
    with pytest.raises(CommandError, match="not a model folder"):
        call_command("register_model", str(tmp_path))


def test_only_one_default_model():
    ModelVersion.objects.create(name="a", method="unet", path="/x", is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(name="b", method="unet", path="/y", is_default=True)


def test_one_map_per_patch_source_and_model(synthetic_tree):
    call_command("ingest_sen12ms", str(synthetic_tree), "--headers-only")
    assert not LandCoverMap.objects.exists()  # maps are then built on first request
    patch = Patch.objects.first()
    a = ModelVersion.objects.create(name="a", method="unet", path="/x")
    b = ModelVersion.objects.create(name="b", method="unet", path="/y")
    LandCoverMap.objects.create(patch=patch, source="modis")
    LandCoverMap.objects.create(patch=patch, source="model", model_version=a)
    LandCoverMap.objects.create(patch=patch, source="model", model_version=b)
    for kwargs in ({"source": "modis"}, {"source": "model", "model_version": a}, {"source": "modis", "model_version": a},
                   {"source": "model"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            LandCoverMap.objects.create(patch=patch, **kwargs)


def test_admin_pages_for_staff(admin_client, synthetic_tree):
    call_command("ingest_sen12ms", str(synthetic_tree))
    for model in ("dataset", "scene", "patch", "modelversion", "landcovermap"):
        response = admin_client.get(reverse(f"admin:landcover_{model}_changelist"))
        assert response.status_code == 200, model
    change = admin_client.get(reverse("admin:landcover_patch_change", args=[Patch.objects.first().pk]))
    html = change.content.decode()
    assert "leaflet" in html.lower() and "cdn" not in html.lower()


def test_large_ingestions_read_headers_in_worker_processes(synthetic_tree, tmp_path):
    """Four or more batches: headers are read by spawned processes; the result is the same."""
    from landcover.catalogue.ingestion import get_or_create_dataset, ingest_samples
    from ml.datasets import scan_sen12ms

    tree = tmp_path / "tree"
    shutil.copytree(synthetic_tree, tree)
    broken = next(tree.glob("ROIs1970_fall/s2_3/*_p2.tif"))
    broken.write_bytes(b"not a tiff at all")
    dataset = get_or_create_dataset("parallel", "sen12ms", tree, synthetic=True)
    report = ingest_samples(dataset, scan_sen12ms(tree), batch_size=5)
    assert report.created == 23 and [path for path, _ in report.bad] == [str(broken)]
    assert "not recognized as being in a supported file format" in report.bad[0][1]
    assert Patch.objects.filter(dataset=dataset).count() == 23
    assert sorted(Scene.objects.filter(dataset=dataset).values_list("patch_count", flat=True)) == [3, 4, 4, 4, 4, 4]
