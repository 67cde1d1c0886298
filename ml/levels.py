"""Which Sentinel-2 processing level an image holds, and what that means for the model and engine mapping it.

Why: a model trained on top-of-atmosphere reflectance (L1C, as Dynamic World is) maps surface reflectance
(L2A) without any error, only with shifted classes; and a fast engine's fidelity measured on one level says
nothing of the other (on a real L2A chip Dynamic World's bf16 engine agreed with float32 on 99.12 % of pixels,
below `ml.engines.MIN_AGREEMENT`, while it keeps 99.9 % on L1C). So the level is read from the image (its tags,
its name, its band layout), a mismatch with the model's card is said in words, and an engine whose fidelity was
not measured on that level gives way to float32.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import rasterio
from rasterio.errors import RasterioIOError

from .bands import file_band_names

if TYPE_CHECKING:
    from .modelio import Predictor

LEVEL_TAGS = ("PROCESSING_LEVEL", "LEVEL", "PRODUCT_TYPE", "S2_PRODUCT_TYPE", "PRODUCT_URI", "PRODUCT_ID")
MEANING = {"L1C": "top-of-atmosphere reflectance", "L2A": "surface reflectance"}
# "L2A", "Level-2A", "MSIL2A" (a product name), "…_l1c.tif"; never the "2A" of "S2A".
_PATTERN = re.compile(r"(?i)(?:level[-_ ]?|msil|(?<![a-z0-9])l)([12][ac])(?![a-z0-9])")


def level_from_text(text: str) -> str | None:
    """The level a tag value or file name names ("L2A", "Level-2A", "S2B_MSIL1C_…", "2A"), else None."""
    text = text.strip()
    if text.upper() in ("1C", "2A"):
        return "L" + text.upper()
    found = {m.group(1).upper() for m in _PATTERN.finditer(text)}
    return "L" + found.pop() if len(found) == 1 else None


def image_level(tags: dict, descriptions: Sequence[str | None], count: int, name: str) -> str | None:
    """The level of an image from its tags, else its name, else its bands (B10, the cirrus band, is in L1C
    products alone; twelve Sentinel-2 bands without it are L2A), else None (four or ten bands say nothing)."""
    for key in LEVEL_TAGS:
        level = level_from_text(str(tags.get(key, "")))
        if level:
            return level
    level = level_from_text(name)
    if level:
        return level
    try:
        bands = file_band_names(descriptions, count, name)
    except ValueError:
        return None
    if "B10" in bands:
        return "L1C"
    return "L2A" if len(bands) == 12 else None


def file_level(path: Path) -> str | None:
    """The level of a GeoTIFF (`image_level`); None when it cannot be read (the mapping says why later)."""
    try:
        with rasterio.open(path) as src:
            return image_level(src.tags(), src.descriptions, src.count, Path(path).name)
    except RasterioIOError:
        return None


def measured_levels(card: dict, engine: str) -> set[str] | None:
    """The levels an engine's fidelity was measured on: the card's record (`ml.engines.quantise` writes it),
    else the levels the measured files' names give, else the model's own level; None when unknown."""
    entry = card.get("engines", {}).get(engine) or {}
    if entry.get("levels"):
        return set(entry["levels"])
    named = [level_from_text(str(name)) for name in entry.get("measured_on", [])]
    if named and all(named):
        return set(named)  # type: ignore[arg-type]  # all() above: no None left
    return {card["level"]} if card.get("level") in MEANING else None


def fit_to_level(predictor: Predictor, level: str | None,
                 load: Callable[[str], Predictor]) -> tuple[Predictor, list[str]]:
    """The predictor to map an image of `level` with, and the warnings to give: a model trained on another
    level, and an engine not measured on this one (then `load("float32")` replaces it)."""
    if predictor.input_kind != "image" or level is None:
        return predictor, []
    name = predictor.card.get("name") or predictor.folder.name
    warnings = []
    if predictor.level in MEANING and predictor.level != level:
        warnings.append(f"This image is Sentinel-2 {level} ({MEANING[level]}) but {name} was trained on "
                        f"{predictor.level} ({MEANING[predictor.level]}): its classes may be shifted. Give it "
                        f"{predictor.level} imagery for a map you can trust.")
    if predictor.engine != "float32":
        levels = measured_levels(predictor.card, predictor.engine)
        if levels is not None and level not in levels:
            warnings.append(f"The {predictor.engine} engine's agreement with float32 was measured on "
                            f"{', '.join(sorted(levels))} images only, not {level}: this map was made in float32.")
            predictor = load("float32")
    return predictor, warnings
