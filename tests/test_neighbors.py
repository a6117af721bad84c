import numpy as np
import pytest

from curator.features.hashes import hamming
from curator.neighbors import cosine_pairs, hamming_pairs, multihash_layout


def planted_codes(n: int, n_pairs: int, distance: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**63, size=n, dtype=np.uint64) * 2 + rng.integers(0, 2, n).astype(
        np.uint64
    )
    src = rng.choice(n // 2, n_pairs, replace=False)
    dst = n // 2 + rng.choice(n // 2, n_pairs, replace=False)
    for s, d in zip(src, dst, strict=True):
        flips = rng.choice(64, distance, replace=False)
        codes[d] = codes[s] ^ np.uint64(sum(1 << int(f) for f in flips))
    return codes, set(
        zip(np.minimum(src, dst).tolist(), np.maximum(src, dst).tolist(), strict=True)
    )


@pytest.mark.parametrize("radius", [0, 3, 8])
def test_hamming_pairs_is_exact(radius):
    codes, planted = planted_codes(3000, 40, distance=radius)
    found = hamming_pairs(codes, radius)
    got = set(zip(found.i.tolist(), found.j.tolist(), strict=True))
    assert planted <= got
    i, j = np.triu_indices(len(codes), k=1)  # brute force, fine at this size
    d = hamming(codes[i], codes[j])
    assert got == set(zip(i[d <= radius].tolist(), j[d <= radius].tolist(), strict=True))
    assert (found.value <= radius).all() and (found.i < found.j).all()


def test_multihash_layout_for_a_million():
    assert multihash_layout(1_000_000, 8) == (3, 21)


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("ivf_min_size", [10**9, 1000])
def test_cosine_pairs_finds_planted_neighbours(ivf_min_size):
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=(4000, 32)))
    twins = unit(base[:50] + 0.02 * rng.normal(size=(50, 32)))
    vectors = np.vstack([base, twins])
    found = cosine_pairs(
        vectors, k=5, min_similarity=0.95, ivf_min_size=ivf_min_size, nprobe=8, seed=0
    )
    got = set(zip(found.i.tolist(), found.j.tolist(), strict=True))
    assert {(k, 4000 + k) for k in range(50)} <= got
    assert ("IVF" in found.index) == (ivf_min_size == 1000)
    exact = np.einsum("ij,ij->i", vectors[found.i], vectors[found.j])
    assert np.allclose(exact, found.value, atol=2e-3) and (found.value >= 0.95).all()
