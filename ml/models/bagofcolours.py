"""Bag of colours + random forest.

1. Vocabulary: k-means (default 80 words) over normalised R, G, B, NIR pixels of the training images.
2. Segments: each image is split into (default 20) segments by k-means on its own pixels' colours —
   variable in size and not necessarily contiguous.
3. Features: each segment's normalised histogram of colour words.
4. A random forest (default 1000 trees) labels each segment with the majority class of its pixels
   in training, and the segment's label is painted on its pixels at prediction.
Vectorised with NumPy; scikit-learn's k-means and forest use `n_jobs` cores.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.ensemble import RandomForestClassifier

from ..classes import IGNORE, N_MODEL_CLASSES


@dataclass
class BagOfColours:
    """Colour-word histograms of SLIC-like segments, classified by a random forest."""
    words: int = 80
    segments: int = 20
    trees: int = 1000
    n_jobs: int = -1
    seed: int = 0
    segment_sample: int = 4096
    vocabulary: np.ndarray | None = None
    forest: RandomForestClassifier | None = field(default=None, repr=False)

    # -- features ---------------------------------------------------------
    def _fitted_vocabulary(self) -> np.ndarray:
        if self.vocabulary is None:
            raise ValueError("the bag-of-colours model is not fitted (no vocabulary)")
        return self.vocabulary

    def _word_map(self, pixels: np.ndarray) -> np.ndarray:
        """Nearest vocabulary word of each pixel (N, bands) → (N,), in blocks to bound memory."""
        voc = self._fitted_vocabulary()
        voc_sq = (voc**2).sum(axis=1)
        out = np.empty(len(pixels), np.int32)
        for start in range(0, len(pixels), 65536):
            chunk = pixels[start:start + 65536]
            d = voc_sq[None, :] - 2.0 * chunk @ voc.T
            out[start:start + 65536] = d.argmin(axis=1)
        return out

    def _segment(self, pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = min(self.segments, len(pixels))
        sample = pixels[rng.choice(len(pixels), size=min(self.segment_sample, len(pixels)), replace=False)]
        km = KMeans(n_clusters=n, n_init=1, max_iter=30, random_state=int(rng.integers(2**31))).fit(sample)
        centres = km.cluster_centers_.astype(np.float32)
        d = (centres**2).sum(1)[None, :] - 2.0 * pixels @ centres.T
        return d.argmin(axis=1).astype(np.int32)

    def image_features(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(segments, words) normalised word histograms and the (H*W,) segment of each pixel."""
        pixels = image.reshape(-1, image.shape[-1]).astype(np.float32)
        words = self._word_map(pixels)
        segments = self._segment(pixels, rng)
        n_seg = int(segments.max()) + 1
        hist = np.bincount(segments * self.words + words, minlength=n_seg * self.words).reshape(n_seg, self.words)
        hist = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)
        return hist.astype(np.float32), segments

    # -- training and prediction ------------------------------------------
    def fit(self, images: np.ndarray, labels: np.ndarray,
            progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None) -> BagOfColours:
        """Learn the colour vocabulary and fit the forest on (N, H, W, bands) images and their labels."""
        rng = np.random.default_rng(self.seed)
        pixels = images.reshape(-1, images.shape[-1]).astype(np.float32)
        sample = pixels[rng.choice(len(pixels), size=min(200_000, len(pixels)), replace=False)]
        self.vocabulary = MiniBatchKMeans(n_clusters=self.words, n_init=3, random_state=self.seed,
                                          batch_size=4096).fit(sample).cluster_centers_.astype(np.float32)
        features, targets = [], []
        iterator = range(len(images)) if progress is None else progress(range(len(images)))
        for i in iterator:
            hist, segments = self.image_features(images[i], rng)
            flat = labels[i].ravel().astype(np.int64)
            valid = flat != IGNORE
            counts = np.zeros((hist.shape[0], N_MODEL_CLASSES), np.int64)
            np.add.at(counts, (segments[valid], flat[valid]), 1)
            keep = counts.sum(axis=1) > 0
            features.append(hist[keep])
            targets.append(counts[keep].argmax(axis=1))
        self.forest = RandomForestClassifier(n_estimators=self.trees, n_jobs=self.n_jobs, random_state=self.seed)
        self.forest.fit(np.concatenate(features), np.concatenate(targets))
        return self

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, 8) one-hot-like class probabilities: each segment gets its forest probabilities."""
        if self.forest is None:
            raise RuntimeError("the bag-of-colours model is not trained")
        rng = np.random.default_rng(self.seed + 1)
        n, h, w, _ = images.shape
        out = np.zeros((n, h * w, N_MODEL_CLASSES), np.float32)
        for i in range(n):
            hist, segments = self.image_features(images[i], rng)
            proba = np.zeros((hist.shape[0], N_MODEL_CLASSES), np.float32)
            proba[:, self.forest.classes_] = self.forest.predict_proba(hist)
            out[i] = proba[segments]
        return out.reshape(n, h, w, N_MODEL_CLASSES)

    # -- persistence (skops: no pickle) -----------------------------------
    def save(self, folder: Path) -> list[str]:
        """Write the vocabulary (NumPy) and the forest (skops, no pickle); the file names."""
        import skops.io as sio

        np.save(Path(folder) / "vocabulary.npy", self._fitted_vocabulary())
        sio.dump(self.forest, Path(folder) / "forest.skops")
        return ["vocabulary.npy", "forest.skops"]

    @classmethod
    def load(cls, folder: Path, params: dict) -> BagOfColours:
        """Load a saved model, accepting only the types a random forest is made of."""
        import skops.io as sio

        path = Path(folder) / "forest.skops"
        allowed = {"sklearn.ensemble._forest.RandomForestClassifier", "sklearn.tree._classes.DecisionTreeClassifier",
                   "sklearn.tree._tree.Tree", "numpy.dtype"}
        untrusted = set(sio.get_untrusted_types(file=path))
        unexpected = untrusted - allowed
        if unexpected:
            raise ValueError(f"{path}: holds unexpected types {sorted(unexpected)}; refusing to load it")
        forest = sio.load(path, trusted=sorted(untrusted))
        # skops trusts scikit-learn's own types by default: also check it is the forest we expect.
        if not isinstance(forest, RandomForestClassifier):
            raise ValueError(f"{path}: holds a {type(forest).__name__}, not a random forest; refusing to use it")
        model = cls(**params)
        model.vocabulary = np.load(Path(folder) / "vocabulary.npy", allow_pickle=False)
        model.forest = forest
        return model
