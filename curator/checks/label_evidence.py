"""Can these probabilities support a count of label errors? A test on the user's own data.

Confident learning turns any probabilities into flags and a noise rate, however weak the model:
on CIFAR-10 a classifier on 16x16 thumbnails (37% accurate) "found" 57% of the labels wrong
with a precision of 0.25. A model's confident mistakes look exactly like label errors, so no
formula recovers precision from the probabilities alone; but two things can be measured, and
each can show that a count is not supported:

* **Planted errors.** Label errors are planted into a random sample of the user's images: the
  label is moved to another class drawn from the model's own probabilities (the confusions the
  model would find hardest, as real mislabels are). An image's out-of-fold probabilities do
  not depend on its own label, so this costs no retraining. The ranking must tell planted errors
  from the other images: the AUC, corrected for the real errors among those others (which look
  like planted ones: AUC_clean = (AUC - eta/2) / (1 - eta)), must reach ``min_planted_auc``.
  The filter's recall on planted errors is reported too.
* **A noise rate the scores can hold.** With planted errors as a sample of what mislabelled
  images score, the share of all images scoring below any threshold cannot be explained by
  fewer errors than F_all(t) / F_planted(t) allows at its smallest (a mixture-proportion upper
  bound on the noise rate, Scott et al. 2013). A claimed noise rate above that bound is
  inconsistent with the model's own scores.

When either fails, the check abstains: the flags stay, as a ranked review list, but no count or
noise rate is stated as a finding. Every rate carries a bootstrap interval.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curator.evaluation.intervals import interval_or_none, resamples
from curator.io.progress import progress

PLANTED_QUANTILES = (0.1, 0.25, 0.5)  # thresholds (planted-score quantiles) for the bound


def plant_errors(
    y: np.ndarray, probs: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, new labels): a random sample relabelled to a class drawn from the model's own
    probabilities without the given class (uniform where the model gives the rest nothing)."""
    n, k = probs.shape
    m = int(min(n // 2, max(50, round(fraction * n))))
    idx = np.sort(rng.choice(n, size=m, replace=False))
    weights = probs[idx].copy()
    weights[np.arange(m), y[idx]] = 0.0
    empty = weights.sum(axis=1) <= 0
    weights[empty] = 1.0
    weights[empty, y[idx][empty]] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    cumulative = weights.cumsum(axis=1)
    draws = (rng.random(m)[:, None] > cumulative).sum(axis=1)
    return idx, np.minimum(draws, k - 1)


RANKINGS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
DEFAULT_RANKING = "self_confidence"
MIN_VOTE_PLANTED = 50  # planted disagreements needed to compare the rankings


def vote_disagreements(y: np.ndarray, votes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(images, another label for each): images whose given label holds at least half of its
    annotators' votes while another annotator chose a different class (the most voted such
    class). Those other labels are real human mistakes on real images: planted as the given
    label, they look like the errors the ranking must find, as labels drawn from the model's
    probabilities do not (on CIFAR-10N they ranked the cleanlab scores in the opposite order
    to the real errors; the votes' order matched it with every model tried)."""
    images, other = [], []
    for k, v in enumerate(votes):
        if len(v) == 0:
            continue
        agree = int((v == y[k]).sum())
        differ = v[v != y[k]]
        if len(differ) and 2 * agree >= len(v):
            values, counts = np.unique(differ, return_counts=True)
            images.append(k)
            other.append(values[np.argmax(counts)])
    return np.asarray(images, np.int64), np.asarray(other, np.int64)


def choose_ranking(
    y: np.ndarray, probs: np.ndarray, votes: list[np.ndarray] | None
) -> dict[str, Any]:
    """The cleanlab ranking that best finds annotators' real disagreements planted as label
    errors (average precision of the planted images among all), when the annotations give at
    least MIN_VOTE_PLANTED of them; otherwise DEFAULT_RANKING, with the reason."""
    from cleanlab.rank import get_label_quality_scores
    from sklearn.metrics import average_precision_score

    images, other = vote_disagreements(y, votes or [])
    if len(images) < MIN_VOTE_PLANTED:
        return {
            "method": DEFAULT_RANKING,
            "chosen_by": "default",
            "why": f"{len(images)} images where an annotator disagreed with a label most votes "
            f"back, fewer than {MIN_VOTE_PLANTED}: rankings are compared only on real "
            "disagreements (errors drawn from the model's own probabilities chose the wrong "
            "one on CIFAR-10N)",
            "average_precision": None,
        }
    # every disagreement at once: an image's score depends on its own label only, so planting
    # more costs nothing and each ranking's average precision is measured on them all
    m = len(images)
    relabelled = y.copy()
    relabelled[images] = other
    truth = np.zeros(len(y), bool)
    truth[images] = True
    ap = {
        method: float(
            average_precision_score(
                truth, -get_label_quality_scores(relabelled, probs, method=method)
            )
        )
        for method in RANKINGS
    }
    best = max(RANKINGS, key=lambda method: (ap[method], -RANKINGS.index(method)))
    return {
        "method": best,
        "chosen_by": "annotator disagreements planted as errors",
        "why": f"{m} images given another annotator's label; average precision of finding them "
        f"{ap[best]:.3f} with {best} (chance {m / len(y):.3f})",
        "average_precision": ap,
        "n_planted": m,
    }


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores higher than a negative), ties counting half (Mann-Whitney)."""
    from sklearn.metrics import roc_auc_score

    truth = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    return float(roc_auc_score(truth, np.concatenate([positive, negative])))


def noise_upper_bound(score_all: np.ndarray, score_planted: np.ndarray) -> float:
    """min over thresholds t of F_all(t) / F_planted(t) (scores: lower = more suspect)."""
    ratios = [
        np.mean(score_all <= t) / np.mean(score_planted <= t)
        for t in np.quantile(score_planted, PLANTED_QUANTILES)
    ]
    return float(min(1.0, min(ratios)))


# what to do when the evidence is weak, by where the probabilities came from
FIXES = {
    "embeddings": "use real features (CLIP weights: `curator weights pull`), your own model's "
    "out-of-fold probabilities (`--pred-probs`), or the CNN trained on the images "
    "(label_quality.classifier: cnn)",
    "cnn": "give a stronger model's out-of-fold probabilities (`--pred-probs`), or CLIP "
    "weights (`curator weights pull`) for the classifier on the embeddings",
    "user": "these probabilities cannot support a count: give a stronger model's out-of-fold "
    "probabilities (from a model that never saw the image it scores)",
}


def order_score(scores: np.ndarray) -> np.ndarray:
    """Each image's place in the ranking as a number in (0, 1), 1 the most suspect: what the
    review list is sorted by when the evidence cannot make it a probability. Distinct for every
    image (ties broken by position), so no block of images shares one value."""
    order = np.argsort(scores, kind="stable")
    out = np.empty(len(scores))
    out[order] = 1.0 - (np.arange(len(scores)) + 0.5) / len(scores)
    return out


def wrong_label_probability(
    scores: np.ndarray, planted_scores: np.ndarray, eta: float
) -> np.ndarray:
    """For each image, the expected share of wrong labels among the images scoring as low as it
    or lower, eta * F_planted(s) / F_all(s) (planted errors standing for real ones), made
    non-increasing in s the way q-values are (the best cut at or above s), so the most suspect
    image is never given less than a milder one. Within a run of equal values the step is
    interpolated linearly towards the next value: the order of the scores is kept, no block of
    images ties, and each value stays between two measured cuts."""
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    f_all = np.arange(1, len(ranked) + 1) / len(ranked)
    f_planted = np.searchsorted(np.sort(planted_scores), ranked, side="right") / len(planted_scores)
    share = np.clip(eta * f_planted / f_all, 0.0, 1.0)
    step = np.maximum.accumulate(share[::-1])[::-1]  # max over every cut at or above s
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]])
    ends = np.r_[starts[1:], len(step)]
    smooth = step.copy()
    for a, b in zip(starts[:-1], ends[:-1], strict=True):  # the last run has no next value
        smooth[a:b] = step[a] - (step[a] - step[b]) * np.arange(b - a) / (b - a)
    out = np.empty_like(smooth)
    out[order] = smooth
    return out


def judge(
    y: np.ndarray,
    probs: np.ndarray,
    score_fn,
    flag_fn,
    noise_fn,
    settings: dict[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """The evidence record: planted-error test, noise bound, noise estimate with intervals, and
    each image's place in the ranking.

    ``score_fn(labels) -> scores`` (lower = more suspect), ``flag_fn(labels) -> bool mask`` and
    ``noise_fn(labels, probs) -> rate`` are the ranking, filter and noise estimate in use;
    ``settings["source"]`` says where the probabilities came from (embeddings, cnn, user).
    """
    n = len(y)
    level, reps = settings["ci_level"], settings["n_bootstrap"]
    idx, planted_labels = plant_errors(y, probs, settings["plant_fraction"], rng)
    relabelled = y.copy()
    relabelled[idx] = planted_labels
    scores = score_fn(y)
    planted_scores = score_fn(relabelled)[idx]
    others = np.setdiff1d(np.arange(n), idx)
    flagged = flag_fn(relabelled)
    recall = float(flagged[idx].mean())
    noise = noise_fn(y, probs)
    bound = noise_upper_bound(scores, planted_scores)

    boot_noise, boot_bound = [], []
    desc = "label_quality: evidence resamples"
    for take, planted_take in progress(
        resamples(rng, (n, len(idx)), reps), total=reps, desc=desc, unit="resample"
    ):
        boot_noise.append(noise_fn(y[take], probs[take]))
        boot_bound.append(noise_upper_bound(scores[take], planted_scores[planted_take]))
    raw_auc = auc(-planted_scores, -scores[others])
    eta = min(noise, bound)
    clean_auc = float(np.clip((raw_auc - eta / 2) / (1 - eta), 0.0, 1.0)) if eta < 1 else 0.0
    bound_ci = interval_or_none(np.asarray(boot_bound), level)
    reasons = []
    if clean_auc < settings["min_planted_auc"]:
        reasons.append(
            f"the ranking tells label errors planted in this data from the rest with AUC "
            f"{clean_auc:.2f}, below label_quality.min_planted_auc "
            f"{settings['min_planted_auc']:.2f}"
        )
    ceiling = bound_ci[1] if bound_ci[1] is not None else bound
    if noise > ceiling:
        reasons.append(
            f"the claimed noise rate {noise:.1%} exceeds {ceiling:.1%}, the most the model's "
            "own scores can hold"
        )
    return {
        "supported": not reasons,
        "p_wrong": wrong_label_probability(scores, planted_scores, eta),
        "order": order_score(scores),
        "reasons": reasons,
        "to_fix": FIXES[settings.get("source", "embeddings")] if reasons else None,
        "planted": {
            "n": len(idx),
            "share_of_images": len(idx) / n,
            "recall": recall,
            # of the images the filter flags once errors are planted, the share that are
            # planted ones: the list's precision on errors of known place, measured
            "flagged_share_planted": float(flagged[idx].sum() / max(flagged.sum(), 1)),
            "auc": raw_auc,
            "auc_corrected": clean_auc,
        },
        "noise_rate": {
            "value": noise,
            "ci": interval_or_none(np.asarray(boot_noise), level),
        },
        "noise_rate_upper_bound": {"value": bound, "ci": bound_ci},
        "min_planted_auc": settings["min_planted_auc"],
    }
