"""Legends of one's own (issue 27): a user's classes and labelled samples, and the job that trains a legend model on
them through the shared lifecycle.

Who sees what: a legend, its samples, its trainings and the models they make are their owner's alone unless the
legend is shared (`legend_visibility`, `landcover.catalogue.registry.model_visibility`); every lookup goes through
those, so a private legend's id answers 404 to anybody else, as if it did not exist.

The training job (`build`): the imagery over the box around every sample (the same search, cloud masks and date
rules as an area's: `ml.imagery.fetch_area`, all bands a legend model reads, the encoder's context around), each
sample's pixels (`ml.legend.sample_pixels`: a point's pixel, up to HRMARS_LEGEND_PIXELS_PER_POLYGON of a polygon,
clear pixels only — the rest counted as dropped, by reason), their features (`ml.legend_model.Network.features`:
the encoder's, through the same code the map's pass uses), spatially blocked cross-validation of the linear head
(`ml.legend.cross_validate`), the same pixels in the global model's classes against the user's crosswalk
(`ml.legend.comparison`), the head trained on every training pixel, and — when samples were held out — the
model's map of the place with an accuracy assessment and area estimates from it (`ml.accuracy.assess`, Olofsson et
al. 2014). The model folder goes to LEGENDS_DIR/models/legend-<token>/ (local: workers load it) and is registered
as the owner's model version (method "legend"); report.json and, with a held-out sample, the map of the training
place go to LEGENDS_DIR/<token>/.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import rasterio
from django.conf import settings
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rasterio.windows import Window

from ml.accuracy import assess
from ml.bands import S2_BANDS
from ml.engines import export_onnx
from ml.features import LEGEND_BANDS, encoder
from ml.imagery import Query, fetch_area
from ml.legend import (
    MIN_PER_CLASS,
    LegendError,
    blocks,
    comparison,
    cross_validate,
    sample_features,
    sample_pixels,
    train,
)
from ml.legend_model import LinearHead, encoder_network, reflectance, save
from ml.modelio import FORMAT_VERSION, write_card

from ..catalogue.imagery import search
from ..catalogue.registry import find_model, register_model
from ..errors import InvalidInput, LimitReached, NotFound
from ..models import LabelledSample, Legend, LegendTraining, ModelVersion
from ..validation.areas import geodesic_area_km2
from ..validation.samples import Sample, unique
from . import lifecycle
from .inference import map_image, predictor_for
from .lifecycle import Progress

TASK = "landcover.train_legend"
FETCH_SHARE, FEATURES_SHARE = 30, 70  # % of the progress: imagery, then features and training, then the map
MARGIN_DEGREES = 0.002  # around the samples' box (~200 m): no sample sits on the imagery's edge


# --- Who sees what.

def legend_visibility(user) -> Q:
    """The legends `user` may see and use: their own and shared ones."""
    if user is not None and user.is_authenticated:
        return Q(shared=True) | Q(owner=user)
    return Q(shared=True)


def find_legend(user, pk: int, own: bool = False) -> Legend:
    """A legend `user` may see (with `own`: may change — theirs); NotFound otherwise, as for one that does not
    exist."""
    rows = Legend.objects.filter(legend_visibility(user))
    if own:
        rows = rows.filter(owner=user) if user is not None and user.is_authenticated else rows.none()
    legend = rows.filter(pk=pk).first()
    if legend is None:
        raise NotFound(f"No legend {pk} of yours" if own else f"No legend {pk}")
    return legend


def find_training(user, pk: int) -> LegendTraining:
    """A training of a legend `user` may see; NotFound otherwise."""
    training = LegendTraining.objects.select_related("legend", "model_version").filter(
        legend__in=Legend.objects.filter(legend_visibility(user)), pk=pk).first()
    if training is None:
        raise NotFound(f"No legend training {pk}")
    return training


# --- Legends and their samples.

def create_legend(user, name: str, classes: list[dict], description: str = "", shared: bool = False) -> Legend:
    """A new legend of `user`'s; InvalidInput when they have one of that name."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("name", "Give the legend a name of 1 to 120 characters.")
    if Legend.objects.filter(owner=user, name=name).exists():
        raise InvalidInput("name", f"You have a legend called {name!r} already.")
    return Legend.objects.create(owner=user, name=name, classes=classes, description=description[:5000],
                                 shared=bool(shared))


def update_legend(legend: Legend, *, classes: list[dict] | None = None, **fields) -> Legend:
    """Change a legend; its classes may change as long as every class its samples use stays."""
    if classes is not None:
        used = set(legend.samples.values_list("code", flat=True))
        missing = used - {c["code"] for c in classes}
        if missing:
            raise InvalidInput("classes", f"Samples use class code(s) {sorted(missing)}: delete those samples first "
                                          "or keep the classes.")
        legend.classes = classes
    for key, value in fields.items():
        setattr(legend, key, value)
    legend.save()
    return legend


def extent(geometries: list) -> MultiPolygon:
    """The box around `geometries` (lon/lat), MARGIN_DEGREES wider on every side."""
    west = min(g.extent[0] for g in geometries) - MARGIN_DEGREES
    south = min(g.extent[1] for g in geometries) - MARGIN_DEGREES
    east = max(g.extent[2] for g in geometries) + MARGIN_DEGREES
    north = max(g.extent[3] for g in geometries) + MARGIN_DEGREES
    return MultiPolygon(Polygon.from_bbox((max(west, -180), max(south, -90), min(east, 180), min(north, 90))),
                        srid=4326)


@transaction.atomic
def add_samples(legend: Legend, samples: list[Sample], source: str) -> int:
    """Store `samples` in `legend` (all or none): the legend's limits on their number and on the box around all of
    them (one imagery read) checked first, duplicates refused."""
    Legend.objects.select_for_update().filter(pk=legend.pk).first()  # one upload at a time per legend
    existing = list(legend.samples.all())
    if len(existing) + len(samples) > settings.LEGEND_MAX_SAMPLES:
        raise InvalidInput("file", f"The legend holds {len(existing):,} samples; with these {len(samples):,} it would "
                                   f"pass its limit of {settings.LEGEND_MAX_SAMPLES:,} (HRMARS_LEGEND_MAX_SAMPLES).")
    unique(samples, [(s.geometry.wkt, s.code) for s in existing])
    box = extent([s.geometry for s in existing] + [s.geometry for s in samples])
    km2 = geodesic_area_km2(box)
    if km2 > settings.LEGEND_MAX_KM2:
        raise InvalidInput("file", f"The samples would spread over {km2:,.0f} km² (the box around all of them); a "
                                   f"legend's samples lie within {settings.LEGEND_MAX_KM2:,} km² (HRMARS_LEGEND_MAX_KM2),"
                                   " one imagery read: make a legend per place.")
    LabelledSample.objects.bulk_create([LabelledSample(legend=legend, geometry=s.geometry, code=s.code,
                                                       held_out=s.held_out, source=source[:200]) for s in samples])
    Legend.objects.filter(pk=legend.pk).update(updated_at=timezone.now())
    return len(samples)


def samples_geojson(legend: Legend) -> dict:
    """The legend's samples as a GeoJSON FeatureCollection (class code and name, held_out, source)."""
    names = {c["code"]: c["name"] for c in legend.classes}
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": s.pk, "geometry": json.loads(s.geometry.geojson),
         "properties": {"class": s.code, "name": names.get(s.code, ""), "held_out": s.held_out, "source": s.source}}
        for s in legend.samples.all()]}


def counts(legend: Legend) -> list[dict]:
    """Samples per class: for training and held out."""
    rows = {c["code"]: {"code": c["code"], "name": c["name"], "training": 0, "held_out": 0} for c in legend.classes}
    for code, held in legend.samples.values_list("code", "held_out"):
        if code in rows:
            rows[code]["held_out" if held else "training"] += 1
    return list(rows.values())


# --- Training.

def encoder_for(name: str | None, global_model: ModelVersion) -> str:
    """The encoder a training uses: the one asked for, else Dynamic World's when the global model is Dynamic World
    (its card's log-sigmoid normalisation), else the spectral one."""
    is_dw = global_model.method == "pretrained" and global_model.card.get("normalisation", {}).get("kind") == \
        "log-sigmoid"
    if not name:
        return "dynamicworld" if is_dw else "spectral"
    try:
        chosen = encoder(name)
    except Exception as exc:
        raise InvalidInput("encoder", str(exc)) from None
    if chosen.needs_model and not is_dw:
        raise InvalidInput("encoder", f"The {name} encoder needs Dynamic World as the site's model ({global_model.name} "
                                      "is not): choose encoder spectral.")
    return chosen.name


def training_key(legend: Legend, params: dict) -> str:
    """What makes two trainings the same: the legend's classes, its samples and the parameters."""
    digest = hashlib.sha256(json.dumps(legend.classes, sort_keys=True).encode())
    for pk, code, held, wkt in legend.samples.order_by("pk").values_list("pk", "code", "held_out", "geometry"):
        digest.update(f"{pk}|{code}|{held}|{wkt}".encode())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def request_training(legend: Legend, user, *, encoder_name: str | None = None, block_m: float = 1000.0, folds: int = 5,
                     start=None, end=None, max_cloud: float = 100.0, source: str = "auto") -> tuple[LegendTraining, bool]:
    """The training of this legend's present samples with these parameters, queued when new (the same samples and
    parameters give the same training); InvalidInput when the samples cannot train a model, LimitReached past
    HRMARS_LEGEND_TRAININGS_PER_DAY."""
    if not 50 <= block_m <= 100_000:
        raise InvalidInput("block_m", "block_m (the side of cross-validation's spatial blocks) must be 50–100,000 m.")
    if not 2 <= folds <= 10:
        raise InvalidInput("folds", "folds must be 2–10.")
    per_class = {row["code"]: row["training"] for row in counts(legend)}
    labelled = {code: n for code, n in per_class.items() if n}
    if len(labelled) < 2:
        raise InvalidInput("samples", "Label samples of at least two classes before training.")
    global_model = find_model(None)
    chosen = encoder_for(encoder_name, global_model)
    params = {"encoder": chosen, "global": global_model.name, "block_m": block_m, "folds": folds, "start": start,
              "end": end, "max_cloud": max_cloud, "source": source}
    geometry = extent([s.geometry for s in legend.samples.all()])

    def limit() -> None:
        since = timezone.now() - timedelta(days=1)
        if LegendTraining.objects.filter(owner=user, created_at__gte=since).count() >= settings.LEGEND_TRAININGS_PER_DAY:
            raise LimitReached(f"At most {settings.LEGEND_TRAININGS_PER_DAY} legend trainings a day "
                               "(HRMARS_LEGEND_TRAININGS_PER_DAY).")

    return lifecycle.find_or_queue(
        LEGEND_JOB, {"key": training_key(legend, params)},
        {"token": secrets.token_urlsafe(24), "legend": legend, "owner": user, "encoder": chosen,
         "global_model": global_model, "block_m": block_m, "folds": folds, "geometry": geometry, "start": start,
         "end": end, "max_cloud": max_cloud, "imagery_source": source},
        settings.MAP_STALE_SECONDS, limit)


def encoder_onnx(version: ModelVersion) -> Path:
    """Dynamic World's float32 ONNX (the site's exporter), made once per registered version and card."""
    card = Path(version.path) / "model.json"
    stamp = int(card.stat().st_mtime) if card.exists() else 0
    path = Path(settings.LEGENDS_DIR) / "encoders" / f"{version.pk}-{stamp}.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.{os.getpid()}.part")
        export_onnx(predictor_for(version), part)
        os.replace(part, path)
    return path


def _image(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return np.moveaxis(src.read(), 0, -1)


def build(training: LegendTraining, work: Path, progress: Progress) -> dict:
    """Features, cross-validation, comparison, the model (registered) and, with held-out samples, its map and
    assessment; the fields to store."""
    legend = training.legend
    classes = sorted(legend.classes, key=lambda c: c["code"])
    names = {c["code"]: c["name"] for c in classes}
    crosswalk = {c["code"]: c["crosswalk"] for c in classes if c.get("crosswalk")}
    samples = list(legend.samples.all())
    global_model = training.global_model
    global_predictor = predictor_for(global_model)
    dw_onnx = encoder_onnx(global_model) if encoder(training.encoder).needs_model else None
    network, encoder_bytes = encoder_network(training.encoder, dw_onnx, global_model.card["normalisation"])
    context = global_predictor.context if training.encoder != "spectral" else 0
    tile = global_predictor.scene_tile if training.encoder != "spectral" else 256
    tile = max(tile, 2 * context + 32)

    query = Query(json.loads(training.geometry.geojson), training.start, training.end, training.max_cloud)
    # The legend model's bands and the global model's (for the comparison), in one read.
    bands = [b for b in S2_BANDS if b in LEGEND_BANDS or b in global_predictor.bands]
    imagery = fetch_area(query, search(query, training.imagery_source), work / "imagery", bands=bands,
                         margin=max(context, global_predictor.context), progress=lifecycle.share(progress, 0, FETCH_SHARE))
    grid, margin = imagery.grid, imagery.margin
    pixels = sample_pixels([json.loads(s.geometry.geojson) for s in samples], [s.code for s in samples],
                           [s.held_out for s in samples], grid, imagery.keep, settings.LEGEND_PIXELS_PER_POLYGON)
    image = _image(imagery.path)
    ours, theirs = image[..., [bands.index(b) for b in LEGEND_BANDS]], image[..., [bands.index(b) for b in
                                                                                  global_predictor.bands]]
    del image
    rows, cols = pixels.rows + margin, pixels.cols + margin
    train_mask = ~pixels.held_out
    present = sorted({int(c) for c in pixels.labels[train_mask]})
    short = [f"{names.get(c, c)} ({int((pixels.labels[train_mask] == c).sum())})" for c in present
             if (pixels.labels[train_mask] == c).sum() < MIN_PER_CLASS]
    lost = [names[c["code"]] for c in classes if c["code"] not in present
            and any(s.code == c["code"] and not s.held_out for s in samples)]
    if lost or short or len(present) < 2:
        raise LegendError("too few clear labelled pixels to train: " + "; ".join(
            [f"{n}: none on clear imagery" for n in lost] + [f"{s} pixels" for s in short]) +
            f" (at least {MIN_PER_CLASS} per class, two classes; {pixels.dropped['unusable']} sample(s) fell on "
            f"cloud or missing imagery, {pixels.dropped['outside']} outside it)")
    normalise = reflectance()
    features = sample_features(ours, rows, cols, lambda block: network.features(normalise.apply(block)), tile=tile,
                               margin=context)
    progress(50, 100)
    x, y = grid.transform * (pixels.cols + 0.5, pixels.rows + 0.5)
    block_ids = blocks(np.asarray(x)[train_mask], np.asarray(y)[train_mask], training.block_m)
    cv = cross_validate(features[train_mask], pixels.labels[train_mask], block_ids, present, k=training.folds,
                        block_m=training.block_m)
    global_codes = global_predictor.class_codes[sample_features(
        theirs, rows[train_mask], cols[train_mask],
        lambda block: global_predictor.predict_proba(global_predictor.prepare(block)),
        tile=global_predictor.scene_tile, margin=global_predictor.context).argmax(-1)]
    compared = comparison(pixels.labels[train_mask], cv.predictions, global_codes, crosswalk,
                          f"{global_model.name} (the site's global model)")
    head = LinearHead.from_pipeline(train(features[train_mask], pixels.labels[train_mask], present))
    progress(FEATURES_SHARE, 100)

    version = _register(training, legend, classes, present, head, encoder_bytes, global_model, global_predictor,
                        cv.to_dict(names), compared, pixels, tile, context)
    try:
        assessment = {}
        statistics: list[dict] = []
        if pixels.held_out.any():
            window = Window(margin, margin, grid.width, grid.height)
            mapped = map_image(imagery.path, work, predictor_for(version), lifecycle.share(progress, FEATURES_SHARE, 100),
                               window=window, keep=imagery.keep)
            statistics = mapped.statistics
            assessment = _assess(work / "map.tif", pixels, statistics, present, names)
        imagery.path.unlink()
        shutil.rmtree(work / "imagery", ignore_errors=True)
        summary = imagery.summary()
        report = {"legend": {"id": legend.pk, "name": legend.name, "classes": classes},
                  "model": version.name, "encoder": training.encoder, "samples": _samples_summary(pixels, samples),
                  "cv": cv.to_dict(names), "comparison": compared, "assessment": assessment, "imagery": summary}
        (work / "report.json").write_text(json.dumps(report, indent=1, default=str))
    except BaseException:
        _unregister(version)
        raise
    return {"samples": report["samples"], "cv": report["cv"], "comparison": compared, "assessment": assessment,
            "imagery": summary, "statistics": statistics, "model_version": version}


def _samples_summary(pixels, samples: list[LabelledSample]) -> dict:
    return {"samples": len(samples), "pixels": int(len(pixels.labels)),
            "training_pixels": int((~pixels.held_out).sum()), "held_out_pixels": int(pixels.held_out.sum()),
            "dropped": pixels.dropped}


def _assess(path: Path, pixels, statistics: list[dict], classes: list[int], names: dict) -> dict:
    """The held-out pixels against the model's map of the place, with area estimates from the map's class areas."""
    held = pixels.held_out
    with rasterio.open(path) as src:
        mapped = src.read(1)[pixels.rows[held], pixels.cols[held]]
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), np.int64)
    for m, r in zip(mapped, pixels.labels[held]):
        if int(m) in index and int(r) in index:
            counts[index[int(m)], index[int(r)]] += 1
    pixel_counts = {row["code"]: row["pixels"] for row in statistics}
    total = sum(row["pixels"] for row in statistics)
    pixel_km2 = sum(row["area_km2"] for row in statistics) / total if total else 1.0
    out = assess(counts, classes, [pixel_counts.get(c, 0) for c in classes], pixel_area=pixel_km2).to_dict()
    for row in out.get("classes", []):
        row["name"] = names.get(row["code"], str(row["code"]))
    out["reference"] = "the held-out samples (a probability sample only if they were drawn as one)"
    return out


def _register(training: LegendTraining, legend: Legend, classes: list[dict], present: list[int], head: LinearHead,
              encoder_bytes: bytes | None, global_model: ModelVersion, global_predictor, cv: dict, compared: dict,
              pixels, tile: int, context: int) -> ModelVersion:
    """The model folder in LEGENDS_DIR/models/legend-<token>/ and its registration as the owner's model version."""
    folder = Path(settings.LEGENDS_DIR) / "models" / f"legend-{training.token}"
    staging = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = save(staging, head, encoder_bytes)
    card_classes = [{"index": i, "code": c["code"], "name": c["name"], "colour": c["colour"],
                     "crosswalk": c.get("crosswalk")} for i, c in enumerate(classes) if c["code"] in present]
    write_card(staging, {
        "format_version": FORMAT_VERSION, "method": "legend", "name": f"{legend.name} (legend model)",
        "input": "image", "level": global_predictor.level if encoder(training.encoder).needs_model else "any",
        "classes": card_classes, "bands": list(LEGEND_BANDS), "normalisation": reflectance().to_dict(),
        "input_size": tile,
        "legend": {"id": legend.pk, "name": legend.name, "owner": legend.owner.username, "own": True},
        "encoder": {"name": training.encoder, "model": global_model.name,
                    **({"normalisation": global_model.card["normalisation"]}
                       if encoder(training.encoder).needs_model else {})},
        "head": {"kind": "linear", "file": files[0],
                 "classifier": "scikit-learn StandardScaler + LogisticRegression (multinomial, L2, C = 1)"},
        "params": {"size_multiple": global_predictor.size_multiple if context else 1, "scene_tile": tile,
                   "context": context, "batch_size": 1, **({"onnx": files[1]} if len(files) > 1 else {})},
        "training": {"dataset": f"{legend.owner.username}'s labelled samples of legend “{legend.name}”",
                     "synthetic": False, "user": legend.owner.username, "samples": legend.samples.count(),
                     "pixels": int((~pixels.held_out).sum()), "extent": list(training.geometry.extent),
                     "training": training.pk},
        "metrics": {"spatially blocked cross-validation": {"overall_accuracy": cv.get("overall_accuracy"),
                                                           "folds": cv.get("folds"), "block_m": cv.get("block_m")},
                    "against the global model via the crosswalk": {
                        k: compared.get(k, {}).get("overall_accuracy") for k in ("legend", "global")}},
        "files": files})
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
    name = f"legend-{training.pk}-{legend.pk}"
    try:
        version = register_model(folder, name=name, owner=legend.owner)
        ModelVersion.objects.filter(pk=version.pk).update(shared=legend.shared)
        version.shared = legend.shared
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return version


def _unregister(version: ModelVersion) -> None:
    shutil.rmtree(version.path, ignore_errors=True)
    version.delete()


LEGEND_JOB = lifecycle.queued_kind(
    "training", TASK, LegendTraining, build, staging=lambda t: Path(settings.LEGENDS_DIR) / ".tmp",
    destination=lambda t: Path(settings.LEGENDS_DIR) / t.token, related=("legend__owner", "global_model"))


def retry(training: LegendTraining) -> bool:
    """Queue a failed training again."""
    return lifecycle.retry(LEGEND_JOB, training)


def share(legend: Legend, shared: bool) -> None:
    """Share a legend (or stop): its models follow."""
    Legend.objects.filter(pk=legend.pk).update(shared=shared)
    ModelVersion.objects.filter(trainings__legend=legend).update(shared=shared)
    legend.shared = shared
