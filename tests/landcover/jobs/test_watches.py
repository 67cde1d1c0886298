"""Watched areas (issue 25): rules, webhook addresses, the API a user keeps them with, and the whole loop run by a
real Celery worker and a real beat process reading its schedule from the database, with time moved forward by
the test (the beat task's `now`), not slept: as of early July, June 2024 is mapped (the first period: nothing to
compare); as of early August, July — whose scene on the loopback STAC API has half the area turned to open water
(`july_item`) — is mapped, compared and alerts once: one e-mail in the outbox, one webhook with a valid
signature at a loopback server, one Atom entry; later beats send nothing again."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.test import APIClient

from landcover.catalogue.registry import register_model
from landcover.errors import InvalidInput
from landcover.jobs import watches
from landcover.models import WatchedArea, WatchPeriod
from tests.conftest import WorkerProcess, skip_or_fail, stop_group, test_database_url, wait_for
from tests.landcover.conftest import api_client_of
from tests.landcover.jobs.test_composites import COL0, COL1, ROW0, ROW1
from tests.ml.test_imagery import scene_polygon

AREA = scene_polygon(COL0, ROW0, COL1, ROW1)


def test_rules_in_words_and_what_sets_them_off():
    rules = watches.check_rules([{"class": "forest", "change": "loses", "more_than": 5, "unit": "ha"},
                                 {"change": "changes", "more_than": 2, "unit": "%"}])
    assert [watches.describe(r) for r in rules] == ["Forest loses more than 5 ha",
                                                    "any class changes by more than 2 %"]
    before = [{"code": 1, "area_km2": 0.5}, {"code": 10, "area_km2": 0.1}]
    after = [{"code": 1, "area_km2": 0.41}, {"code": 10, "area_km2": 0.19}]
    changes = watches.compare(before, after, area_ha=100)
    assert [(c["code"], c["change_ha"], c["change_percent"]) for c in changes] == [(1, -9.0, -9.0), (10, 9.0, 9.0)]
    assert watches.set_off(rules, changes) == ["Forest loses more than 5 ha: Forest -9.00 ha",
                                               "any class changes by more than 2 %: Forest -9.00 % of the area",
                                               "any class changes by more than 2 %: Water +9.00 % of the area"]
    assert watches.set_off(rules, watches.compare(before, before, 100)) == []
    for bad, words in [([{"class": "Moon", "more_than": 1}], "class must be"), ([{"more_than": "x"}], "more_than"),
                       ([{"change": "grows", "more_than": 1}], "change must be"), ("forest", "a list")]:
        with pytest.raises(InvalidInput, match=words):
            watches.check_rules(bad)


def test_webhooks_go_to_public_http_addresses_only(settings):
    settings.WATCH_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]/x", "http://169.254.169.254/"):
        with pytest.raises(InvalidInput, match="public address"):
            watches.check_webhook(url)
    with pytest.raises(InvalidInput, match="http"):
        watches.check_webhook("file:///etc/passwd")
    body = b'{"event": "alert"}'
    assert watches.sign("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


@pytest.mark.django_db
def test_an_owner_keeps_watched_areas_and_nobody_else_sees_them(django_user_model, tiny_unet_model, settings):
    settings.WATCH_WEBHOOK_ALLOW_PRIVATE = True
    alice, bob = api_client_of(django_user_model, "alice"), api_client_of(django_user_model, "bob")
    asked = {"geometry": AREA, "name": "Delmarva woods", "step": "month",
             "rules": [{"class": "Forest", "change": "loses", "more_than": 5}]}
    assert APIClient().post("/api/v1/watches/", asked, format="json").status_code == 401
    created = alice.post("/api/v1/watches/", asked, format="json")
    assert created.status_code == 201, created.content
    url = created.json()["url"]
    assert created.json()["rules_in_words"] == ["Forest loses more than 5 ha"] and len(
        created.json()["webhook_secret"]) == 64
    assert bob.get(url).status_code == 404 and bob.get("/api/v1/watches/").json() == []
    assert alice.patch(url, {"paused": True, "webhook_url": "http://127.0.0.1:9/hook"}, format="json").json()[
        "paused"] is True
    assert alice.patch(url, {"step": "year"}, format="json").status_code == 400
    assert alice.post("/api/v1/watches/", {**asked, "rules": [{"more_than": -1}]}, format="json").status_code == 400
    assert bob.delete(url).status_code == 404 and alice.delete(url).status_code == 204
    assert not WatchedArea.objects.exists()


class Hooks(BaseHTTPRequestHandler):
    """A loopback webhook receiver: keeps each POST's headers and body."""
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hooks.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_beat_maps_each_month_and_alerts_once(stac_api, july_item, tiny_unet, tmp_path, django_user_model):
    from hrmars_site.celery import app

    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        skip_or_fail("a Redis broker is needed (CELERY_BROKER_URL=redis://…)")
    register_model(tiny_unet, name="tiny-unet", default=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    Hooks.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    alice = api_client_of(django_user_model, "alice")
    django_user_model.objects.filter(username="alice").update(email="alice@example.org")
    with override_settings(WATCH_WEBHOOK_ALLOW_PRIVATE=True):
        watch = alice.post("/api/v1/watches/", {
            "geometry": AREA, "name": "Delmarva", "step": "month", "source": "stac",
            "rules": [{"class": "any", "change": "changes", "more_than": 2, "unit": "%"}],
            "webhook_url": f"http://127.0.0.1:{server.server_port}/hook"}, format="json").json()
    watched = WatchedArea.objects.get(pk=watch["id"])

    queue = f"test-{uuid.uuid4().hex[:10]}"
    outbox = tmp_path / "outbox"
    env = {**os.environ, "CELERY_QUEUE": queue, "DATABASE_URL": test_database_url(), "HRMARS_STAC_URL": stac_api.url,
           "HRMARS_WATCH_WEBHOOK_ALLOW_PRIVATE": "1", "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
           "EMAIL_FILE_PATH": str(outbox)}
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    # The migration's row (a transactional test before this one may have emptied the table: made again then).
    task, _ = PeriodicTask.objects.get_or_create(task="landcover.watch_areas", defaults={
        "name": "Watched areas: map new periods, alert", "interval": every_second})
    task.interval = every_second
    task.queue, task.kwargs = queue, json.dumps({"now": "2024-07-05T00:00:00+00:00"})
    task.save()
    worker = WorkerProcess(queue, tmp_path / "worker.log", env)
    beat_log = open(tmp_path / "beat.log", "wb")
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hrmars_site", "beat", "--loglevel", "INFO",
         "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1"],
        env=env, stdout=beat_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def period(name):
            return WatchPeriod.objects.filter(watched=watched, period=name, status="done").first()
        june = wait_for(lambda: period("2024-06"), 180, 0.5, "June mapped by the beat's task")
        assert june.previous == "" and june.triggered == [] and june.alerted_at is None  # nothing to compare yet

        task.refresh_from_db()
        task.kwargs = json.dumps({"now": "2024-08-05T00:00:00+00:00"})  # a month later, for the beat
        task.save()
        july_row = wait_for(lambda: period("2024-07"), 180, 0.5, "July mapped and compared")
        assert july_row.previous == "2024-06" and july_row.alerted_at is not None and july_row.triggered
        assert any("Water" in line for line in july_row.triggered), july_row.changes
        wait_for(lambda: july_row.delivery or WatchPeriod.objects.get(pk=july_row.pk).delivery, 30, 0.2, "delivery")

        seen = WatchedArea.objects.get(pk=watched.pk).checked_at  # later beats: nothing sent again
        wait_for(lambda: WatchedArea.objects.get(pk=watched.pk).checked_at > seen, 30, 0.2, "another beat")
        time.sleep(2)
        wait_for(lambda: WatchedArea.objects.get(pk=watched.pk).checked_at > seen, 30, 0.2, "a third beat")
    finally:
        stop_group(beat)
        beat_log.close()
        worker.stop()
        server.shutdown()
    assert WatchPeriod.objects.get(pk=july_row.pk).delivery == {"email": "sent", "webhook": "204"}
    assert len(Hooks.received) == 1
    headers, body = Hooks.received[0]
    assert headers["x-hrmars-signature"] == watches.sign(watched.secret, body)
    payload = json.loads(body)
    assert payload["period"]["name"] == "2024-07" and payload["previous"] == "2024-06" and payload["triggered"]
    mails = [p.read_text() for p in outbox.glob("*.log")]
    assert len(mails) == 1 and "HR-MARS alert: Delmarva, 2024-07" in mails[0] and "alice@example.org" in mails[0]
    feed = APIClient().get(watch["feed"].replace("http://testserver", ""))
    entries = ET.fromstring(feed.content).findall("{http://www.w3.org/2005/Atom}entry")
    assert feed.status_code == 200 and len(entries) == 1 and "2024-07" in entries[0].findtext(
        "{http://www.w3.org/2005/Atom}title")
    assert APIClient().get(watch["feed"].replace("http://testserver", "").replace(watched.feed_token, "x" * 32)
                           ).status_code == 404
