"""train → evaluate through the command lines; resume; ml/ never imports Django."""
import csv
import re

from ml.evaluate import main as evaluate
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
