"""Vector arithmetic every model shares."""

from __future__ import annotations

import numpy as np


def normalise(x: np.ndarray) -> np.ndarray:
    """Each row (or the vector) scaled to unit length; a zero row stays zero."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def quantised(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An array as int8 with one scale a column, as the weight files hold their larger arrays (models/bridge.py,
    models/language_map.py): the bridge's map alone would take 2.9 MB in float16, 1.5 in int8 (which ranked the
    dev split as the float map did)."""
    scale = np.maximum(np.abs(values).max(axis=0), 1e-12) / 127  # a column of zeros stays zeros
    return np.round(values / scale).astype(np.int8), scale.astype(np.float32)


def dequantised(weight: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return weight.astype(np.float32) * scale
