"""Shared fixtures: real services only (PostGIS, Redis, a Celery worker process, Chromium)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.ml_fixtures import synthetic_tree, tiny_boc, tiny_unet  # noqa: F401  (shared session fixtures)

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
STRICT = os.environ.get("HRMARS_TEST_STRICT") == "1"

# Playwright's sync API runs an event loop in this thread; Django's ORM calls
# made by the test itself are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def skip_or_fail(reason: str) -> None:
    """Skip when a piece of infrastructure is missing — but fail under scripts/test.sh, which installs it."""
    if STRICT:
        pytest.fail(f"{reason} (scripts/test.sh should have provided it)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clean_cache(request):
    """Rate-limit counters and cached API answers live in the cache: each test starts from zero,
    and with its own folder of stored maps (ml tests need no Django)."""
    if request.node.path.name.startswith("test_ml_"):
        yield
        return
    from django.conf import settings
    from django.core.cache import cache

    cache.clear()
    tmp = request.getfixturevalue("tmp_path")
    saved = {}
    for setting, env, folder in (("MAPS_DIR", "HRMARS_MAPS_DIR", "maps"), ("UPLOADS_DIR", "HRMARS_UPLOADS_DIR", "uploads")):
        saved[setting] = (getattr(settings, setting), os.environ.get(env))
        setattr(settings, setting, tmp / folder)
        os.environ[env] = str(tmp / folder)  # for worker processes the test starts
    yield
    for setting, env, _ in (("MAPS_DIR", "HRMARS_MAPS_DIR", ""), ("UPLOADS_DIR", "HRMARS_UPLOADS_DIR", "")):
        value, env_value = saved[setting]
        setattr(settings, setting, value)
        if env_value is None:
            os.environ.pop(env, None)
        else:
            os.environ[env] = env_value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """DATABASE_URL of the test database pytest-django created (for child processes)."""
    from django.db import connection

    s = connection.settings_dict
    user = quote(s["USER"] or "", safe="")
    password = quote(s["PASSWORD"] or "", safe="")
    return f"postgis://{user}:{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


class WorkerProcess:
    """A real `celery worker` subprocess consuming its own queue on the test broker."""

    def __init__(self, queue: str, log_path: Path, env: dict[str, str]):
        self.queue = queue
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "hrmars_site", "worker",
                "--queues", queue, "--hostname", f"{queue}@%h", "--loglevel", "INFO",
                "--pool", "prefork", "--concurrency", "1",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Start a worker on a private queue of the real broker; tasks sent by the test go there."""
    from hrmars_site.celery import app

    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        skip_or_fail("a Redis broker is needed (CELERY_BROKER_URL=redis://…)")
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "CELERY_QUEUE": queue, "DATABASE_URL": test_database_url()}
    worker = WorkerProcess(queue, tmp_path / "worker.log", env)
    old_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        yield worker
    finally:
        app.conf.task_default_queue = old_queue
        worker.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("HRMARS_CHROMIUM", "/usr/bin/chromium")
    if not shutil.which(path):
        skip_or_fail(f"Chromium not found at {path} (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    """Debian's Chromium driven by Playwright: headless, no sandbox, no background networking."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (requirements-dev.txt)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context whose requests may reach only the live server."""
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    allowed = live_server.url

    def guard(route):
        if route.request.url.startswith(allowed) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            route.abort()  # tests never reach the internet

    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}")
