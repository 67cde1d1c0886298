"""Shared body of the ingest_* commands."""
import sys

from django.core.management.base import CommandError
from tqdm import tqdm

from ml.rasterio_io import DataError

from ...services import get_or_create_dataset, ingest_samples, is_synthetic


def run_ingest(command, kind: str, name: str, root, scan) -> None:
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
