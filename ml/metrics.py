"""Segmentation scores from a streaming confusion matrix.

Per class: IoU = TP/(TP+FP+FN), F1 = Dice = 2TP/(2TP+FP+FN), precision, recall.
Means are over the classes present in the reference (support > 0). Overall
accuracy = trace/total; average accuracy = mean per-class recall (DFC2020's score); Cohen's kappa =
(OA − chance agreement) / (1 − chance agreement), chance from the reference and prediction totals.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class ConfusionMatrix:
    """Counts (reference, prediction) pairs; pixels whose reference is `ignore` are skipped. A prediction of
    `ignore` (a model predicting a class outside the scheme, e.g. Dynamic World's Snow/Ice against 8 classes)
    is counted as wrong, per reference class, in `outside`."""

    def __init__(self, n_classes: int, ignore: int | None = 255):
        self.n = n_classes
        self.ignore = ignore
        self.matrix = np.zeros((n_classes, n_classes), dtype=np.int64)  # rows: reference, cols: prediction
        self.outside = np.zeros(n_classes, dtype=np.int64)  # per reference class: predicted outside the scheme

    def update(self, reference: np.ndarray, prediction: np.ndarray) -> ConfusionMatrix:
        """Count the pixels of one batch (IGNORE in the reference is skipped)."""
        ref = np.asarray(reference).ravel().astype(np.int64)
        pred = np.asarray(prediction).ravel().astype(np.int64)
        if ref.shape != pred.shape:
            raise ValueError(f"reference and prediction differ in size: {ref.size} vs {pred.size}")
        keep = (ref >= 0) & (ref < self.n)
        if self.ignore is not None:
            keep &= ref != self.ignore
        ref, pred = ref[keep], pred[keep]
        if self.ignore is not None:
            out = pred == self.ignore
            self.outside += np.bincount(ref[out], minlength=self.n)
            ref, pred = ref[~out], pred[~out]
        if pred.size and (pred.min() < 0 or pred.max() >= self.n):
            raise ValueError(f"prediction holds a class outside 0..{self.n - 1}")
        self.matrix += np.bincount(ref * self.n + pred, minlength=self.n * self.n).reshape(self.n, self.n)
        return self

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts to this one."""
        self.matrix += other.matrix
        self.outside += other.outside
        return self

    def scores(self) -> Scores:
        """Per-class and mean scores of the counts so far."""
        m = self.matrix.astype(np.float64)
        tp = np.diag(m)
        support = m.sum(axis=1) + self.outside
        predicted = m.sum(axis=0)
        fp, fn = predicted - tp, support - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
            f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
            precision = np.where(predicted > 0, tp / predicted, np.nan)
            recall = np.where(support > 0, tp / support, np.nan)
        present = support > 0
        total = m.sum() + self.outside.sum()
        chance = float((support * predicted).sum() / total**2) if total else float("nan")  # outside: no column
        return Scores(
            iou=iou, f1=f1, precision=precision, recall=recall, support=support.astype(np.int64),
            overall_accuracy=float(tp.sum() / total) if total else float("nan"),
            average_accuracy=float(np.nanmean(recall[present])) if present.any() else float("nan"),
            # A class present in the reference has TP + FN > 0, so its IoU and F1 are defined.
            mean_iou=float(iou[present].mean()) if present.any() else float("nan"),
            mean_f1=float(f1[present].mean()) if present.any() else float("nan"),
            kappa=(float(tp.sum() / total) - chance) / (1 - chance) if total and chance < 1 else float("nan"),
        )


@dataclass
class Scores:
    """Per-class IoU, F1, precision and recall with their means, OA, AA and Cohen's kappa."""
    iou: np.ndarray
    f1: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    support: np.ndarray
    overall_accuracy: float
    average_accuracy: float
    mean_iou: float
    mean_f1: float
    kappa: float = float("nan")

    def summary(self) -> dict[str, float]:
        """The four headline numbers: mIoU, mF1, OA, AA."""
        return {"mIoU": self.mean_iou, "mF1": self.mean_f1, "OA": self.overall_accuracy, "AA": self.average_accuracy}

    def per_class_rows(self, names: Sequence[str]) -> list[dict]:
        """One dict per class: support and scores."""
        return [
            {"class": name, "support": int(self.support[i]), "IoU": self.iou[i], "F1": self.f1[i],
             "precision": self.precision[i], "recall": self.recall[i]}
            for i, name in enumerate(names)
        ]

    def to_markdown(self, names: Sequence[str]) -> str:
        """The per-class table and the summary in Markdown."""
        lines = ["| class | pixels | IoU % | F1 % | precision % | recall % |", "|---|---:|---:|---:|---:|---:|"]
        for row in self.per_class_rows(names):
            lines.append(f"| {row['class']} | {row['support']} | {_pct(row['IoU'])} | {_pct(row['F1'])} | "
                         f"{_pct(row['precision'])} | {_pct(row['recall'])} |")
        lines.append(f"| **mean (present classes)** | {int(self.support.sum())} | {_pct(self.mean_iou)} | "
                     f"{_pct(self.mean_f1)} | | AA {_pct(self.average_accuracy)} |")
        lines.append("")
        lines.append(f"Overall accuracy {_pct(self.overall_accuracy)} %, average accuracy {_pct(self.average_accuracy)} %.")
        return "\n".join(lines) + "\n"

    def to_csv(self, names: Sequence[str]) -> str:
        """The per-class table as CSV."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["class", "support", "IoU", "F1", "precision", "recall"])
        writer.writeheader()
        for row in self.per_class_rows(names):
            writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()})
        for key, value in self.summary().items():
            writer.writerow({"class": key, "IoU": f"{value:.6f}"})
        return out.getvalue()


def rounded(values: Sequence[float] | np.ndarray, digits: int = 6) -> list[float | None]:
    """Scores for JSON: rounded, NaN (a class absent from the reference) as None."""
    return [None if np.isnan(v) else round(float(v), digits) for v in values]


def _pct(value: float) -> str:
    return "–" if value is None or np.isnan(value) else f"{100 * value:.2f}"


def plot_confusion(matrix: np.ndarray, names: Sequence[str], path: str | Path, title: str = "Confusion matrix") -> None:
    """Row-normalised confusion matrix as a PNG (rows: reference, columns: prediction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(names), 0.8 + 0.8 * len(names)), dpi=100)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("prediction")
    ax.set_ylabel("reference")
    ax.set_title(title)
    for i in range(len(names)):
        for j in range(len(names)):
            if matrix[i, j]:
                ax.text(j, i, f"{100 * norm[i, j]:.0f}", ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
