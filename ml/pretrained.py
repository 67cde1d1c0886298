"""Pretrained land-cover networks imported as model folders, every file checked against its published SHA-256.

    python -m ml.pretrained dynamicworld OUT [--source FOLDER_OR_URL]

Dynamic World (Brown et al. 2022, Scientific Data 9, 251; Apache-2.0) is Google's production 10 m
land-cover network: 9 bands of Sentinel-2 L1C in, logits of 9 classes out. `--source` is a folder
holding its `forward/` SavedModel (as ../shared/models/dynamicworld does), or an HTTP(S) address of that
folder; by default the official address, pinned to one commit. A file whose SHA-256 differs from the
published one is refused and nothing is left of it. The model card maps its classes to our codes (so
Snow/Ice is mapped, and no Savanna), declares its normalisation, the L1C input it expects, its licence,
citation and the attribution its NOTICE requires, which every map it makes carries.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from .bands import LogSigmoidNormalisation
from .classes import DFC_COLOURS
from .errors import PermanentError
from .modelio import FORMAT_VERSION, write_card

DW_COMMIT = "0dd288fae5fb5291d988e5ea3c12eb91df481ec5"
DW_REPOSITORY = "https://github.com/google/dynamicworld"
DW_URL = f"{DW_REPOSITORY}/raw/{DW_COMMIT}/model/forward"
DW_FILES = {  # path inside forward/ → SHA-256 (../shared/models/README.md, checked against the official files)
    "saved_model.pb": "e47c4eafa62656b688893a4d86f67f0ad9e08baaf5b5b1ce2f320208b08d4b18",
    "variables/variables.data-00000-of-00001": "c4a38299f2c0a741682cbe48810d55afdc832ff451e3d3708082751fe655fcb1",
    "variables/variables.index": "f27000c6a3d7dcd3e76e333331b108697712c734d5d5ef11b3f34571027c8436",
}
DW_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12")
DW_A = [1.7417268007636313, 1.7261204997060209, 1.6798346251414997, 1.7734969472909623, 2.289154079164943,
        2.382939712192371, 2.3828939530384052, 2.1952484264967844, 1.554812948247501]
DW_S = [2.023298706048351, 2.038905204308012, 2.179592821212937, 2.2890068333026603, 2.6171674549378166,
        2.773418590375327, 2.7578332604178284, 2.789092484314204, 2.4140534947492487]
# Its output order, and the simplified-IGBP (DFC2020) code each class becomes.
DW_CLASSES = [("water", 10), ("trees", 1), ("grass", 4), ("flooded_vegetation", 5), ("crops", 6),
              ("shrub_and_scrub", 2), ("built", 7), ("bare", 9), ("snow_and_ice", 8)]
DW_ATTRIBUTION = ("Dynamic World model: produced for the Dynamic World Project by Google in partnership with "
                  "National Geographic and the World Resources Institute (Apache-2.0).")
DW_CITATION = ("Brown, C.F., Brumby, S.P., Guzder-Williams, B. et al. (2022). Dynamic World, near real-time global "
               "10 m land use land cover mapping. Scientific Data 9, 251. doi:10.1038/s41597-022-01307-4")


class ChecksumError(PermanentError):
    """A file's SHA-256 is not the published one: refused."""


def _is_url(source: str | Path) -> bool:
    return str(source).startswith(("http://", "https://"))


def fetch(source: str | Path, relative: str, target: Path, sha256: str, timeout: float = 120) -> Path:
    """Copy (a folder) or download (an HTTP(S) address) one file into `target`, hashing as it goes; the file
    lands only if its SHA-256 is `sha256`, else ChecksumError and nothing is left."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
        part = Path(tmp.name)
        try:
            if _is_url(source):
                with urllib.request.urlopen(f"{str(source).rstrip('/')}/{relative}", timeout=timeout) as response:
                    while chunk := response.read(1 << 20):
                        digest.update(chunk)
                        tmp.write(chunk)
            else:
                with open(Path(source) / relative, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                        tmp.write(chunk)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    if digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise ChecksumError(f"{relative}: SHA-256 {digest.hexdigest()} is not the published {sha256}; refused")
    part.replace(target)
    return target


def dynamic_world_card() -> dict:
    """The model card of Dynamic World (format 2)."""
    normalisation = LogSigmoidNormalisation(DW_BANDS, a=DW_A, s=DW_S)
    return {
        "format_version": FORMAT_VERSION, "method": "pretrained", "name": "Dynamic World", "input": "image",
        "level": "L1C",
        "classes": [{"index": i, "name": name, "code": code, "colour": DFC_COLOURS[code]}
                    for i, (name, code) in enumerate(DW_CLASSES)],
        "bands": list(DW_BANDS), "normalisation": normalisation.to_dict(), "input_size": 512,
        # One 512-px tile per pass: on 2 CPU cores as fast as 4 at once, at half the memory (1.6 GB against
        # 3.4 GB peak for a 1933 × 1947 scene; docs/BENCHMARKS.md).
        # Scenes in 512-px tiles overlapping by 32 px: on a real 1,536² crop, 512-px tiles agree with one
        # untiled pass on 98.35 % of pixels whether they overlap by 64 or 32 px (16: 98.33 %), and 32 px
        # needs 15 % fewer tiles on a full Sentinel-2 tile (529, not 625; docs/BENCHMARKS.md).
        "params": {"size_multiple": 32, "output": "logits", "savedmodel": "savedmodel", "batch_size": 1,
                   "scene_overlap": 32},
        "licence": "Apache-2.0", "citation": DW_CITATION, "attribution": DW_ATTRIBUTION,
        "source": {"repository": DW_REPOSITORY, "commit": DW_COMMIT, "folder": "model/forward",
                   "sha256": DW_FILES},
        "training": {"dataset": "Dynamic World training set (Brown et al. 2022): 24,000 expert- and "
                                "non-expert-annotated Sentinel-2 tiles worldwide", "synthetic": False},
        "metrics": {}, "files": ["savedmodel/" + name for name in DW_FILES],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def import_dynamic_world(out: Path, source: str | Path | None = None) -> Path:
    """Import Dynamic World into the model folder `out` from `source` (a folder holding forward/, the
    forward/ folder itself, or an HTTP(S) address of it; default: the official address at DW_COMMIT)."""
    out = Path(out)
    source = source or DW_URL
    notices: Path | None
    if not _is_url(source) and (Path(source) / "forward" / "saved_model.pb").exists():
        notices = Path(source)
        source = Path(source) / "forward"
    else:
        notices = Path(source).parent if not _is_url(source) else None
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=out.parent))  # beside `out`: the move is a rename
    try:
        for relative, sha256 in DW_FILES.items():
            fetch(source, relative, staging / "savedmodel" / relative, sha256)
        for name in ("LICENSE", "NOTICE"):
            if notices is not None and (notices / name).exists():
                shutil.copyfile(notices / name, staging / name)
        write_card(staging, dynamic_world_card())
        if out.exists():
            shutil.rmtree(out)
        staging.replace(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: import one pretrained network."""
    parser = argparse.ArgumentParser(prog="python -m ml.pretrained", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["dynamicworld"])
    parser.add_argument("out", type=Path, help="the model folder to write")
    parser.add_argument("--source", help=f"a folder holding forward/, or an HTTP(S) address (default: {DW_URL})")
    args = parser.parse_args(argv)
    try:
        folder = import_dynamic_world(args.out, args.source)
    except (ChecksumError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Dynamic World imported into {folder} (every file's SHA-256 checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
