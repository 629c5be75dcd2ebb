"""The learned bridge from pictures to words: a linear map from the classifier's pooled features into
MiniLM's sentence space, trained contrastively on Flickr8k's 7,091 training photos and their 35,455 human
captions (`reverie models train-bridge`, models/training.py). ConSE only knows the 1000 ImageNet classes;
the bridge has seen people, scenes and activities described in plain words.

It reads the same normalised features that are stored for image-to-image search (GeM-pooled since v2;
v1 read the plain mean, so its vectors are embedded again by `reverie models upgrade-vectors`).

The file also holds the map that carries a multilingual-e5 query into MiniLM's space (fitted on the same
captions embedded by both models), which is how a German or French query finds the photos its English
version finds, and ordinary pictures' vectors (training photos) for telling how much a similarity stands out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from .vectors import normalise

# numpy's OpenBLAS would run the map on every core, and its threads then spin for a while after each call,
# taking the cores from the indexing threads' networks: a fifth fewer photos a second (bench/index.py).
_BLAS = ThreadpoolController()

SHIPPED = Path(__file__).parent / "weights" / "bridge.npz"
# The file the code expects: retrain with the command in weights/README.md, then update this.
SHIPPED_SHA256 = "7902b05b86a079cb0ec45239c11f6ea27a1afe375606767bf73e1da09b91fe5e"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Bridge:
    def __init__(self, weight: np.ndarray, bias: np.ndarray, conse_weight: float, e5_to_minilm: np.ndarray,
                 background: np.ndarray, version: str, held_out: tuple[str, ...] = ()):
        self.weight = weight.astype(np.float32)  # (1280, 384)
        self.bias = bias.astype(np.float32)
        self.conse_weight = float(conse_weight)
        self.e5_to_minilm = e5_to_minilm.astype(np.float32)  # (384, 384)
        self.background = background.astype(np.float32)  # vectors of ordinary photos, as fuse() makes them
        self.version = version
        self.held_out = held_out  # training photos it never saw, for calibrating the levels (bench/calibrate.py)
        self.name = f"bridge-{version}"

    @classmethod
    def load(cls, path: Path = SHIPPED) -> "Bridge":
        if not path.exists():
            raise FileNotFoundError(f"bridge weights {path} are missing: reinstall Reverie, or run "
                                    "`reverie models train-bridge` (see models/weights/README.md)")
        with np.load(path) as z:
            return cls(z["weight"], z["bias"], float(z["conse_weight"]), z["e5_to_minilm"], z["background"],
                       str(z["version"]), tuple(z["held_out"].tolist()) if "held_out" in z else ())  # older files: none

    def project(self, features: np.ndarray) -> np.ndarray:
        """Normalised pooled features (N, 1280) -> normalised vectors in MiniLM's space (N, 384)."""
        with _BLAS.limit(limits=1, user_api="blas"):
            return normalise(features @ self.weight + self.bias)

    def fuse(self, bridged: np.ndarray, conse: np.ndarray) -> np.ndarray:
        """One vector for a picture: the bridge and ConSE, both unit length, summed (ConSE weighted)."""
        return normalise(bridged + self.conse_weight * conse).astype(np.float32)

    def from_e5(self, queries: np.ndarray) -> np.ndarray:
        """multilingual-e5 query vectors -> normalised vectors in MiniLM's space."""
        with _BLAS.limit(limits=1, user_api="blas"):
            return normalise(queries @ self.e5_to_minilm).astype(np.float32)
