"""k-nearest-neighbour search through FAISS indexes: each item proposes at most k others.

A radius search ("every pair within r bits") grows with the data's density, not its size: on
small or flat images most hashes fall within a few bits of each other and the candidates
explode (dHash at radius 10 proposed 357,000 pairs among 9,779 face photos; wHash at radius 4,
713,710 among 60,000 CIFAR images). Each item's k nearest neighbours, then kept only within the
radius, bound the candidates at k per item and method, whatever the data looks like.

* Hamming space (64-bit hashes): an exact flat binary index below ``ivf_min_size`` items, a
  binary IVF index above it (``nprobe`` lists probed; trained on a seeded sample).
* Cosine (L2-normalised embeddings, inner product): a flat index below ``ivf_min_size``, an IVF
  index with fp16 storage above it.
The approximate indexes' recall is measured by benchmarks/bench_scale.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from curator.features.hashes import to_bytes
from curator.io.progress import progress

QUERY_BATCH = 16_384


@dataclass(frozen=True)
class Pairs:
    """Index pairs i < j with their distance (Hamming) or similarity (cosine)."""

    i: np.ndarray
    j: np.ndarray
    value: np.ndarray
    index: str  # which index found them, for the audit record


def _canonical(i: np.ndarray, j: np.ndarray, value: np.ndarray, keep_max: bool) -> tuple:
    """Drop self-pairs, orient i < j and keep one row per pair (best value)."""
    mask = i != j
    i, j, value = i[mask], j[mask], value[mask]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    order = np.lexsort((-value if keep_max else value, hi, lo))
    lo, hi, value = lo[order], hi[order], value[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], value[first]


def _n_lists(n: int) -> int:
    return int(min(max(16, 4 * math.sqrt(n)), n // 40))


def _knn(index, data: np.ndarray, k: int, desc: str) -> tuple[np.ndarray, ...]:
    """(rows, ids, values, ranks) of every item's k - 1 nearest other items in ``index``
    (rank 0: the nearest); float queries go to FAISS as float32 one batch at a time
    (embeddings may be stored as fp16)."""
    rows, ids, values, ranks = [], [], [], []
    dtype = np.float32 if data.dtype.kind == "f" else data.dtype
    batches = range(0, len(data), QUERY_BATCH)
    for start in progress(batches, desc=desc, unit="batch"):
        batch = np.ascontiguousarray(data[start : start + QUERY_BATCH], dtype=dtype)
        v, i = index.search(batch, k)
        r = np.arange(start, start + len(i))[:, None]
        # each item's k nearest others: itself dropped, or the last one when ties push it out
        keep = (i != r) & (np.cumsum(i != r, axis=1) <= k - 1) & (i >= 0)
        rows.append(np.broadcast_to(r, i.shape)[keep])
        ids.append(i[keep].astype(np.int64))
        values.append(v[keep])
        ranks.append((np.cumsum(keep, axis=1) - 1)[keep])
    return tuple(np.concatenate(x) for x in (rows, ids, values, ranks))


def build_hamming_index(data: np.ndarray, ivf_min_size: int, nprobe: int, seed: int) -> tuple:
    """(index, its description) over 64-bit codes as (n, 8) bytes (hashes.to_bytes): flat
    (exact) below ``ivf_min_size``, else a binary IVF index trained on a seeded sample."""
    import faiss

    n = len(data)
    if n < ivf_min_size:
        index: Any = faiss.IndexBinaryFlat(64)
        name = "IndexBinaryFlat"
    else:
        nlist = _n_lists(n)
        index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(64), 64, nlist)
        sample = np.random.default_rng(seed).choice(n, size=min(n, nlist * 40), replace=False)
        index.cp.seed = seed
        index.train(data[np.sort(sample)])
        index.nprobe = nprobe
        name = f"IndexBinaryIVF(nlist={nlist}, nprobe={nprobe})"
    index.add(data)
    return index, name


def hamming_pairs(
    codes: np.ndarray,
    k: int,
    max_distance: int,
    ivf_min_size: int,
    nprobe: int,
    seed: int,
    queries: np.ndarray | None = None,
) -> Pairs:
    """Pairs among each code's k nearest codes that lie within ``max_distance`` bits; with
    ``queries`` (one per code, e.g. the hash of the mirrored image), query k's k nearest codes
    (item k itself left out) instead."""
    n = len(codes)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty.astype(np.int32), "none")
    data = to_bytes(np.asarray(codes, dtype=np.uint64))
    index, name = build_hamming_index(data, ivf_min_size, nprobe, seed)
    asked = data if queries is None else to_bytes(np.asarray(queries, dtype=np.uint64))
    rows, ids, dist, _ = _knn(index, asked, min(k + 1, n), f"hash neighbours ({name})")
    keep = dist <= max_distance
    i, j, d = _canonical(rows[keep], ids[keep], dist[keep].astype(np.int32), False)
    return Pairs(i, j, d, name)


def build_ip_index(vectors: np.ndarray, ivf_min_size: int, nprobe: int, seed: int) -> tuple:
    """(index, its description) holding ``vectors`` for inner-product search: flat (exact)
    below ``ivf_min_size``, else IVF with fp16 storage (half of float32; seeded training)."""
    import faiss

    n, d = vectors.shape
    if n < ivf_min_size:
        index: Any = faiss.IndexFlatIP(d)
        name = "IndexFlatIP"
    else:
        nlist = _n_lists(n)
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, d, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        sample = np.random.default_rng(seed).choice(n, size=min(n, nlist * 40), replace=False)
        index.cp.seed = seed
        index.train(np.ascontiguousarray(vectors[np.sort(sample)], dtype=np.float32))
        index.nprobe = nprobe
        name = f"IndexIVFScalarQuantizer(nlist={nlist}, fp16, nprobe={nprobe})"
    for start in range(0, n, QUERY_BATCH):
        index.add(np.ascontiguousarray(vectors[start : start + QUERY_BATCH], dtype=np.float32))
    return index, name


def cosine_pairs(
    vectors: np.ndarray,
    k: int,
    min_similarity: float,
    ivf_min_size: int,
    nprobe: int,
    seed: int,
    always: int = 0,
) -> Pairs:
    """Pairs among each vector's k nearest neighbours with cosine >= ``min_similarity``; its
    ``always`` nearest are kept whatever their cosine."""
    n = len(vectors)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty.astype(np.float32), "none")
    index, name = build_ip_index(vectors, ivf_min_size, nprobe, seed)
    k = max(k, always)
    rows, ids, sims, rank = _knn(index, vectors, min(k + 1, n), f"embedding neighbours ({name})")
    keep = (sims >= min_similarity) | (rank < always)
    i, j, s = rows[keep], ids[keep], sims[keep]
    i, j, s = _canonical(i.astype(np.int64), j.astype(np.int64), s.astype(np.float32), True)
    return Pairs(i, j, np.minimum(s, 1.0), name)
