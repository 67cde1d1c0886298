"""Adversarial land-cover models, in Keras 3 only (no backend-specific code):

- CGAN, low → high (`cgan`): a generator turns a coarse land-cover map (one-hot, 8 channels)
  into a fine one; a discriminator, conditioned on the same coarse map, tells real fine maps
  from generated ones.
- Pix2Pix (`pix2pix`, Isola et al. 2017): a U-Net generator with skip connections from image
  bands (RGB+NIR by default) to an 8-channel land-cover map; a PatchGAN discriminator
  conditioned on the image judges 70×70-pixel-ish patches (3 stride-2 layers) as real or fake.

Both generators are the project's U-Net (softmax output); both are trained the classic way,
alternately: the discriminator on real maps (target 1) and generated ones (target 0), then the
generator through the frozen discriminator with target 1 plus a pixel loss λ·CE against the
fine labels (masked where labels are unknown). Compiled models and train_on_batch keep it
backend-agnostic.
"""
from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

from ..classes import IGNORE, N_MODEL_CLASSES, coarse_one_hot
from .losses import masked_sparse_crossentropy


def build_patch_discriminator(condition_channels: int, n_classes: int = N_MODEL_CLASSES, base_filters: int = 32,
                              n_layers: int = 3, name: str = "discriminator") -> keras.Model:
    """PatchGAN: (condition, land-cover map) → a grid of real/fake probabilities."""
    condition = keras.Input(shape=(None, None, condition_channels), name="condition")
    land_cover = keras.Input(shape=(None, None, n_classes), name="land_cover")
    x = layers.Concatenate()([condition, land_cover])
    for i in range(n_layers):
        x = layers.Conv2D(base_filters * 2**i, 4, strides=2, padding="same", name=f"d_conv{i}")(x)
        if i:
            x = layers.BatchNormalization(momentum=0.9, name=f"d_bn{i}")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(base_filters * 2**n_layers, 4, padding="same", name="d_conv_last")(x)
    x = layers.LeakyReLU(0.2)(x)
    out = layers.Conv2D(1, 4, padding="same", activation="sigmoid", dtype="float32", name="patch")(x)
    return keras.Model([condition, land_cover], out, name=name)


class AdversarialTrainer:
    """Alternating GAN training with compiled models and train_on_batch."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, lr: float = 2e-4,
                 pixel_weight: float = 10.0):
        self.generator = generator
        self.discriminator = discriminator
        discriminator.compile(optimizer=keras.optimizers.Adam(lr, beta_1=0.5), loss="binary_crossentropy")
        discriminator.trainable = False
        condition = keras.Input(shape=generator.input_shape[1:], name="condition")
        fake = generator(condition)
        judged = discriminator([condition, fake])
        self.combined = keras.Model(condition, [judged, fake], name="generator_through_discriminator")
        self.combined.compile(optimizer=keras.optimizers.Adam(lr, beta_1=0.5),
                              loss=["binary_crossentropy", masked_sparse_crossentropy],
                              loss_weights=[1.0, pixel_weight])

    def train_step(self, condition: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """One discriminator and one generator update on a batch; the losses."""
        valid = (labels != IGNORE)[..., None].astype(np.float32)
        fake = np.asarray(self.generator.predict_on_batch(condition)) * valid  # unknown pixels hidden from D
        real = coarse_one_hot(labels)  # the same one-hot encoding as coarse inputs
        shape = self.discriminator.compute_output_shape([condition.shape, real.shape])
        ones, zeros = np.ones(shape, np.float32), np.zeros(shape, np.float32)
        self.discriminator.trainable = True
        d_real = float(np.asarray(self.discriminator.train_on_batch([condition, real], ones)).ravel()[0])
        d_fake = float(np.asarray(self.discriminator.train_on_batch([condition, fake], zeros)).ravel()[0])
        self.discriminator.trainable = False
        g = np.asarray(self.combined.train_on_batch(condition, [ones, labels])).ravel()
        # combined.train_on_batch returns [total, adversarial, pixel]
        return {"d_loss": (d_real + d_fake) / 2, "g_loss": float(g[0]), "g_adversarial": float(g[1]),
                "g_pixel": float(g[2])}

    def fit(self, train: Any, epochs: int, out: Path, initial_epoch: int = 0, samples: Any = None,
            render: Callable[[int], None] | None = None) -> Path:
        """Epochs over a PyDataset of (condition, labels); history.csv with both losses per epoch."""
        history = Path(out) / "history.csv"
        mode = "a" if initial_epoch else "w"
        with open(history, mode, newline="") as f:
            writer = csv.DictWriter(f, ["epoch", "d_loss", "g_loss", "g_adversarial", "g_pixel", "seconds"])
            if not initial_epoch:
                writer.writeheader()
            for epoch in range(initial_epoch, epochs):
                started = time.perf_counter()
                sums: dict[str, float] = {}
                for i in range(len(train)):
                    condition, labels = train[i]
                    for k, v in self.train_step(condition, labels).items():
                        sums[k] = sums.get(k, 0.0) + v
                train.on_epoch_end()
                row = {k: round(v / len(train), 5) for k, v in sums.items()}
                row.update(epoch=epoch, seconds=round(time.perf_counter() - started, 1))
                writer.writerow(row)
                f.flush()
                print(f"epoch {epoch + 1}/{epochs}: D {row['d_loss']:.4f}, G {row['g_loss']:.4f} "
                      f"(adversarial {row['g_adversarial']:.4f}, pixel {row['g_pixel']:.4f})", file=sys.stderr)
                if render is not None:
                    render(epoch)
        return history


def plot_gan_curves(history_csv: Path, png: Path) -> None:
    """Both GAN losses (and the generator's pixel loss) per epoch."""
    from ..figures import plot_curves

    plot_curves(history_csv, png, [
        ("adversarial losses", [("d_loss", "discriminator"), ("g_adversarial", "generator (adversarial)")]),
        ("pixel loss", [("g_pixel", "generator (pixel CE)")]),
    ])
