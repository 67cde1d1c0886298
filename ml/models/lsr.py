"""Label super-resolution (Malkin et al., 2018, "Label super-resolution networks"): train a
segmentation network for fine (10 m) classes from coarse (500 m) labels only.

Notation of the paper. The coarse label map splits the image into blocks b (here `block`×`block`
pixels, 50 for SEN12MS's 500 m MODIS on the 10 m grid), each with one coarse class z_b. For
each pair (fine class c, coarse class z), the share of fine class c in a block of coarse class z
is modelled as a Gaussian with mean μ_{c,z} and variance σ²_{c,z} (estimated from data or given
as priors; `label_statistics`). The network outputs per-pixel class probabilities p_{i,c}.
The fine-class count in block b is a sum of independent Bernoulli variables, approximated by a
Gaussian; as a share of the block's N pixels:

    μ_net(b, c) = (1/N) Σ_{i∈b} p_{i,c}
    σ²_net(b, c) = (1/N²) Σ_{i∈b} p_{i,c} (1 − p_{i,c})

Matching it with the target distribution η = μ_{c,z_b}, ρ² = σ²_{c,z_b} gives, per block, the
negative log-likelihood (the paper's "statistics matching" loss)

    L_b = Σ_c [ ½ (μ_net(b,c) − η)² / (σ²_net(b,c) + ρ²) + ½ log 2π(σ²_net(b,c) + ρ²) ]

averaged over blocks. The loss windows are `block`-pixel squares from the patch's corner; a
patch need not be aligned with the coarse grid (SEN12MS patches are not), so a window may
straddle coarse cells: it then gets the area-weighted mixture of their targets,
η = Σ_z a_z μ_{c,z}, ρ² = Σ_z a_z σ²_{c,z} (a_z: share of the window labelled z). Windows
holding unknown labels are skipped. Without this, a 256-px patch off the grid by 6 px had no
whole block at all. No pixel-level fine label is ever used in training.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from ..classes import IGNORE, N_MODEL_CLASSES

VARIANCE_FLOOR = 5e-3  # shares are estimated from few blocks: never trust them to better than ±7 %
PRIOR_BLOCKS = 4       # the prior counts as this many blocks (shrinkage of sparse estimates)


@keras.saving.register_keras_serializable(package="hrmars")
class LabelSuperResolutionLoss(keras.losses.Loss):
    """y_true: (B, H, W) coarse class indexes (IGNORE where unknown); y_pred: (B, H, W, C) probabilities."""

    def __init__(self, means: Any, variances: Any, block: int = 50, name: str = "label_super_resolution", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.means = np.asarray(means, np.float32)          # [z, c]
        self.variances = np.asarray(variances, np.float32)  # [z, c]
        self.block = int(block)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The mean per-block loss of a batch (coarse labels, predicted probabilities)."""
        n_classes = self.means.shape[1]
        y_true = ops.cast(y_true, "int32")
        valid = ops.cast(ops.not_equal(y_true, IGNORE), "float32")
        coarse = ops.one_hot(ops.where(ops.not_equal(y_true, IGNORE), y_true, 0), n_classes) * valid[..., None]

        def pool(x: Any) -> Any:
            return ops.average_pool(x, pool_size=self.block, strides=self.block, padding="valid")

        share = pool(coarse)                                              # (B, h, w, C): coarse classes per block
        mu_net = pool(y_pred)
        var_net = pool(y_pred * (1.0 - y_pred)) / float(self.block * self.block)
        # A window that straddles coarse cells (patches are not aligned with the MODIS grid) gets
        # the mixture of their targets, weighted by area; windows with unknown labels are skipped.
        whole = ops.cast(ops.sum(share, axis=-1) > 0.999, "float32")
        eta = ops.matmul(share, ops.convert_to_tensor(self.means))          # (B, h, w, C)
        rho2 = ops.matmul(share, ops.convert_to_tensor(self.variances))
        s2 = var_net + rho2
        nll = 0.5 * ops.square(mu_net - eta) / s2 + 0.5 * ops.log(2.0 * math.pi * s2)
        per_block = ops.sum(nll, axis=-1)
        return ops.sum(per_block * whole) / ops.maximum(ops.sum(whole), 1.0)

    def get_config(self) -> dict:
        """What Keras stores to rebuild the loss."""
        return {**super().get_config(), "means": self.means.tolist(), "variances": self.variances.tolist(),
                "block": self.block}


def prior_statistics(n_classes: int = N_MODEL_CLASSES, agreement: float = 0.7, variance: float = 0.04
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Without data: a block of coarse class z is mostly fine class z, the rest spread evenly."""
    means = np.full((n_classes, n_classes), (1 - agreement) / (n_classes - 1), np.float32)
    np.fill_diagonal(means, agreement)
    return means, np.full((n_classes, n_classes), variance, np.float32)


def label_statistics(pairs: Sequence[tuple[np.ndarray, np.ndarray]], block: int = 50,
                     n_classes: int = N_MODEL_CLASSES, prior_blocks: float = PRIOR_BLOCKS
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """μ_{c,z}, σ²_{c,z} from (coarse, fine) index maps: the shares of each fine class in the blocks
    of each coarse class, shrunk towards the prior as if it were `prior_blocks` more blocks (a
    coarse class seen in two blocks should not get near-zero variances). Coarse classes never
    seen keep the prior."""
    shares: list[list[np.ndarray]] = [[] for _ in range(n_classes)]
    for coarse, fine in pairs:
        h, w = coarse.shape
        for r in range(0, h - block + 1, block):
            for c in range(0, w - block + 1, block):
                zb = coarse[r:r + block, c:c + block]
                fb = fine[r:r + block, c:c + block]
                known = fb[fb != IGNORE]
                if zb.min() != zb.max() or zb[0, 0] == IGNORE or known.size < block * block // 2:
                    continue
                shares[int(zb[0, 0])].append(np.bincount(known, minlength=n_classes)[:n_classes] / known.size)
    prior_means, prior_variances = prior_statistics(n_classes)
    means, variances = prior_means.copy(), prior_variances.copy()
    counts = np.zeros(n_classes, np.int64)
    for z, rows in enumerate(shares):
        counts[z] = n = len(rows)
        if n:
            stacked = np.stack(rows)
            w = n / (n + prior_blocks)
            means[z] = w * stacked.mean(axis=0) + (1 - w) * prior_means[z]
            # Pooled: spread of the data around the shrunk mean, and the prior's variance.
            variances[z] = w * ((stacked - means[z]) ** 2).mean(axis=0) + (1 - w) * prior_variances[z]
    return means, np.maximum(variances, VARIANCE_FLOOR).astype(np.float32), counts
