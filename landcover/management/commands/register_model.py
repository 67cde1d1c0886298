from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ml.modelio import ModelFormatError
from ml.runtime import ENGINES

from ...catalogue.registry import register_model


class Command(BaseCommand):
    help = "Register a trained model folder (model.json + weights) as a model version."

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument("--name", help="default: the folder's name")
        parser.add_argument("--default", action="store_true", help="make it the site's default model")
        parser.add_argument("--engine", choices=["default", *ENGINES], default="default",
                            help="how the worker runs it (default: the model card's default engine)")

    def handle(self, *args, folder, name, default, engine, **options):
        try:
            version = register_model(folder, name, default, engine=engine)
        except (ModelFormatError, ValueError, OSError) as exc:
            raise CommandError(f"cannot register {folder}: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"registered {version}"))
