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
import secrets
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ml.features import encoder

from ..catalogue.registry import find_model
from ..errors import InvalidInput, LimitReached, NotFound
from ..models import LabelledSample, Legend, LegendTraining, ModelVersion
from ..validation.areas import geodesic_area_km2
from ..validation.samples import Sample, unique
from . import lifecycle
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


def build(training: LegendTraining, work: Path, progress: Progress) -> dict:
    """The training's job (`landcover.jobs.legend_training.train`): scikit-learn and ONNX Runtime are imported only
    in the worker that trains — a second and a half every web process and command would pay otherwise."""
    from .legend_training import train

    return train(training, work, progress)


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
