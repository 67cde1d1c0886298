"""What a cheap hostile upload costs a web worker: validation time of zero-filled 11,000² × 13-band
GeoTIFFs (deflate, a few MB on disk, 3.1 GB of pixels) stored in strips (GDAL's default) and as one huge
tile, the old validation (the commit before issue 11's hardening, from a git worktree) and the current
one interleaved in one run, as ratios.

    .venv/bin/python bench/bench_validation.py [--rounds 3] [--out bench/results]

The file is made once under the work folder (it takes about a minute to compress)."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OLD = "f6913cf"  # issue 10's last commit: validation as it was before the hardening
CHILD = """
import os, sys, time, json
sys.path.insert(0, os.environ["CODE"])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hrmars_site.settings")
import django; django.setup()
from pathlib import Path
import tempfile
try:
    from landcover.validation.uploads import check_file, UploadError
except ImportError:
    from landcover.uploads import check_file, UploadError
work = Path(tempfile.mkdtemp())
t = time.perf_counter()
try:
    check_file(Path(sys.argv[1]), "zeros.tif", work)
    outcome = "accepted"
except UploadError as exc:
    outcome = str(exc)[:90]
print(json.dumps({"seconds": time.perf_counter() - t, "outcome": outcome}))
"""


def make_zeros(path: Path, **layout: object) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rows = 500
    with rasterio.open(path, "w", driver="GTiff", width=11000, height=11000, count=13, dtype="uint16",
                       crs="EPSG:32632", transform=from_origin(600000, 5300000, 10, 10), compress="deflate",
                       BIGTIFF="YES", **layout) as dst:
        block = np.zeros((13, rows, 11000), np.uint16)
        for y in range(0, 11000, rows):
            dst.write(block, window=((y, y + rows), (0, 11000)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hrmars-bench-validation")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    files = {"strips": args.work / "zeros.tif", "one tile": args.work / "one-tile.tif"}
    if not files["strips"].exists():
        make_zeros(files["strips"])
    if not files["one tile"].exists():
        make_zeros(files["one tile"], tiled=True, blockxsize=11008, blockysize=11008)
    old = args.work / "old"
    if not old.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), OLD], check=True,
                       capture_output=True)
    env = {**os.environ, "DEBUG": "1", "HRMARS_DATA_DIR": str(args.work / "data")}
    summary: dict = {"pixels": "11000 x 11000 x 13 uint16, all zero", "rounds": args.rounds}
    for label, path in files.items():
        times: dict[str, list[float]] = {"before": [], "now": []}
        outcomes = {}
        for _ in range(args.rounds):  # interleaved: the machine's noise hits both alike
            for name, code in (("before", old), ("now", ROOT)):
                out = subprocess.run([sys.executable, "-c", CHILD, str(path)], env={**env, "CODE": str(code)},
                                     cwd=code, capture_output=True, text=True, check=True)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                times[name].append(result["seconds"])
                outcomes[name] = result["outcome"]
        summary[label] = {"file_mb": round(path.stat().st_size / 2**20, 1),
                          **{f"{k}_median_s": round(statistics.median(v), 2) for k, v in times.items()},
                          "ratio_before_over_now": round(statistics.median(times["before"]) /
                                                         statistics.median(times["now"]), 1),
                          "outcomes": outcomes}
    print(json.dumps(summary, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "validation.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
