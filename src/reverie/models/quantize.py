"""Static int8 quantisation of the classifier and the detector, calibrated on synthetic pictures.

EfficientNet-Lite was designed to be quantised (ReLU6, no squeeze-excite): int8 runs it in ~7.5 ms a photo
on the AMD EPYC instead of ~12 ms (bench/stages.py prints the classifier step). Static quantisation needs
pictures to measure each layer's range; none ship with Reverie, so seeded random scenes stand in: flat colours,
shapes, blur and noise span the ranges real photos reach (ranges from 64 real Caltech photos gave the
same retrieval quality on ../shared/eval). The detector goes from ~55 to ~22 ms a photo on one thread; its
scores move by 0.04 on average where the float model says > 0.5 (ranges from 64 real Flickr8k training
photos: 0.038), measured on the COCO dev photos.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .classifier import scale

CALIBRATION_IMAGES = 64
SIDE = 320  # the side the classifier reads (visual.INPUT_SIDE)


def synthetic_scenes(count: int, seed: int = 0) -> Iterator[Image.Image]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        im = Image.new("RGB", (SIDE, SIDE), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(rng.integers(3, 12)):
            (x0, x1), (y0, y1) = sorted(rng.integers(0, SIDE, 2)), sorted(rng.integers(0, SIDE, 2))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 3))))
        noisy = np.asarray(im, dtype=np.float32) + rng.normal(0, rng.uniform(0, 20), (SIDE, SIDE, 3))
        yield Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def quantize_classifier(source: Path, dest: Path, workdir: Path) -> None:
    # The head (1.3 M multiply-adds a photo) stays float: int8 would save nothing there and only move the
    # class probabilities that ConSE and the animal check read.
    quantize_on_scenes(source, dest, workdir, lambda im: scale(im)[None], float_ops=("Gemm", "MatMul"))


def quantize_on_scenes(source: Path, dest: Path, workdir: Path, to_input: Callable[[Image.Image], np.ndarray],
                       float_ops: tuple[str, ...] = ()) -> None:
    """int8 weights (per channel) and activations, the activations' ranges measured on synthetic scenes
    fed through `to_input` (the model's own pre-processing); nodes of the `float_ops` types stay float."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Scenes(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = ({"pixels": to_input(im)} for im in synthetic_scenes(CALIBRATION_IMAGES))

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    prepared = workdir / f"{source.stem}_prepared.onnx"
    quant_pre_process(str(source), str(prepared))
    kept_float = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type in float_ops]
    quantize_static(str(prepared), str(dest), Scenes(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=kept_float)
