"""The distance-ratio decision on hand-made correlations."""

import numpy as np

from curator.checks.same_photo import pair_ratios


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
