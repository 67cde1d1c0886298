"""Competition submissions as jobs (issue 26): a stranger's ONNX model checked at the door, run in the sandbox on its
own queue, scored by the trusted side, ranked on the benchmark's boards.

At the door (`accept`, in the request, before any row or folder exists): the per-day and per-phase limits (counted
under a lock on the benchmark's row, so twenty submissions at once cannot pass a limit between them), the card
(JSON, at most `ml.submissions.MAX_CARD_BYTES`), and the model (`ml.submissions.check_model`: ONNX only, allowed
operators, weights inside, caps) — a refusal is a 400 saying why and leaves nothing. Then SUBMISSIONS_DIR/<token>/
gets model.onnx and card.json, the row is created and the task queued on SUBMISSION_QUEUE, in one transaction.

The job (`build`, through `landcover.jobs.lifecycle` like every job): the benchmark's images, cut to the card's
bands and numbered (`ml.scoring.prepare`), go to a folder of the job's; the model predicts them under bubblewrap
(`ml.sandbox.predict`: only the model, its card and those images readable; the limits of the settings, the output
size bounded by the benchmark's pixels); what it wrote is checked and scored against the labels here, outside the
sandbox (`ml.scoring`), and the aggregate scores alone are kept — on the row and in scores.json. A model that
crashes, exceeds a limit or writes garbage fails with that reason, and its folder goes with the job's work.

Boards (`board`): each participant's best submission on the public split, ranked by the benchmark's metric then by
time; the private board — revealed when the phase ends — scores that same submission on the private split (the
one chosen by its public score, so many submissions do not buy a lucky private draw).
"""
from __future__ import annotations

import errno
import json
import logging
import secrets
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ml import sandbox, scoring
from ml.classes import DFC_NAMES
from ml.engines import export_onnx
from ml.errors import PermanentError
from ml.modelio import FORMAT_VERSION, Predictor, load_model, write_card
from ml.rasterio_io import read_raster
from ml.runtime import ONNX_FLOAT
from ml.submissions import MAX_CARD_BYTES, SubmissionError, check_card, check_model

from .. import storage
from ..catalogue.registry import register_model
from ..errors import Forbidden, InvalidInput, LimitReached, NotFound, NotReady, Unavailable
from ..models import Benchmark, BenchmarkImage, ModelVersion, Submission
from . import lifecycle
from .lifecycle import Progress

log = logging.getLogger(__name__)
TASK = "landcover.score_submission"


def legend(benchmark: Benchmark) -> dict[int, str]:
    """The benchmark's classes, code → name (the site's ten when it names none)."""
    if not benchmark.legend:
        return dict(DFC_NAMES)
    return {int(code): str(name) for code, name in sorted(benchmark.legend.items(), key=lambda kv: int(kv[0]))}


def folder(submission: Submission) -> Path:
    """Where a submission's model and card are kept."""
    return Path(settings.SUBMISSIONS_DIR) / submission.token


def benchmark_file(relative: str) -> Path:
    """A benchmark's image or label on disk (paths are stored relative to BENCHMARKS_DIR)."""
    return Path(settings.BENCHMARKS_DIR) / relative


def limits(images: list[BenchmarkImage]) -> sandbox.Limits:
    """The sandbox's limits for a benchmark: the settings', and room for one int64 array per image, no more."""
    pixels = sum(i.width * i.height for i in images)
    return sandbox.Limits(cpu_seconds=settings.SANDBOX_CPU_SECONDS, wall_seconds=settings.SANDBOX_WALL_SECONDS,
                          memory_mb=settings.SANDBOX_MEMORY_MB, threads=settings.SANDBOX_THREADS,
                          output_mb=max(1, -(-(pixels * 8 + len(images) * 4096) // 2**20)))


def outcome_message(outcome: sandbox.Outcome, limit: sandbox.Limits) -> str:
    """Why a sandboxed run failed, for the submission's author: the limit it hit, or the last line it wrote."""
    if outcome.limit is not None:
        value = {"CPU time": f"{limit.cpu_seconds} s", "wall time": f"{limit.wall_seconds:.0f} s",
                 "memory": f"{limit.memory_mb} MB", "output size": f"{limit.output_mb} MB"}.get(outcome.limit, "")
        return f"the model was stopped: it went over its {outcome.limit} limit ({value})"
    lines = [line for line in outcome.stderr.strip().splitlines() if line.strip()]
    return f"the model failed (exit status {outcome.returncode}): {(lines[-1] if lines else 'no message')[:300]}"


def build(submission: Submission, work: Path, progress: Progress) -> dict:
    """Predict the benchmark's images in the sandbox and score them; the aggregate scores."""
    images = list(submission.benchmark.images.order_by("split", "name"))
    if not images:
        raise SubmissionError("the benchmark has no images yet")
    kept = folder(submission)
    storage.fetch(kept)
    inputs, outputs = work / "images", work / "predictions"
    try:
        shapes = scoring.prepare([benchmark_file(i.image) for i in images], submission.card, inputs)
        progress(10, 100)
        bounds = limits(images)
        started = time.perf_counter()
        outcome = sandbox.predict(kept / "model.onnx", kept / "card.json", inputs, outputs, bounds)
        seconds = round(time.perf_counter() - started, 3)
        if not outcome.ok:
            raise SubmissionError(outcome_message(outcome, bounds))
        progress(80, 100)
        names = legend(submission.benchmark)
        codes = list(names)
        matrices: dict[str, list] = {BenchmarkImage.Split.PUBLIC: [], BenchmarkImage.Split.PRIVATE: []}
        for k, image in enumerate(images):
            prediction = scoring.read_prediction(outputs, k, shapes[k])
            reference = read_raster(benchmark_file(image.label), [1])[0]
            matrices[image.split].append(scoring.counts(reference, prediction, codes))
    except PermanentError:
        storage.remove(kept)  # a failed submission leaves its reason, nothing else
        raise
    finally:
        shutil.rmtree(inputs, ignore_errors=True)
        shutil.rmtree(outputs, ignore_errors=True)
    scores = {split: scoring.score(found, names) for split, found in matrices.items() if found}
    (work / "scores.json").write_text(json.dumps(scores))
    return {"public_scores": scores.get(BenchmarkImage.Split.PUBLIC, {}),
            "private_scores": scores.get(BenchmarkImage.Split.PRIVATE, {}), "sandbox_seconds": seconds}


SUBMISSION_JOB = lifecycle.queued_kind(
    "submission", TASK, Submission, build, staging=lambda s: Path(settings.SUBMISSIONS_DIR) / ".staging",
    destination=lambda s: folder(s) / "scores", related=("benchmark",), queue_setting="SUBMISSION_QUEUE")


# --- At the door.

def used(benchmark: Benchmark, user) -> tuple[int, int]:
    """The user's entries (baselines are nobody's) in the last 24 hours and in the phase."""
    mine = Submission.objects.filter(benchmark=benchmark, owner=user, baseline=False)
    return (mine.filter(created_at__gte=timezone.now() - timedelta(hours=24)).count(),
            mine.filter(created_at__gte=benchmark.phase_starts).count())


def check_limits(benchmark: Benchmark, user) -> None:
    """LimitReached when the user has used the benchmark's submissions of the day or of the phase."""
    today, phase = used(benchmark, user)
    if today >= benchmark.per_day:
        raise LimitReached(f"You have made {today} submissions to this benchmark in the last 24 hours (the limit is "
                           f"{benchmark.per_day}); try again later.")
    if phase >= benchmark.per_phase:
        raise LimitReached(f"You have made {phase} submissions in this phase (the limit is {benchmark.per_phase}).")


def read_card(raw: bytes | str | None) -> dict:
    """The card sent beside the model (JSON); InvalidInput saying what is wrong."""
    if raw is None or raw == "" or raw == b"":
        raise InvalidInput("card", "Send the model's card (JSON: bands, normalisation, input_size, classes) as the "
                                   "form field `card`.")
    if len(raw) > MAX_CARD_BYTES:
        raise InvalidInput("card", f"The card is over {MAX_CARD_BYTES // 1024} KB.")
    try:
        card = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("card", f"The card is not JSON ({exc}).") from None
    if not isinstance(card, dict):
        raise InvalidInput("card", "The card must be a JSON object.")
    return card


def accept(benchmark: Benchmark, user, model_file, card_raw: bytes | str | None, name: str, description: str = "",
           baseline: bool = False) -> Submission:
    """Check a submission and create its job: the folder and the row exist together or not at all."""
    if not baseline and not benchmark.open():
        raise NotReady("This benchmark is not open to submissions now"
                       + (" (its phase has ended)." if benchmark.ended() else "."))
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "Give the submission a name of 1 to 100 characters.")
    if model_file is None:
        raise InvalidInput("model", "Attach the ONNX model as the form field `model` (multipart/form-data).")
    card = read_card(card_raw)
    if not baseline:
        check_limits(benchmark, user)
    try:
        model = storage.receive(model_file, Path(settings.SUBMISSIONS_DIR), "model.onnx")
    except OSError as exc:
        raise Unavailable(lifecycle.storage_message(exc)) from None
    work = model.parent
    try:
        try:
            checked = check_model(model)
        except SubmissionError as exc:
            raise InvalidInput("model", str(exc)) from None
        try:
            card = check_card(card, checked, legend(benchmark))
        except SubmissionError as exc:
            raise InvalidInput("card", str(exc)) from None
        (work / "card.json").write_text(json.dumps(card))
        info = {"opset": checked.opset, "operators": list(checked.operators), "parameters": checked.parameters,
                "input_shape": list(checked.input_shape), "output_shape": list(checked.output_shape)}
        return _store(benchmark, user, work, card, info, name, description, baseline)
    except OSError as exc:
        if exc.errno not in (*lifecycle.NOT_WRITABLE, errno.ENOSPC, errno.EDQUOT):
            raise
        log.error("submission refused: the storage cannot be written: %s", exc)
        raise Unavailable(lifecycle.storage_message(exc)) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _store(benchmark: Benchmark, user, work: Path, card: dict, info: dict, name: str, description: str,
           baseline: bool) -> Submission:
    token = secrets.token_urlsafe(24)
    target = Path(settings.SUBMISSIONS_DIR) / token
    try:
        with transaction.atomic():
            Benchmark.objects.select_for_update().filter(pk=benchmark.pk).first()  # submissions count one by one
            if not baseline:
                check_limits(benchmark, user)
            target.mkdir()
            for part in ("model.onnx", "card.json"):
                shutil.move(str(work / part), target / part)
            submission = Submission.objects.create(
                benchmark=benchmark, owner=user, name=name[:100], description=description[:5000], token=token,
                card=card, model_info=info, size_bytes=(target / "model.onnx").stat().st_size, baseline=baseline)
            storage.put_folder(target)  # where a submission worker on another machine reads it
            lifecycle.enqueue(SUBMISSION_JOB, submission.pk)
    except BaseException:
        storage.remove(target)
        raise
    return submission


# --- The platform's own models, entered as baselines.

BASELINE_USER = "hrmars-baselines"


def baseline_card(predictor: Predictor) -> dict:
    """The card of a registered model's network: its bands, normalisation, tile side and classes."""
    return {"bands": list(predictor.bands), "normalisation": predictor.normalisation.to_dict(),
            "input_size": max(32, min(2048, predictor.input_size)),
            "classes": [{"name": name, "code": int(code)} for name, code in zip(predictor.class_names,
                                                                                 predictor.class_codes)]}


def enter_baseline(benchmark: Benchmark, version: ModelVersion) -> Submission:
    """Enter a registered model in a benchmark as a baseline, through the same door and sandbox as anybody's
    entry: its network exported to ONNX (the folder's model.onnx if `ml.engines` made one, else exported now by the
    same exporter). SubmissionError (or EngineError) when the model cannot be one: bag of colours is a random
    forest, label super-resolution reads a coarse map, not the benchmark's images."""
    predictor = load_model(Path(version.path), engine="float32")
    if predictor.input_kind != "image":
        raise SubmissionError(f"{version.name} maps a coarse land-cover map, not Sentinel-2 images")
    user, _ = get_user_model().objects.get_or_create(username=BASELINE_USER, defaults={"is_active": False})
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(version.path) / ONNX_FLOAT
        if not onnx_path.is_file():
            onnx_path = export_onnx(predictor, Path(tmp) / ONNX_FLOAT)
        with open(onnx_path, "rb") as f:
            return accept(benchmark, user, File(f, name=ONNX_FLOAT), json.dumps(baseline_card(predictor)),
                          f"{version.name} ({version.method})",
                          f"The site's model {version.name} ({version.method}), entered by the platform as a baseline.",
                          baseline=True)


# --- A scored entry promoted to a site model.

def promote(submission: Submission, name: str) -> ModelVersion:
    """A site model made of a scored entry: its ONNX file and a model card of method "submission" in
    DATA_DIR/models/entry-<id>/, registered like any model. It maps areas, regions and uploads through
    `ml.sandbox.Session` — inside the sandbox, as when it was scored."""
    if submission.status != Submission.Status.DONE:
        raise NotReady(f"Entry {submission.pk} is {submission.status}; only a scored entry can become a site model.")
    if ModelVersion.objects.filter(name=name).exists():
        raise InvalidInput("name", f"A model called {name!r} exists already.")
    kept = folder(submission)
    storage.fetch(kept)
    target = Path(settings.DATA_DIR) / "models" / f"entry-{submission.pk}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    try:
        shutil.copyfile(kept / "model.onnx", target / ONNX_FLOAT)
        card = submission.card
        write_card(target, {
            "format_version": FORMAT_VERSION, "method": "submission", "bands": card["bands"],
            "normalisation": card["normalisation"], "input_size": card["input_size"], "classes": card["classes"],
            "level": "any", "params": {"onnx": ONNX_FLOAT, "scene_tile": card["input_size"], "size_multiple": 1},
            "licence": "the entrant's (see the competition's rules)",
            "attribution": f"{submission.owner.username}: “{submission.name}”, entry {submission.pk} to "
                           f"{submission.benchmark.title}",
            "training": {"dataset": f"unknown (a competition entry: {submission.description[:300]})",
                         "synthetic": False},
            "metrics": {f"{submission.benchmark.slug} (public images)": submission.public_scores.get("metrics", {})},
            "files": [ONNX_FLOAT]})
        return register_model(target, name=name)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


# --- Who sees what.

def benchmark_visibility(user) -> Q:
    """The benchmarks `user` may see: published ones (every one, for staff)."""
    return Q() if getattr(user, "is_staff", False) else Q(published=True)


def submission_visibility(user) -> Q:
    """The submissions `user` may see: their own in any state, anybody's once scored on a published benchmark (it is
    on the board); every one, for staff."""
    if getattr(user, "is_staff", False):
        return Q()
    public = Q(status=Submission.Status.DONE, benchmark__published=True)
    return public | Q(owner=user) if getattr(user, "is_authenticated", False) else public


def visible_benchmarks(user):
    """The benchmarks `user` may see."""
    return Benchmark.objects.filter(benchmark_visibility(user))


def find_benchmark(user, slug: str) -> Benchmark:
    """A benchmark the user may see; NotFound otherwise."""
    found = visible_benchmarks(user).filter(slug=slug).first()
    if found is None:
        raise NotFound(f"There is no benchmark {slug!r}.")
    return found


def find_submission(user, pk: int) -> Submission:
    """A submission the user may see; NotFound otherwise."""
    row = Submission.objects.select_related("benchmark", "owner").filter(submission_visibility(user), pk=pk).first()
    if row is None:
        raise NotFound(f"There is no submission {pk}.")
    return row


def private_shown(benchmark: Benchmark, user) -> bool:
    """The private split's scores are shown once the phase has ended (to staff, always)."""
    return benchmark.ended() or getattr(user, "is_staff", False)


def primary(scores: dict, metric: str) -> float:
    """A score set's value of the benchmark's metric (−inf when it has none, so it ranks last)."""
    value = (scores or {}).get("metrics", {}).get(metric)
    return float("-inf") if value is None else float(value)


def board(benchmark: Benchmark, which: str, user) -> list[dict]:
    """The public or private board: each participant's best public submission, ranked by the metric then time."""
    if which not in ("public", "private"):
        raise InvalidInput("board", "Ask for the `public` or the `private` board.")
    if which == "private" and not private_shown(benchmark, user):
        ends = benchmark.phase_ends.isoformat() if benchmark.phase_ends else "never: this benchmark has no end"
        raise Forbidden(f"The private board is revealed when the phase ends ({ends}).")
    done = (Submission.objects.filter(benchmark=benchmark, status=Submission.Status.DONE)
            .select_related("owner").order_by("finished_at", "pk"))
    best: dict[tuple[int, bool], Submission] = {}
    entries: dict[tuple[int, bool], int] = {}
    for row in done:  # the baselines are the platform's: each its own line
        key = (row.pk, True) if row.baseline else (row.owner_id, False)
        entries[key] = entries.get(key, 0) + 1
        if key not in best or primary(row.public_scores, benchmark.metric) > primary(best[key].public_scores,
                                                                                     benchmark.metric):
            best[key] = row
    field = "public_scores" if which == "public" else "private_scores"
    ranked = sorted(best.items(), key=lambda kv: (-primary(getattr(kv[1], field), benchmark.metric),
                                                  kv[1].finished_at, kv[1].pk))
    out = []
    for rank, (key, row) in enumerate(ranked, start=1):
        scores = getattr(row, field) or {}
        out.append({"rank": rank, "submission": row.pk, "name": row.name, "participant": row.owner.username,
                    "baseline": row.baseline, "entries": entries[key], "finished_at": row.finished_at,
                    "metrics": scores.get("metrics", {}), "ci95": scores.get("ci95")})
    return out


def submissions_left(benchmark: Benchmark, user) -> dict:
    """How many submissions the user has left today and in the phase."""
    today, phase = used(benchmark, user)
    return {"today": max(0, benchmark.per_day - today), "phase": max(0, benchmark.per_phase - phase)}


def retry(submission: Submission) -> bool:
    """Score a failed submission again (its files must still be there: a refused model's are gone)."""
    if not storage.exists(folder(submission) / "model.onnx"):
        return False
    return lifecycle.retry(SUBMISSION_JOB, submission)


def delete(submission: Submission) -> None:
    """Cancel the job if it runs, and remove the row and its folder."""
    lifecycle.cancel(SUBMISSION_JOB, submission)
    storage.remove(folder(submission))
    submission.delete()
