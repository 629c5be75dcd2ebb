"""EfficientNet-Lite0 (ImageNet-1k) through ONNX Runtime: class probabilities and pooled features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .runtime import session


def scale(pixels: Image.Image | np.ndarray) -> np.ndarray:
    """Pixels scaled as the TF-Lite training did: (x - 127) / 128, channels first."""
    return ((np.asarray(pixels, dtype=np.float32) - 127.0) / 128.0).transpose(2, 0, 1)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ImageClassifier:
    def __init__(self, onnx_path: Path, threads: int = 2):
        self.session = session(onnx_path, threads)

    def predict(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities N x 1000, GeM-pooled features N x 1280: models/export.py) for RGB arrays all of
        one size. The network is fully convolutional: its head reads the pooled map, whatever the size."""
        logits, features = self.session.run(None, {"pixels": np.stack([scale(im) for im in images])})
        return softmax(logits), features
