"""Keep freed large memory blocks in the process for reuse (glibc's malloc).

glibc returns a freed block above its mmap threshold (adjusted as blocks are freed, never above
32 MB) to the kernel at once, and trims the heap's free top above twice that; the next block is
mapped afresh and the kernel zeroes every page again on first touch. The duplicates stage's
edge scoring (features/edges.py) allocates and frees arrays of tens of MB for every block of
pairs, thousands of times: on 51,000 CIFAR images 18.7 s of its 75 s were spent in the kernel.
With the thresholds raised such blocks stay in the heap: 2.1-2.4 s in the kernel, the same
peak memory (930 MiB).
"""

from __future__ import annotations

import ctypes

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# blocks up to this size come from and return to the heap: the edge scoring's per-block arrays
# (35 MB at most) but not the arrays held for a whole pass (hundreds of MB on 51,000 images),
# which go back to the kernel when freed
KEEP_BYTES = 64 * 2**20


def keep_freed_blocks() -> bool:
    """Raise glibc's mmap and trim thresholds; False where the C library is not glibc (macOS,
    musl), which keeps its own policy."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, 2 * KEEP_BYTES)
    )
