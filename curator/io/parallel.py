"""Map a function over many files on all cores, in order, with a progress bar."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a process pool costs more to start than it saves.
MIN_ITEMS_FOR_POOL = 64


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int, desc: str) -> list[R]:
    """``[fn(x) for x in items]`` across ``workers`` processes (0 = all cores).

    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one). The
    progress bar hides itself when stderr is not a terminal.
    """
    n_workers = workers or os.cpu_count() or 1
    bar = {"total": len(items), "desc": desc, "unit": "img", "disable": None}
    if n_workers == 1 or len(items) < MIN_ITEMS_FOR_POOL:
        return [fn(x) for x in tqdm(items, **bar)]
    chunksize = max(1, min(256, len(items) // (n_workers * 8)))
    with ProcessPoolExecutor(max_workers=n_workers) as pool:
        return list(tqdm(pool.map(fn, items, chunksize=chunksize), **bar))
