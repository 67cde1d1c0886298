"""The program a submitted model runs in inside the sandbox (`ml.sandbox`): a standalone script importing numpy and
ONNX Runtime alone (nothing of ours, nothing that reads settings or the network). Two ways to start it:

- `python -I ml/sandbox_runner.py MODEL CARD IMAGES OUT` (a competition's scoring): each IMAGES/<name>.npy is one
  image as the trusted side prepared it (`ml.scoring.prepare`): float32, bands × height × width, the card's bands in
  its order, already normalised as the card says (so this file holds no formula of its own). It is cut into tiles
  of the card's input size (padded by reflection at the edges), and each tile's class scores taken to the card's
  class codes by their argmax. OUT/<name>.npy gets the uint8 codes; nothing else is written.
- `python -I ml/sandbox_runner.py --serve MODEL CLASSES` (a promoted entry mapping for the site, `ml.sandbox.Session`):
  prepared batches (N, H, W, bands) come on stdin and their class scores (N, H, W, CLASSES) go back on stdout, each
  message an 8-byte little-endian length and a .npy; it ends when stdin closes.
"""
from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

THREADS = 1


def scores(session: ort.InferenceSession, batch: np.ndarray, classes: int) -> np.ndarray:
    """The model's class scores (N, H, W, classes) of a prepared batch (N, H, W, bands), whichever layout it takes."""
    entry = session.get_inputs()[0]
    channels_first = entry.shape[1] == batch.shape[-1]
    feed = np.moveaxis(batch, -1, 1) if channels_first else batch
    out = session.run(None, {entry.name: np.ascontiguousarray(feed, np.float32)})[0]
    if out.ndim == 4 and out.shape[1] == classes and (out.shape[-1] != classes or channels_first):
        return np.moveaxis(out, 1, -1)  # (N, classes, H, W)
    return out


def predict(session: ort.InferenceSession, card: dict, image: np.ndarray) -> np.ndarray:
    """The class codes of one prepared image (bands, H, W)."""
    size = int(card["input_size"])
    codes = np.array([c["code"] for c in card["classes"]], np.uint8)
    x = image.astype(np.float32, copy=False)
    bands, h, w = x.shape
    ph, pw = -(-h // size) * size, -(-w // size) * size
    x = np.pad(x, ((0, 0), (0, ph - h), (0, pw - w)), mode="reflect")
    out = np.zeros((ph, pw), np.uint8)
    for y in range(0, ph, size):
        for x0 in range(0, pw, size):
            tile = np.moveaxis(x[:, y:y + size, x0:x0 + size], 0, -1)[None]
            out[y:y + size, x0:x0 + size] = codes[scores(session, tile, len(codes))[0].argmax(axis=-1)]
    return out[:h, :w]


def session_of(model: Path) -> ort.InferenceSession:
    """ONNX Runtime on the CPU at the threads the sandbox pins (ORT_NUM_THREADS)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("ORT_NUM_THREADS", THREADS))
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def serve(session: ort.InferenceSession, classes: int) -> int:
    """Answer batches on stdin with their class scores on stdout until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return 0
        batch = np.load(io.BytesIO(stdin.read(int.from_bytes(head, "little"))), allow_pickle=False)
        buffer = io.BytesIO()
        np.save(buffer, scores(session, batch, classes).astype(np.float32), allow_pickle=False)
        data = buffer.getvalue()
        stdout.write(len(data).to_bytes(8, "little") + data)
        stdout.flush()


def main(argv: list[str]) -> int:
    """Map every image with the model (0 when all are written), or serve batches (`--serve`)."""
    if argv[0] == "--serve":
        return serve(session_of(Path(argv[1])), int(argv[2]))
    model, card_path, images, out = (Path(a) for a in argv)
    card = json.loads(card_path.read_text())
    session = session_of(model)
    for path in sorted(images.glob("*.npy")):
        np.save(out / path.name, predict(session, card, np.load(path, allow_pickle=False)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
