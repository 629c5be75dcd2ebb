"""EfficientNet-Lite0 (ImageNet-1k) through ONNX Runtime: class probabilities and pooled features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .runtime import session

SIDE = 224


def scale(im: Image.Image) -> np.ndarray:
    """Pixels scaled as the TF-Lite training did: (x - 127) / 128, channels first."""
    return ((np.asarray(im, dtype=np.float32) - 127.0) / 128.0).transpose(2, 0, 1)


def centre_crop(im: Image.Image) -> Image.Image:
    """Short side to 256, centre crop 224: the ImageNet evaluation protocol."""
    w, h = im.size
    scale = 256 / min(w, h)
    im = im.resize((max(SIDE, round(w * scale)), max(SIDE, round(h * scale))), Image.Resampling.BILINEAR)
    left, top = (im.width - SIDE) // 2, (im.height - SIDE) // 2
    return im.crop((left, top, left + SIDE, top + SIDE))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ImageClassifier:
    def __init__(self, onnx_path: Path, threads: int = 2):
        self.session = session(onnx_path, threads)

    def predict(self, images: list[Image.Image], center_crop: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities N x 1000, pooled features N x 1280). With center_crop=False the images are used
        as they are (all of one size): the network is fully convolutional, its head averages the cells."""
        batch = np.stack([scale(centre_crop(im) if center_crop else im) for im in images])
        cell_logits, features = self.session.run(None, {"pixels": batch})
        return softmax(cell_logits.mean(axis=(2, 3))), features
