"""train → evaluate through the command lines; resume; ml/ never imports Django."""
import csv
import re
import shutil
import subprocess
import sys

from ml.engines import quantise
from ml.evaluate import main as evaluate
from ml.synthetic import make_scene
from ml.train import main as train
from tests.conftest import ROOT


def test_evaluate_compares_models(tiny_unet, tiny_boc, synthetic_tree, tmp_path, capsys):
    out = tmp_path / "eval"
    assert evaluate([str(tiny_unet), str(tiny_boc), "--dataset", "synthetic", "--data", str(synthetic_tree),
                     "--out", str(out)]) == 0
    table = (out / "comparison.md").read_text()
    assert re.search(rf"\| {tiny_unet.name} \| unet \| \d+\.\d\d \|", table)
    assert re.search(rf"\| {tiny_boc.name} \| bagofcolours \|", table)
    for name in (tiny_unet.name, tiny_boc.name):
        assert (out / f"{name}.md").exists() and (out / f"{name}_confusion.png").exists()
        assert (out / f"{name}.csv").read_text().startswith("class,support,IoU")


def test_training_resumes_from_its_checkpoint(synthetic_tree, tmp_path):
    args = ["unet", "--dataset", "synthetic", "--data", str(synthetic_tree), "--out", str(tmp_path),
            "--base-filters", "4", "--depth", "2", "--batch-size", "8", "--max-patches", "8"]
    assert train([*args, "--epochs", "1"]) == 0
    assert train([*args, "--epochs", "2", "--resume"]) == 0
    with open(tmp_path / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]


def test_ml_does_not_import_django():
    for path in (ROOT / "ml").rglob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+django", path.read_text(), re.M), path


def test_evaluating_on_a_fast_engine_never_imports_tensorflow(tiny_unet, synthetic_tree, tmp_path):
    """Issue 23 #13: ml.evaluate read patches through a Keras dataset, so TensorFlow was loaded (0.9–1.2 GB) even
    for a model run by ONNX Runtime or OpenVINO; ml.predict never did. Run in a fresh process to see imports."""
    folder = tmp_path / "unet"
    shutil.copytree(tiny_unet, folder)
    scene = make_scene(tmp_path / "scene.tif", 96, 96, seed=3)
    quantise(folder, [scene], [scene], tiles=2, min_agreement=0.0)
    script = ("import sys; from ml.evaluate import main; "
              f"code = main([{str(folder)!r}, '--engine', 'int8', '--dataset', 'synthetic', '--data', "
              f"{str(synthetic_tree)!r}, '--split', 'test', '--out', {str(tmp_path / 'report')!r}]); "
              "print('TF' if 'tensorflow' in sys.modules else 'no TF'); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "no TF"
