"""Figures: image, prediction(s) and reference side by side."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .classes import DFC, MODEL_CLASSES, Scheme, colormap


def rgb(image_dn: np.ndarray) -> np.ndarray:
    """(H, W, ≥3 bands in B2, B3, B4 order) DNs → display RGB in [0, 1] (2–98 % stretch)."""
    bgr = image_dn[..., :3].astype(np.float32)
    out = bgr[..., ::-1]
    lo, hi = float(np.percentile(out, 2)), float(np.percentile(out, 98))
    return np.clip((out - lo) / max(hi - lo, 1e-6), 0, 1)


def colour_indexes(indexes: np.ndarray) -> np.ndarray:
    """Model class indexes (IGNORE → white) → RGB in [0, 1]."""
    table = np.ones((256, 3), np.float32)
    cmap = colormap()
    for i, code in enumerate(MODEL_CLASSES):
        table[i] = np.array(cmap[code][:3]) / 255
    return table[np.asarray(indexes, np.uint8)]


def side_by_side(png: Path, rows: Sequence[dict[str, np.ndarray]], titles: Sequence[str]) -> Path:
    """One row per sample; each dict maps a column title to an RGB image or an index map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(titles), figsize=(2.2 * len(titles), 2.2 * len(rows)), dpi=100,
                             squeeze=False)
    for r, row in enumerate(rows):
        for c, title in enumerate(titles):
            ax = axes[r][c]
            value = row[title]
            ax.imshow(value if value.ndim == 3 else colour_indexes(value), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return Path(png)


def _number(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "", "NA") else float("nan")
    except ValueError:
        return float("nan")


def plot_curves(history_csv: Path, png: Path, panels: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
    """Learning curves from a history CSV (one row per epoch, column `epoch` from 0): one panel per
    (title, [(column, label), …]); columns missing from the file are left out."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history_csv = Path(history_csv)
    if not history_csv.exists():  # e.g. --epochs 0
        return
    with open(history_csv) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), dpi=100, squeeze=False)
    for ax, (title, series) in zip(axes[0], panels):
        for column, label in series:
            values = [_number(r.get(column)) for r in rows]
            if any(v == v for v in values):  # Keras writes NA for a metric it had no data for
                ax.plot(epochs, values, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def plot_series(periods: Sequence[str], areas: dict[int, Sequence[float | None]], png: Path, title: str = "",
                unit: str = "ha", scheme: Scheme | None = None) -> Path:
    """Class areas over periods: one line per class in its colour (of `scheme`: DFC's, or a legend's), a period
    without data a gap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scheme = scheme or DFC
    colours = colormap(scheme)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(periods) + 3), 4), dpi=100)
    x = np.arange(len(periods))
    for code, values in sorted(areas.items()):
        y = np.array([np.nan if v is None else v for v in values], float)
        if np.all(np.isnan(y)):
            continue
        r, g, b, _ = colours.get(code, (80, 80, 80, 255))
        ax.plot(x, y, marker="o", markersize=3, color=(r / 255, g / 255, b / 255), label=scheme.get(code, (str(code), ""))[0])
    ax.set_xticks(x, list(periods), rotation=45 if len(periods) > 6 else 0, ha="right" if len(periods) > 6 else "center")
    ax.set_ylabel(f"area ({unit})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return Path(png)
