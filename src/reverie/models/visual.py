"""Visual embedding in a space shared with text, so a sentence can find a photo.

`ConseEmbedder` (the default) needs no image-text model: EfficientNet-Lite0 classifies the whole image in
one pass at 320 px. Two vectors in MiniLM's sentence space come from that pass (the bridge reads Lite2's
and the detector's too), and their sum is the picture's vector:
- ConSE (Norouzi et al. 2014): the probability-weighted mean of the MiniLM embeddings of the top-20 class
  names. On ../shared/eval (COCO captions among Caltech distractors) these settings beat the plain recipe
  (224 px centre crop, first name only, top-10): R@10 0.72 against 0.57.
- the learned bridge (models/bridge.py): the pooled features mapped by a linear layer trained on captioned
  photos, beside them a larger classifier's (models/details.py) and the object detector's scene
  (models/detector.py). It knows what ImageNet has no class for (people, scenes, activities); ConSE holds
  up better on photos unlike the bridge's training set. Summed they beat either (weights/README.md has the
  figures).
With the bridge a picture's vector carries its hubness as one more coordinate (models/bridge.py).
A search by example compares Lite2's features alone (`features`): they tell photos apart better than Lite0's.
Text queries are embedded by MiniLM into the same space; other languages through the multilingual encoder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from .bridge import Bridge
from .classifier import ImageClassifier
from .details import DetailFeatures
from .detector import ObjectDetector
from .detector import scenes as scenes_of
from .imagenet import class_names
from .sentences import SentenceEmbedder
from .pixels import resized, rgb_pixels
from .text_embedding import TextEmbedder
from .vectors import normalise

log = logging.getLogger("reverie")

TOP_CLASSES = 20
# A search by example compares Lite2's GeM-pooled features (models/details.py), which indexing computes for
# the bridge anyway: on the Caltech-101 dev images they put 0.873 of a class's photos in an example's top ten
# (`reverie eval`), Lite0's 0.848. Pooled features run close together (unrelated Caltech pairs 0.398 median,
# same-class 0.673): raised to this power a `similarity` of 0.4 lets 3.5 % of unrelated pairs through and
# keeps 89 % of same-class ones (49 % of unrelated pairs without the power), so a client's cut-off means what
# it meant with Lite0 (3.6 % at its power 1.4).
SIMILARITY_POWER = 1.5
# A search by example ranks by the example expanded with its nearest photos (search/images.py), whose cosines
# run higher (unrelated Caltech pairs 0.443 median, same-class 0.833); this power lets 3.7 % of unrelated
# pairs past 0.4.
EXPANDED_POWER = 1.8
INPUT_SIDE = 320  # the classifier is fully convolutional; the whole frame, squashed, keeps every object
LABELS_KEPT = 5


@dataclass
class ImageAnalysis:
    vector: np.ndarray  # in the text-shared space, L2-normalised
    features: np.ndarray  # for image-to-image similarity, L2-normalised
    labels: list[tuple[str, float]]  # top classes with probabilities
    # What training the bridge reads besides `features`: ConSE's part of `vector` alone, and the classifier's
    # pooled features (normalised).
    conse: np.ndarray | None = None
    pooled: np.ndarray | None = None


class VisualEmbedder(Protocol):
    name: str
    dim: int

    def analyse(self, images: list[Image.Image | np.ndarray], scenes: np.ndarray | None = None) -> list[ImageAnalysis]: ...

    def features(self, images: list[Image.Image | np.ndarray]) -> np.ndarray:
        """What a search by example compares (ImageAnalysis.features), without the rest of analyse()."""

    def embed_text(self, texts: list[str]) -> np.ndarray: ...

    def background(self) -> np.ndarray | None:
        """Vectors of ordinary pictures, to tell how much a similarity stands out when a library is too
        small or too repetitive to say (a video's keyframes); None when the model cannot make them."""

    def similarity(self, cosines: np.ndarray, expanded: bool = False) -> np.ndarray:
        """How alike pictures are, 0..1, from the cosines of their features: the score of a search by
        example, which clients cut with `similarity`. `expanded`: cosines to an example averaged with its
        nearest pictures, which run higher."""


def conse_name(bridge: Bridge | None) -> str:
    """What the bundled model's vectors are stored under: the bridge's version names them."""
    return "conse" if bridge is None else f"conse+{bridge.name}"


class ConseEmbedder:
    def __init__(self, classifier: ImageClassifier, text: TextEmbedder, cache_dir: Path, bridge: Bridge | None = None,
                 sentences: SentenceEmbedder | None = None, detector: ObjectDetector | None = None,
                 details: DetailFeatures | None = None):
        self.classifier = classifier
        self.details = details  # Lite2: what a search by example compares, and the bridge reads beside Lite0
        self.text = text
        self.bridge = bridge  # None only while the bridge itself is being trained
        self.detector = detector  # the bridge reads its scenes, where the caller has not run it already
        self.sentences = sentences  # None: English queries only (the bridge's own training)
        if bridge is not None and sentences is not None:
            # The maps point queries to where their bridge put the pictures: after the bridge alone is retrained,
            # the queries they read still run, but miss.
            for what, toward, read in (("language map", sentences.language_map.bridge, "queries in other languages"),
                                       ("mpnet map", sentences.english.mapping.bridge, "English queries")):
                if toward != bridge.name:
                    log.warning("the %s was trained toward %s, not this %s: %s will find their photos poorly until "
                                "`reverie models train-languages` runs (models/weights/README.md)",
                                what, toward, bridge.name, read)
        self.name = conse_name(bridge)
        self.dim = text.dim + (0 if bridge is None else 1)  # the bridge's hubness coordinate
        self.class_vectors = self._class_vectors(cache_dir)
        self._background: np.ndarray | None = None

    def _class_vectors(self, cache_dir: Path) -> np.ndarray:
        path = cache_dir / "conse_class_vectors.npy"
        if path.exists():
            return np.load(path)
        vectors = self.text.embed([", ".join(lemmas) for lemmas in class_names()]).astype(np.float32)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
        return vectors

    def analyse(self, images: list[Image.Image | np.ndarray], scenes: np.ndarray | None = None) -> list[ImageAnalysis]:
        """`scenes`: the detector's scene of each image (models/detector.py), where the caller ran it for
        the objects already; else the detector runs here, as the bridge reads them."""
        pixels = [rgb_pixels(im) for im in images]
        probs, pooled = self.classifier.predict([resized(p, (INPUT_SIDE, INPUT_SIDE)) for p in pixels])
        pooled = normalise(pooled).astype(np.float32)
        features = self.details.features(pixels)
        top = np.argsort(-probs, axis=1)[:, :TOP_CLASSES]
        weights = np.take_along_axis(probs, top, axis=1)
        conse = normalise((weights[:, :, None] * self.class_vectors[top]).sum(axis=1)).astype(np.float32)
        if self.bridge is None:
            vectors = conse
        else:
            if scenes is None:
                scenes = scenes_of(self.detector.detect(pixels))
            vectors = self.bridge.picture(pooled, features, scenes, conse)
        names = [lemmas[0] for lemmas in class_names()]
        return [
            ImageAnalysis(
                vector=vectors[i],
                features=features[i],
                labels=[(names[c], float(p)) for c, p in zip(top[i, :LABELS_KEPT], weights[i, :LABELS_KEPT])],
                conse=conse[i],
                pooled=pooled[i],
            )
            for i in range(len(images))
        ]

    def features(self, images: list[Image.Image | np.ndarray]) -> np.ndarray:
        return self.details.features([rgb_pixels(im) for im in images])

    def similarity(self, cosines: np.ndarray, expanded: bool = False) -> np.ndarray:
        return np.clip(cosines, 0.0, 1.0) ** (EXPANDED_POWER if expanded else SIMILARITY_POWER)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """The queries' vectors in MiniLM's space (models/sentences.py: MiniLM's own, the multilingual encoder's
        through the language map, or both), meeting the pictures' vectors through the bridge."""
        if self.bridge is None:
            return self.text.embed(texts)
        if self.sentences is None:
            return self.bridge.query(self.text.embed(texts))
        return self.bridge.query(self.sentences.queries(texts, for_pictures=True))

    def background(self) -> np.ndarray:
        """Vectors of ordinary photos: with the bridge, those of training photos kept in its file. Without
        it, 2,000 ConSE vectors as ordinary photos give them: each a peaked, probability-weighted mixture of
        TOP_CLASSES random class vectors (Dirichlet 0.3 weights, as the classifier's top classes of real
        photos look). Seeded, so every process computes the same set."""
        if self.bridge is not None:
            return self.bridge.background
        if self._background is None:
            rng = np.random.default_rng(20_14)
            picks = rng.integers(0, len(self.class_vectors), (2000, TOP_CLASSES))
            weights = -np.sort(-rng.dirichlet(np.full(TOP_CLASSES, 0.3), 2000), axis=1)
            self._background = normalise((weights[:, :, None] * self.class_vectors[picks]).sum(axis=1)).astype(np.float32)
        return self._background
