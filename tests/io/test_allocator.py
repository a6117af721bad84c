"""The allocator setting the duplicates stage relies on for speed (curator/io/allocator.py)."""

import ctypes
import sys

import numpy as np
import pytest

from curator.io.allocator import KEEP_BYTES, keep_freed_blocks


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",  # bytes in blocks mapped on their own (returned to the kernel when freed)
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mapped_bytes() -> int:
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = MallInfo2
    return mallinfo2().hblkhd


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_large_arrays_come_from_the_heap_once_freed_blocks_are_kept():
    # above glibc's own ceiling (32 MB), below the one set: mapped on its own by default
    size = 48 * 2**20
    assert size < KEEP_BYTES
    assert keep_freed_blocks()
    before = _mapped_bytes()
    block = np.ones(size, np.uint8)
    assert _mapped_bytes() - before < size // 2
    assert block.sum() == size
