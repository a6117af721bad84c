"""Neighbour search at scale: 64-bit hash kNN (within a radius) and embedding kNN, 100k and 1M.

Usage: .venv/bin/python benchmarks/bench_scale.py [--sizes 100000,1000000] [--pairs 1000]
Each (kind, size) runs in a fresh process so its peak RSS is its own (measured right after the
search, before the recall check). Hashes are uniform random 64-bit codes with planted pairs at
Hamming distance 1..8; embeddings are 512-d float16 unit vectors drawn around 2,000 random
centres (clustered, as real embeddings are; cosine to the centre about 0.7) with planted twins
at cosine about 0.97. Prints: wall time of the search (index build included), peak RSS, planted
pairs found, and for the IVF index the recall@10 of its neighbours against exact search on 1,000
queries.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

RADIUS = 8
DIM = 512


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hash_case(n: int, n_pairs: int, seed: int) -> dict:
    from curator.features.neighbors import hamming_pairs

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**64, size=n, dtype=np.uint64, endpoint=False)
    src = rng.choice(n, n_pairs, replace=False)
    dst = rng.choice(np.setdiff1d(np.arange(n), src), n_pairs, replace=False)
    for s, d in zip(src, dst, strict=True):
        flips = rng.choice(64, int(rng.integers(1, RADIUS + 1)), replace=False)
        codes[d] = codes[s] ^ np.uint64(sum(1 << int(f) for f in flips))
    start = time.perf_counter()
    pairs = hamming_pairs(codes, 10, RADIUS, ivf_min_size=200_000, nprobe=16, seed=seed)
    wall = time.perf_counter() - start
    got = set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))
    found = sum((min(s, d), max(s, d)) in got for s, d in zip(src, dst, strict=True))
    return {
        "index": pairs.index,
        "wall_s": wall,
        "found": found,
        "pairs": len(got),
        "peak_rss_mib": peak_rss_mib(),
    }


def embedding_case(n: int, n_pairs: int, seed: int) -> dict:
    from curator.features.neighbors import cosine_pairs

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.empty((n, DIM), dtype=np.float16)
    for start in range(0, n, 100_000):  # generate in blocks: bounded float32 temporaries
        m = min(100_000, n - start)
        block = centres[rng.integers(0, len(centres), m)] + 0.045 * rng.standard_normal(
            (m, DIM), dtype=np.float32
        )
        vectors[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    src = rng.choice(n, n_pairs, replace=False)
    dst = rng.choice(np.setdiff1d(np.arange(n), src), n_pairs, replace=False)
    twin = vectors[src].astype(np.float32) + 0.01 * rng.standard_normal((n_pairs, DIM))
    vectors[dst] = twin / np.linalg.norm(twin, axis=1, keepdims=True)
    start = time.perf_counter()
    pairs = cosine_pairs(
        vectors, k=10, min_similarity=0.9, ivf_min_size=200_000, nprobe=16, seed=seed
    )
    wall = time.perf_counter() - start
    got = set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))
    found = sum((min(s, d), max(s, d)) in got for s, d in zip(src, dst, strict=True))
    out = {
        "index": pairs.index,
        "wall_s": wall,
        "found": found,
        "pairs": len(got),
        "peak_rss_mib": peak_rss_mib(),
    }
    if "IVF" in pairs.index:
        out["recall_at_10"] = ivf_recall(vectors, seed)
    return out


def ivf_recall(vectors: np.ndarray, seed: int) -> float:
    """Recall@10 of the same IVF index's neighbours against exact inner-product search."""
    import faiss

    from curator.features import neighbors

    rng = np.random.default_rng(seed + 1)
    queries = np.ascontiguousarray(
        vectors[rng.choice(len(vectors), 1000, replace=False)], dtype=np.float32
    )
    exact = faiss.IndexFlatIP(DIM)
    for start in range(0, len(vectors), neighbors.QUERY_BATCH):
        exact.add(
            np.ascontiguousarray(vectors[start : start + neighbors.QUERY_BATCH], dtype=np.float32)
        )
    _, truth = exact.search(queries, 10)
    del exact
    index, _ = neighbors.build_ip_index(vectors, 200_000, 16, seed)
    _, approx = index.search(queries, 10)
    return float(np.mean([len(set(a) & set(t)) / 10 for a, t in zip(approx, truth, strict=True)]))


def child(kind: str, n: int, n_pairs: int) -> None:
    result = (hash_case if kind == "hash" else embedding_case)(n, n_pairs, seed=0)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--kinds", default="hash,embedding")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.pairs)
        return
    print("| kind | n | index | wall s | peak RSS MiB | planted found | pairs | IVF recall@10 |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in args.kinds.split(","):
        for n in map(int, args.sizes.split(",")):
            out = subprocess.run(
                [sys.executable, __file__, "--pairs", str(args.pairs), "--child", kind, str(n)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            recall = f"{r['recall_at_10']:.3f}" if "recall_at_10" in r else "exact"
            print(
                f"| {kind} | {n:,} | {r['index']} | {r['wall_s']:.1f} | "
                f"{r['peak_rss_mib']:.0f} | {r['found']}/{args.pairs} | {r['pairs']:,} | "
                f"{recall} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
