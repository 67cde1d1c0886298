"""U-Net (Ronneberger et al. 2015): contracting and expanding paths with skip connections.

Fully convolutional: trained on 256×256 patches, it runs on any tile whose sides are
multiples of 2**depth. Output: softmax over the 8 model classes.
"""
from __future__ import annotations

from typing import Any

import keras
from keras import layers

from ..classes import N_MODEL_CLASSES


def _block(x: Any, filters: int, name: str) -> Any:
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        # momentum 0.9: moving statistics settle within a few hundred steps (small datasets, short runs)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def build_unet(bands: int = 4, n_classes: int = N_MODEL_CLASSES, base_filters: int = 32, depth: int = 4,
               dropout: float = 0.1, name: str = "unet") -> keras.Model:
    """A U-Net: (H, W, bands) → (H, W, n_classes) softmax, `depth` down- and up-sampling steps."""
    inputs = keras.Input(shape=(None, None, bands), name="image")
    skips, x = [], inputs
    for level in range(depth):
        x = _block(x, base_filters * 2**level, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _block(x, base_filters * 2**depth, "bottom")
    if dropout:
        x = layers.Dropout(dropout, name="bottom_dropout")(x)
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_filters * 2**level, 2, strides=2, padding="same", name=f"up{level}_tconv")(x)
        x = layers.Concatenate(name=f"up{level}_concat")([x, skips[level]])
        x = _block(x, base_filters * 2**level, f"up{level}")
    outputs = layers.Conv2D(n_classes, 1, activation="softmax", dtype="float32", name="classes")(x)
    return keras.Model(inputs, outputs, name=name)
