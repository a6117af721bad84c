"""Map a function over many files on all cores, in order, with a progress bar."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

from curator.io.progress import progress

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a process pool costs more to start than it saves.
MIN_ITEMS_FOR_POOL = 64


@contextmanager
def worker_pool(workers: int, n_items: int) -> Iterator[ProcessPoolExecutor | None]:
    """A process pool for ``workers`` processes (0 = all cores), or None when one is enough.

    Workers start from a fork server, not from this process: a forked worker would inherit
    (and, as Python touches reference counts, copy) the caller's whole heap, so memory would
    grow with the dataset the caller holds. One pool serves every shard of a stage.
    """
    n_workers = workers or os.cpu_count() or 1
    if n_workers == 1 or n_items < MIN_ITEMS_FOR_POOL:
        yield None
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        yield pool


def map_in_pool(
    pool: ProcessPoolExecutor | None, fn: Callable[[T], R], items: Sequence[T], desc: str
) -> list[R]:
    """``[fn(x) for x in items]`` in ``pool`` (or here, when None), in order, with progress."""
    return list(_imap(pool, fn, items, desc))


def _imap(
    pool: ProcessPoolExecutor | None, fn: Callable[[T], R], items: Sequence[T], desc: str
) -> Iterator[R]:
    if pool is None:
        return iter(fn(x) for x in progress(items, desc=desc))
    workers = pool._max_workers  # type: ignore[attr-defined]  # the size it was made with
    chunksize = max(1, min(256, len(items) // (workers * 8)))
    return iter(progress(pool.map(fn, items, chunksize=chunksize), total=len(items), desc=desc))


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int, desc: str) -> list[R]:
    """``[fn(x) for x in items]`` across ``workers`` processes (0 = all cores).

    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one).
    Progress: a bar on a terminal, log lines elsewhere (io/progress.py).
    """
    with worker_pool(workers, len(items)) as pool:
        return map_in_pool(pool, fn, items, desc)


def parallel_stack(
    fn: Callable[[T], np.ndarray], items: Sequence[T], workers: int, desc: str, shape: tuple, dtype
) -> np.ndarray:
    """``np.stack([fn(x) for x in items])`` written into one array as results arrive: no list
    of per-item arrays (and its copy) beside the result."""
    out = np.empty((len(items), *shape), dtype)
    with worker_pool(workers, len(items)) as pool:
        for k, value in enumerate(_imap(pool, fn, items, desc)):
            out[k] = value
    return out
