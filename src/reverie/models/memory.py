"""How a process that holds the models gives memory back.

The networks' buffers (OCR on a receipt, Whisper on a minute of speech) are megabytes each and freed after
every call. glibc serves such a buffer from a fresh mapping, returned whole when freed, until the first such
free: from then on it raises that threshold and serves them from its heaps, which fragment and keep what
they grew to. One process holding every model then peaked anywhere from 1.11 to 1.23 GB from run to run;
with the threshold held at 1 MiB, at 0.89 GB every time, and photos indexed as fast (bench/rss.py,
bench/index.py; README).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
LARGE = 1 << 20


def map_large_buffers() -> bool:
    """Serve every allocation of LARGE bytes or more from its own mapping, for this whole process; False
    where the C library has no mallopt (not glibc), whose allocator is then left as it is."""
    try:
        return bool(ctypes.CDLL(ctypes.util.find_library("c")).mallopt(M_MMAP_THRESHOLD, LARGE))
    except (OSError, AttributeError):
        return False
