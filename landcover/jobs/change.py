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

from ml.change import ChangeError, change_map

from ..errors import InvalidInput, NotReady
from ..models import ChangeMap
from . import lifecycle
from .lifecycle import JobKind, Progress
from .stored import StoredMap, stored_map

TRANSITION_COLUMNS = ["from", "from_name", "to", "to_name", "code", "pixels", "km2", "ha", "percent"]


def changes_root() -> Path:
    """Where change maps live (HRMARS_CHANGES_DIR)."""
    return Path(settings.CHANGES_DIR)


def change_folder(change: ChangeMap) -> Path:
    """One change's folder."""
    return changes_root() / change.token


def build(change: ChangeMap, work: Path, progress: Progress) -> dict:
    """The change COG, transitions (JSON, CSV) and chart in `work`; the fields to store."""
    before = stored_map(change.before_kind, change.before_id)
    after = stored_map(change.after_kind, change.after_id)
    result = change_map(before.path, after.path, work / "change.tif", before_confidence=before.probabilities,
                        after_confidence=after.probabilities, min_confidence=change.min_confidence,
                        progress=progress)
    if not result.pixels.sum():
        raise ChangeError("the two maps share no pixel where both hold a class (with the confidence asked): "
                          "nothing to compare")
    summary = result.to_dict()
    summary.update(before=before.label, after=after.label)
    (work / "transitions.json").write_text(json.dumps(summary, indent=1))
    with open(work / "transitions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, TRANSITION_COLUMNS)
        writer.writeheader()
        writer.writerows(summary["transitions"])
    net_change_chart(summary["classes"], work / "chart.png", f"{before.label} → {after.label}")
    return {"change": summary}


def net_change_chart(classes: list[dict], path: Path, title: str) -> None:
    """A bar chart of each class's net change in hectares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ml.classes import DFC

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    names = [c["name"] for c in classes]
    ax.barh(names, [c["net_change_ha"] for c in classes], color=[DFC[c["code"]][1] for c in classes],
            edgecolor="#333")
    ax.axvline(0, color="#333", linewidth=0.8)
    ax.set_xlabel("net change, ha")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


CHANGE_JOB = JobKind(
    name="change", task="landcover.compute_change", model=ChangeMap,
    waiting=ChangeMap.Status.QUEUED, running=ChangeMap.Status.RUNNING, done=ChangeMap.Status.DONE,
    failed=ChangeMap.Status.FAILED, cancelled=ChangeMap.Status.CANCELLED, idle_result="skipped", related=(),
    staging=lambda change: changes_root() / ".tmp", destination=change_folder, build=build)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def request_change(before: StoredMap, after: StoredMap, min_confidence: float | None, user,
                   before_new: Callable[[], None] | None = None) -> tuple[ChangeMap, bool]:
    """The change between two done maps (checked by the caller for access) and whether it was created now."""
    if (before.kind, before.pk) == (after.kind, after.pk):
        raise InvalidInput("after", "Compare two different maps.")
    if not _overlap(before.bounds, after.bounds):
        raise InvalidInput("after", f"{before.label} and {after.label} do not overlap.")
    owner = user if (before.owner_id or after.owner_id) else None
    text = f"{before.kind}:{before.pk}|{after.kind}:{after.pk}|{min_confidence}|{owner.pk if owner else ''}"
    key = hashlib.sha256(text.encode()).hexdigest()
    return lifecycle.find_or_queue(
        CHANGE_JOB, {"key": key}, {"token": secrets.token_urlsafe(24), "before_kind": before.kind,
                                   "before_id": before.pk, "after_kind": after.kind, "after_id": after.pk,
                                   "min_confidence": min_confidence, "owner": owner, "bounds": list(before.bounds),
                                   "models_used": {"before": before.model, "after": after.model}},
        settings.MAP_STALE_SECONDS, before_new)


def done(change: ChangeMap) -> ChangeMap:
    """The change if it is ready, else NotReady."""
    if change.status != ChangeMap.Status.DONE:
        raise NotReady(f"Change {change.pk} is {change.status} ({change.progress} %); it is not ready.")
    return change
