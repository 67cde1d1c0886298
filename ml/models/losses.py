"""Losses written with keras.ops only."""
from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..classes import IGNORE


@keras.saving.register_keras_serializable(package="hrmars")  # type: ignore[untyped-decorator]  # Keras ships no types
def masked_sparse_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """Mean cross-entropy over pixels whose label is not IGNORE (255)."""
    y_true = ops.cast(y_true, "int32")
    valid = ops.not_equal(y_true, IGNORE)
    safe = ops.where(valid, y_true, ops.zeros_like(y_true))
    ce = keras.losses.sparse_categorical_crossentropy(safe, y_pred)
    weights = ops.cast(valid, ce.dtype)
    return ops.sum(ce * weights) / ops.maximum(ops.sum(weights), 1.0)


@keras.saving.register_keras_serializable(package="hrmars")  # type: ignore[untyped-decorator]  # Keras ships no types
def soft_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """Mean cross-entropy against soft targets (a teacher's probabilities: distillation) over the pixels whose
    targets are not all zero (unknown)."""
    y_true = ops.cast(y_true, y_pred.dtype)
    ce = -ops.sum(y_true * ops.log(ops.clip(y_pred, 1e-7, 1.0)), axis=-1)
    weights = ops.cast(ops.greater(ops.sum(y_true, axis=-1), 0.0), ce.dtype)
    return ops.sum(ce * weights) / ops.maximum(ops.sum(weights), 1.0)


class _PixelAccuracy(keras.metrics.Metric):
    """Share of counted pixels that agree; subclasses say which pixels count and which agree."""

    def __init__(self, name: str = "accuracy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def hits(self, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
        """(agreeing, counted) as float32 masks of a batch's pixels."""
        raise NotImplementedError

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Count a batch's agreeing and counted pixels."""
        hit, valid = self.hits(y_true, y_pred)
        self.correct.assign_add(ops.sum(hit * valid))
        self.total.assign_add(ops.sum(valid))

    def result(self) -> Any:
        """Agreeing pixels / counted pixels."""
        return self.correct / ops.maximum(self.total, 1.0)

    def reset_state(self) -> None:
        """Start counting again."""
        self.correct.assign(0.0)
        self.total.assign(0.0)


@keras.saving.register_keras_serializable(package="hrmars")
class MaskedAccuracy(_PixelAccuracy):
    """Pixel accuracy that skips IGNORE labels."""

    def hits(self, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
        """Correct pixels, IGNORE left out."""
        y_true = ops.cast(y_true, "int32")
        valid = ops.cast(ops.not_equal(y_true, IGNORE), "float32")
        return ops.cast(ops.equal(y_true, ops.cast(ops.argmax(y_pred, axis=-1), "int32")), "float32"), valid


@keras.saving.register_keras_serializable(package="hrmars")
class SoftAccuracy(_PixelAccuracy):
    """Share of pixels whose most probable class is the soft target's (unknown pixels left out)."""

    def hits(self, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
        """Pixels whose argmax agrees with the target's; all-zero targets left out."""
        valid = ops.cast(ops.greater(ops.sum(y_true, axis=-1), 0.0), "float32")
        return ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1)), "float32"), valid
