"""Whether a candidate pair is the same photo: the distance-ratio test.

Two copies of one photo are far closer to each other than either is to anything else; two
different but alike pictures (two thin '1's, two photos of one white car) sit among others like
them. So each image's scored neighbours are sorted by distance (1 - registered edge
correlation, features/edges.py) and a neighbour counts as a twin when a gap follows it: some
neighbour at or beyond it is at most ``max_ratio`` as far as the next one. With one twin that
is Lowe's ratio test (nearest over second nearest); with a photo saved three times, the two
copies of one image are followed by the gap to everything else (MAX_TWINS). A pair is
accepted when each image sees the other before such a gap; its ratio, the larger of the two
sides' smallest ratio behind the other, is its evidence. The ratio has no unit, so one
threshold means the same on digits and on photos, where distances do not: on CIFAR-10 edited
copies correlate 0.85-0.99 with their source, on the digit demo different digits up to 0.97.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

DISTANCE_FLOOR = 1e-4  # correlations of 0.9999 and above are the same picture: equal distance
# a gap counts after the first or second neighbour only: a photo and two copies. Further back,
# a run of alike pictures followed by the end of the scored list (each image keeps its few
# nearest) would look like a cluster of copies; larger clusters join through their pairs.
MAX_TWINS = 2
# The null's power law is fitted where an image's nearest is at least half as far as its next:
# copies are rare there (on CIFAR-10 with planted copies, 0.6% of them), alike pictures common.
# The fitted dimension moves by less than 0.3 between 0.4 and 0.6 on the digits and on CIFAR-10.
FIT_FROM = 0.5
MIN_FIT = 100  # images in the fitted range needed for an estimate
# the ratio used where no null model can be fitted (too few images), and to group copies for the
# fit: on the digit demo and on planted copies in CIFAR-10 it accepted no different picture
STRICT_RATIO = 0.2
RATIO_GRID = 0.05  # the ratios tried when choosing one


def distance(correlation: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 - np.asarray(correlation, np.float64), DISTANCE_FLOOR)


def pair_ratios(i: np.ndarray, j: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    """Each pair's ratio (inf where a side has no neighbour beyond the other to compare with).

    ``i``, ``j`` are image indices, one row per pair (exact copies already merged)."""
    d = distance(correlation)
    rows = pd.DataFrame({"me": np.r_[i, j], "d": np.r_[d, d]})
    rows = rows.sort_values(["me", "d"], kind="stable")
    by_image = rows.groupby("me")["d"]
    # each neighbour's distance over the next one's, for an image's first MAX_TWINS neighbours
    step = (rows["d"] / by_image.shift(-1)).where(by_image.cumcount() < MAX_TWINS).fillna(np.inf)
    # the smallest ratio at or behind each neighbour, within its image's sorted list
    behind = step[::-1].groupby(rows["me"][::-1]).cummin()
    side = behind.sort_index().to_numpy()
    return np.maximum(side[: len(i)], side[len(i) :])


@dataclass(frozen=True)
class NullModel:
    """How close different photos come, fitted on the user's own images.

    Among points spread with a smooth density in D dimensions, the ratio of a point's nearest
    to its second-nearest distance is distributed as r^D (P(ratio <= t) = t^D; the TwoNN
    estimator of intrinsic dimension, Facco et al. 2017): it depends on the neighbourhood's
    dimension, not on its scale. D is fitted by maximum likelihood to the images whose ratio is
    at least FIT_FROM, where copies are rare; extrapolated below, it says how many images have
    a different picture as close as a copy, and each such pair counts two images. Measured
    (benchmarks/RESULTS.md): on points spread evenly in 3 to 8 dimensions it recovers D and
    expects 1-1.7x the pairs the decision accepts; on the digit demo within 1.2 pairs of the
    wrong pairs accepted at every ratio up to 0.4 (2.6 at 0.5); on CIFAR-10 it expects more
    than a look at the pairs finds at loose ratios, so the precision it gives errs low there."""

    dimension: float
    n_images: float  # images whose nearest other picture follows the null
    n_fit: int

    def false_pairs(self, max_ratio: float) -> float:
        """Expected pairs of different pictures at a ratio of at most ``max_ratio``."""
        return self.n_images * max_ratio**self.dimension / 2


def twin_groups(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """A group number for each of ``n`` images: the connected components of the pairs (i, j),
    numbered in the order of their first image."""
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse]


def nearest_ratios(
    i: np.ndarray, j: np.ndarray, correlation: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """Each image's distance to the nearest other group of twins over the distance to the
    second nearest (images with two such neighbours). A photo and its copies count once: the
    neighbours of a photo saved twice would otherwise see two equally near images, a ratio
    near 1 that no different picture gives (5% of the points copied moved the fitted dimension
    of a 5-dimensional cloud to 5.5)."""
    d = distance(correlation)
    me = np.r_[i, j]
    rows = pd.DataFrame({"me": me, "other": group[np.r_[j, i]], "d": np.r_[d, d]})
    rows = rows[rows["other"].to_numpy() != group[me]]
    rows = rows.groupby(["me", "other"], sort=False)["d"].min().reset_index()
    rows = rows.sort_values(["me", "d"], kind="stable")
    rank = rows.groupby("me").cumcount().to_numpy()
    first = rows[rank == 0].set_index("me")["d"]
    second = rows[rank == 1].set_index("me")["d"]
    return (first.loc[second.index] / second).to_numpy()


def fit_null(ratios: np.ndarray) -> NullModel | None:
    """The power law fitted to the ratios of at least FIT_FROM (None with fewer than MIN_FIT)."""
    fitted = ratios[(ratios >= FIT_FROM) & (ratios <= 1.0)]
    n = len(fitted)
    if n < MIN_FIT:
        return None
    total_log = float(np.log(fitted).sum())

    def minus_log_likelihood(dim: float) -> float:
        # density dim * r^(dim - 1) on [FIT_FROM, 1], renormalised to that range
        return -(n * np.log(dim) + (dim - 1) * total_log - n * np.log1p(-(FIT_FROM**dim)))

    dim = float(minimize_scalar(minus_log_likelihood, bounds=(1e-3, 200), method="bounded").x)
    return NullModel(dimension=dim, n_images=n / (1 - FIT_FROM**dim), n_fit=n)


def choose_ratio(
    null: NullModel | None, ratios: np.ndarray, max_ratio: float, min_precision: float
) -> tuple[float, str]:
    """(the ratio to accept pairs at, why): the loosest ratio up to ``max_ratio``, in steps of
    RATIO_GRID, at which the null model expects at most 1 - ``min_precision`` of the accepted
    pairs (``ratios``: each scored pair's) to be different pictures, stopping at the first step
    that fails. Copies of a real photo are often recoloured, captioned or cropped and sit at
    ratios of 0.2-0.5 (CIFAR-10's own twins), where copies planted by curator rarely do; how far
    the ratio can go without admitting different pictures depends on the images, which the null
    model measures. Without a model, STRICT_RATIO."""
    if null is None:
        return min(STRICT_RATIO, max_ratio), "too few images to fit the null model"
    steps = [round(k * RATIO_GRID, 2) for k in range(1, int(max_ratio / RATIO_GRID + 1e-9) + 1)]
    if not steps or steps[-1] < max_ratio - 1e-9:
        steps.append(max_ratio)
    chosen = steps[0]
    for r in steps:
        n = int((ratios <= r).sum())
        if n and 1.0 - min(null.false_pairs(r), n) / n < min_precision:
            return chosen, f"at {r:.2f} the null model expects fewer than {min_precision:.0%} right"
        chosen = r
    return chosen, "max_distance_ratio reached"
