"""An upload's whole job on a full Sentinel-2 tile: validation, stacking-free GeoTIFF path, windowed
inference, COG, PNG preview and statistics; time and peak memory of the process doing all of it.

    .venv/bin/python bench/bench_upload.py [--size 10980] [--work /tmp/hrmars-bench/upload]

Runs on the embedded defaults (SpatiaLite in a temporary data folder): the database is not what
is measured. The model is the default U-Net (32 filters, depth 4, RGB+NIR) with random weights
(speed and memory do not depend on the weights). Peak memory is the process's VmHWM.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--work", type=Path, default=Path("/tmp/hrmars-bench/upload"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    scene = args.work / f"scene-{args.size}.tif"
    if not scene.exists():
        from ml.synthetic import make_scene

        t = time.perf_counter()
        make_scene(scene, args.size, args.size, bands=13, seed=1)
        print(f"wrote {scene} ({scene.stat().st_size / 2**30:.2f} GB) in {time.perf_counter() - t:.0f} s", flush=True)
    data = args.work / "data"
    shutil.rmtree(data, ignore_errors=True)
    os.environ.update(HRMARS_DATA_DIR=str(data), SECRET_KEY="benchmark-only-" + "x" * 40,
                      DJANGO_SETTINGS_MODULE="hrmars_site.settings", LOG_LEVEL="WARNING")
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files import File
    from django.core.management import call_command

    from landcover.catalogue.registry import register_model
    from landcover.jobs import lifecycle, uploads
    from landcover.models import Upload
    from ml.bands import BAND_SETS, Normalisation
    from ml.modelio import save_model
    from ml.models.unet import build_unet

    call_command("migrate", verbosity=0)
    model_dir = args.work / "model"
    if not (model_dir / "model.json").exists():
        norm = Normalisation(BAND_SETS["rgbn"], [0.1] * 4, [0.05] * 4)
        save_model(model_dir, "unet", build_unet(4), norm, input_size=256, training={"synthetic": True},
                   params={"size_multiple": 16})
    version = register_model(model_dir, name="bench-unet", default=True)
    user = get_user_model().objects.create_user("bench")
    baseline = peak_mb()

    class Incoming(File):
        """What Django hands the view for a large upload: a file on disk (moved, not copied)."""

        def temporary_file_path(self):
            return self.file.name

    copy = args.work / "incoming.tif"
    shutil.copyfile(scene, copy)
    started = time.perf_counter()
    with open(copy, "rb") as f:
        upload = uploads.accept_upload(user, Incoming(f, name=scene.name), version)
    validated = time.perf_counter() - started
    t = time.perf_counter()
    lifecycle.run(uploads.UPLOAD_JOB, upload.pk)
    done = Upload.objects.get(pk=upload.pk)
    job_seconds = time.perf_counter() - t
    result = {"size_px": args.size, "bands": 13, "file_gb": round(scene.stat().st_size / 2**30, 2),
              "validation_seconds": round(validated, 1), "job_seconds": round(job_seconds, 1),
              "total_seconds": round(validated + job_seconds, 1), "status": done.status,
              "valid_pixels": sum(r["pixels"] for r in done.statistics),
              "peak_mb_before_upload": round(baseline), "peak_mb": round(peak_mb())}
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"upload-{args.size}.json").write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
