"""The COCO object detector (SSD-MobileNet-v2, int8) through ONNX Runtime: boxes, labels and scores, and
the scene: its backbone's last map averaged, which the bridge reads beside the classifier's features
(models/bridge.py).

The exported graph (models/ssd_graph.py) already decodes its 1,917 anchors into boxes; what is left here is
TensorFlow's post-processing: per-class non-maximum suppression at IoU 0.6, best 100 kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .coco import NAMES
from .pixels import resized
from .runtime import session
from .vectors import normalise

SIDE = 300
# On the COCO dev photos a label kept at 0.5 is right 96 % of the time (0.91 at 0.3, 0.99 at 0.7) and
# finds 44 % of the labelled kinds; ones below it become text search matches too easily.
MIN_SCORE = 0.5
# Likelihoods below this are left out. Even weak ones order photos: beside the picture vector, COCO dev
# category mAP was 0.80 with every score, 0.796 with those from 0.05, 0.78 from 0.1, 0.73 from 0.2 (probe);
# ~13 classes a photo reach 0.02.
LIKELY = 0.02
NMS_IOU = 0.6
MAX_OBJECTS = 100
_NAMES = [NAMES.get(i + 1) for i in range(90)]  # the graph's score columns are ids 1..90


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the image, clipped to it


@dataclass(frozen=True)
class Sighting:
    """What the detector saw in one picture."""
    objects: list[Detection]  # scored MIN_SCORE or more, best first
    likelihoods: dict[str, float]  # each class's best score anywhere in the picture, LIKELY or more
    scene: np.ndarray  # (1280,) the pooled backbone, L2-normalised


def scenes(seen: list[Sighting]) -> np.ndarray:
    """The sightings' scenes stacked (N, 1280), as the bridge reads them."""
    return np.stack([s.scene for s in seen])


def likelihoods(scores: np.ndarray) -> dict[str, float]:
    """Each class's best score over one image's anchors, where it reaches LIKELY."""
    best = scores.max(axis=0)
    return {_NAMES[c]: round(float(best[c]), 4) for c in np.argsort(-best)
            if best[c] >= LIKELY and _NAMES[c] is not None}


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(others) - inter, 1e-9)


def suppress(boxes: np.ndarray, scores: np.ndarray) -> list[Detection]:
    """Per-class greedy non-maximum suppression over one image's anchors, best first."""
    kept: list[Detection] = []
    anchors, columns = np.nonzero(scores >= MIN_SCORE)
    for column in np.unique(columns):
        if _NAMES[column] is None:
            continue
        rows = anchors[columns == column]
        rows = rows[np.argsort(-scores[rows, column])]
        while rows.size:
            best, rows = rows[0], rows[1:]
            kept.append(Detection(_NAMES[column], float(scores[best, column]),
                                  tuple(float(v) for v in np.clip(boxes[best], 0.0, 1.0))))
            rows = rows[_iou(boxes[best], boxes[rows]) < NMS_IOU]
    kept.sort(key=lambda d: -d.score)
    return kept[:MAX_OBJECTS]


def detector_input(images: list[np.ndarray]) -> np.ndarray:
    """RGB arrays squashed to the 300 px square the detector was trained on, 0..255, channels first."""
    return np.stack([resized(im, (SIDE, SIDE)).astype(np.float32).transpose(2, 0, 1) for im in images])


class ObjectDetector:
    def __init__(self, onnx_path: Path, threads: int = 2):
        self.session = session(onnx_path, threads)

    def detect(self, images: list[np.ndarray]) -> list[Sighting]:
        """The objects in each RGB array, best first, how likely each class is anywhere in it, and its scene."""
        boxes, scores, scenes = self.session.run(None, {"pixels": detector_input(images)})
        scenes = normalise(scenes).astype(np.float32)
        return [Sighting(suppress(b, s), likelihoods(s), c) for b, s, c in zip(boxes, scores, scenes)]
