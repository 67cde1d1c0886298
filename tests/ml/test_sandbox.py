"""ml.sandbox under a real bubblewrap (issue 26, item 3): a submitted model's predictions made inside equal those
of ONNX Runtime run directly; and a process inside that tries what a hostile model's code would — read a label
file it was not given, open a socket, change the code it runs, take all memory, spin forever, fill the disk,
never end — is stopped, each by its own wall with the limit named (a write elsewhere lands in its own /tmp and
vanishes with it)."""
from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ml import sandbox
from ml.sandbox_runner import predict as predict_direct
from tests.conftest import skip_or_fail
from tests.ml.test_submissions import CARD, saved, segmenter

LIMITS = sandbox.Limits(cpu_seconds=3, wall_seconds=10, memory_mb=1024, output_mb=8)
TIGHT = sandbox.Limits(cpu_seconds=1, wall_seconds=3, memory_mb=1024, output_mb=8)  # hostile code: quick walls


@pytest.fixture(autouse=True)
def needs_bubblewrap():
    if shutil.which("bwrap") is None:
        skip_or_fail("bubblewrap is not installed (apt-get install bubblewrap)")


def test_a_model_predicts_inside_exactly_as_outside(tmp_path):
    model = saved(segmenter(), tmp_path)
    (tmp_path / "card.json").write_text(json.dumps(CARD))
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(2)
    for k, (h, w) in enumerate([(64, 64), (100, 70)]):  # one tile, and one padded at its edges
        np.save(images / f"image-{k}.npy", rng.integers(0, 4000, (4, h, w)).astype(np.uint16))
    outcome = sandbox.predict(model, tmp_path / "card.json", images, tmp_path / "out", LIMITS)
    assert outcome.ok, outcome.stderr
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for path in sorted(images.glob("*.npy")):
        inside = np.load(tmp_path / "out" / path.name)
        assert inside.dtype == np.uint8 and set(np.unique(inside)) <= {1, 10}
        assert np.array_equal(inside, predict_direct(session, CARD, np.load(path)))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["image-0.npy", "image-1.npy"]


def test_what_hostile_code_tries_is_stopped_each_by_its_own_wall(tmp_path):
    secret = tmp_path / "labels.tif"
    secret.write_text("the reference labels")
    out = tmp_path / "out"
    out.mkdir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    attempts = {
        "read the labels": (f"print(open({str(secret)!r}).read())", None, "FileNotFoundError"),
        "open a socket": (f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)", None,
                          "ConnectionRefusedError"),
        "change the code it runs": (f"open({str(Path(sys.prefix) / 'planted.py')!r}, 'w').write('x')", None,
                                    "Read-only file system"),
        "take all memory": ("x = bytearray(3 * 2**30)", "memory", "MemoryError"),
        "spin forever": ("while True: pass", "CPU time", ""),
        "fill the disk": (f"open({str(out / 'big.bin')!r}, 'wb').write(b'0' * 64 * 2**20)", "output size",
                          "File too large"),
        "never end": ("import time; time.sleep(60)", "wall time", ""),
    }
    planted = f"open({str(tmp_path / 'planted.py')!r}, 'w').write('x')"  # its own /tmp: gone with it
    assert sandbox.run([sys.executable, "-I", "-c", planted], [], out, TIGHT).ok
    try:
        for name, (code, limit, words) in attempts.items():
            outcome = sandbox.run([sys.executable, "-I", "-c", code], [], out, TIGHT)
            assert not outcome.ok and outcome.limit == limit and words in outcome.stderr, (name, outcome)
    finally:
        listener.close()
    assert not (tmp_path / "planted.py").exists() and not (Path(sys.prefix) / "planted.py").exists()
    assert (out / "big.bin").stat().st_size <= 8 * 2**20  # cut at the output limit


def test_without_bubblewrap_nothing_runs(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxError, match="bubblewrap is not installed"):
        sandbox.run([sys.executable, "-c", "print(1)"], [], tmp_path)
