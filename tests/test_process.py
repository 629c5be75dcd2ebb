"""How a process holding the models shares the machine (models/process.py), each checked in a fresh child
process: a large buffer gets a mapping of its own, which free() gives back whole (glibc's allocator), and
numpy's BLAS runs on one core."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import stack_free

pytestmark = stack_free

_CHILD = r"""
import ctypes, sys
import numpy as np
from reverie.models.process import map_large_buffers

class MallInfo2(ctypes.Structure):  # glibc's malloc.h
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "mapped":
    assert map_large_buffers()
np.ones(24 << 20, np.uint8)  # one large buffer freed: glibc alone now serves up to 24 MB from its heaps
before = libc.mallinfo2().hblkhd  # bytes in buffers of their own mapping, which free() gives back whole
buffer = np.ones(16 << 20, np.uint8)  # a network's activations
print((libc.mallinfo2().hblkhd - before) >> 20)
"""


def _mapped_mb(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_large_buffers_get_a_mapping_of_their_own_which_goes_back_to_the_system_when_freed():
    assert _mapped_mb("default") == 0  # from the heap, which fragments and keeps what it grew to
    assert _mapped_mb("mapped") == 16


def test_a_process_holding_the_models_runs_numpy_blas_on_one_core(tmp_path):
    code = r"""
import json, sys
from pathlib import Path
from threadpoolctl import threadpool_info
from reverie.config import Settings
from reverie.models import Models
from reverie.models.process import blas_threads
def threads():
    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
seen = {"before": threads()}
Models(Settings(data=Path(sys.argv[1])))
seen["after"] = threads()
with blas_threads(2):
    seen["lent"] = threads()
seen["again"] = threads()
print(json.dumps(seen))
"""
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    # OpenBLAS starts with a thread a core, or as many as OPENBLAS_NUM_THREADS says; one has nothing to limit.
    if seen["before"] == [1]:
        pytest.skip("numpy's BLAS starts on one thread here (one core, or OPENBLAS_NUM_THREADS=1)")
    assert len(seen["before"]) == 1 and seen["before"][0] > 1
    assert seen["after"] == [1] and seen["lent"] == [min(2, seen["before"][0])] and seen["again"] == [1]
