"""CORINE Land Cover classes in our simplified-IGBP codes, and the patch-level check of a model on the
BigEarthNet patches against their CORINE labels.

    python -m ml.corine MODEL_DIR [--bigearthnet data/real/bigearthnet] [--min-share 10]

BigEarthNet labels each 1.2 km patch with the CORINE (CLC 2018, level 3) classes present in it, not per
pixel, so the check is at patch level: for each patch, which of its CORINE classes (in our codes) the
model's map holds at ≥ `min-share` % of the patch ("found"), and whether the map's dominant class is one
of them. The mapping is ours and judgement: classes that straddle two of ours (green urban areas,
agro-forestry, burnt areas, salines) are left out (None) rather than guessed.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import rasterio

from .classes import DFC_NAMES
from .modelio import Predictor, load_model
from .predict import predict_scene

FOREST, SHRUB, GRASS, WETLAND, CROP, URBAN, SNOW, BARREN, WATER = 1, 2, 4, 5, 6, 7, 8, 9, 10
CORINE_TO_DFC: dict[str, int | None] = {
    "Continuous urban fabric": URBAN, "Discontinuous urban fabric": URBAN, "Industrial or commercial units": URBAN,
    "Road and rail networks and associated land": URBAN, "Port areas": URBAN, "Airports": URBAN,
    "Mineral extraction sites": BARREN, "Dump sites": BARREN, "Construction sites": URBAN,
    "Green urban areas": None, "Sport and leisure facilities": URBAN,
    "Non-irrigated arable land": CROP, "Permanently irrigated land": CROP, "Rice fields": CROP, "Vineyards": CROP,
    "Fruit trees and berry plantations": CROP, "Olive groves": CROP, "Pastures": GRASS,
    "Annual crops associated with permanent crops": CROP, "Complex cultivation patterns": CROP,
    "Land principally occupied by agriculture, with significant areas of natural vegetation": CROP,
    "Agro-forestry areas": None,
    "Broad-leaved forest": FOREST, "Coniferous forest": FOREST, "Mixed forest": FOREST,
    "Natural grassland": GRASS, "Moors and heathland": SHRUB, "Sclerophyllous vegetation": SHRUB,
    "Transitional woodland/shrub": SHRUB,
    "Beaches, dunes, sands": BARREN, "Bare rock": BARREN, "Sparsely vegetated areas": BARREN, "Burnt areas": None,
    "Glaciers and perpetual snow": SNOW,
    "Inland marshes": WETLAND, "Peatbogs": WETLAND, "Salt marshes": WETLAND, "Salines": None,
    "Intertidal flats": WETLAND,
    "Water courses": WATER, "Water bodies": WATER, "Coastal lagoons": WATER, "Estuaries": WATER,
    "Sea and ocean": WATER,
}


def corine_codes(labels: Sequence[str]) -> set[int]:
    """Our codes of a patch's CORINE labels (classes without a clear match are left out)."""
    return {code for label in labels if (code := CORINE_TO_DFC.get(label)) is not None}


def check_patch(predictor: Predictor, image: Path, min_share: float = 10.0) -> dict:
    """One BigEarthNet patch: its CORINE classes in our codes, the map's class shares, what was found."""
    with rasterio.open(image) as src:
        tags = src.tags()
    labels = json.loads(tags.get("CORINE_LABELS", "[]"))
    offset = float(tags.get("DN_OFFSET", 0)) or None
    with tempfile.TemporaryDirectory() as tmp:
        result = predict_scene(image, Path(tmp) / "map.tif", predictor, dn_offset=offset)
    shares = {r["code"]: r["percent"] for r in result.statistics if r["pixels"]}
    expected = corine_codes(labels)
    mapped = {code for code, share in shares.items() if share >= min_share}
    dominant = max(shares, key=lambda c: shares[c]) if shares else None
    return {"patch": image.stem, "corine": labels, "expected": sorted(expected),
            "shares": {DFC_NAMES[c]: round(v, 1) for c, v in sorted(shares.items())},
            "found": sorted(expected & mapped), "recall": len(expected & mapped) / len(expected) if expected else None,
            "dominant": DFC_NAMES[dominant] if dominant else None,
            "dominant_in_corine": dominant in expected if dominant else False}


def markdown(rows: list[dict], model: str, min_share: float) -> str:
    """The per-patch table and the summary."""
    lines = [f"| patch | CORINE labels → our classes | {model}'s map (% of patch) | found (≥ {min_share:g} %) | "
             "dominant class in CORINE set |", "|---|---|---|---|---|"]
    for r in rows:
        expected = ", ".join(DFC_NAMES[c] for c in r["expected"]) or "—"
        shares = ", ".join(f"{k} {v}" for k, v in sorted(r["shares"].items(), key=lambda kv: -kv[1]))
        found = f"{len(r['found'])}/{len(r['expected'])}"
        lines.append(f"| {r['patch']} | {expected} | {shares} | {found} | {'yes' if r['dominant_in_corine'] else 'no'} |")
    scored = [r for r in rows if r["expected"]]
    recall = sum(len(r["found"]) for r in scored) / max(1, sum(len(r["expected"]) for r in scored))
    dominant = sum(r["dominant_in_corine"] for r in scored)
    lines += ["", f"CORINE classes found in the map: {100 * recall:.0f} % ({sum(len(r['found']) for r in scored)} of "
                  f"{sum(len(r['expected']) for r in scored)}); dominant class among the patch's CORINE classes: "
                  f"{dominant} of {len(scored)} patches."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: check one model on every BigEarthNet patch."""
    parser = argparse.ArgumentParser(prog="python -m ml.corine", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--bigearthnet", type=Path, default=Path("data/real/bigearthnet"))
    parser.add_argument("--min-share", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    patches = sorted(args.bigearthnet.glob("*.tif"))
    if not patches:
        print(f"error: no BigEarthNet patches in {args.bigearthnet}; run `python -m ml.realdata fetch`", file=sys.stderr)
        return 2
    predictor = load_model(args.model)
    rows = [check_patch(predictor, p, args.min_share) for p in patches]
    print(markdown(rows, predictor.card.get("name") or args.model.name, args.min_share))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
