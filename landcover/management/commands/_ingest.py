"""Shared body of the ingest_* commands."""
import sys
import time

from django.core.management.base import CommandError
from tqdm import tqdm

from ml.rasterio_io import DataError

from ...catalogue.ingestion import get_or_create_dataset, ingest_samples, is_synthetic
from ...jobs.maps import build_modis_maps
from ...models import LandCoverMap, Patch


def add_map_arguments(parser) -> None:
    parser.add_argument("--headers-only", action="store_true",
                        help="only catalogue the patches; their MODIS maps are then built on first request "
                             "(for the full SEN12MS: building 180,662 maps up front takes hours)")


def run_ingest(command, kind: str, name: str, root, scan, headers_only: bool = False) -> None:
    try:
        samples = scan()
    except (DataError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    dataset = get_or_create_dataset(name, kind, root, synthetic=is_synthetic(samples[0].s2))
    with tqdm(total=len(samples), unit="patch", desc=f"ingesting {name}", file=sys.stderr,
              disable=not sys.stderr.isatty()) as bar:
        report = ingest_samples(dataset, samples, progress=bar.update)
    for path, reason in report.bad:
        command.stderr.write(f"skipped {path}: {reason}")
    command.stdout.write(command.style.SUCCESS(
        f"{dataset}: {report.created} patches added, {report.skipped} already there, {len(report.bad)} bad "
        f"file(s), {report.seconds:.1f} s ({report.rate:.0f} patches/s)"))
    if headers_only:
        return
    patches = (Patch.objects.filter(dataset=dataset).exclude(lc_path="")
               .exclude(maps__source=LandCoverMap.Source.MODIS, maps__status=LandCoverMap.Status.DONE)
               .select_related("dataset"))
    started = time.perf_counter()
    with tqdm(total=patches.count(), unit="map", desc="MODIS maps", file=sys.stderr,
              disable=not sys.stderr.isatty()) as bar:
        built, bad = build_modis_maps(patches.iterator(chunk_size=200), progress=bar.update)
    for path, reason in bad:
        command.stderr.write(f"no MODIS map for {path}: {reason}")
    seconds = time.perf_counter() - started
    command.stdout.write(command.style.SUCCESS(
        f"{dataset}: {built} MODIS maps built, {len(bad)} failed, {seconds:.1f} s"))
