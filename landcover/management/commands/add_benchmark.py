"""Create or extend a competition's benchmark from image/label pairs on disk or from the catalogue's labelled patches."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ...catalogue.benchmarks import BenchmarkFileError, Pair, add_images, catalogue_pairs
from ...models import Benchmark


class Command(BaseCommand):
    help = ("Create (or add images to) a benchmark: --images DIR --labels DIR (pairs by file name) or --dataset NAME "
            "(the catalogue's patches with labels). Images and labels are copied under HRMARS_BENCHMARKS_DIR, never "
            "served.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--title", help="default: the slug")
        parser.add_argument("--description", default="")
        parser.add_argument("--licence", default="")
        parser.add_argument("--metric", choices=Benchmark.Metric.values, default=Benchmark.Metric.AA)
        parser.add_argument("--images", type=Path, help="folder of Sentinel-2 GeoTIFFs")
        parser.add_argument("--labels", type=Path, help="folder of label GeoTIFFs, named as the images")
        parser.add_argument("--igbp", action="store_true", help="the labels hold IGBP classes (converted to ours)")
        parser.add_argument("--dataset", help="a catalogue dataset whose patches have labels")
        parser.add_argument("--layer", choices=["dfc", "lc"], default="dfc",
                            help="the catalogue's labels: DFC2020's (dfc) or SEN12MS's MODIS IGBP (lc)")
        parser.add_argument("--limit", type=int)
        parser.add_argument("--private-share", type=float, default=0.5)
        parser.add_argument("--publish", action="store_true")

    def handle(self, *args, slug, title, description, licence, metric, images, labels, igbp, dataset, layer, limit,
               private_share, publish, **options):
        if images and labels:
            pairs = [Pair(path.stem, path, labels / path.name, igbp=igbp) for path in sorted(images.glob("*.tif"))
                     if (labels / path.name).exists()][:limit]
        elif dataset:
            pairs = catalogue_pairs(dataset, layer, limit)
        else:
            raise CommandError("give --images and --labels, or --dataset")
        if not pairs:
            raise CommandError("no image with a label was found")
        benchmark, created = Benchmark.objects.get_or_create(
            slug=slug, defaults={"title": title or slug, "description": description, "licence": licence,
                                 "metric": metric, "published": publish})
        try:
            rows = add_images(benchmark, pairs, private_share)
        except BenchmarkFileError as exc:
            if created:
                benchmark.delete()
            raise CommandError(str(exc)) from exc
        private = sum(r.split == "private" for r in rows)
        self.stdout.write(self.style.SUCCESS(f"{'created' if created else 'extended'} {slug}: {len(rows)} images "
                                             f"({len(rows) - private} public, {private} private)"))
