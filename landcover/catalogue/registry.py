"""The registered models: registering a model folder (validated by loading it), the site's default,
and finding a model by name for a request."""
from __future__ import annotations

from pathlib import Path

from django.db import transaction
from django.db.models import Q, QuerySet

from ml import methods
from ml.classes import DFC
from ml.modelio import ModelFormatError, engine_file, load_model, read_card

from ..errors import InvalidInput, Unavailable
from ..models import ModelVersion
from .version import bump_catalogue_version


class UnknownModel(InvalidInput):
    """A request names a model that is not registered."""


class NoModel(Unavailable):
    """No model is registered, so there are no high-resolution maps."""


@transaction.atomic
def set_default_model(version: ModelVersion) -> None:
    ModelVersion.objects.select_for_update().filter(is_default=True).exclude(pk=version.pk).update(is_default=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_default=True)
    version.is_default = True


def register_model(folder: Path, name: str | None = None, default: bool = False,
                   engine: str = "default", owner=None) -> ModelVersion:
    """Register a model folder (validated by loading it on `engine`, which never runs code from it); with `owner`,
    as that user's own model (a legend model: never the site's default)."""
    predictor = load_model(folder, engine)  # raises ModelFormatError with a message naming the problem
    card = predictor.card
    version, _ = ModelVersion.objects.update_or_create(
        name=name or Path(folder).resolve().name,
        defaults={"method": card["method"], "path": str(Path(folder).resolve()), "card": card, "engine": engine,
                  "metrics": card.get("metrics", {}), "synthetic_training": bool(card.get("training", {}).get("synthetic")),
                  "owner": owner},
    )
    if owner is None and (default or not ModelVersion.objects.filter(is_default=True).exists()):
        set_default_model(version)
    bump_catalogue_version()
    return version


def check_engine_for(version: ModelVersion, engine: str) -> str:
    """The engine `engine` resolves to for this model; InvalidInput if the model folder has no such engine."""
    try:
        return engine_file(Path(version.path), read_card(Path(version.path)), engine)[0]
    except ModelFormatError as exc:
        raise InvalidInput("engine", str(exc)) from None


def model_visibility(user) -> Q:
    """The models `user` may see and use: the site's, shared ones and their own (legend models, issue 27)."""
    mine = Q(owner=user) if user is not None and getattr(user, "is_authenticated", False) else Q(pk__in=[])
    return Q(owner__isnull=True) | Q(shared=True) | mine


def visible_models(user) -> QuerySet[ModelVersion]:
    """The model versions `user` may see and use."""
    return ModelVersion.objects.filter(model_visibility(user))


def find_model(name: str | None, synthetic_place: bool = False, user=None) -> ModelVersion:
    """The model asked for by name (among those `user` may use: another user's private model is unknown), or else
    the site's default for the place: a real place never gets a model trained on synthetic data while a real one
    is registered (the site's default if it is real, else the newest real one); a synthetic patch gets a
    synthetic-trained (demo) model if there is one, else the site's default. Users' own models are never defaults."""
    if name:
        version = visible_models(user).filter(name=name).first()
        if version is None:
            known = ", ".join(visible_models(user).values_list("name", flat=True)) or "none"
            raise UnknownModel("model", f"Unknown model {name!r}. Registered models: {known} (see /api/v1/models/).")
        return version
    default = ModelVersion.objects.filter(is_default=True).first()
    preferred = ModelVersion.objects.filter(synthetic_training=synthetic_place, owner__isnull=True).order_by(
        "-is_default", "-created_at")
    version = preferred.first() or default
    if version is None:
        raise NoModel("No model is registered yet, so there are no high-resolution maps; an administrator registers "
                      "one with `manage.py register_model DIR --default`.")
    return version


def refuse_coarse(version: ModelVersion) -> ModelVersion:
    """The model if it maps Sentinel-2 images (its method `reads` "image", by `ml.methods`); InvalidInput for
    one that refines coarse land-cover maps (a CGAN), which has no image to read. The one place that decides."""
    try:
        reads = methods.get(version.method).reads
    except methods.UnknownMethod:
        reads = "image" if version.card.get("input") != "coarse" else "coarse"
    if reads != "image":
        raise InvalidInput("model", f"{version.name} refines MODIS land-cover maps and cannot map an image; choose a "
                                    "model that reads Sentinel-2 bands (see /api/v1/models/).")
    return version


def class_legend() -> list[dict]:
    """The simplified-IGBP classes with their colours and which registered models predict each (from their cards:
    Dynamic World maps Snow/Ice, our DFC2020-trained models never Savanna nor Snow/Ice; MODIS maps hold all ten)."""
    cards = {m.name: {c["code"] for c in m.card.get("classes", []) if "code" in c}
             for m in ModelVersion.objects.filter(owner__isnull=True).only("name", "card")}
    return [{"code": code, "name": name, "colour": colour,
             "predicted_by": sorted(model for model, codes in cards.items() if code in codes),
             "predicted": any(code in codes for codes in cards.values())}
            for code, (name, colour) in DFC.items()]
