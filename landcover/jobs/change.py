"""Change between two stored maps as a job: align, compare, store the change COG and its transition matrix.

A change is a `ChangeMap` row plus a folder CHANGES_DIR/<token>/ with change.tif (COG), transitions.json,
transitions.csv and chart.png (each class's net change). Both maps must be done when it is asked for; the
same two maps (in that order) and confidence threshold give the same row. The run goes through the shared
lifecycle; `ml.change` does the work.
"""
from __future__ import annotations

import csv
import hashlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import Polygon

from ml.change import ChangeError, change_map
from ml.classes import DFC, Scheme, card_scheme

from ..errors import InvalidInput
from ..models import ChangeMap, ModelVersion
from . import lifecycle, products
from .lifecycle import Progress
from .products import TIFF, Collection, File, Layer, Product, StoredMap, stored_map

SAME_IMAGERY = ("Both maps were made from the same imagery ({scenes}): what differs is the model or the settings, "
                "not the land. Ask for maps of two periods (dates that only different scenes meet) to see change.")
TRANSITION_COLUMNS = ["from", "from_name", "to", "to_name", "code", "pixels", "km2", "ha", "percent"]


def build(change: ChangeMap, work: Path, progress: Progress) -> dict:
    """The change COG, transitions (JSON, CSV) and chart in `work`; the fields to store."""
    # Access was checked when the change was asked for; the job reads the maps as they are now.
    before = stored_map(change.before_kind, change.before_id, check_access=False)
    after = stored_map(change.after_kind, change.after_id, check_access=False)
    scheme = scheme_of_map(before)
    result = change_map(before.path, after.path, work / "change.tif", before_confidence=before.probabilities,
                        after_confidence=after.probabilities, min_confidence=change.min_confidence,
                        progress=progress, scheme=scheme)
    if not result.pixels.sum():
        raise ChangeError("the two maps share no pixel where both hold a class (with the confidence asked): "
                          "nothing to compare")
    summary = result.to_dict()
    summary.update(before=before.label, after=after.label)
    warnings = [SAME_IMAGERY.format(scenes=", ".join(before.scenes))] if before.scenes and \
        before.scenes == after.scenes else []
    summary["warnings"] = warnings
    (work / "transitions.json").write_text(json.dumps(summary, indent=1))
    with open(work / "transitions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, TRANSITION_COLUMNS)
        writer.writeheader()
        writer.writerows(summary["transitions"])
    net_change_chart(summary["classes"], work / "chart.png", f"{before.label} → {after.label}", scheme)
    return {"change": summary, "warnings": warnings}


def net_change_chart(classes: list[dict], path: Path, title: str, scheme: Scheme) -> None:
    """A bar chart of each class's net change in hectares, in the classes' colours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    names = [c["name"] for c in classes]
    ax.barh(names, [c["net_change_ha"] for c in classes], color=[scheme[c["code"]][1] for c in classes],
            edgecolor="#333")
    ax.axvline(0, color="#333", linewidth=0.8)
    ax.set_xlabel("net change, ha")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


class ChangeProduct(Product):
    """Changes between two stored maps: a change COG in its own colours and the transition matrix. One that
    involves an upload belongs to that upload's owner."""

    kind, prefix, noun, root_setting = "change", "changes", "change", "CHANGES_DIR"
    collection = Collection("changes", "Changes between two maps",
                            "Change maps between two stored maps of one place: codes (from − 1) × 10 + to.")
    files = (File("change.tif", TIFF, "Change (COG)", ("data",), "data", "cog"),
             File("transitions.json", "application/json", "Transition matrix", ("metadata",), "transitions",
                  "transitions_json"),
             File("transitions.csv", "text/csv; charset=utf-8", "Transition matrix (CSV)", ("metadata",), "", "transitions_csv"),
             File("chart.png", "image/png", "Net change", ("overview",), "chart", "chart"))
    layers = (Layer("tiles", "change.tif", "palette", "change", "Change (unchanged white, changed in the colour of the "
                                                              "new class)"),)
    land_cover = False
    owner_field = "owner"
    geometry_field = "footprint"
    main_file = "change.tif"

    def model_name(self, row) -> str | None:
        return row.models_used.get("after")

    def bounds(self, row) -> tuple[float, float, float, float]:
        west, south, east, north = row.bounds
        return west, south, east, north

    def label(self, row) -> str:
        return f"change {row.pk}"

    def properties(self, row) -> dict:
        return {"hrmars:before": f"{row.before_kind}-{row.before_id}",
                "hrmars:after": f"{row.after_kind}-{row.after_id}",
                "hrmars:different_models": row.different_models, "title": f"Change {row.pk}"}

    def download_name(self, row, name: str) -> str:
        return f"change-{row.pk}-{name}"


CHANGE_JOB = lifecycle.queued_kind(
    "change", "landcover.compute_change", ChangeMap, build, staging=lambda change: CHANGE_PRODUCT.root() / ".tmp",
    destination=lambda change: CHANGE_PRODUCT.folder(change))
CHANGE_PRODUCT: ChangeProduct = products.register(ChangeProduct(CHANGE_JOB))


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def scheme_of_map(stored: StoredMap) -> Scheme:
    """What a stored map's codes mean: its model's classes (a legend's own, issue 27), else DFC's (MODIS too)."""
    version = ModelVersion.objects.filter(name=stored.model).only("card").first()
    return card_scheme(version.card) if version is not None else DFC


def request_change(before: StoredMap, after: StoredMap, min_confidence: float | None, user,
                   before_new: Callable[[], None] | None = None) -> tuple[ChangeMap, bool]:
    """The change between two done maps (checked by the caller for access) and whether it was created now; the two
    must speak of the same classes (a legend model's map changes only into another map of that legend's classes)."""
    if (before.kind, before.pk) == (after.kind, after.pk):
        raise InvalidInput("after", "Compare two different maps.")
    scheme = scheme_of_map(before)
    if scheme_of_map(after) != scheme:
        raise InvalidInput("after", f"{before.label} and {after.label} are maps of different classes (a legend of "
                                    "one's own and another legend, or our simplified IGBP): their change would compare "
                                    "different things. Compare two maps of the same classes.")
    if max(scheme) > 10:
        raise InvalidInput("after", "Change maps hold class codes 1–10: this legend's codes go beyond (give its classes "
                                    "codes 1–10 to compare its maps).")
    if not _overlap(before.bounds, after.bounds):
        raise InvalidInput("after", f"{before.label} and {after.label} do not overlap.")
    owner = user if (before.owner_id or after.owner_id) else None
    text = f"{before.kind}:{before.pk}|{after.kind}:{after.pk}|{min_confidence}|{owner.pk if owner else ''}"
    key = hashlib.sha256(text.encode()).hexdigest()
    return lifecycle.find_or_queue(
        CHANGE_JOB, {"key": key}, {"token": secrets.token_urlsafe(24), "before_kind": before.kind,
                                   "before_id": before.pk, "after_kind": after.kind, "after_id": after.pk,
                                   "min_confidence": min_confidence, "owner": owner, "bounds": list(before.bounds),
                                   "footprint": Polygon.from_bbox(before.bounds),
                                   "models_used": {"before": before.model, "after": after.model}},
        settings.MAP_STALE_SECONDS, before_new)

