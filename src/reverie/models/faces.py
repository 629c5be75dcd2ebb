"""Faces with dlib: HOG finds frontal faces, a 5-point shape model aligns each one, and dlib's ResNet turns
the aligned 150 px chip into a 128-d embedding (faces of one person lie within ~0.5 of each other).

The weights come from `face-recognition-models`, found by their folder: importing that package needs
`pkg_resources`, which a current setuptools no longer has. dlib's CNN face detector takes seconds a photo
here, so HOG it is: frontal and near-frontal faces only.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .pixels import resized

# Photos are looked at with this long side. HOG's window is 80 px, so a face smaller than a twelfth of the
# photo's long side is not found; small photos (LFW's 250 px) are enlarged to it, which HOG needs for
# them. See bench/faces.py for what it costs.
DETECT_SIDE = 960
CHIP_SIDE = 150  # what the ResNet takes; also the face thumbnail
CHIP_PADDING = 0.25
MIN_MARGIN = 0.0  # HOG's own cut: below it the detector says "no face"


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the image, clipped to it
    score: float  # 0..1: a logistic of HOG's margin (0.5 at its own cut)
    embedding: np.ndarray  # 128 float32, unit-free (compared by Euclidean distance)
    chip: np.ndarray  # the aligned face, CHIP_SIDE square, RGB


def weights_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed: pip install face-recognition-models "
                           "(or set REVERIE_FACES=off)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class FaceFinder:
    def __init__(self) -> None:
        import dlib

        models = weights_dir()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._embedder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self._busy = threading.Lock()  # dlib's network keeps its buffers in the object: one photo at a time

    def find(self, pixels: np.ndarray) -> list[Face]:
        """The faces in an RGB photo, largest first."""
        with self._busy:
            return self._find(pixels)

    def _find(self, pixels: np.ndarray) -> list[Face]:
        height, width = pixels.shape[:2]
        scale = DETECT_SIDE / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        view = np.ascontiguousarray(resized(pixels, size) if size != (width, height) else pixels)
        rects, margins, _ = self._detector.run(view, 0, MIN_MARGIN)
        if not rects:
            return []
        chips = [self._dlib.get_face_chip(view, self._shapes(view, r), size=CHIP_SIDE, padding=CHIP_PADDING)
                 for r in rects]
        embeddings = self._embedder.compute_face_descriptor(chips)
        faces = []
        for rect, margin, chip, embedding in zip(rects, margins, chips, embeddings):
            box = (max(0.0, rect.left() / size[0]), max(0.0, rect.top() / size[1]),
                   min(1.0, (rect.right() + 1) / size[0]), min(1.0, (rect.bottom() + 1) / size[1]))
            faces.append(Face(box=box, score=1.0 / (1.0 + math.exp(-2.0 * margin)),
                              embedding=np.asarray(embedding, dtype=np.float32), chip=np.asarray(chip)))
        faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return faces
