"""Inference engines: the float32 Keras/TensorFlow engine every model has; an int8 engine (ONNX Runtime,
static per-channel QDQ quantisation calibrated on real imagery); and a bf16 engine (OpenVINO, bfloat16 with
the full-resolution layers and the classifier in float32) — for the networks whose maps stay the same.

Why: on the project's 2-core CPU the float32 forward pass of our U-Nets already runs near the machine's
float32 matmul rate, so the only way past it is the CPU's int8 and bfloat16 instructions (AVX-512 VNNI and
BF16), which ONNX Runtime and OpenVINO use and TensorFlow's CPU build uses little. int8 suits our U-Nets;
Dynamic World loses a fifth of its pixels' classes in int8 (its Mish activations) but keeps them in bf16.
A faster engine is only worth having if the map does not change: `quantise` measures, on held-out real
imagery, the share of pixels whose class agrees with float32 and the largest probability difference,
writes both in the model card, and makes a faster engine the model's default only where agreement is at
least 99.5 % (`MIN_AGREEMENT`; int8 first, then bf16). The float32 engine always stays available.

    python -m ml.engines quantise MODEL_DIR --calibration IMAGE [IMAGE …] --held-out IMAGE [IMAGE …]

Files: `model.onnx` (the float32 network, exported with tf2onnx; the pretrained networks' softmax
included, so every engine gives probabilities; the bf16 engine compiles it) and `model.int8.onnx` beside
the model's own files; the card's `engines` holds each engine's fidelity and `default_engine` the engine
maps use unless told otherwise. Loading an ONNX file runs no code from it (ONNX Runtime and OpenVINO
execute graphs of their own operators).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from .classes import N_MODEL_CLASSES
from .errors import EngineError
from .levels import file_level
from .modelio import ModelFormatError, Predictor, load_model, read_card, write_card
from .predict import SceneError, validate_scene
from .runtime import (
    ENGINE_PREFERENCE,
    MIN_AGREEMENT,
    ONNX_FLOAT,
    ONNX_INT8,
    OnnxRunner,
    OpenVinoRunner,
    bf16_supported,
)

OPSET = 18  # ONNX Resize with antialias (Dynamic World's decoder) needs 18


def network_function(predictor: Predictor, jit_compile: bool = False) -> Any:
    """A tf.function from the prepared input to class probabilities (for export; `jit_compile`: XLA's)."""
    import tensorflow as tf

    model = predictor.model
    if predictor.method == "pretrained":  # a SavedModel's logits: the softmax goes into the export
        def call(x: Any) -> Any:
            out = model(x)
            logits = next(iter(out.values())) if isinstance(out, dict) else out
            return tf.nn.softmax(logits, axis=-1)
        return tf.function(call, jit_compile=jit_compile)
    return tf.function(lambda x: model(x, training=False), jit_compile=jit_compile)


def _scale_and_translate(ctx: Any, node: Any, name: str, args: Any) -> None:
    """TensorFlow's ScaleAndTranslate (tf.image.resize with antialias=True, in Dynamic World's decoder), which
    tf2onnx does not convert, as ONNX Resize: bilinear for the 'triangle' kernel, half-pixel centres as
    tf.image.resize uses, antialiased. `quantise` checks the float32 export against TensorFlow's output."""
    from onnx import TensorProto
    from tf2onnx import constants, utils

    kernel = node.attr["kernel_type"].s.decode() if "kernel_type" in node.attr else "lanczos3"
    if kernel != "triangle":
        raise EngineError(f"cannot export a {kernel!r} ScaleAndTranslate (only bilinear resizing) to ONNX")
    nchw = ctx.make_node("Transpose", [node.input[0]], {"perm": constants.NHWC_TO_NCHW})
    zero = ctx.make_const(utils.make_name("zero"), np.array([0], np.int64))
    two = ctx.make_const(utils.make_name("two"), np.array([2], np.int64))
    empty = ctx.make_const(utils.make_name("empty"), np.array([], np.float32))
    batch_channels = ctx.make_node("Slice", [ctx.make_node("Shape", [nchw.output[0]]).output[0], zero.output[0],
                                             two.output[0]])
    size = ctx.make_node("Cast", [node.input[1]], attr={"to": TensorProto.INT64})
    sizes = ctx.make_node("Concat", [batch_channels.output[0], size.output[0]], {"axis": 0})
    antialias = int(node.attr["antialias"].i) if "antialias" in node.attr else 1
    resize = ctx.make_node("Resize", [nchw.output[0], empty.output[0], empty.output[0], sizes.output[0]],
                           attr={"mode": "linear", "coordinate_transformation_mode": "half_pixel",
                                 "antialias": antialias})
    shapes, dtypes = node.output_shapes, node.output_dtypes
    ctx.remove_node(node.name)
    ctx.make_node("Transpose", resize.output, {"perm": constants.NCHW_TO_NHWC}, name=node.name, outputs=node.output,
                  shapes=shapes, dtypes=dtypes)


def export_onnx(predictor: Predictor, path: Path) -> Path:
    """The model's float32 network as ONNX (any batch, height and width)."""
    if predictor.method == "bagofcolours":
        raise EngineError("bag of colours is a random forest, not a network: it has only its own engine")
    import tensorflow as tf
    import tf2onnx

    channels = N_MODEL_CLASSES if predictor.input_kind == "coarse" else len(predictor.bands)
    spec = (tf.TensorSpec([None, None, None, channels], tf.float32, name="x"),)
    tf2onnx.convert.from_function(network_function(predictor), input_signature=spec, opset=OPSET,
                                  output_path=str(path),
                                  custom_op_handlers={"ScaleAndTranslate": (_scale_and_translate, [])})
    return Path(path)


def image_tiles(predictor: Predictor, images: Sequence[Path], size: int, limit: int) -> Iterator[np.ndarray]:
    """Prepared tiles (1, side, side, C) of real images, spread over each image, at most about `limit` in all;
    side is `size`, or less for a smaller image (a multiple of the model's size multiple). Images are read with
    the model's bands, the DN offset of an L2A file's DN_OFFSET tag applied."""
    per_image = max(1, limit // max(1, len(images)))
    for path in images:
        with rasterio.open(path) as src:
            indexes = validate_scene(src, predictor, Path(path).name)
            offset = float(src.tags().get("DN_OFFSET", 0) or 0) or None
            side = min(size, min(src.width, src.height) // predictor.size_multiple * predictor.size_multiple)
            if side <= 0:
                continue
            xs = np.linspace(0, src.width - side, max(1, int(np.ceil(np.sqrt(per_image))))).astype(int)
            ys = np.linspace(0, src.height - side, max(1, int(np.ceil(per_image / len(xs))))).astype(int)
            for y in ys:
                for x in xs:
                    raw = np.moveaxis(src.read(indexes, window=Window(int(x), int(y), side, side)), 0, -1)
                    yield predictor.prepare(raw[None], offset)


class _Calibration:
    """ONNX Runtime's calibration reader over prepared tiles."""

    def __init__(self, name: str, tiles: list[np.ndarray]):
        self.name, self.tiles = name, iter(tiles)

    def get_next(self) -> dict[str, np.ndarray] | None:
        tile = next(self.tiles, None)
        return None if tile is None else {self.name: tile.astype(np.float32)}


def quantise_int8(float_onnx: Path, out: Path, calibration: list[np.ndarray]) -> Path:
    """Static int8 quantisation (QDQ, per-channel weights, unsigned activations) calibrated on `calibration`."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise EngineError("no calibration tiles: give real images at least one tile in size")
    name = ort.InferenceSession(str(float_onnx), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(float_onnx), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), _Calibration(name, calibration), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    return Path(out)


def fidelity(expected: Sequence[np.ndarray], runner: Callable[[np.ndarray], np.ndarray],
             tiles: Sequence[np.ndarray]) -> dict:
    """How far an engine's maps are from float32's (`expected`, float32's probabilities of `tiles`): the share
    of pixels of the same class, and the largest and mean absolute probability differences."""
    same = total = 0
    largest = mean_sum = 0.0
    for reference, tile in zip(expected, tiles, strict=True):
        got = runner(tile)
        same += int((reference.argmax(-1) == got.argmax(-1)).sum())
        total += reference.shape[0] * reference.shape[1] * reference.shape[2]
        difference = np.abs(reference - got)
        largest = max(largest, float(difference.max()))
        mean_sum += float(difference.mean()) * reference.shape[0]
    if not total:
        raise EngineError("no held-out tiles to measure fidelity on")
    return {"agreement": round(same / total, 6), "max_probability_difference": round(largest, 4),
            "mean_probability_difference": round(mean_sum / len(tiles), 6), "pixels": total}


def quantise(folder: Path, calibration: Sequence[Path], held_out: Sequence[Path], *, tiles: int = 32,
             min_agreement: float = MIN_AGREEMENT, engines: Sequence[str] = ENGINE_PREFERENCE) -> dict:
    """Export, quantise, measure and record: writes model.onnx (and model.int8.onnx), measures `engines` —
    int8, calibrated on `calibration`, and bf16 (on a CPU with bfloat16 instructions; it needs no
    calibration) — against float32 on held-out tiles, and records them in the card. The default engine
    becomes the first of ENGINE_PREFERENCE at `min_agreement` or above, else float32. Returns the card's
    entries by engine and the default engine."""
    import onnxruntime as ort

    predictor = load_model(folder, engine="float32")
    if predictor.input_kind != "image":
        raise EngineError("only models that read Sentinel-2 images are quantised: calibration needs real imagery")
    size = predictor.input_size
    folder = Path(folder)
    unknown = set(engines) - set(ENGINE_PREFERENCE)
    if unknown or not engines:
        raise EngineError(f"engines to measure: one or more of {', '.join(ENGINE_PREFERENCE)} (got {sorted(unknown)})")
    # The level of every held-out image, when all are known: an engine is used on those levels alone (ml.levels).
    levels = [file_level(Path(p)) for p in held_out]
    known = sorted({level for level in levels if level})
    measured_on = {"measured_on": [Path(p).name for p in held_out], **({"levels": known} if all(levels) else {})}
    # Built and measured beside the model in a temporary folder, moved in only when all went well: a failed
    # run leaves the model as it was (a card's engine never names a half-written file).
    with tempfile.TemporaryDirectory(prefix=".quantise-", dir=folder) as tmp:
        work = Path(tmp)
        held_out_tiles = list(image_tiles(predictor, held_out, size, tiles))
        if not held_out_tiles:
            raise EngineError("no held-out tiles to measure fidelity on")
        export_onnx(predictor, work / ONNX_FLOAT)
        expected = [predictor.predict_proba(tile) for tile in held_out_tiles]
        entries = {}
        if "int8" in engines:
            calibration_tiles = list(image_tiles(predictor, calibration, size, tiles))
            quantise_int8(work / ONNX_FLOAT, work / ONNX_INT8, calibration_tiles)
            entries["int8"] = {
                "file": ONNX_INT8, "float_file": ONNX_FLOAT,
                **fidelity(expected, OnnxRunner(work / ONNX_INT8), held_out_tiles), **measured_on,
                "calibrated_on": [Path(p).name for p in calibration],
                "tiles": {"calibration": len(calibration_tiles), "held_out": len(held_out_tiles), "size": size},
                "quantisation": f"static int8 QDQ, per-channel weights, uint8 activations, MinMax "
                                f"(onnxruntime {ort.__version__})"}
        if "bf16" in engines and bf16_supported():
            import openvino

            runner = OpenVinoRunner(work / ONNX_FLOAT)
            entries["bf16"] = {
                "file": ONNX_FLOAT, **fidelity(expected, runner, held_out_tiles), **measured_on,
                "tiles": {"held_out": len(held_out_tiles), "size": size},
                "precision": f"bfloat16 (OpenVINO {openvino.__version__.split('-')[0]}); float32 at the image's "
                             "full resolution and in the classifier"}
        written = [name for name in (ONNX_FLOAT, ONNX_INT8) if (work / name).exists()]
        for name in written:
            (work / name).replace(folder / name)
    card = read_card(folder)
    card.setdefault("engines", {}).update(entries)
    card["default_engine"] = next((name for name in ENGINE_PREFERENCE if name in card["engines"]
                                   and card["engines"][name]["agreement"] >= min_agreement), "float32")
    card["files"] = sorted(set(card.get("files", [])) | set(written))
    write_card(folder, card)
    return {**entries, "default_engine": card["default_engine"]}


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: quantise a model folder."""
    parser = argparse.ArgumentParser(prog="python -m ml.engines", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quantise", help="export, quantise to int8, and measure int8 and bf16 against float32")
    q.add_argument("model", type=Path)
    q.add_argument("--calibration", type=Path, nargs="+", default=[],
                   help="real images to calibrate int8 on (needed for int8)")
    q.add_argument("--held-out", type=Path, nargs="+", required=True,
                   help="other real images (other places) to measure agreement with float32 on")
    q.add_argument("--tiles", type=int, default=32, help="tiles of each set, spread over its images")
    q.add_argument("--min-agreement", type=float, default=MIN_AGREEMENT)
    q.add_argument("--engines", nargs="+", choices=ENGINE_PREFERENCE, default=list(ENGINE_PREFERENCE),
                   help="the engines to build and measure (default: all)")
    args = parser.parse_args(argv)
    if "int8" in args.engines and not args.calibration:
        parser.error("int8 needs --calibration images (or measure only --engines bf16)")
    try:
        result = quantise(args.model, args.calibration, args.held_out, tiles=args.tiles,
                          min_agreement=args.min_agreement, engines=args.engines)
    except (EngineError, ModelFormatError, SceneError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name in args.engines:
        if name not in result:
            print(f"{args.model}: {name}: not measured (this CPU has no bfloat16 instructions)")
            continue
        entry = result[name]
        print(f"{args.model}: {name} agrees with float32 on {100 * entry['agreement']:.2f} % of "
              f"{entry['pixels']:,} held-out pixels (largest probability difference "
              f"{entry['max_probability_difference']:.3f})")
    print(f"{args.model}: default engine: {result['default_engine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
