"""Benchmarks' images and labels (issue 26, item 1): what an administrator curates, copied into
BENCHMARKS_DIR/<slug>/ — outside every folder the site serves — and checked before a row names them.

An image is a Sentinel-2 GeoTIFF whose bands are named (descriptions) or known by their count; a label is a one-band
raster of the same grid holding the benchmark's codes (0: unlabelled). Labels may come in the site's codes, or in
IGBP (SEN12MS's MODIS layer), converted here to ours. The split is drawn once, from a hash of the benchmark's slug
and each image's name: the same images always fall in the same split, and nobody can tell which from the names.
"""
from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from django.conf import settings
from rasterio.errors import RasterioError

from ml.bands import file_band_names
from ml.classes import igbp_to_dfc
from ml.errors import PermanentError

from ..models import Benchmark, BenchmarkImage, Patch


class BenchmarkFileError(ValueError):
    """An image or a label that cannot be part of a benchmark; the message says which and why."""


@dataclass(frozen=True)
class Pair:
    """One image and its reference labels, as an administrator gives them."""

    name: str
    image: Path
    label: Path
    label_band: int = 1
    igbp: bool = False  # the label holds IGBP classes (SEN12MS's MODIS layer), converted to ours


def split_of(benchmark: Benchmark, names: Sequence[str], private_share: float) -> dict[str, str]:
    """Each name's split: the `private_share` of names whose hash (with the slug) is lowest are private."""
    ranked = sorted(names, key=lambda n: hashlib.sha256(f"{benchmark.slug}/{n}".encode()).hexdigest())
    private = round(len(ranked) * private_share)
    return {n: (BenchmarkImage.Split.PRIVATE if k < private else BenchmarkImage.Split.PUBLIC)
            for k, n in enumerate(ranked)}


def add_images(benchmark: Benchmark, pairs: Sequence[Pair], private_share: float = 0.5,
               root: Path | None = None) -> list[BenchmarkImage]:
    """Copy each pair into the benchmark's folder (labels as uint8 codes) and record it; BenchmarkFileError
    before anything is written if one of them is wrong."""
    if not 0 <= private_share <= 1:
        raise BenchmarkFileError("the private share is a fraction between 0 and 1")
    legend = set(int(c) for c in benchmark.legend) if benchmark.legend else set(range(1, 11))
    checked = [(pair, *_check(pair, legend)) for pair in pairs]
    splits = split_of(benchmark, [p.name for p in pairs], private_share)
    base = Path(root) if root else _root()
    folder = base / benchmark.slug
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    rows = []
    for pair, (width, height), (labels, profile) in checked:
        stem = hashlib.sha256(f"{benchmark.slug}/{pair.name}".encode()).hexdigest()[:16]
        image, label = folder / "images" / f"{stem}.tif", folder / "labels" / f"{stem}.tif"
        shutil.copyfile(pair.image, image)
        profile.update(count=1, dtype="uint8", nodata=0, compress="deflate")
        with rasterio.open(label, "w", **profile) as dst:
            dst.write(labels, 1)
        rows.append(BenchmarkImage.objects.update_or_create(
            benchmark=benchmark, name=pair.name[:200],
            defaults={"split": splits[pair.name], "image": str(image.relative_to(base)),
                      "label": str(label.relative_to(base)), "width": width, "height": height})[0])
    return rows


def _root() -> Path:
    return Path(settings.BENCHMARKS_DIR)


def _check(pair: Pair, legend: set[int]) -> tuple[tuple[int, int], tuple[np.ndarray, dict]]:
    try:
        with rasterio.open(pair.image) as src:
            file_band_names(src.descriptions, src.count, source=pair.name)
            shape, transform = (src.width, src.height), src.transform
        with rasterio.open(pair.label) as src:
            if (src.width, src.height) != shape or src.transform != transform:
                raise BenchmarkFileError(f"{pair.name}: the label's grid differs from the image's")
            labels = src.read(pair.label_band)
            profile = {k: src.profile[k] for k in ("driver", "width", "height", "crs", "transform")}
    except (RasterioError, OSError) as exc:
        raise BenchmarkFileError(f"{pair.name}: {exc}") from None
    except PermanentError as exc:  # the bands cannot be named
        raise BenchmarkFileError(str(exc)) from None
    codes = igbp_to_dfc(labels) if pair.igbp else labels
    found = set(np.unique(codes).tolist()) - {0}
    if found - legend:
        raise BenchmarkFileError(f"{pair.name}: the label holds codes {sorted(found - legend)} outside the legend")
    return shape, (codes.astype(np.uint8), profile)


def catalogue_pairs(dataset: str, labels: str = "dfc", limit: int | None = None) -> list[Pair]:
    """The catalogue's patches of `dataset` that have labels: DFC2020's (`dfc`, our codes) or SEN12MS's MODIS
    IGBP layer (`lc`, converted)."""
    field = {"dfc": "dfc_path", "lc": "lc_path"}[labels]
    patches = Patch.objects.filter(dataset__name=dataset).exclude(**{field: ""}).select_related("scene")
    return [Pair(str(p), Path(p.s2_path), Path(getattr(p, field)), igbp=labels == "lc")
            for p in patches.order_by("scene", "patch_id")[:limit]]
