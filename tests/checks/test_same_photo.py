"""The distance-ratio decision on hand-made correlations, and the null model on point clouds."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from curator.checks.same_photo import (
    MIN_FIT,
    STRICT_RATIO,
    NullModel,
    choose_ratio,
    fit_null,
    nearest_ratios,
    pair_ratios,
    twin_groups,
)


def _ratios(entries):
    i, j, corr = zip(*entries, strict=True)
    return pair_ratios(np.array(i), np.array(j), np.array(corr, float))


def test_a_twin_stands_out_of_its_neighbourhood():
    # 0 and 1 at distance 0.01; 0's next nearest at 0.20, 1's at 0.19
    ratio = _ratios([(0, 1, 0.99), (0, 2, 0.80), (1, 2, 0.81), (1, 3, 0.75), (2, 3, 0.7)])
    np.testing.assert_allclose(ratio[0], max(0.01 / 0.20, 0.01 / 0.19))
    assert ratio[0] <= 0.2 and (ratio[1:] > 0.2).all()


def test_alike_pictures_among_alike_pictures_are_not_twins():
    """Five thin 1s at correlation 0.96-0.97 with one another: close in absolute terms, but
    none much closer to one than to the rest."""
    rng = np.random.default_rng(0)
    ratio = _ratios([(a, b, 0.96 + 0.01 * rng.random()) for a in range(5) for b in range(a + 1, 5)])
    assert (ratio > 0.5).all()


def test_a_photo_saved_three_times_is_found_whole():
    """0, 1, 2 are one photo three times: each pair's nearest other image is the third copy
    (nearest over second nearest says nothing), but all three are followed by the same gap."""
    ratio = _ratios(
        [
            (0, 1, 0.995),
            (0, 2, 0.99),
            (1, 2, 0.97),
            (0, 3, 0.7),
            (1, 3, 0.72),
            (2, 4, 0.6),
            (3, 4, 0.65),
        ]
    )
    assert (ratio[:3] <= 0.2).all() and (ratio[3:] > 0.2).all()
    # 0-1: 0 sees the gap 0.01 / 0.30 behind 1, 1 sees 0.03 / 0.28: the larger side counts
    np.testing.assert_allclose(ratio[0], 0.03 / 0.28)


def test_a_pair_alone_has_no_yardstick():
    """Two images with no other neighbour: nothing to compare their distance with."""
    assert np.isinf(_ratios([(0, 1, 0.999)])).all()


def _cloud(dim: int, n: int, copies: int = 0) -> tuple[np.ndarray, ...]:
    """Each point's 4 nearest among ``n`` random points on a ``dim``-dimensional torus (no
    borders), plus a near copy of the first ``copies`` points; correlation falls with distance."""
    rng = np.random.default_rng(dim)
    x = rng.random((n, dim))
    x = np.r_[x, (x[:copies] + rng.normal(0, 1e-4, (copies, dim))) % 1.0]
    dist, idx = cKDTree(x, boxsize=1.0).query(x, k=5)
    i, j = np.repeat(np.arange(len(x)), 4), idx[:, 1:].ravel()
    key, first = np.unique(np.minimum(i, j) * len(x) + np.maximum(i, j), return_index=True)
    corr = 1 - dist[:, 1:].ravel()[first]
    return key // len(x), key % len(x), corr


def _null(i: np.ndarray, j: np.ndarray, corr: np.ndarray) -> tuple:
    """(the null model, each pair's ratio), twins accepted at 0.2 as the check does."""
    ratio = pair_ratios(i, j, corr)
    twins = ratio <= 0.2
    group = twin_groups(max(i.max(), j.max()) + 1, i[twins], j[twins])
    return fit_null(nearest_ratios(i, j, corr, group)), ratio


@pytest.mark.parametrize("dim", [3, 5, 8])
def test_the_null_model_fits_the_dimension_and_counts_alike_pairs(dim):
    """Points spread evenly in D dimensions have no copies: the ratio test's pairs among them are
    all different pictures, and the model fitted to their ratios recovers D and expects as many
    such pairs as the decision accepts, or somewhat more (it errs towards lower precision)."""
    i, j, corr = _cloud(dim, 4000)
    null, ratio = _null(i, j, corr)
    assert null is not None and abs(null.dimension - dim) < 0.3
    for t in (0.5, 0.6):
        accepted = (ratio <= t).sum()
        assert accepted <= null.false_pairs(t) <= 2 * accepted + 1


def test_copies_do_not_move_the_null_model():
    """200 near copies among 4000 points: their ratios lie far below where the model is fitted,
    so it still expects almost no different pictures among the pairs accepted at 0.2."""
    i, j, corr = _cloud(5, 4000, copies=200)
    null, ratio = _null(i, j, corr)
    assert null is not None and abs(null.dimension - 5) < 0.3
    accepted = (ratio <= 0.2).sum()
    assert accepted >= 200 and null.false_pairs(0.2) < 1


def test_too_few_images_give_no_null_model():
    assert fit_null(np.linspace(0.5, 1, MIN_FIT - 1)) is None
    assert fit_null(np.linspace(0.5, 1, MIN_FIT)) is not None


def test_the_ratio_in_use_is_the_loosest_the_null_model_keeps_precise():
    """With 1,000 images of dimension 4, N t^D / 2 pairs of different pictures are expected at a
    ratio t: 0.05 at 0.1, 0.8 at 0.2, 1.95 at 0.25, 4.1 at 0.3. With 20 accepted pairs at every
    ratio up to 0.3 and 100 beyond, 95% right holds at 0.2 (0.8 of 20 wrong) and fails at 0.25
    (1.95 of 20): the choice stops at 0.2, and says why."""
    null = NullModel(dimension=4.0, n_images=1000.0, n_fit=500)
    ratios = np.r_[np.full(20, 0.05), np.full(100, 0.32)]
    used, why = choose_ratio(null, ratios, 0.5, 0.95)
    assert used == 0.2 and "at 0.25" in why
    # a looser target reaches further, and max_distance_ratio caps it
    assert choose_ratio(null, ratios, 0.5, 0.5)[0] == 0.5
    assert choose_ratio(null, ratios, 0.33, 0.5) == (0.33, "max_distance_ratio reached")
    # without a model: the strict ratio, never above the cap
    assert choose_ratio(None, ratios, 0.5, 0.95)[0] == STRICT_RATIO
    assert choose_ratio(None, ratios, 0.1, 0.95)[0] == 0.1
