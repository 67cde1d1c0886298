"""Demo catalogue and model for a fresh site (scripts/run.sh runs this; idempotent)."""
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from ml.datasets import scan_sen12ms

from ...catalogue import demo
from ...catalogue.ingestion import get_or_create_dataset, ingest_samples, is_synthetic
from ...catalogue.registry import register_model
from ...jobs.maps import build_modis_maps
from ...models import Patch


class Command(BaseCommand):
    help = ("Load demo data: synthetic SEN12MS-layout patches, real SEN12MS samples (--sen12ms), the six real "
            "BigEarthNet example patches (from the bigearthnet-common wheel) and a small demo model.")

    def add_arguments(self, parser):
        parser.add_argument("--sen12ms", type=Path, help="a folder of real SEN12MS patches to add")
        parser.add_argument("--no-bigearthnet", action="store_true", help="skip the BigEarthNet examples (no download)")
        parser.add_argument("--epochs", type=int, default=8, help="training epochs of the demo model")

    def handle(self, *args, sen12ms, no_bigearthnet, epochs, **options):
        started = time.perf_counter()
        root = demo.demo_root(settings.DATA_DIR)
        say = self.stdout.write

        tree = demo.synthetic_catalogue(root)
        synthetic = get_or_create_dataset("SEN12MS layout (synthetic demo)", "sen12ms", tree, synthetic=True)
        report = ingest_samples(synthetic, scan_sen12ms(tree))
        say(f"synthetic demo patches: {report.created} added")

        if sen12ms and sen12ms.is_dir():
            samples = scan_sen12ms(sen12ms)
            real = get_or_create_dataset("SEN12MS (samples)", "sen12ms", sen12ms, synthetic=is_synthetic(samples[0].s2))
            report = ingest_samples(real, samples)
            say(f"real SEN12MS samples from {sen12ms}: {report.created} added, {len(report.bad)} bad")
            benchmark = demo.demo_benchmark(real)
            if benchmark is not None:
                say(f"demo competition: /competitions/{benchmark.slug}/ ({benchmark.images.count()} real images)")
        elif sen12ms:
            self.stderr.write(f"no SEN12MS folder at {sen12ms}; skipped")

        if not no_bigearthnet:
            wheel = demo.fetch_bigearthnet_wheel(root)
            if wheel:
                files = demo.stack_bigearthnet(wheel, root / "bigearthnet")
                demo.ingest_bigearthnet(files, root)
                say(f"BigEarthNet example patches: {len(files)} (real Sentinel-2, L2A)")
            else:
                self.stderr.write("BigEarthNet examples skipped: the bigearthnet-common wheel could not be fetched")

        built, bad = build_modis_maps(Patch.objects.exclude(lc_path="").exclude(maps__source="modis", maps__status="done")
                                      .select_related("dataset"))
        say(f"MODIS maps built: {built}{f', {len(bad)} failed' if bad else ''}")

        if demo.default_model_needed():
            folder = demo.train_demo_model(root, epochs=epochs)
            version = register_model(folder, name="demo-unet (synthetic training)", default=True)
            say(f"demo model registered: {version}")
        say(self.style.SUCCESS(f"demo data ready in {time.perf_counter() - started:.0f} s"))
