"""Static int8 quantisation of the classifiers, the detector and part of the OCR gate, calibrated on synthetic
pictures.

EfficientNet-Lite was designed to be quantised (ReLU6, no squeeze-excite): int8 runs it in ~7.5 ms a photo
on the AMD EPYC instead of ~12 ms (bench/stages.py prints the classifier step). Static quantisation needs
pictures to measure each layer's range; none ship with Reverie, so seeded random scenes stand in: flat colours,
shapes, blur and noise span the ranges real photos reach (ranges from 64 real Caltech photos gave the
same retrieval quality on ../shared/eval). The detector goes from ~55 to ~22 ms a photo on one thread; its
scores move by 0.04 on average where the float model says > 0.5 (ranges from 64 real Flickr8k training
photos: 0.038), measured on the COCO dev photos.

The OCR gate (models/ocr.py) is int8 in two layers only: the two 3x3 convolutions over 96 channels at a
quarter of the photo's side (the neck's finest and the head's first), a third of its time. All of it in int8
missed text in 9 to 14 of the 96 dev photos with a word; these two alone, calibrated on scenes with words
drawn on them, give the float detector's answer on all 926 dev photos (bench/ocr_gate.py) and take the
gate's step in bench/stages.py from 18.9 to 14.3 ms (2026-12-07, AMD EPYC). Reading keeps the float detector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .classifier import scale
from .ocr import GATE_SIZE, text_detector_input

CALIBRATION_IMAGES = 64
SIDE = 320  # the side the classifier reads (visual.INPUT_SIDE)
# The gate's layers kept in int8, by their names in the shipped graph (models/fuse.py keeps the names).
GATE_INT8_LAYERS = ("p2o.Conv.58", "p2o.Conv.61")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def synthetic_scenes(count: int, seed: int = 0, size: tuple[int, int] = (SIDE, SIDE)) -> Iterator[Image.Image]:
    rng = np.random.default_rng(seed)
    width, height = size
    for _ in range(count):
        im = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(rng.integers(3, 12)):
            (x0, x1), (y0, y1) = sorted(rng.integers(0, width, 2)), sorted(rng.integers(0, height, 2))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 3))))
        noisy = np.asarray(im, dtype=np.float32) + rng.normal(0, rng.uniform(0, 20), (height, width, 3))
        yield Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def scenes_with_words(count: int, size: tuple[int, int], seed: int = 0) -> Iterator[Image.Image]:
    """Synthetic scenes, every other one with a few random words on it in Pillow's own font, 8 to 40 px tall:
    a text detector's layers reach their widest ranges on text, which plain scenes lack."""
    rng = np.random.default_rng(seed + 1)
    for i, im in enumerate(synthetic_scenes(count, seed, size)):
        if i % 2:
            draw = ImageDraw.Draw(im)
            for _ in range(rng.integers(1, 7)):
                word = "".join(rng.choice(list(LETTERS), rng.integers(3, 13)))
                font = ImageFont.load_default(size=int(rng.integers(8, 41)))
                at = (int(rng.integers(0, size[0] - 84)), int(rng.integers(0, size[1] - 28)))  # mostly inside
                draw.text(at, word, fill=tuple(int(v) for v in rng.integers(0, 256, 3)), font=font)
        yield im


def quantize_classifier(source: Path, dest: Path, workdir: Path) -> None:
    # The head (1.3 M multiply-adds a photo) stays float: int8 would save nothing there and only move the
    # class probabilities that ConSE and the animal check read.
    quantize_on_scenes(source, dest, workdir, lambda im: scale(im)[None], float_ops=("Gemm", "MatMul"))


def quantize_gate(source: Path, dest: Path, workdir: Path) -> None:
    # The graph's shapes are symbolic in a way the quantiser's own shape inference cannot follow; ONNX's
    # plain inference is enough for two convolutions.
    quantize_on_scenes(source, dest, workdir, lambda im: text_detector_input(np.asarray(im)), only=GATE_INT8_LAYERS,
                       scenes=scenes_with_words(CALIBRATION_IMAGES, GATE_SIZE), symbolic_shapes=False)


def quantize_on_scenes(source: Path, dest: Path, workdir: Path, to_input: Callable[[Image.Image], np.ndarray],
                       float_ops: tuple[str, ...] = (), only: tuple[str, ...] = (),
                       scenes: Iterator[Image.Image] | None = None, symbolic_shapes: bool = True) -> None:
    """int8 weights (per channel) and activations, the activations' ranges measured on synthetic scenes
    (`synthetic_scenes` unless given) fed through `to_input` (the model's own pre-processing); nodes of the
    `float_ops` types stay float, and all but the nodes named in `only`, where it names any."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pictures = synthetic_scenes(CALIBRATION_IMAGES) if scenes is None else scenes
    prepared = workdir / f"{source.stem}_prepared.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=not symbolic_shapes)
    graph = onnx.load(str(prepared)).graph
    input_name = graph.input[0].name

    class Scenes(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = ({input_name: to_input(im)} for im in pictures)

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    missing = set(only) - {node.name for node in graph.node}
    if missing:
        raise RuntimeError(f"{source.name} has no layers named {sorted(missing)}: the shipped graph changed")
    kept_float = [node.name for node in graph.node if node.op_type in float_ops]
    quantize_static(str(prepared), str(dest), Scenes(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=kept_float,
                    nodes_to_quantize=list(only) or None)
