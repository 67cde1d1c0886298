"""Competition submissions as jobs (issue 26): a well-behaved model scores exactly what the confusion counts give by
hand; hostile models are refused at the door or stopped in the sandbox, each with its reason and nothing left; the
per-day limit holds under twenty submissions at once; boards rank best public entries, the private one hidden until
the phase ends."""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from onnx import helper

from landcover.catalogue.registry import register_model
from landcover.errors import Forbidden, InvalidInput, LimitReached, NotReady
from landcover.jobs import lifecycle, submissions
from landcover.jobs.inference import map_image, predictor_for
from landcover.models import ModelVersion, Submission
from ml import sandbox
from ml.errors import EngineError
from ml.modelio import load_model
from ml.rasterio_io import read_raster
from ml.scoring import PredictionError, read_prediction
from tests.landcover.competitions import LIMITS, THRESHOLD, enter
from tests.ml.test_submissions import CARD, hostile, segmenter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_limits")]


def by_hand(benchmark, split: str) -> dict:
    """AA, OA, mIoU and κ of the threshold model on a split, from the definitions."""
    codes = [1, 10]
    matrix = np.zeros((2, 2), np.int64)
    for image in benchmark.images.filter(split=split):
        predicted, label = benchmark.truth[image.name]
        keep = label > 0
        for i, ref in enumerate(codes):
            for j, pred in enumerate(codes):
                matrix[i, j] += int(((label == ref) & (predicted == pred) & keep).sum())
    recall = np.diag(matrix) / matrix.sum(axis=1)
    iou = np.diag(matrix) / (matrix.sum(axis=1) + matrix.sum(axis=0) - np.diag(matrix))
    total = matrix.sum()
    oa = np.trace(matrix) / total
    chance = (matrix.sum(axis=1) * matrix.sum(axis=0)).sum() / total**2
    return {"AA": recall.mean(), "OA": oa, "mIoU": iou.mean(), "kappa": (oa - chance) / (1 - chance),
            "matrix": matrix}


def test_a_well_behaved_submission_scores_exactly_as_counted_by_hand(benchmark, django_user_model):
    user = django_user_model.objects.create_user("ada")
    row = enter(benchmark, user)
    assert row.status == Submission.Status.QUEUED and row.model_info["operators"] == ["Conv", "Softmax"]
    result = lifecycle.run(submissions.SUBMISSION_JOB, row.pk)
    row.refresh_from_db()
    assert result["status"] == "done", row.error
    for split, scores in (("public", row.public_scores), ("private", row.private_scores)):
        expected = by_hand(benchmark, split)
        assert scores["images"] == 3
        for key in ("AA", "OA", "mIoU", "kappa"):
            assert scores["metrics"][key] == pytest.approx(expected[key], abs=1e-6), (split, key)
        counts = np.array(scores["confusion_matrix"]["counts"])
        assert np.array_equal(counts[[0, 9]][:, [0, 9]], expected["matrix"]) and counts[:, 10].sum() == 0
        low, high = scores["ci95"]["AA"]
        assert low <= scores["metrics"]["AA"] <= high and low < high
        assert [c["code"] for c in scores["per_class"] if c["support"]] == [1, 10]
    # Only aggregates are kept: the model and card, and scores.json; no prediction, no image, no staging left.
    kept = submissions.folder(row)
    assert sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*") if p.is_file()) == [
        "card.json", "model.onnx", "scores/scores.json"]
    assert not any((Path(settings.SUBMISSIONS_DIR) / ".staging").iterdir())
    assert row.sandbox_seconds > 0


def test_hostile_models_are_refused_at_the_door_and_leave_nothing(benchmark, django_user_model, tmp_path):
    user = django_user_model.objects.create_user("mallory")
    for case, (made, words) in hostile(tmp_path).items():
        if isinstance(made, Path) and made.is_dir():
            continue  # a folder cannot be sent as one file
        data = made.SerializeToString() if hasattr(made, "SerializeToString") else made.read_bytes()
        with pytest.raises(InvalidInput) as refused:
            submissions.accept(benchmark, user, SimpleUploadedFile("model.onnx", data), json.dumps(CARD), case)
        assert refused.value.field == "model" and words in refused.value.message, (case, refused.value.message)
    assert not Submission.objects.exists()
    assert not any((Path(settings.SUBMISSIONS_DIR) / ".incoming").iterdir())
    assert [p.name for p in Path(settings.SUBMISSIONS_DIR).iterdir()] == [".incoming"]
def test_a_model_that_exhausts_its_memory_or_writes_garbage_fails_with_its_reason(benchmark, django_user_model,
                                                                                 settings):
    user = django_user_model.objects.create_user("mallory")
    # A card whose tile is 2048² makes ONNX Runtime allocate far over a 200 MB address space: a memory bomb.
    settings.SANDBOX_MEMORY_MB = 200
    bomb = enter(benchmark, user, card={**CARD, "input_size": 2048}, name="bomb")
    lifecycle.run(submissions.SUBMISSION_JOB, bomb.pk)
    bomb.refresh_from_db()
    assert bomb.status == "failed" and "went over its memory limit" in bomb.error, bomb.error
    assert not submissions.folder(bomb).exists() and not bomb.public_scores
    # A model whose output is half the input's size crashes the runner: the reason is its last line.
    settings.SANDBOX_MEMORY_MB = LIMITS["SANDBOX_MEMORY_MB"]
    halved = segmenter(weights=THRESHOLD)
    halved.graph.node[0].attribute.append(helper.make_attribute("strides", [2, 2]))
    crash = enter(benchmark, user, model=halved, name="halved")
    lifecycle.run(submissions.SUBMISSION_JOB, crash.pk)
    crash.refresh_from_db()
    assert crash.status == "failed" and crash.error.startswith("the model failed (exit status 1): ValueError")
    assert not submissions.folder(crash).exists()
    # What the trusted side reads back is checked: another shape, another type, nothing at all — named by number.
    out = Path(settings.SUBMISSIONS_DIR) / "garbage"
    out.mkdir()
    np.save(out / "0000.npy", np.zeros((3, 3), np.uint8))
    with pytest.raises(PredictionError, match="prediction 0 has shape"):
        read_prediction(out, 0, (48, 48))
    np.save(out / "0001.npy", np.array(["x"]))
    with pytest.raises(PredictionError, match="prediction 1 holds"):
        read_prediction(out, 1, (48, 48))
    with pytest.raises(PredictionError, match="no prediction for image 2"):
        read_prediction(out, 2, (48, 48))
    assert not any("secret" in row.error for row in Submission.objects.all())


def test_the_daily_limit_holds_under_twenty_submissions_at_once(benchmark, django_user_model, transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostGIS's row locks; SpatiaLite serialises writers itself")
    user = django_user_model.objects.create_user("eager")
    outcomes: list[str] = []

    def submit(k: int) -> None:
        try:
            enter(benchmark, user, name=f"try {k}")
            outcomes.append("accepted")
        except LimitReached:
            outcomes.append("limit")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["accepted"] * 5 + ["limit"] * 15
    assert Submission.objects.filter(owner=user).count() == 5
    assert len([p for p in Path(settings.SUBMISSIONS_DIR).iterdir() if p.name != ".incoming"]) == 5


def test_boards_rank_best_public_entries_and_hide_the_private_one_until_the_end(benchmark, django_user_model):
    ada, bob = (django_user_model.objects.create_user(n) for n in ("ada", "bob"))
    good = enter(benchmark, ada, name="good")
    flipped = enter(benchmark, bob, model=segmenter(weights=[[0, 0, 0, -1], [0, 0, 0, 1]]), name="flipped")
    for row in (good, flipped):
        lifecycle.run(submissions.SUBMISSION_JOB, row.pk)
    board = submissions.board(benchmark, "public", bob)
    assert [r["name"] for r in board] == ["good", "flipped"] and [r["rank"] for r in board] == [1, 2]
    assert board[0]["metrics"]["AA"] > 0.9 > 0.1 > board[1]["metrics"]["AA"]
    with pytest.raises(Forbidden, match="revealed when the phase ends"):
        submissions.board(benchmark, "private", bob)
    benchmark.phase_ends = timezone.now() - timedelta(seconds=1)
    benchmark.save()
    assert [r["name"] for r in submissions.board(benchmark, "private", bob)] == ["good", "flipped"]


def test_the_sites_own_models_enter_as_baselines_through_the_same_sandbox(benchmark, tiny_unet_model, tiny_boc,
                                                                          django_user_model):
    baseline = submissions.enter_baseline(benchmark, tiny_unet_model)
    assert baseline.baseline and baseline.owner.username == submissions.BASELINE_USER and not baseline.owner.is_active
    assert baseline.card["bands"] == list(tiny_unet_model.card["bands"])
    result = lifecycle.run(submissions.SUBMISSION_JOB, baseline.pk)
    baseline.refresh_from_db()
    assert result["status"] == "done", baseline.error
    assert baseline.public_scores["images"] == 3 and baseline.sandbox_seconds > 0
    ada = django_user_model.objects.create_user("ada")
    lifecycle.run(submissions.SUBMISSION_JOB, enter(benchmark, ada).pk)
    board = submissions.board(benchmark, "public", ada)
    assert {(r["participant"], r["baseline"]) for r in board} == {(submissions.BASELINE_USER, True), ("ada", False)}
    assert submissions.check_limits(benchmark, ada) is None  # a baseline counts against nobody's limits
    forest = register_model(tiny_boc, name="tiny-boc")
    with pytest.raises(EngineError, match="random forest"):
        submissions.enter_baseline(benchmark, forest)


def test_a_promoted_entry_maps_for_the_site_inside_the_sandbox(benchmark, django_user_model, tmp_path):
    ada = django_user_model.objects.create_user("ada")
    entry = enter(benchmark, ada)
    with pytest.raises(NotReady):
        submissions.promote(entry, "threshold-model")
    lifecycle.run(submissions.SUBMISSION_JOB, entry.pk)
    entry.refresh_from_db()
    version = submissions.promote(entry, "threshold-model")
    assert version.method == "submission" and ModelVersion.objects.get(name="threshold-model") == version
    predictor = load_model(Path(version.path))
    session = predictor.model
    try:
        assert isinstance(session, sandbox.Session)
        # The process answering is bubblewrap's: the model runs inside it, not in this worker.
        assert Path(f"/proc/{session.proc.pid}/exe").resolve().name == "bwrap"
        image = benchmark.images.first()
        pixels = np.moveaxis(read_raster(Path(settings.BENCHMARKS_DIR) / image.image), 0, -1)[None]
        codes = predictor.predict_codes(predictor.prepare(pixels))[0]
        truth = benchmark.truth[image.name][0]
        assert np.array_equal(codes, truth)  # the threshold model: forest where B8 is high, water elsewhere
        probabilities = predictor.predict_proba(predictor.prepare(pixels))
        assert probabilities.shape == (1, 48, 48, 2) and np.allclose(probabilities.sum(axis=-1), 1, atol=1e-5)
        # The site's own mapping of an image (what areas, regions and uploads run) through the promoted entry.
        work = tmp_path / "mapped"
        work.mkdir()
        mapped = map_image(Path(settings.BENCHMARKS_DIR) / image.image, work, predictor_for(version),
                           lambda done, total: None)
        with rasterio.open(work / "map.tif") as src:
            assert np.array_equal(src.read(1), truth)
        assert {row["code"] for row in mapped.statistics if row["pixels"]} == set(np.unique(truth).tolist())
    finally:
        session.close()
    with pytest.raises(sandbox.SandboxError, match="stopped after an earlier failure"):
        session(np.zeros((1, 8, 8, 4), np.float32))
    with pytest.raises(InvalidInput, match="exists already"):
        submissions.promote(entry, "threshold-model")


def test_a_sandboxed_session_that_stalls_or_answers_garbage_is_stopped(tmp_path):
    loop = tmp_path / "stall.onnx"
    # A model that takes too long for its wall limit: a 1×1 convolution over a huge batch, under 1 s of wall time.
    loop.write_bytes(segmenter(weights=THRESHOLD).SerializeToString())
    session = sandbox.Session(loop, 2, sandbox.Limits(wall_seconds=0.5, memory_mb=2048, output_mb=1))
    try:
        with pytest.raises(sandbox.SandboxError, match="wall time"):
            session(np.zeros((64, 512, 512, 4), np.float32))
        assert session.proc is None
    finally:
        session.close()
    wrong = sandbox.Session(loop, 3, sandbox.Limits(wall_seconds=20, memory_mb=2048, output_mb=1))
    try:
        with pytest.raises(sandbox.SandboxError, match="answered float32 \\(1, 2, 8, 8\\) for \\(1, 8, 8, 3\\)"):
            wrong(np.zeros((1, 8, 8, 4), np.float32))
    finally:
        wrong.close()
