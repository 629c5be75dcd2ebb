"""A process holding the models gives freed buffers back (models/memory.py), checked with glibc's allocator
in a fresh child process each, as a model's buffers behave: megabytes, freed while small allocations made
between them live on."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import stack_free

pytestmark = stack_free

_CHILD = r"""
import re, sys
import numpy as np
from reverie.models.memory import map_large_buffers

def rss_mb():
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024

if sys.argv[1] == "mapped":
    assert map_large_buffers()
np.ones(16 << 20, np.uint8)  # one large buffer freed: glibc alone now serves up to 16 MB from its heap
before = rss_mb()
large, small = [], []
for _ in range(40):
    large.append(np.ones(4 << 20, np.uint8))  # a network's activations...
    small.append(np.ones(2048, np.uint8))  # ...and what the job keeps between them
del large
print(rss_mb() - before)
"""


def _kept_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True)
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_large_buffers_go_back_to_the_system_when_freed():
    assert _kept_mb("default") > 100  # 160 MB were freed; the heap keeps them behind the small arrays
    assert _kept_mb("mapped") < 20
