import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, jaccard_score

from ml.metrics import ConfusionMatrix, plot_confusion


def test_hand_computed_case():
    ref = np.array([0, 0, 0, 1, 1, 2, 255])
    pred = np.array([0, 0, 1, 1, 2, 2, 0])
    s = ConfusionMatrix(3).update(ref, pred).scores()
    # class 0: TP 2, FP 0, FN 1 → IoU 2/3, F1 4/5; class 1: TP 1, FP 1, FN 1 → 1/3, 1/2; class 2: TP 1, FP 1, FN 0 → 1/2, 2/3
    assert s.iou == pytest.approx([2 / 3, 1 / 3, 1 / 2])
    assert s.f1 == pytest.approx([4 / 5, 1 / 2, 2 / 3])
    assert s.overall_accuracy == pytest.approx(4 / 6)
    assert s.average_accuracy == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert s.mean_iou == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)


def test_means_skip_classes_absent_from_the_reference():
    s = ConfusionMatrix(4).update([0, 0, 1], [0, 3, 1]).scores()
    assert s.support.tolist() == [2, 1, 0, 0]
    assert s.mean_iou == pytest.approx((0.5 + 1.0) / 2)


def test_streaming_matches_scikit_learn():
    rng = np.random.default_rng(0)
    cm = ConfusionMatrix(8)
    refs, preds = [], []
    for _ in range(5):
        ref = rng.integers(0, 8, 5000)
        pred = np.where(rng.random(5000) < 0.6, ref, rng.integers(0, 8, 5000))
        cm.update(ref, pred)
        refs.append(ref)
        preds.append(pred)
    ref, pred = np.concatenate(refs), np.concatenate(preds)
    s = cm.scores()
    assert (cm.matrix == confusion_matrix(ref, pred, labels=range(8))).all()
    assert s.iou == pytest.approx(jaccard_score(ref, pred, average=None))
    assert s.f1 == pytest.approx(f1_score(ref, pred, average=None))
    assert s.mean_f1 == pytest.approx(f1_score(ref, pred, average="macro"))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="differ in size"):
        ConfusionMatrix(3).update([0, 1], [0])
    with pytest.raises(ValueError, match="outside 0..2"):
        ConfusionMatrix(3).update([0, 1], [0, 7])


def test_reports(tmp_path):
    cm = ConfusionMatrix(2).update([0, 1, 1], [0, 1, 0])
    names = ["Forest", "Water"]
    md = cm.scores().to_markdown(names)
    assert "| Forest | 1 | 50.00 |" in md and "Overall accuracy 66.67 %" in md
    assert cm.scores().to_csv(names).splitlines()[0] == "class,support,IoU,F1,precision,recall"
    plot_confusion(cm.matrix, names, tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
