"""The program a submitted model runs in inside the sandbox (`ml.sandbox`): a standalone script, started as
`python -I ml/sandbox_runner.py MODEL CARD IMAGES OUT`, importing numpy and ONNX Runtime alone (nothing of ours,
nothing that reads settings or the network).

Each IMAGES/<name>.npy is one image (bands × height × width, Sentinel-2 DNs, the card's bands in its order, as the
trusted side prepared it); it is normalised as the card says ((DN / 10000 − mean) / std), cut into tiles of the
card's input size (padded by reflection at the edges), and each tile's class scores taken to the card's class
codes by their argmax. OUT/<name>.npy gets the uint8 codes; nothing else is written.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


def predict(session: ort.InferenceSession, card: dict, image: np.ndarray) -> np.ndarray:
    """The class codes of one image (bands, H, W)."""
    size = int(card["input_size"])
    mean = np.array(card["normalisation"]["mean"], np.float32)[:, None, None]
    std = np.array(card["normalisation"]["std"], np.float32)[:, None, None]
    codes = np.array([c["code"] for c in card["classes"]], np.uint8)
    x = (image.astype(np.float32) / 10000 - mean) / std
    bands, h, w = x.shape
    ph, pw = -(-h // size) * size, -(-w // size) * size
    x = np.pad(x, ((0, 0), (0, ph - h), (0, pw - w)), mode="reflect")
    entry = session.get_inputs()[0]
    channels_first = entry.shape[1] == bands
    out = np.zeros((ph, pw), np.uint8)
    for y in range(0, ph, size):
        for x0 in range(0, pw, size):
            tile = x[:, y:y + size, x0:x0 + size][None]
            feed = tile if channels_first else np.moveaxis(tile, 1, -1)
            scores = session.run(None, {entry.name: np.ascontiguousarray(feed, np.float32)})[0][0]
            axis = 0 if scores.shape[0] == len(codes) else -1
            out[y:y + size, x0:x0 + size] = codes[scores.argmax(axis=axis)]
    return out[:h, :w]


def main(argv: list[str]) -> int:
    """Map every image with the model; 0 when all are written."""
    model, card_path, images, out = (Path(a) for a in argv)
    card = json.loads(card_path.read_text())
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    for path in sorted(images.glob("*.npy")):
        np.save(out / path.name, predict(session, card, np.load(path, allow_pickle=False)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
