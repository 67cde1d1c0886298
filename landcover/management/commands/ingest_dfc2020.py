from pathlib import Path

from django.core.management.base import BaseCommand

from ml.datasets import scan_dfc2020

from ._ingest import add_map_arguments, run_ingest


class Command(BaseCommand):
    help = "Add the patches of a DFC2020 folder (validation and/or test split) to the catalogue; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        add_map_arguments(parser)
        parser.add_argument("--split", choices=["validation", "test"], default="test")
        parser.add_argument("--name", default="DFC2020")

    def handle(self, *args, path, split, name, headers_only, **options):
        run_ingest(self, "dfc2020", name, path, lambda: scan_dfc2020(path, split), headers_only=headers_only)
