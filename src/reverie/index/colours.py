"""Named colours of a photo and of the objects in it, from the pixels: each pixel is given one of eleven
basic colour names by fixed hue / saturation / value ranges, and a region's colours are the names most of
its pixels share. An object's colour is read from the middle of its box (its edges are mostly background);
for a person that is the clothes, which is what "a woman in a yellow dress" asks for.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..models.pixels import resized

NAMES = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
SAMPLE_SIDE = 48  # colours survive any downscale; this keeps a region's cost under a millisecond
PHOTO_SHARE = 0.2  # a photo's colour covers at least this much of it
OBJECT_SHARE = 0.35  # an object's colour covers at least this much of the middle of its box
INNER = 0.2  # the box's margin left out on each side


def _names(pixels: np.ndarray) -> np.ndarray:
    """Each pixel's colour, as an index into NAMES."""
    hsv = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(np.float32)
    h, s, v = hsv[:, 0] * (360.0 / 256.0), hsv[:, 1] / 255.0, hsv[:, 2] / 255.0
    hue = np.select(
        [(h < 15) | (h >= 340), h < 45, h < 70, h < 165, h < 255, h < 290],
        [3, 4, 5, 6, 7, 8],
        default=9,
    )
    hue = np.where((hue == 4) & ((v < 0.75) | (s < 0.6)), 10, hue)  # dull or dark orange is brown (tan too)
    hue = np.where((hue == 3) & (s < 0.5) & (v > 0.7), 9, hue)  # pale red is pink
    hue = np.where((hue == 3) & (v < 0.45) & (s < 0.7), 10, hue)  # dull dark red is brown
    grey = np.where(v > 0.65, 1, 2)  # white in shade reads ~0.7: people still call it white
    return np.where(v < 0.2, 0, np.where(s < 0.18, grey, hue))


def _shares(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = min(1.0, SAMPLE_SIDE / max(height, width))
    small = resized(pixels, (max(1, round(width * scale)), max(1, round(height * scale))))
    return np.bincount(_names(small), minlength=len(NAMES)) / (small.shape[0] * small.shape[1])


def photo_colours(pixels: np.ndarray) -> list[str]:
    """The colours that cover at least a fifth of the photo, most first."""
    shares = _shares(pixels)
    return [NAMES[i] for i in np.argsort(-shares) if shares[i] >= PHOTO_SHARE]


def object_colour(pixels: np.ndarray, box: tuple[float, float, float, float]) -> str | None:
    """The colour most of the middle of `box` (fractions x0, y0, x1, y1) shares, or None when no colour
    covers enough of it to name."""
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * INNER, (y1 - y0) * INNER
    left, right = int((x0 + dx) * width), int(np.ceil((x1 - dx) * width))
    top, bottom = int((y0 + dy) * height), int(np.ceil((y1 - dy) * height))
    if right - left < 2 or bottom - top < 2:
        return None
    shares = _shares(pixels[top:bottom, left:right])
    best = int(np.argmax(shares))
    return NAMES[best] if shares[best] >= OBJECT_SHARE else None
