"""The competitions' API and pages (issue 26): a model entered over HTTP is checked at the door, scored, shown on the
board and its page; anonymous users read but cannot enter; an unpublished benchmark does not exist for them; and no
route of the whole site — API, pages, tiles, STAC, errors — ever shows a benchmark image's name, file or label."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from landcover.jobs import lifecycle, submissions
from landcover.models import Benchmark, Submission
from tests.landcover.competitions import THRESHOLD, enter
from tests.ml.test_submissions import CARD, segmenter

pytestmark = pytest.mark.django_db


def files(model=None, card=CARD, name="threshold"):
    return {"model": SimpleUploadedFile("model.onnx", (model or segmenter(weights=THRESHOLD)).SerializeToString()),
            "card": SimpleUploadedFile("card.json", json.dumps(card).encode(), "application/json"), "name": name}


def test_a_model_entered_over_http_is_scored_and_shown(benchmark, alice, bob):
    url = f"/api/v1/benchmarks/{benchmark.slug}/submissions/"
    refused = alice.post(url, {**files(), "card": SimpleUploadedFile("card.json", b"{not json")}, format="multipart")
    assert refused.status_code == 400 and "card" in refused.json()
    answer = alice.post(url, files(), format="multipart")
    assert answer.status_code == 202, answer.content
    entry = answer.json()
    assert entry["status"] == "queued" and answer["Location"] == entry["url"]
    assert bob.get(entry["url"]).status_code == 404  # not scored yet: its owner's alone
    lifecycle.run(submissions.SUBMISSION_JOB, entry["id"])
    scored = alice.get(entry["url"]).json()
    assert scored["status"] == "done" and scored["public_scores"]["metrics"]["AA"] > 0.9
    assert scored["private_scores"] is None  # until the phase ends
    seen_by_bob = bob.get(entry["url"]).json()
    assert seen_by_bob["public_scores"] == scored["public_scores"]
    assert bob.delete(entry["url"]).status_code == 404
    board = bob.get(f"/api/v1/benchmarks/{benchmark.slug}/leaderboard/").json()
    assert [(r["rank"], r["name"], r["participant"]) for r in board] == [(1, "threshold", "alice")]
    assert bob.get(f"/api/v1/benchmarks/{benchmark.slug}/leaderboard/?board=private").status_code == 403
    detail = bob.get(f"/api/v1/benchmarks/{benchmark.slug}/").json()
    assert detail["images"] == {"public": 3, "private": 3} and detail["left"] == {"today": 5, "phase": 100}
    page = Client().get(f"/competitions/submissions/{entry['id']}/").content.decode()
    assert "Confusion matrix" in page and "Forest" in page
    kept = submissions.folder(Submission.objects.get())
    assert kept.exists() and alice.delete(entry["url"]).status_code == 204
    assert not Submission.objects.exists() and not kept.exists()


def test_anonymous_users_read_but_cannot_enter_and_unpublished_benchmarks_are_not_there(benchmark, client):
    assert client.get("/api/v1/benchmarks/").json()[0]["slug"] == benchmark.slug
    assert client.post(f"/api/v1/benchmarks/{benchmark.slug}/submissions/", files()).status_code == 401
    Benchmark.objects.create(slug="draft", title="Draft", published=False)
    assert client.get("/api/v1/benchmarks/draft/").status_code == 404
    assert client.get("/competitions/draft/").status_code == 404
    assert [b["slug"] for b in client.get("/api/v1/benchmarks/").json()] == [benchmark.slug]


def test_the_page_form_enters_a_model_or_says_why_not(benchmark, django_user_model):
    person = django_user_model.objects.create_user("ada", "ada@example.org")
    browser = Client()
    browser.force_login(person)
    refused = browser.post(f"/competitions/{benchmark.slug}/submit/",
                           {**files(), "model": SimpleUploadedFile("model.onnx", b"\x80\x04 a pickle")}, follow=True)
    assert "Not entered: a pickle is refused" in refused.content.decode()
    entered = browser.post(f"/competitions/{benchmark.slug}/submit/", files(name="from the page"))
    row = Submission.objects.get()
    assert entered.status_code == 302 and entered["Location"] == f"/competitions/submissions/{row.pk}/"
    benchmark.phase_ends = timezone.now() - timedelta(minutes=1)
    benchmark.save()
    late = browser.post(f"/competitions/{benchmark.slug}/submit/", files(name="late"), follow=True)
    assert "not open to submissions" in late.content.decode() and Submission.objects.count() == 1


def routes(resolver: URLResolver = None, prefix: str = "") -> list[str]:
    """Every route of the site as a path pattern (regex, converters as named groups)."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += routes(entry, pattern)
        elif isinstance(entry, URLPattern):
            found.append(pattern)
    return found


def fill(pattern: str, values: dict[str, str]) -> str | None:
    """A concrete path for a route pattern: each parameter by its name's value (None: an unknown parameter)."""
    path = pattern.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\.", ".")
    unknown = False

    def value(name: str) -> str:
        nonlocal unknown
        if name not in values:
            unknown = True
        return values.get(name, "")

    path = re.sub(r"<(?:[a-z]+:)?(\w+)>", lambda m: value(m.group(1)), path)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m.group(1)), path)
    path = re.sub(r"\([^)]*\)", values.get("pk", "1"), path)
    return None if unknown or any(c in path for c in "^$?*+[]\\") else "/" + path


def test_no_route_shows_a_benchmark_image_or_label(benchmark, alice, django_user_model):
    row = enter(benchmark, django_user_model.objects.get(username="alice"))
    lifecycle.run(submissions.SUBMISSION_JOB, row.pk)
    benchmark.phase_ends = timezone.now() - timedelta(minutes=1)  # everything there is to show, shown
    benchmark.save()
    secrets = [image.name for image in benchmark.images.all()] + [
        part for image in benchmark.images.all() for part in (image.image, image.label)] + [
        str(settings.BENCHMARKS_DIR)]
    pk = str(row.pk)
    values = {"slug": benchmark.slug, "pk": pk, "id": pk, "cid": pk, "comment_id": pk, "name": "x", "model": "x",
              "collection_id": "competitions", "item_id": f"benchmark-{benchmark.slug}", "kind": "map", "z": "1",
              "x": "1", "y": "1", "key": "x", "token": "x", "layer": "classes", "filename": "map.tif",
              "content_type_id": "1", "object_id": pk, "path": "x", "url": "x", "app_label": "landcover",
              "object_id_or_slug": pk, "format": "json", "TileMatrixSet": "x", "TileMatrix": "1", "TileRow": "1",
              "TileCol": "1", "series_id": pk, "period": "2020-01", "uidb64": "x", "uidb36": "x"}
    checked = 0
    for pattern in routes():
        if pattern.startswith(("admin/", "^admin/", "static/", "^static/")):
            continue  # staff's, and files of the site itself
        path = fill(pattern, values)
        if path is None:
            continue
        for answer in (alice.get(path), Client().get(path)):
            body = answer.content.decode(errors="replace")
            leaked = [s for s in secrets if s in body]
            assert not leaked, (path, answer.status_code, leaked)
        checked += 1
    for path in (f"/api/v1/benchmarks/{benchmark.slug}/leaderboard/?board=private", "/api/v1/stac/search?limit=100",
                 f"/api/v1/benchmarks/{benchmark.slug}/submissions/", f"/competitions/submissions/{pk}/"):
        body = alice.get(path).content.decode(errors="replace")
        assert not [s for s in secrets if s in body], path
    assert checked > 150  # of the site's routes, those a value above fills


def test_the_admin_promotes_a_scored_entry_and_deletes_one_with_its_files(benchmark, alice, admin_client,
                                                                           django_user_model):
    row = enter(benchmark, django_user_model.objects.get(username="alice"), name="Threshold B8")
    changelist = "/admin/landcover/submission/"
    answer = admin_client.post(changelist, {"action": "promote", "_selected_action": [row.pk]}, follow=True)
    assert "only a scored entry can become a site model" in answer.content.decode()
    lifecycle.run(submissions.SUBMISSION_JOB, row.pk)
    answer = admin_client.post(changelist, {"action": "promote", "_selected_action": [row.pk]}, follow=True)
    assert f"is now the site model entry-{row.pk}-threshold-b8" in answer.content.decode()
    models = {m["name"]: m for m in alice.get("/api/v1/models/").json()}
    assert models[f"entry-{row.pk}-threshold-b8"]["method"] == "submission"
    kept = submissions.folder(row)
    admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    assert not Submission.objects.exists() and not kept.exists()
