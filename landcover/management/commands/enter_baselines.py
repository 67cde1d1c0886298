"""Enter the site's registered models in a benchmark as baselines, through the same door and sandbox as anybody's."""
from django.core.management.base import BaseCommand, CommandError

from ml.errors import PermanentError

from ...errors import LandcoverError
from ...jobs.submissions import enter_baseline
from ...models import Benchmark, ModelVersion


class Command(BaseCommand):
    help = ("Enter registered models (all, or those named) in a benchmark as baselines: each exported to ONNX, checked "
            "and scored in the sandbox like any submission, shown on the boards as the platform's.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--model", action="append", help="a model version's name (repeatable); default: all")

    def handle(self, *args, slug, model, **options):
        benchmark = Benchmark.objects.filter(slug=slug).first()
        if benchmark is None:
            raise CommandError(f"no benchmark {slug!r}")
        versions = ModelVersion.objects.filter(owner__isnull=True)  # the site's own, never a user's
        if model:
            versions = versions.filter(name__in=model)
            missing = set(model) - set(versions.values_list("name", flat=True))
            if missing:
                raise CommandError(f"no model named {', '.join(sorted(missing))}")
        for version in versions:
            try:
                entry = enter_baseline(benchmark, version)
            except (PermanentError, LandcoverError) as exc:
                self.stderr.write(f"{version.name}: not entered: {getattr(exc, 'message', None) or exc}")
                continue
            self.stdout.write(self.style.SUCCESS(f"{version.name}: entered as submission {entry.pk} (queued)"))
