"""Text in images with RapidOCR (PP-OCRv4 det + rec through ONNX Runtime).

A photo without text must stay cheap, so the detector first looks at a small copy (the gate: ~14 ms on the
AMD EPYC, most of it the network); only when it finds text lines does the detect-and-recognise pass run, on
the full image (small print needs it). Both networks run as rewritten into the model cache (models/fuse.py),
not as shipped; the gate's copy of the detector has two of its layers in int8 (models/quantize.py).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image

from .pixels import resized, rgb_pixels
from .runtime import session

# The gate looks at a copy of this many pixels, whatever the shape (a tall receipt shrunk by its long side
# loses its text). Measured on the 40 dev receipts' previews: 110,592 px (384x288) finds text in all 40;
# 76,800 px in 33, 49,152 px in 30 (also when any pixel above the threshold counts), so the gate cannot
# shrink further to save time.
GATE_SIZE = (384, 288)  # that copy of a 4:3 photo
GATE_PIXELS = GATE_SIZE[0] * GATE_SIZE[1]
READ_DETECT_SIDE = 1280
MIN_SCORE = 0.5

logging.getLogger("RapidOCR").setLevel(logging.ERROR)


def text_detector_input(pixels: np.ndarray) -> np.ndarray:
    """An RGB array as the text detector reads it: BGR scaled to [-1, 1] as it was trained (mean and std 0.5),
    in float32, channels first, a batch of one."""
    return (pixels[:, :, ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]


class TextReader:
    def __init__(self, detector: Path, recogniser: Path, gate: Path | None = None, threads: int = 1):
        from rapidocr_onnxruntime import RapidOCR

        cfg = dict(intra_op_num_threads=threads, inter_op_num_threads=1,
                   det_model_path=str(detector), rec_model_path=str(recogniser))
        # Detection needs no more than 1280 px (text lines stay ~10 px tall); recognition still crops each
        # line from the full image, so small print keeps its detail.
        self.engine = RapidOCR(print_verbose=False, det_limit_side_len=READ_DETECT_SIDE, det_limit_type="max", **cfg)
        # has_text sizes and scales the copy itself, runs the gate's network (the detector itself unless
        # given another) on a session of its own and traces the boxes as the engine does. Its own session
        # keeps a memory arena, which RapidOCR's sessions go without (their inputs vary up to 1280 px): the
        # gate's never exceed GATE_PIXELS, so its buffers are reused photo to photo (with the mmap threshold
        # at 1 MiB they had been mapped afresh, a tenth of the gate's time; models/process.py).
        self.gate = session(detector if gate is None else gate, threads)
        self._gate_input = self.gate.get_inputs()[0].name
        self._boxes = self.engine.text_det

    @staticmethod
    def _bgr(pixels: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(pixels[:, :, ::-1])

    def has_text(self, im: Image.Image | np.ndarray, budget: int = GATE_PIXELS) -> bool:
        """Whether the detector traces a line of text in a copy of about `budget` pixels (bench/ocr_gate.py
        measures what smaller copies miss)."""
        pixels = rgb_pixels(im)
        height, width = pixels.shape[:2]
        scale = min(1.0, math.sqrt(budget / (width * height)))
        # Sides in multiples of 32, as the detector needs
        size = (max(32, round(width * scale / 32) * 32), max(32, round(height * scale / 32) * 32))
        probabilities = self.gate.run(None, {self._gate_input: text_detector_input(resized(pixels, size))})[0]
        if probabilities.max() <= self._boxes.postprocess_op.thresh:  # no pixel of text: no boxes to trace
            return False
        boxes, _ = self._boxes.postprocess_op(probabilities, (size[1], size[0]))
        return len(self._boxes.filter_tag_det_res(boxes, (size[1], size[0]))) > 0

    def read(self, im: Image.Image | np.ndarray, gate_view: Image.Image | np.ndarray | None = None) -> list[tuple[str, float]]:
        """Lines of text with their confidence, top to bottom; [] when the gate sees none. The gate may
        look at a smaller copy already at hand (`gate_view`); reading uses `im` at full size."""
        if not self.has_text(im if gate_view is None else gate_view):
            return []
        return self.read_lines(im)

    def read_lines(self, im: Image.Image | np.ndarray) -> list[tuple[str, float]]:
        """`read` without the gate: for an image the gate has already seen text in."""
        result, _ = self.engine(self._bgr(rgb_pixels(im)), use_cls=False)
        return [(text, float(score)) for _box, text, score in (result or []) if float(score) >= MIN_SCORE and text.strip()]
