"""Remove stored results nobody has asked for in a while, so the disk does not only ever grow: every kind of
the product registry, rows and folders together, and the scene maps composites share. Never a result a user
owns (an upload, a change or export of one, an area somebody signed in asked for) and never a job that is still
queued or running. Catalogue maps and anonymous areas are recomputed if somebody asks again. Run it daily (cron,
a systemd timer)."""
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ...jobs import composites, products

TEMP_FILE_HOURS = 24  # no upload takes this long to arrive


class Command(BaseCommand):
    help = ("Delete stored results (rows and files) nobody has asked for in --days days (HRMARS_PRUNE_DAYS, default "
            "90); results a user owns are kept. --dry-run only counts.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, default=None, help="age of the last request (default: "
                                                                         "HRMARS_PRUNE_DAYS)")
        parser.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")

    def handle(self, *args, days=None, dry_run=False, **options):
        days = settings.PRUNE_DAYS if days is None else days
        if days < 1:
            raise CommandError("--days must be at least 1: results asked for today are never pruned.")
        total = 0
        for product in products.registered():
            rows = list(products.prunable(product, days))
            if not dry_run:
                for row in rows:
                    products.delete(product, row)
            total += len(rows)
            if rows:
                self.stdout.write(f"{product.prefix}: {len(rows)} {'would go' if dry_run else 'removed'}")
        self.stdout.write(f"{total} result(s) not asked for in {days:g} days {'would be' if dry_run else 'were'} "
                          "removed; results a user owns are kept.")
        scenes = composites.prunable_scenes(days)
        count = scenes.count()
        if count and not dry_run:
            for scene in scenes:
                scene.delete()  # its folder goes with it (composites.remove_scene_folder)
        if count:
            self.stdout.write(f"{count} scene map(s) no composite used in {days:g} days "
                              f"{'would be' if dry_run else 'were'} removed.")
        stale = [p for p in Path(settings.FILE_UPLOAD_TEMP_DIR).glob("*")
                 if p.is_file() and p.stat().st_mtime < time.time() - TEMP_FILE_HOURS * 3600]
        if not dry_run:
            for path in stale:
                path.unlink(missing_ok=True)
        if stale:
            self.stdout.write(f"{len(stale)} upload temp file(s) older than {TEMP_FILE_HOURS} h (a restart mid-upload) "
                              f"{'would be' if dry_run else 'were'} removed.")
