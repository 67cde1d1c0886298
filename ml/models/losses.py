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


@keras.saving.register_keras_serializable(package="hrmars")
class MaskedAccuracy(keras.metrics.Metric):
    """Pixel accuracy that skips IGNORE labels."""

    def __init__(self, name: str = "accuracy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Count the correct pixels of a batch, IGNORE left out."""
        y_true = ops.cast(y_true, "int32")
        valid = ops.cast(ops.not_equal(y_true, IGNORE), "float32")
        hit = ops.cast(ops.equal(y_true, ops.cast(ops.argmax(y_pred, axis=-1), "int32")), "float32") * valid
        self.correct.assign_add(ops.sum(hit))
        self.total.assign_add(ops.sum(valid))

    def result(self) -> Any:
        """Correct pixels / counted pixels."""
        return self.correct / ops.maximum(self.total, 1.0)

    def reset_state(self) -> None:
        """Start counting again."""
        self.correct.assign(0.0)
        self.total.assign(0.0)
