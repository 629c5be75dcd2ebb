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
0.28 of a word's right photos at 0.25, 0.12 at 0.5, 0.37 without the map (bench/calibrate.py).

Speech is matched sentence to sentence, so its sentences go through `to_sentences`, least squares from the
encoder's vectors of captions to MiniLM's vectors of the same captions, as e5's map was fitted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .vectors import normalise

SHIPPED = Path(__file__).parent / "weights" / "language_map.npz"
# The file the code expects: retrain with the command in weights/README.md, then update this.
SHIPPED_SHA256 = "e49226ec26cb5cc7b6be1c3eda4e4094c8538c3d809274a119807acc00d6b090"


class LanguageMap:
    def __init__(self, to_pictures: np.ndarray, to_sentences: np.ndarray, english_weight: float, bridge: str):
        self.to_pictures = to_pictures.astype(np.float32)  # (512, 384)
        self.to_sentences = to_sentences.astype(np.float32)  # (512, 384)
        self.english_weight = float(english_weight)
        self.bridge = bridge  # the bridge whose pictures it was trained toward ("bridge-v6")

    @classmethod
    def load(cls, path: Path = SHIPPED) -> "LanguageMap":
        if not path.exists():
            raise FileNotFoundError(f"language map {path} is missing: reinstall Reverie, or run "
                                    "`reverie models train-languages` (see models/weights/README.md)")
        with np.load(path) as z:
            return cls(z["to_pictures"], z["to_sentences"], float(z["english_weight"]), str(z["bridge"]))

    def pictures(self, vectors: np.ndarray) -> np.ndarray:
        """The multilingual encoder's vectors (N, 512) -> normalised vectors in MiniLM's space, where the
        pictures they describe lie (N, 384): for queries that look for pictures."""
        return self._map(vectors, self.to_pictures)

    def sentences(self, vectors: np.ndarray) -> np.ndarray:
        """The same -> where MiniLM puts the same sentence in English (N, 384): for speech. Through the map
        toward pictures, `BY_AUDIO` found the right line first for 6 of the 12 French lines of the dev split;
        through this one 9 (German: 3 either way, 6 through e5's text map; espeak-ng's voice, misheard)."""
        return self._map(vectors, self.to_sentences)

    @staticmethod
    def _map(vectors: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return normalise(vectors @ weight).astype(np.float32)
