"""The learned bridge from pictures to words: a linear map from the classifier's pooled features into
MiniLM's sentence space, trained contrastively on Flickr8k's 7,091 training photos and their 35,455 human
captions (`reverie models train-bridge`, models/training.py). ConSE only knows the 1000 ImageNet classes;
the bridge has seen people, scenes and activities described in plain words.

It reads the same normalised features that are stored for image-to-image search (GeM-pooled since v2;
v1 read the plain mean, so its vectors are embedded again by `reverie models upgrade-vectors`), and since v6
beside them two more looks at the picture:
- the scene: the COCO detector's backbone averaged over the picture (models/detector.py), which indexing
  computes anyway. That network learnt from COCO's everyday scenes what ImageNet's classifier was never asked
  (people, rooms, streets);
- EfficientNet-Lite2's pooled features (models/details.py): a deeper and wider classifier at 260 px, whose
  features add to Lite0's in the probe below.
Probe over cached features (weights/README.md): a Flickr8k dev caption's photo comes first for 0.507 of
them and in the top ten for 0.911, against 0.463 and 0.886 from Lite0's features alone. The map, the hubs and
the background are stored as int8 columns with a scale each, so that the file stays under 2 MB.

The file also holds ordinary pictures' vectors (training photos) for telling how much a similarity stands
out. Queries in other languages reach the pictures through the language map (models/language_map.py), a file
of its own, so that retraining it leaves every stored picture vector as it is.

Since v3 a picture's vector has one coordinate more than MiniLM's 384: minus its hubness, weighted. A
picture whose vector lies near many sentences of any kind (a plain, busy or blurry photo) would otherwise
come near the top for all sorts of queries and push the right photo down. Its hubness is the mean
similarity of its 30 closest among 512 training captions (the correction of Lample et al.'s CSLS on the
picture's side); a query's extra coordinate is 1, so one inner product gives cosine minus weighted hubness,
and every index, cut and z-score downstream reads the corrected similarity.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .vectors import dequantised, normalise

SHIPPED = Path(__file__).parent / "weights" / "bridge.npz"
# The file the code expects: retrain with the command in weights/README.md, then update this.
SHIPPED_SHA256 = "4cece5e88310d1ae7825b79be3fd833ca070e58e9c8e8560fa2337dec4798d23"


EVIDENCE = 3 * 1280  # the map's input: Lite0's features, Lite2's and the detector's scene (evidence())


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Bridge:
    def __init__(self, weight: np.ndarray, bias: np.ndarray, conse_weight: float, background: np.ndarray,
                 version: str, hubs: np.ndarray, hub_weight: float, hub_neighbours: int, held_out: tuple[str, ...] = ()):
        self.weight = weight.astype(np.float32)  # (3840, 384): Lite0's features, Lite2's, then the scene
        self.bias = bias.astype(np.float32)
        self.conse_weight = float(conse_weight)
        self.hubs = hubs.astype(np.float32)  # MiniLM vectors of training captions, one each of as many photos
        self.hub_weight = float(hub_weight)
        self.hub_neighbours = int(hub_neighbours)
        # vectors of ordinary photos, as picture() makes them (the file holds them without the hubness)
        self.background = self.with_hubness(background.astype(np.float32))
        self.version = version
        self.held_out = held_out  # training photos it never saw, for calibrating the levels (bench/calibrate.py)
        self.name = f"bridge-{version}"

    @classmethod
    def load(cls, path: Path = SHIPPED) -> "Bridge":
        if not path.exists():
            raise FileNotFoundError(f"bridge weights {path} are missing: reinstall Reverie, or run "
                                    "`reverie models train-bridge` (see models/weights/README.md)")
        with np.load(path) as z:
            missing = [what for key, what in (("hubs", "caption hubs"), ("weight_scale", "scene in the map")) if key not in z]
            if z["weight"].shape[0] != EVIDENCE:
                missing.append("Lite2 in the map")
            if missing:
                raise ValueError(f"bridge weights {path} are older than this Reverie (no {' and no '.join(missing)}): run "
                                 "`reverie models train-bridge` again (see models/weights/README.md)")
            return cls(dequantised(z["weight"], z["weight_scale"]), z["bias"], float(z["conse_weight"]),
                       dequantised(z["background"], z["background_scale"]), str(z["version"]),
                       dequantised(z["hubs"], z["hubs_scale"]), float(z["hub_weight"]), int(z["hub_neighbours"]),
                       tuple(z["held_out"].tolist()))

    @staticmethod
    def evidence(features: np.ndarray, details: np.ndarray, scenes: np.ndarray) -> np.ndarray:
        """The map's input (N, 3840): the classifier's normalised features, Lite2's and the detector's
        normalised scene, side by side, at unit length."""
        return normalise(np.hstack([features, details, scenes])).astype(np.float32)

    def project(self, features: np.ndarray, details: np.ndarray, scenes: np.ndarray) -> np.ndarray:
        """Normalised Lite0 and Lite2 features and scenes (N, 1280 each) -> normalised vectors in MiniLM's
        space (N, 384)."""
        return normalise(self.evidence(features, details, scenes) @ self.weight + self.bias)

    def fuse(self, bridged: np.ndarray, conse: np.ndarray) -> np.ndarray:
        """The bridge and ConSE, both unit length, summed (ConSE weighted): in MiniLM's space, unit length."""
        return normalise(bridged + self.conse_weight * conse).astype(np.float32)

    def hubness(self, fused: np.ndarray) -> np.ndarray:
        """How close each picture (fuse()'s vectors) lies to sentences in general (N,)."""
        sims = fused @ self.hubs.T
        k = min(self.hub_neighbours, len(self.hubs))
        return np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)

    def with_hubness(self, fused: np.ndarray) -> np.ndarray:
        """fuse()'s vectors with the weighted hubness, negated, as one more coordinate (N, 385)."""
        return np.hstack([fused, -self.hub_weight * self.hubness(fused)[:, None]]).astype(np.float32)

    def picture(self, features: np.ndarray, details: np.ndarray, scenes: np.ndarray, conse: np.ndarray) -> np.ndarray:
        """A picture's vector (N, 385) from its normalised Lite0 and Lite2 features, scene and ConSE vector."""
        return self.with_hubness(self.fuse(self.project(features, details, scenes), conse))

    @staticmethod
    def query(vectors: np.ndarray) -> np.ndarray:
        """Queries' MiniLM vectors (N, 384) -> (N, 385), meeting picture()'s vectors in one inner product."""
        return np.hstack([vectors, np.ones((len(vectors), 1), np.float32)]).astype(np.float32)
