"""The training of a legend model (issue 27), the body of `landcover.jobs.legends`' job: features of the labelled
pixels, spatially blocked cross-validation, the comparison with the global model, the model registered as its
owner's, and with held-out samples the map of the place and its assessment (the steps: `landcover.jobs.legends`'
docstring). Its own module because it needs scikit-learn and ONNX Runtime, which only the worker that trains should
import.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import rasterio
from django.conf import settings
from rasterio.windows import Window

from ml.accuracy import assess
from ml.bands import S2_BANDS
from ml.engines import export_onnx
from ml.features import LEGEND_BANDS, encoder
from ml.imagery import Query, fetch_area
from ml.legend import MIN_PER_CLASS, LegendError, blocks, comparison, cross_validate, sample_features, sample_pixels
from ml.legend import train as fit
from ml.legend_model import LinearHead, encoder_network, reflectance, save
from ml.modelio import FORMAT_VERSION, write_card

from ..catalogue.imagery import search
from ..catalogue.registry import register_model
from ..models import LabelledSample, Legend, LegendTraining, ModelVersion
from . import lifecycle
from .inference import map_image, predictor_for
from .lifecycle import Progress

FETCH_SHARE, FEATURES_SHARE = 30, 70  # % of the progress: imagery, then features and training, then the map


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


def train(training: LegendTraining, work: Path, progress: Progress) -> dict:
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
    head = LinearHead.from_pipeline(fit(features[train_mask], pixels.labels[train_mask], present))
    progress(FEATURES_SHARE, 100)

    feature_names = network.names([c.get("name", "") for c in global_model.card.get("classes", [])])
    version = _register(training, legend, classes, present, head, encoder_bytes, global_model, global_predictor,
                        cv.to_dict(names), compared, pixels, tile, context, feature_names)
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
              pixels, tile: int, context: int, feature_names: list[str]) -> ModelVersion:
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
        "encoder": {"name": training.encoder, "model": global_model.name, "features": feature_names,
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


