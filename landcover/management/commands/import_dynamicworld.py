"""Import Dynamic World (checksums verified) and register it, by default as the site's model for real places;
with --held-out, its bf16 engine is measured against float32 on those real images first, and becomes the
engine the worker runs it on where it keeps 99.5 % of the pixels' classes (about twice as fast)."""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ml.engines import quantise
from ml.errors import EngineError
from ml.modelio import ModelFormatError
from ml.predict import SceneError
from ml.pretrained import DW_URL, ChecksumError, import_dynamic_world
from ml.runtime import bf16_supported

from ...catalogue.registry import register_model
from ...models import ModelVersion

NAME = "dynamic-world"


class Command(BaseCommand):
    help = ("Import the Dynamic World network (Brown et al. 2022, Apache-2.0) from a folder holding its forward/ "
            "SavedModel or an HTTP(S) address (default: the official one, pinned to a commit), verify every file's "
            "SHA-256, and register it as the default model (idempotent).")

    def add_arguments(self, parser):
        parser.add_argument("--source", help=f"folder or address (default: {DW_URL})")
        parser.add_argument("--not-default", action="store_true", help="register it without making it the default")
        parser.add_argument("--held-out", type=Path, nargs="+", default=[],
                            help="real Sentinel-2 L1C images to measure the bf16 engine on (e.g. the SEN12MS patches)")

    def handle(self, *args, source, not_default, held_out, **options):
        folder = Path(settings.DATA_DIR) / "models" / "dynamicworld"
        if ModelVersion.objects.filter(name=NAME).exists() and (folder / "model.json").exists():
            self.stdout.write(f"Dynamic World is registered already ({folder}).")
            return
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            import_dynamic_world(folder, source)
        except (ChecksumError, OSError) as exc:
            raise CommandError(f"Dynamic World could not be imported from {source or DW_URL}: {exc}") from exc
        if held_out and bf16_supported():
            try:
                result = quantise(folder, [], held_out, engines=["bf16"])
            except (EngineError, ModelFormatError, SceneError) as exc:  # the model itself is fine: float32
                self.stderr.write(f"Dynamic World's bf16 engine could not be measured ({exc}); it runs in float32")
            else:
                self.stdout.write(f"bf16 engine: {100 * result['bf16']['agreement']:.2f} % agreement with float32 on "
                                  f"{result['bf16']['pixels']:,} held-out pixels; default engine "
                                  f"{result['default_engine']}")
        version = register_model(folder, name=NAME, default=not not_default)
        self.stdout.write(self.style.SUCCESS(f"Dynamic World imported (checksums verified) and registered: {version}"))
