"""The language map: a linear map from the multilingual encoder's space (models/multilingual.py) into
MiniLM's, trained to put a caption where its photo's picture vector lies (`reverie models train-languages`,
models/training.py). The encoder puts a sentence and its translations close together, so a German or French
query, and a sentence said in a video in any of its languages, lands where its English version would.

The map starts as least squares from the encoder's vectors of the Flickr8k training captions to their
photos' picture vectors (the bridge's, models/bridge.py), then learns contrastively (InfoNCE) which photo
each caption is of. A map fitted to MiniLM's vectors of the same captions instead (text to text) found
fewer: German / French R@10 0.73 / 0.77 against 0.81 / 0.84 (weights/README.md).

An English query reads better twice: MiniLM's vector plus the map's, weighted (`english_weight`), found the
right photo first for 0.496 of the Flickr8k dev captions against 0.463 for MiniLM alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from .vectors import normalise

_BLAS = ThreadpoolController()  # one thread, as in models/bridge.py

SHIPPED = Path(__file__).parent / "weights" / "language_map.npz"
# The file the code expects: retrain with the command in weights/README.md, then update this.
SHIPPED_SHA256 = "d326ccc3e1c30b4c726e56788b36ee83f9a89ef6ff0fd786e3d318530019ffa9"


class LanguageMap:
    def __init__(self, weight: np.ndarray, english_weight: float, bridge: str):
        self.weight = weight.astype(np.float32)  # (512, 384)
        self.english_weight = float(english_weight)
        self.bridge = bridge  # the bridge whose pictures it was trained toward ("bridge-v3")

    @classmethod
    def load(cls, path: Path = SHIPPED) -> "LanguageMap":
        if not path.exists():
            raise FileNotFoundError(f"language map {path} is missing: reinstall Reverie, or run "
                                    "`reverie models train-languages` (see models/weights/README.md)")
        with np.load(path) as z:
            return cls(z["weight"], float(z["english_weight"]), str(z["bridge"]))

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """The multilingual encoder's vectors (N, 512) -> normalised vectors in MiniLM's space (N, 384)."""
        with _BLAS.limit(limits=1, user_api="blas"):
            return normalise(vectors @ self.weight).astype(np.float32)
