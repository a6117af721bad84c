"""Small statistics shared by the checks and the evaluation."""

from __future__ import annotations

import numpy as np


def jeffreys_interval(successes, n, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys interval of a proportion: ``successes`` (may be fractional, e.g. a sum of
    probabilities) out of ``n``; honest at small n and at 0 or n successes."""
    from scipy.stats import beta

    successes, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    tail = (1 - level) / 2
    a, b = successes + 0.5, n - successes + 0.5
    return beta.ppf(tail, a, b), beta.ppf(1 - tail, a, b)
