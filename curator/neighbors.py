"""Neighbour search through FAISS indexes: never an n x n matrix.

* Hamming radius search on 64-bit hashes with FAISS's multi-index hashing
  (``IndexBinaryMultiHash``): the 64 bits are cut into ``nhash`` substrings of ``b`` bits; two
  codes within distance r agree within ``r // nhash`` bits on at least one substring
  (pigeonhole), so probing every substring with that many bit flips finds every pair: exact,
  and close to linear while the buckets stay small.
* k-nearest-neighbour search on L2-normalised embeddings by inner product (= cosine): a flat
  index for small sets, an IVF index with fp16 storage above ``ivf_min_size`` (approximate; its
  recall against exact search is measured by benchmarks/bench_scale.py).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from curator.features.hashes import to_bytes

log = logging.getLogger(__name__)
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


def multihash_layout(n: int, max_distance: int) -> tuple[int, int]:
    """Choose (nhash, b) minimising the expected probes x candidates for n uniform codes.

    Cost per query ~ nhash * probes(b, r // nhash) * (1 + n / 2**b): a handful of tables with
    wide substrings keep buckets small without too many flip probes (1M codes, r=8 -> 3 x 21).
    """
    best, best_cost = (1, 64), math.inf
    for nhash in range(1, 9):
        b = min(64 // nhash, 24)
        probes = sum(math.comb(b, k) for k in range(max_distance // nhash + 1))
        cost = nhash * probes * (1 + n / 2**b)
        if cost < best_cost:
            best, best_cost = (nhash, b), cost
    return best


def hamming_pairs(codes: np.ndarray, max_distance: int) -> Pairs:
    """Every pair of 64-bit codes within ``max_distance`` bits (exact)."""
    import faiss

    n = len(codes)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty.astype(np.int32), "none")
    nhash, b = multihash_layout(n, max_distance)
    index = faiss.IndexBinaryMultiHash(64, nhash, b)
    index.nflip = max_distance // nhash
    data = to_bytes(np.asarray(codes, dtype=np.uint64))
    index.add(data)
    parts = []
    for start in range(0, n, QUERY_BATCH):
        lims, dist, ids = index.range_search(data[start : start + QUERY_BATCH], max_distance + 1)
        rows = np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims).astype(np.int64))
        keep = rows < ids  # each pair once, no self-matches
        parts.append((rows[keep], ids[keep], dist[keep]))
    i, j, d = (np.concatenate(p) for p in zip(*parts, strict=True))
    return Pairs(
        i.astype(np.int64),
        j.astype(np.int64),
        d.astype(np.int32),
        f"IndexBinaryMultiHash(nhash={nhash}, b={b}, nflip={index.nflip})",
    )


def build_ip_index(vectors: np.ndarray, ivf_min_size: int, nprobe: int, seed: int) -> tuple:
    """(index, its description) holding ``vectors`` for inner-product search: flat (exact)
    below ``ivf_min_size``, else IVF with fp16 storage (half of float32; seeded training)."""
    import faiss

    n, d = vectors.shape
    if n < ivf_min_size:
        index, name = faiss.IndexFlatIP(d), "IndexFlatIP"
    else:
        nlist = int(min(max(16, 4 * math.sqrt(n)), n // 40))
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
) -> Pairs:
    """Pairs among each vector's k nearest neighbours with cosine >= ``min_similarity``."""
    n = len(vectors)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty.astype(np.float32), "none")
    index, name = build_ip_index(vectors, ivf_min_size, nprobe, seed)
    kk = min(k + 1, n)
    parts = []
    for start in range(0, n, QUERY_BATCH):
        batch = np.ascontiguousarray(vectors[start : start + QUERY_BATCH], dtype=np.float32)
        sims, ids = index.search(batch, kk)
        rows = np.repeat(np.arange(start, start + len(batch)), kk)
        sims, ids = sims.ravel(), ids.ravel()
        keep = (ids >= 0) & (sims >= min_similarity)
        parts.append((rows[keep], ids[keep], sims[keep]))
    i, j, s = (np.concatenate(p) for p in zip(*parts, strict=True))
    i, j, s = _canonical(i.astype(np.int64), j.astype(np.int64), s.astype(np.float32), True)
    return Pairs(i, j, np.minimum(s, 1.0), name)
