"""How a process that holds the models shares the machine: memory given back, numpy's BLAS on one core.

Memory. The networks' buffers (OCR on a receipt, Whisper on a minute of speech) are megabytes each and freed
after every call. glibc serves such a buffer from a fresh mapping, returned whole when freed, until the
first such free: from then on it raises that threshold and serves them from its heaps, which fragment and
keep what they grew to. One process holding every model then peaked anywhere from 1.11 to 1.23 GB from run
to run; with the threshold held at 8 MiB, at 0.99-1.01 GB (bench/rss.py). At 1 MiB it peaked at 0.93 GB, but
each photo's decoded pixels (5.8 MB at 1.9 MP) were then mapped and zeroed afresh: 27.0 / 28.0 photos a second
against 29.1 / 30.9 before; at 8 MiB, 29.1 / 35.5 against 29.6 / 34.5 (bench/index.py, alternating; README).

BLAS. numpy's OpenBLAS would run even a small product (a query against a sample of the library, the bridge's
map of one photo) on every core, and its threads then spin for a while after each call, taking the cores
from ONNX Runtime's threads and the other requests: a fifth fewer photos indexed a second, and text
queries at 100,000 photos p50 / p95 34 / 51 ms against 28 / 38 on one thread (bench/index.py,
bench/search.py). Work that wants more (the multilingual encoder over a training set) asks for it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import AbstractContextManager

from threadpoolctl import ThreadpoolController

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
LARGE = 8 << 20  # above a photo's decoded pixels; low enough to hold the peak at ~1.0 GB

_BLAS = ThreadpoolController()


def share_the_machine() -> None:
    """Both settings below, for this whole process."""
    map_large_buffers()
    _BLAS.limit(limits=1, user_api="blas")  # not as a context: for the process (a blas_threads() block lends more)


def map_large_buffers() -> bool:
    """Serve every allocation of LARGE bytes or more from its own mapping; False where the C library has no
    mallopt (not glibc), whose allocator is then left as it is."""
    try:
        return bool(ctypes.CDLL(ctypes.util.find_library("c")).mallopt(M_MMAP_THRESHOLD, LARGE))
    except (OSError, AttributeError):
        return False


def blas_threads(limit: int) -> AbstractContextManager:
    """Run the matrix products inside on at most `limit` cores."""
    return _BLAS.limit(limits=limit, user_api="blas")
