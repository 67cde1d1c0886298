"""The real-imagery training set (issue 12): archives fetched from a package index on loopback and checked
against their SHA-256, BigEarthNet bands stacked at 10 m with the L2A offset read from the product name,
patches labelled by a teacher (pseudo-labels, said so per patch) and MODIS, splits by place, and scoring
any model against a reference map in another CRS."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import calculate_default_transform, reproject

from ml.config import TrainConfig
from ml.data import dataset_splits, real_modis_samples
from ml.evaluate import main as evaluate_main
from ml.evaluate import score_against_reference
from ml.modelio import load_model
from ml.predict import predict_scene
from ml.realdata import (
    PATCH,
    Archive,
    Place,
    RealDataError,
    build,
    delmarva_split,
    fetch,
    l2a_offset,
    product_baseline,
)
from ml.synthetic import make_scene
from ml.train import train

BANDS_12 = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20,
            "B09": 60, "B11": 20, "B12": 20}
PATCH_NAME = "S2B_MSIL2A_20210601T100000_1_2"


def _band_tif(resolution: int, value: int) -> bytes:
    size = 120 * 10 // resolution
    buffer = io.BytesIO()
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=size, height=size, count=1, dtype="uint16", crs="EPSG:32633",
                      transform=from_origin(404400, 5342400, resolution, resolution)) as dst:
            dst.write(np.full((1, size, size), value, np.uint16))
        buffer.write(mem.read())
    return buffer.getvalue()


def bigearthnet_wheel(folder: Path) -> Path:
    """A wheel shaped like bigearthnet-common's: one BigEarthNet patch (baseline 04.00) in a tar.bz2."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:bz2") as tar:
        files = {f"{PATCH_NAME}_{band}.tif": _band_tif(res, 1000 + i) for i, (band, res) in enumerate(BANDS_12.items())}
        files[f"{PATCH_NAME}_labels_metadata.json"] = json.dumps({
            "labels": ["Coniferous forest", "Water bodies"],
            "tile_source": "S2B_MSIL1C_20210601T100000_N0400_R122_T33UUP_20210601T120000.SAFE",
            "acquisition_date": "2021-06-01 10:00:00"}).encode()
        for name, data in files.items():
            info = tarfile.TarInfo(f"BigEarthNet-S2-Example/{PATCH_NAME}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    wheel = folder / "bigearthnet_common-2.8.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("bigearthnet_common/BigEarthNet-S2-Example.tar.bz2", inner.getvalue())
        z.writestr("bigearthnet_common-2.8.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: bigearthnet-common\nVersion: 2.8.0\n")
        z.writestr("bigearthnet_common-2.8.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("bigearthnet_common-2.8.0.dist-info/RECORD", "")
    return wheel


@pytest.fixture
def package_index(tmp_path, monkeypatch):
    """A PEP 503 simple index on 127.0.0.1 serving one wheel; pip's own configuration (other indexes) is off."""
    root = tmp_path / "index"
    (root / "simple" / "bigearthnet-common").mkdir(parents=True)
    wheel = bigearthnet_wheel(root)
    (root / "simple" / "bigearthnet-common" / "index.html").write_text(
        f'<html><body><a href="../../{wheel.name}">{wheel.name}</a></body></html>')
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    yield f"http://127.0.0.1:{server.server_port}/simple", hashlib.sha256(wheel.read_bytes()).hexdigest()
    server.shutdown()


def test_fetch_checks_the_archive_and_stacks_bigearthnet_with_its_offset(package_index, tmp_path):
    url, sha = package_index
    archive = Archive("bigearthnet-common==2.8.0", "bigearthnet_common-2.8.0-py3-none-any.whl", "0" * 64)
    with pytest.raises(RealDataError, match="SHA-256"):
        fetch(tmp_path / "bad", url, {"bigearthnet": archive})
    assert not list((tmp_path / "bad" / "archives").glob("*.whl"))  # the file that did not match is gone

    out = fetch(tmp_path / "real", url, {"bigearthnet": Archive(archive.requirement, archive.filename, sha)})
    stacked = out["bigearthnet"] / f"{PATCH_NAME}.tif"
    with rasterio.open(stacked) as src:
        assert (src.count, src.width, src.height, src.res) == (12, 120, 120, (10.0, 10.0))
        assert src.descriptions[:3] == ("B1", "B2", "B3") and "B10" not in src.descriptions
        tags = src.tags()
        assert tags["LEVEL"] == "L2A" and tags["PROCESSING_BASELINE"] == "04.00" and tags["DN_OFFSET"] == "-1000"
        assert json.loads(tags["CORINE_LABELS"]) == ["Coniferous forest", "Water bodies"]
        assert int(src.read(5).mean()) == 1004  # a 20 m band resampled to the 10 m grid keeps its values


def test_the_l2a_offset_follows_the_processing_baseline():
    assert product_baseline("S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608.SAFE") == "02.05"
    assert l2a_offset("02.05") == 0 and l2a_offset("04.00") == -1000 and l2a_offset("05.09") == -1000
    assert product_baseline("no baseline here") is None and l2a_offset(None) == 0


def test_no_test_patch_of_the_scene_touches_a_training_patch():
    grid = {(r, c): delmarva_split(r, c) for r in range(7) for c in range(7)}
    for (r, c), split in grid.items():
        if split == "test":
            neighbours = {grid.get((r + dr, c + dc)) for dr in (-1, 0, 1) for dc in (-1, 0, 1)}
            assert "train" not in neighbours and "val" not in neighbours
    assert sum(s == "train" for s in grid.values()) == 20 and sum(s == "test" for s in grid.values()) == 14


def _modis(path: Path, like: Path) -> Path:
    with rasterio.open(like) as src:
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=4, dtype="uint8", crs=src.crs,
                       transform=src.transform)
    codes = np.zeros((4, profile["height"], profile["width"]), np.uint8)
    codes[0], codes[1:] = 12, 30  # IGBP croplands everywhere
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(codes)
    return path


def test_build_labels_every_patch_with_its_source_and_splits_by_place(tiny_unet, tmp_path):
    north = make_scene(tmp_path / "north.tif", PATCH, 2 * PATCH, bands=13, seed=1)
    south = make_scene(tmp_path / "south.tif", PATCH, PATCH, bands=13, seed=2, lon=12.0)
    places = [Place("north", north, "L1C", 0, split="train"),
              Place("south", south, "L1C", 0, modis=_modis(tmp_path / "south_lc.tif", south), split="test")]
    manifest = build(places, tiny_unet, tmp_path / "set")
    assert "never ground truth" in manifest["note"] and len(manifest["patches"]) == 3
    for entry in manifest["patches"]:
        assert entry["labels"]["fine"].startswith("pseudo-label") and "not ground truth" in entry["labels"]["fine"]
    south_entry = next(e for e in manifest["patches"] if e["place"] == "south")
    assert south_entry["labels"]["coarse"].startswith("MODIS")
    north_entry = manifest["patches"][0]
    assert north_entry["labels"]["coarse"].startswith("pseudo-label: majority")

    splits = dataset_splits("real", tmp_path / "set")
    assert {s.scene for s in splits["train"]} == {"north"} and {s.scene for s in splits["test"]} == {"south"}
    sample = splits["train"][1]
    with rasterio.open(tmp_path / "set" / "teacher" / "north-teacher.tif") as teacher, rasterio.open(sample.dfc) as dfc:
        assert (dfc.read(1) == teacher.read(1)[:, PATCH:]).all()  # the teacher's map, cut where the patch is
        assert "pseudo-label" in dfc.tags()["LABEL_SOURCE"]
    with rasterio.open(sample.lc) as lc:
        coarse = lc.read(1)
        assert "pseudo-label" in lc.tags()["LABEL_SOURCE"]
    # Blocks of 50 px on the image's grid (as MODIS pixels are), so this patch's start 6 px into one.
    assert all(len(np.unique(coarse[y:y + 50, x:x + 50])) == 1 for y in range(0, 200, 50) for x in range(44, 244, 50))
    assert len(np.unique(coarse)) > 1 or len(np.unique(sample.labels("fine"))) == 1
    with rasterio.open(sample.s2) as s2, rasterio.open(north) as scene:
        assert s2.count == 13 and (s2.read(4) == scene.read(4)[:, PATCH:]).all()
    soft = Path(str(sample.dfc).replace("dfc_", "soft_"))
    with rasterio.open(soft) as probabilities:
        assert probabilities.count == 9  # 8 classes of the tiny model and the confidence
    assert [s.scene for s in real_modis_samples(tmp_path / "set", splits["test"])] == ["south"]
    assert sample.labels("fine").shape == (PATCH, PATCH) and sample.labels("coarse").max() < 8
    soft = sample.labels("soft")  # the teacher's probabilities: soft targets for distillation
    assert soft.shape == (PATCH, PATCH, 8) and np.allclose(soft.sum(axis=-1), 1, atol=0.02)
    assert (soft.argmax(axis=-1) == sample.labels("fine")).mean() > 0.99

    # A U-Net distilled from those soft labels trains and saves (one tiny epoch).
    result = train(TrainConfig(method="unet", dataset="real", data=tmp_path / "set", out=tmp_path / "distilled",
                               labels="soft", epochs=1, base_filters=4, depth=2, batch_size=2))
    card = json.loads((result.folder / "model.json").read_text())
    assert card["training"]["labels"] == "soft" and "OA" in result.metrics


def test_evaluate_scores_a_model_against_a_reference_in_another_crs(tiny_unet, tmp_path):
    scene = make_scene(tmp_path / "scene.tif", 200, 240, bands=13, seed=4)
    predictor = load_model(tiny_unet)
    predict_scene(scene, tmp_path / "map.tif", predictor)
    with rasterio.open(tmp_path / "map.tif") as src:  # the model's own map, in WGS84, a corner unlabelled
        codes = src.read(1)
        codes[:40, :40] = 0
        dst_crs = CRS.from_epsg(4326)
        transform, width, height = calculate_default_transform(src.crs, dst_crs, src.width, src.height, *src.bounds)
        reference = np.zeros((height, width), np.uint8)
        reproject(codes, reference, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
                  dst_crs=dst_crs, src_nodata=0, dst_nodata=0)
    with rasterio.open(tmp_path / "reference.tif", "w", driver="GTiff", width=width, height=height, count=1,
                       dtype="uint8", crs=dst_crs, transform=transform, nodata=0) as dst:
        dst.write(reference, 1)
    cm, counts = score_against_reference(predictor, scene, tmp_path / "reference.tif", tmp_path / "work")
    scores = cm.scores()
    assert scores.overall_accuracy > 0.9  # the same map, twice resampled by nearest neighbour
    assert counts["scored"] < 200 * 240 - 40 * 40 + 400 and counts["unmapped"] == 0
    assert cm.n == 10  # all ten classes: Snow/Ice and Savanna can be scored
    assert evaluate_main([str(tiny_unet), "--image", str(scene), "--reference", str(tmp_path / "reference.tif"),
                          "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / f"{tiny_unet.name}.md").read_text()
    assert "Overall accuracy" in report and "reference ↓ / map →" in report


def test_natural_earth_shapefile_becomes_the_geojson_of_the_base_layer(tmp_path):
    import shapefile

    from ml.realdata import shapefile_to_geojson

    with shapefile.Writer(str(tmp_path / "countries"), shapeType=shapefile.POLYGON) as w:
        w.field("name", "C")
        w.field("iso_a3", "C")
        w.field("pop_est", "N")
        w.poly([[[0, 0], [0, 1.123456], [1, 1], [1, 0], [0, 0]]])
        w.record("Squareland", "SQL", 5)
    shapefile_to_geojson(tmp_path / "countries.shp", tmp_path / "countries.geojson", keep=("name", "iso_a3"))
    feature = json.loads((tmp_path / "countries.geojson").read_text())["features"][0]
    assert feature["properties"] == {"name": "Squareland", "iso_a3": "SQL"}  # only what the map shows
    assert [0.0, 1.1235] in feature["geometry"]["coordinates"][0]  # 1e-4°: about 10 m, plenty at world zoom
