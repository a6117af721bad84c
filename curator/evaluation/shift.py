"""Split shift: is each held-out split drawn like train?

Two views. Per image property (brightness, contrast, ...: features/properties.py), the
two-sample Kolmogorov-Smirnov distance of the held-out split to train, "shifted" at a level
shared over every (property, split) test. On the embeddings, a domain classifier: a ridge
regression asked to tell the held-out split from train, scored out of fold. Its ROC AUC is 0.5
when the splits are drawn alike and rises with any difference the embedding sees (content,
style, capture conditions, class mix), whatever the splits' sizes: the classifier two-sample
test of Lopez-Paz and Oquab (ICLR 2017). "Shifted" means the AUC beats all but a ``shift.alpha``
share of the same procedure run on random relabellings of the same images (a permutation test:
its false alarms stay at its level on random splits). The held-out
images the classifier finds least like train (highest out-of-fold score) are the ones to look
at; their score is also what evaluate bins into "train-likeness" groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator.evaluation.metrics import rounded
from curator.features.properties import PROPERTY_NAMES
from curator.io.progress import progress
from curator.params import ShiftParams


def property_shift(frame: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """Per property and held-out split: KS distance to train, p-value, medians; 'shifted' when
    the p-value clears ``alpha`` shared over all the tests (Bonferroni)."""
    from scipy.stats import ks_2samp

    train = frame[frame["split"] == "train"]
    others = sorted(s for s in frame["split"].unique() if s != "train")
    if train.empty or not others:
        return {"alpha": alpha, "tests": {}}
    n_tests = len(PROPERTY_NAMES) * len(others)
    tests: dict[str, dict[str, Any]] = {}
    for name in PROPERTY_NAMES:
        for split in others:
            held = frame.loc[frame["split"] == split, name]
            result = ks_2samp(held, train[name])
            tests.setdefault(name, {})[split] = {
                "n": len(held),
                "ks": float(result.statistic),
                "p_value": float(result.pvalue),
                "shifted": bool(result.pvalue < alpha / n_tests),
                "median": float(held.median()),
                "train_median": float(train[name].median()),
            }
    return {"alpha": alpha, "n_tests": n_tests, "tests": tests}


def shifted_properties(properties: dict[str, Any]) -> dict[str, list[str]]:
    """Per held-out split, the properties ``property_shift`` calls shifted, in its order."""
    out: dict[str, list[str]] = {}
    for name, by_split in properties["tests"].items():
        for split, test in by_split.items():
            if test["shifted"]:
                out.setdefault(split, []).append(name)
    return out


def domain_classifier(
    train: np.ndarray, held: np.ndarray, p: ShiftParams
) -> tuple[np.ndarray, dict[str, Any]]:
    """Out-of-fold score of how unlike train each ``held`` row looks, and the test's summary.

    The classifier is a ridge regression of "held out" on the standardised features, fitted
    per fold (folds drawn without looking at the labels), so every score comes from a model
    that did not see that image. Its AUC is compared with the AUCs of the same procedure on
    ``shift.n_permutations`` random relabellings of the same images (the split labels shuffled,
    every fold refitted): the p-value is the share of relabellings that score as high, and its
    false-alarm rate is its level on exchangeable splits whatever the classifier's own variance
    (a bootstrap of the out-of-fold scores was not: it ignores the refits)."""
    x = np.vstack([train, held]).astype(np.float64)
    y = np.r_[np.zeros(len(train)), np.ones(len(held))]
    rng = np.random.default_rng(p.seed)
    fits = _fold_fits(x, _folds(len(y), p.folds, rng), p.penalty)
    observed = _out_of_fold_scores(x, y[:, None], fits)[:, 0]
    auc = float(_aucs(observed[:, None], y)[0])
    aucs = [np.empty(0)]
    desc = "shift: refits on random splits"
    with progress(total=p.n_permutations, desc=desc, unit="refit") as bar:
        for labels in _relabellings(y, p.n_permutations, rng):
            aucs.append(_aucs(_out_of_fold_scores(x, labels, fits), labels))
            bar.update(labels.shape[1])
    null = np.concatenate(aucs)
    summary: dict[str, Any] = {"n": len(held), "n_train": len(train), "auc": rounded(auc)}
    summary["shifted"] = None  # no verdict without a null (shift.n_permutations: 0)
    if len(null):
        p_value = (1 + int((null >= auc - 1e-12).sum())) / (1 + len(null))
        summary |= {
            "p_value": p_value,
            "n_permutations": len(null),
            "null_auc_95": rounded(np.quantile(null, 0.95)),
            "shifted": bool(p_value <= p.alpha),
        }
    return observed[len(train) :], summary


PERMUTATION_BLOCK = 64  # relabellings scored at once: memory n x 64 scores


def _folds(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Each row's fold, at random and blind to the labels (so a relabelling meets the very
    procedure the real labels met)."""
    return rng.permutation(np.arange(n) % k)


def _relabellings(y: np.ndarray, n: int, rng: np.random.Generator):
    """Blocks of random permutations of the labels, as columns."""
    for start in range(0, n, PERMUTATION_BLOCK):
        size = min(PERMUTATION_BLOCK, n - start)
        yield np.stack([rng.permutation(y) for _ in range(size)], axis=1)


def _fold_fits(x: np.ndarray, folds: np.ndarray, penalty: float) -> list[tuple]:
    """Per fold, what does not depend on the labels: its rows, the training rows' mean and
    standard deviation, and the Cholesky factor of X'X + penalty n I on the standardised
    training rows. Computed once, shared by the real labels and every relabelling."""
    from scipy.linalg import cho_factor

    fits = []
    for k in np.unique(folds):
        fit = folds != k
        mean, sd = x[fit].mean(axis=0), x[fit].std(axis=0)
        sd[sd == 0] = 1.0
        xf = (x[fit] - mean) / sd
        gram = xf.T @ xf
        gram[np.diag_indices_from(gram)] += penalty * len(xf)
        fits.append((fit, mean, sd, cho_factor(gram)))
    return fits


def _out_of_fold_scores(x: np.ndarray, labels: np.ndarray, fits: list[tuple]) -> np.ndarray:
    """(n, columns) out-of-fold ridge predictions, one column per label vector: per fold,
    w = (X'X + penalty n I)^-1 X'(y - mean y) on the standardised training rows plus the
    intercept mean y; each column one matrix product (the labels are centred, so the features'
    means drop out of X'y)."""
    from scipy.linalg import cho_solve

    out = np.empty(labels.shape)
    for fit, mean, sd, factor in fits:
        base = labels[fit].mean(axis=0)  # the intercept: the held-out share of the fit rows
        w = cho_solve(factor, (x[fit].T @ (labels[fit] - base)) / sd[:, None]) / sd[:, None]
        out[~fit] = x[~fit] @ w - mean @ w + base
    return out


def _aucs(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ROC AUC of each column of ``scores`` against the 0/1 column of ``labels`` (a shared 1-d
    ``labels`` serves every column): the Mann-Whitney statistic from ranks, ties counting half."""
    from scipy.stats import rankdata

    labels = labels if labels.ndim == 2 else np.repeat(labels[:, None], scores.shape[1], axis=1)
    ranks = rankdata(scores, axis=0)
    n1 = labels.sum(axis=0)
    n0 = len(labels) - n1
    return ((ranks * labels).sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
