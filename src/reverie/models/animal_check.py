"""Whether the ImageNet classifier, shown the box the COCO detector drew, agrees that it holds the animal the
detector named.

The detector knows ten animals, and calls most others by one of their names, sure of it: on the Caltech-101
dev photos an okapi is a "dog" at 0.98, a platypus a "bird" at 0.99, a hedgehog a "cat" at 0.95. Such a label
made the photo a confident hit for "dog". ImageNet-1k names 125 kinds of dog and wolf, domestic cats, 59
birds, bears, elephants and sheep, so for these the classifier, given the box alone, tells a dog from an
okapi. Probe over the dev photos (Caltech-101, COCO and Flickr8k in `reverie eval`'s library; boxes the
detector scored >= 0.3, kept where the score scaled by index/objects.py stays >= 0.5), right boxes kept /
wrong boxes kept: dog 59 of 61 / 2 of 16, cat 8 of 9 / 0 of 15, bird 27 of 27 / 1 of 32, bear 4 of 4 / 2 of
13, elephant 12 of 12 / 2 of 12, sheep 2 of 2 / 0 of 6.
Horses, cows and giraffes are not checked: ImageNet has one horse, cattle only as "ox", and no giraffe (it
calls a giraffe a cheetah), so it would doubt right boxes as often as wrong ones.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .classifier import ImageClassifier
from .detector import Detection

# ImageNet-1k class indices of each checked COCO kind (the classifier's output order).
KINDS: dict[str, list[int]] = {
    "dog": list(range(151, 276)),  # the breeds, then wolves and wild dogs (not the hyena and the foxes after)
    "cat": list(range(281, 286)),  # tabby .. Egyptian cat; the big cats are other animals
    "bird": [*range(7, 25), *range(80, 101), *range(127, 147)],
    "bear": [*range(294, 298), 388],  # and the giant panda, which COCO's annotators call a bear
    "elephant": [101, 385, 386],
    "sheep": [348, 349],
}
ANIMALS = np.arange(398)  # ImageNet-1k's animals come first: tench (0) .. puffer (397)
CROP_SIDE = 224
MARGIN = 1.1  # the square crop's side, times the box's longer side: a little of what surrounds it


def crop(picture: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The square around a box (fractions of the picture), black where it runs off the picture."""
    h, w = picture.shape[:2]
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    half = max((x1 - x0) * w, (y1 - y0) * h) * MARGIN / 2
    square = Image.fromarray(picture).crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    return np.asarray(square.resize((CROP_SIDE, CROP_SIDE), Image.Resampling.BICUBIC))


class AnimalCheck:
    def __init__(self, classifier: ImageClassifier):
        self.classifier = classifier

    def agreement(self, picture: np.ndarray, detections: list[Detection]) -> list[float]:
        """For each detection of a checked kind, the share of the classifier's animal probability over its
        box that falls on that kind (0..1)."""
        if not detections:
            return []
        probabilities, _ = self.classifier.predict([crop(picture, d.box) for d in detections])
        out = []
        for d, p in zip(detections, probabilities):
            kind = p[KINDS[d.label]].sum()
            out.append(float(kind / max(p[ANIMALS].sum(), 1e-9)))
        return out
