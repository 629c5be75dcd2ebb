"""Vector arithmetic every model shares."""

from __future__ import annotations

from contextlib import AbstractContextManager

import numpy as np
from threadpoolctl import ThreadpoolController

# numpy's OpenBLAS would run a small map on every core, and its threads then spin for a while after each call,
# taking the cores from the indexing threads' networks: a fifth fewer photos a second (bench/index.py).
_BLAS = ThreadpoolController()


def blas_threads(limit: int = 1) -> AbstractContextManager:
    """Run the matrix products inside on at most `limit` cores."""
    return _BLAS.limit(limits=limit, user_api="blas")


def normalise(x: np.ndarray) -> np.ndarray:
    """Each row (or the vector) scaled to unit length; a zero row stays zero."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
