from pathlib import Path

from django.core.management.base import BaseCommand

from ml.datasets import scan_sen12ms

from ._ingest import add_map_arguments, run_ingest


class Command(BaseCommand):
    help = "Add the patches of a SEN12MS-layout folder to the catalogue (reads file headers only; idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        add_map_arguments(parser)
        parser.add_argument("--name", default="SEN12MS")

    def handle(self, *args, path, name, headers_only, **options):
        run_ingest(self, "sen12ms", name, path, lambda: scan_sen12ms(path), headers_only=headers_only)
