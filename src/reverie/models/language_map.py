"""The language map: linear maps from the multilingual encoder's space (models/multilingual.py) into MiniLM's
(`reverie models train-languages`, models/training.py). The encoder puts a sentence and its translations
close together, so a German or French query, or a sentence said in a video in one of its languages, lands
where its English version would.

Queries that look for pictures go through `to_pictures`: least squares from the encoder's vectors of the
Flickr8k training captions to their photos' picture vectors (the bridge's, models/bridge.py), then trained
contrastively (InfoNCE) on which photo each caption is of. Fitted to MiniLM's vectors of the same captions
instead (text to text), it found fewer: German / French R@10 0.73 / 0.77 against 0.81 / 0.85.

An English query reads better twice: MiniLM's vector plus the map's, weighted (`english_weight`), finds the
right photo first more often (Flickr8k dev captions: 0.463 for MiniLM alone, 0.475 with the map at 0.3, 0.496
at 0.5, in a probe; 0.465 and 0.489 at the shipped 0.25 through `reverie eval`). 0.25 stops short of the best
ranking because the map blurs what a score means for one-word queries: on the held-out photos `medium` keeps
0.28 of a word's right photos at 0.25, 0.12 at 0.5, 0.37 without the map (bench/calibrate.py). A third reading,
mpnet's, joins them for English queries (models/mpnet.py).

A linear map blurs what it carries; so a query for pictures is also read through the training photos whose
captions say what it says: the ten whose captions' mean vector lies nearest the query's in the encoder's space,
their picture vectors averaged (weighted by a softmax of that nearness) and added at 0.25 beside the map's
reading (`CaptionBank`). German / French dev R@10 0.816 / 0.838 -> 0.849 / 0.886, R@1 0.378 / 0.400 -> 0.411 /
0.411 in a probe over cached vectors (every setting of a grid of 27 gained in both languages; weights/README.md),
and through `reverie eval` R@10 0.816 / 0.843 -> 0.849 / 0.886; English, already read by MiniLM, moves by less
than one caption in a thousand.

Speech is matched sentence to sentence, so its sentences go through `to_sentences`, least squares from the
encoder's vectors of captions to MiniLM's vectors of the same captions, as e5's map was fitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .vectors import dequantised, normalise

SHIPPED = Path(__file__).parent / "weights" / "language_map.npz"
# The file the code expects: retrain with the command in weights/README.md, then update this.
SHIPPED_SHA256 = "9ef2fd3c122f4f31660c8cb76d853cfbbb9c797874cb3a3c0e25404e7b39b07b"


@dataclass
class CaptionBank:
    """The training photos (those the bridge learnt from) as their captions read, and where their pictures lie.
    Both sides are kept in their main directions only (the file holds them as int8), which ranked the dev
    sentences as the whole vectors did: 128 of the encoder's 512, 64 of the pictures' 384."""

    directions: np.ndarray  # (128, 512): the main directions of the photos' caption vectors
    sentences: np.ndarray  # (P, 128): each photo's captions (the mean of their vectors) in those, unit length
    picture_directions: np.ndarray  # (64, 384)
    picture_mean: np.ndarray  # (384,)
    pictures: np.ndarray  # (P, 64): each photo's picture vector, less the mean, in the pictures' main directions
    neighbours: int
    temperature: float
    weight: float  # beside the map's reading

    def recall(self, vectors: np.ndarray) -> np.ndarray:
        """The encoder's vectors (N, 512) -> where the pictures of the training photos whose captions lie
        nearest them lie (N, 384, unit length)."""
        near = normalise(vectors @ self.directions.T) @ self.sentences.T
        k = min(self.neighbours, near.shape[1])
        nearest = np.argpartition(-near, k - 1, axis=1)[:, :k]
        closeness = np.take_along_axis(near, nearest, axis=1)
        weights = np.exp((closeness - closeness.max(axis=1, keepdims=True)) / self.temperature)
        weights /= weights.sum(axis=1, keepdims=True)
        picked = np.einsum("nk,nkd->nd", weights, self.pictures[nearest])
        return normalise(picked @ self.picture_directions + self.picture_mean)


class LanguageMap:
    def __init__(self, to_pictures: np.ndarray, to_sentences: np.ndarray, english_weight: float, bridge: str,
                 bank: CaptionBank):
        self.to_pictures = to_pictures.astype(np.float32)  # (512, 384)
        self.to_sentences = to_sentences.astype(np.float32)  # (512, 384)
        self.english_weight = float(english_weight)
        self.bridge = bridge  # the bridge whose pictures it was trained toward ("bridge-v6")
        self.bank = bank

    @classmethod
    def load(cls, path: Path = SHIPPED) -> "LanguageMap":
        if not path.exists():
            raise FileNotFoundError(f"language map {path} is missing: reinstall Reverie, or run "
                                    "`reverie models train-languages` (see models/weights/README.md)")
        with np.load(path) as z:
            if "bank_sentences" not in z:
                raise ValueError(f"language map {path} is older than this Reverie (no caption bank): run "
                                 "`reverie models train-languages` again (see models/weights/README.md)")
            bank = CaptionBank(
                directions=z["bank_directions"].astype(np.float32),
                sentences=normalise(dequantised(z["bank_sentences"], z["bank_sentences_scale"])),
                picture_directions=z["bank_picture_directions"].astype(np.float32),
                picture_mean=z["bank_picture_mean"].astype(np.float32),
                pictures=dequantised(z["bank_pictures"], z["bank_pictures_scale"]),
                neighbours=int(z["bank_neighbours"]), temperature=float(z["bank_temperature"]),
                weight=float(z["bank_weight"]))
            return cls(z["to_pictures"], z["to_sentences"], float(z["english_weight"]), str(z["bridge"]), bank)

    def pictures(self, vectors: np.ndarray) -> np.ndarray:
        """The multilingual encoder's vectors (N, 512) -> normalised vectors in MiniLM's space, where the
        pictures they describe lie (N, 384): the map's reading and the caption bank's, for queries that look
        for pictures."""
        mapped = self._map(vectors, self.to_pictures)
        return normalise(mapped + self.bank.weight * self.bank.recall(vectors)).astype(np.float32)

    def sentences(self, vectors: np.ndarray) -> np.ndarray:
        """The same -> where MiniLM puts the same sentence in English (N, 384): for speech. Through the map
        toward pictures, `BY_AUDIO` found the right line first for 6 of the 12 French lines of the dev split;
        through this one 9 (German: 3 either way, 6 through e5's text map; espeak-ng's voice, misheard)."""
        return self._map(vectors, self.to_sentences)

    @staticmethod
    def _map(vectors: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return normalise(vectors @ weight).astype(np.float32)
