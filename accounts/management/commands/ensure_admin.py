"""Create a first superuser if none exists, with a random password saved to a 0600 file."""
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the 'admin' superuser with a random password if the site has no superuser yet."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", default=str(settings.DATA_DIR / "admin-password.txt"))

    def handle(self, *args, username, password_file, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists already; nothing to do.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        path = Path(password_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{username}\n{password}\n")
        path.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Created superuser '{username}'; its password is in {path}"))
