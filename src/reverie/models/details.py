"""A second, larger look at a picture: EfficientNet-Lite2's GeM-pooled features (int8, through ONNX Runtime),
which a search by example compares and the bridge reads beside Lite0's and the detector's scene
(models/bridge.py).

Lite0 stays the classifier (labels, ConSE); Lite2 was trained on the same ImageNet classes
at 260 px, deeper and wider, with about twice Lite0's arithmetic. The bridge reading all three ranked a
Flickr8k dev caption's photo in the top ten for 0.911 of them against 0.895 without Lite2 (weights/README.md),
for ~8 ms of one core a photo on the Intel Xeon. Search by example put 0.873 of a Caltech-101 class's photos
in an example's top ten with Lite2's features, 0.848 with Lite0's (models/visual.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .classifier import scale
from .pixels import resized
from .runtime import session
from .vectors import normalise

SIDE = 260  # the side Lite2 was trained at; the whole frame, squashed, as the classifier reads it


class DetailFeatures:
    def __init__(self, onnx_path: Path, threads: int = 2):
        self.session = session(onnx_path, threads)

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        """Normalised pooled features (N, 1280) of RGB arrays of any size."""
        batch = np.stack([scale(resized(im, (SIDE, SIDE))) for im in images])
        return normalise(self.session.run(None, {"pixels": batch})[0]).astype(np.float32)
