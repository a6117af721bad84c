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

import numpy as np
import pandas as pd

DISTANCE_FLOOR = 1e-4  # correlations of 0.9999 and above are the same picture: equal distance
# a gap counts after the first or second neighbour only: a photo and two copies. Further back,
# a run of alike pictures followed by the end of the scored list (each image keeps its few
# nearest) would look like a cluster of copies; larger clusters join through their pairs.
MAX_TWINS = 2


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
