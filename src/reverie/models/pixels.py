"""Pixels for the models and the stored copies: RGB arrays, resized with OpenCV, whose resize is many
times faster than Pillow's here (resizing was the largest cost of indexing a photo after the networks)."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

# Indexing threads run one resize each; OpenCV's own thread pool would only make them contend.
cv2.setNumThreads(1)


def rgb_pixels(im: Image.Image | np.ndarray) -> np.ndarray:
    """An H x W x 3 uint8 RGB array; the models take either a Pillow image or such an array."""
    if isinstance(im, np.ndarray):
        return im
    return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))


def resized(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`pixels` at (width, height). Each halving averages exact pixel pairs (OpenCV's fast area path, a
    tenth of the cost of a general area resize); bilinear then covers the last factor below 2, where it
    still blends every source pixel in."""
    height, width = pixels.shape[:2]
    while width >= 2 * size[0] and height >= 2 * size[1]:
        width, height = width // 2, height // 2
        pixels = cv2.resize(pixels[: 2 * height, : 2 * width], (width, height), interpolation=cv2.INTER_AREA)
    if (width, height) == size:
        return pixels
    return cv2.resize(pixels, size, interpolation=cv2.INTER_LINEAR)


def fitted(pixels: np.ndarray, side: int) -> np.ndarray:
    """Shrunk to fit a side x side box, keeping the shape; never enlarged."""
    height, width = pixels.shape[:2]
    scale = side / max(width, height)
    if scale >= 1:
        return pixels
    return resized(pixels, (max(1, round(width * scale)), max(1, round(height * scale))))
