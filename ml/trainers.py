"""How each method trains: the U-Net family (U-Net, label super-resolution), the GANs (CGAN, Pix2Pix)
and bag of colours. Each trainer takes a `TrainConfig`, the dataset splits and the fitted input
normalisation and returns (model, parameters for the model card);
`ml.methods` maps method names to these and `ml.train.train` saves and scores the result.
Keras methods checkpoint after every epoch, so `resume` continues where a run stopped."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
from tqdm import tqdm

from .bands import Normalisation
from .classes import N_MODEL_CLASSES
from .config import TrainConfig
from .datasets import load_arrays
from .datasets.training import PatchDataset
from .figures import plot_curves, rgb, side_by_side
from .models.bagofcolours import BagOfColours
from .models.gan import AdversarialTrainer, build_patch_discriminator, plot_gan_curves
from .models.losses import MaskedAccuracy, SoftAccuracy, masked_sparse_crossentropy, soft_crossentropy
from .models.lsr import LabelSuperResolutionLoss, label_statistics, prior_statistics
from .models.unet import build_unet


def plot_learning_curve(history_csv: Path, png: Path) -> None:
    """Loss and accuracy per epoch, training and validation."""
    plot_curves(history_csv, png, [(key, [(key, "train"), (f"val_{key}", "validation")])
                                   for key in ("loss", "accuracy")])


def lsr_statistics(config: TrainConfig, splits: dict) -> tuple[list, list, dict]:
    """μ_{c,z}, σ²_{c,z} for the LSR loss, and how they were obtained (for the model card)."""
    if config.lsr_stats == "prior":
        means, variances = prior_statistics()
        return means.tolist(), variances.tolist(), {"source": "prior"}
    if config.lsr_stats != "calibrate":
        data = json.loads(Path(config.lsr_stats).read_text())
        return data["means"], data["variances"], {"source": str(config.lsr_stats)}
    calibration = [s for s in splits["train"] if s.dfc and s.lc][:config.lsr_calibration]
    means, variances, counts = label_statistics([(s.labels("coarse"), s.labels("fine")) for s in calibration],
                                                block=config.block)
    return means.tolist(), variances.tolist(), {"source": "calibrate", "patches": len(calibration),
                                                "blocks_per_coarse_class": counts.tolist()}


def train_unet(config: TrainConfig, splits: dict, norm: Normalisation, *,
               super_resolution: bool = False) -> tuple[Any, dict]:
    """U-Net: cross-entropy on the labels, or with `super_resolution` the label super-resolution loss."""
    loss, extra = masked_sparse_crossentropy, {}
    metric: keras.metrics.Metric = MaskedAccuracy()
    if config.labels == "soft":  # distillation: the teacher's probabilities as targets
        loss, metric = soft_crossentropy, SoftAccuracy()
    if super_resolution:
        means, variances, source = lsr_statistics(config, splits)
        loss = LabelSuperResolutionLoss(means, variances, block=config.block)
        extra = {"lsr": {"block": config.block, "statistics": source, "means": means, "variances": variances}}

    keras.utils.set_random_seed(config.seed)
    checkpoint = config.out / "checkpoint.keras"
    history_csv = config.out / "history.csv"
    initial_epoch = 0
    if config.resume and checkpoint.exists():
        model = keras.saving.load_model(checkpoint, compile=False, safe_mode=True)
        with open(history_csv) as f:
            initial_epoch = sum(1 for _ in csv.DictReader(f))
        print(f"resuming from {checkpoint} after epoch {initial_epoch}", file=sys.stderr)
    else:
        model = build_unet(bands=len(norm.bands), base_filters=config.base_filters, depth=config.depth)
    model.compile(optimizer=keras.optimizers.Adam(config.lr), loss=loss, metrics=[metric])
    labels = config.labels or "fine"
    train = PatchDataset(splits["train"], norm, labels, config.batch_size, augment=True, shuffle=True, seed=config.seed)
    val = PatchDataset(splits["val"], norm, labels, config.batch_size) if splits["val"] else None
    callbacks = [keras.callbacks.ModelCheckpoint(checkpoint),
                 keras.callbacks.CSVLogger(history_csv, append=initial_epoch > 0)]
    if initial_epoch < config.epochs:
        model.fit(train, validation_data=val, epochs=config.epochs, initial_epoch=initial_epoch,
                  callbacks=callbacks, verbose=1 if sys.stderr.isatty() else 2)
    plot_learning_curve(history_csv, config.out / "learning_curve.png")
    return model, {"size_multiple": 2**config.depth, "base_filters": config.base_filters, "depth": config.depth,
                   "epochs": config.epochs, "lr": config.lr, "batch_size": config.batch_size, **extra}


def train_gan(config: TrainConfig, splits: dict, norm: Normalisation, *, inputs: str) -> tuple[Any, dict]:
    """Alternating adversarial training of a fine map from `inputs`: "coarse" (CGAN) or "image" (Pix2Pix)."""
    keras.utils.set_random_seed(config.seed)
    channels = N_MODEL_CLASSES if inputs == "coarse" else len(norm.bands)
    g_path, d_path, history = config.out / "checkpoint.keras", config.out / "checkpoint_discriminator.keras", \
        config.out / "history.csv"
    initial_epoch = 0
    if config.resume and g_path.exists() and d_path.exists() and history.exists():
        generator = keras.saving.load_model(g_path, compile=False, safe_mode=True)
        discriminator = keras.saving.load_model(d_path, compile=False, safe_mode=True)
        with open(history) as f:
            initial_epoch = sum(1 for _ in csv.DictReader(f))
        print(f"resuming from {g_path} after epoch {initial_epoch}", file=sys.stderr)
    else:
        generator = build_unet(bands=channels, base_filters=config.base_filters, depth=config.depth, name="generator")
        discriminator = build_patch_discriminator(channels, base_filters=config.disc_filters)
    trainer = AdversarialTrainer(generator, discriminator, lr=config.lr, pixel_weight=config.pixel_weight)
    train = PatchDataset(splits["train"], norm, "fine", config.batch_size, augment=True, shuffle=True, seed=config.seed,
                         inputs=inputs)
    shown = (splits["val"] or splits["train"])[:3]

    def render(epoch: int) -> None:
        generator.save(g_path)
        discriminator.save(d_path)
        rows = []
        for sample in shown:
            condition = (PatchDataset([sample], norm, "fine", 1, inputs=inputs)[0][0])
            pred = np.asarray(generator.predict_on_batch(condition))[0].argmax(-1)
            rows.append({"image": rgb(sample.image(("B2", "B3", "B4"))), "coarse input": sample.labels("coarse"),
                         "prediction": pred, "reference": sample.labels("fine")})
        side_by_side(config.out / "samples.png", rows, ["image", "coarse input", "prediction", "reference"])

    trainer.fit(train, config.epochs, config.out, initial_epoch=initial_epoch, render=render)
    plot_gan_curves(history, config.out / "learning_curve.png")
    return generator, {"size_multiple": 2**config.depth, "base_filters": config.base_filters, "depth": config.depth,
                       "epochs": config.epochs, "lr": config.lr, "batch_size": config.batch_size,
                       "pixel_weight": config.pixel_weight, "disc_filters": config.disc_filters}


def train_bagofcolours(config: TrainConfig, splits: dict, norm: Normalisation) -> tuple[Any, dict]:
    """Fit the colour vocabulary and the random forest on every training patch."""
    images, refs = load_arrays(splits["train"], norm, config.labels or "fine")
    params = {"words": config.words, "segments": config.segments, "trees": config.trees, "n_jobs": config.n_jobs,
              "seed": config.seed}
    model = BagOfColours(words=config.words, segments=config.segments, trees=config.trees, n_jobs=config.n_jobs,
                         seed=config.seed).fit(images, refs, progress=lambda it: tqdm(it, desc="segments", file=sys.stderr))
    return model, {"bagofcolours": params, "size_multiple": 1}
