"""Demo data: BigEarthNet example patches stacked to 10 m from a wheel laid out like bigearthnet-common's
(made here, so the test needs no download), and their place in the catalogue."""
import io
import tarfile
import zipfile

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from landcover.catalogue import demo
from landcover.models import Dataset, Patch

pytestmark = pytest.mark.django_db

BANDS = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20,
         "B09": 60, "B11": 20, "B12": 20}


def fake_wheel(path, names=("S2A_MSIL2A_20171221T112501_56_35", "S2B_MSIL2A_20170924T93020_69_24")):
    """A wheel holding BigEarthNet-S2-Example.tar.bz2: one GeoTIFF per band at its own resolution."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:bz2") as tar:
        for n, name in enumerate(names):
            for band, res in BANDS.items():
                size = 120 * 10 // res
                value = 100 * int(band[1:3].replace("8A", "85")) + n
                with rasterio.MemoryFile() as mem:
                    with mem.open(driver="GTiff", width=size, height=size, count=1, dtype="uint16",
                                  crs="EPSG:32634", transform=from_origin(500000, 5000000, res, res)) as dst:
                        dst.write(np.full((1, size, size), value, np.uint16))
                    data = mem.read()
                info = tarfile.TarInfo(f"BigEarthNet-S2-Example/{name}/{name}_{band}.tif")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(demo.BIGEARTHNET_TAR, tar_bytes.getvalue())
    return path


def test_bigearthnet_examples_are_stacked_to_12_bands_at_10_m_and_catalogued(tmp_path):
    (tmp_path / "wheels").mkdir()
    wheel = fake_wheel(tmp_path / "wheels" / "bigearthnet_common-2.8.0-py3-none-any.whl")
    assert demo.fetch_bigearthnet_wheel(tmp_path) == wheel  # cached: no download
    files = demo.stack_bigearthnet(wheel, tmp_path / "stacked")
    assert [f.name for f in files] == ["S2A_MSIL2A_20171221T112501_56_35.tif", "S2B_MSIL2A_20170924T93020_69_24.tif"]
    with rasterio.open(files[0]) as src:
        assert (src.count, src.width, src.height, src.res) == (12, 120, 120, (10.0, 10.0))
        assert src.descriptions == ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")
        assert src.crs.to_epsg() == 32634
        data = src.read()
    assert data[0].min() == data[0].max() == 100  # B01 (60 m) resampled, values kept
    assert data[8].min() == 8500 and data[11].max() == 1200  # B8A, B12

    dataset = demo.ingest_bigearthnet(files, tmp_path)
    dataset.refresh_from_db()
    assert dataset.kind == Dataset.Kind.BIGEARTHNET and not dataset.synthetic and "CDLA" in dataset.licence
    patches = Patch.objects.filter(dataset=dataset).order_by("patch_id")
    assert [p.patch_id for p in patches] == [56035, 69024] and all(p.lc_path == "" for p in patches)
    assert patches[0].scene.season == "20171221" and patches[0].crs == "EPSG:32634"
    demo.ingest_bigearthnet(files, tmp_path)  # idempotent
    assert Patch.objects.filter(dataset=dataset).count() == 2
