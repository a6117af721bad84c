import numpy as np
import pytest

from curator.features.hashes import hamming
from curator.features.neighbors import cosine_pairs, hamming_pairs


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


@pytest.mark.parametrize("ivf_min_size", [10**9, 1000])
@pytest.mark.parametrize("radius", [3, 8])
def test_hamming_pairs_are_nearest_neighbours_within_the_radius(radius, ivf_min_size):
    n, k = 3000, 4
    codes, planted = planted_codes(n, 40, distance=radius)
    found = hamming_pairs(codes, k, radius, ivf_min_size, nprobe=8, seed=0)
    got = set(zip(found.i.tolist(), found.j.tolist(), strict=True))
    exact = ivf_min_size > n
    if exact:
        assert planted <= got  # a planted twin is far nearer than any random code
    else:  # IVF probes 8 of 75 lists: approximate (benchmarks/bench_scale.py measures recall)
        assert len(planted & got) >= 0.95 * len(planted)
    assert (found.value <= radius).all() and (found.i < found.j).all()
    assert np.array_equal(found.value, hamming(codes[found.i], codes[found.j]))
    assert len(got) <= n * k  # bounded by k per item, however many lie within the radius
    assert ("IVF" in found.index) == (ivf_min_size == 1000)
    if exact:  # the exact index: every item's nearest other within the radius
        i, j = np.triu_indices(n, k=1)  # brute force, fine at this size
        d = hamming(codes[i], codes[j])
        nearest = np.full(n, 65)
        np.minimum.at(nearest, i, d)
        np.minimum.at(nearest, j, d)
        best_found = np.full(n, 65)
        np.minimum.at(best_found, found.i, found.value)
        np.minimum.at(best_found, found.j, found.value)
        within = nearest <= radius
        assert np.array_equal(best_found[within], nearest[within])


def test_hamming_pairs_stay_bounded_when_all_codes_are_alike():
    codes = np.full(500, 0x0F0F0F0F0F0F0F0F, dtype=np.uint64)  # 124,750 pairs at distance 0
    found = hamming_pairs(codes, 5, 10, 10**9, nprobe=8, seed=0)
    assert 250 <= len(found.i) <= 500 * 5 and (found.value == 0).all()


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
