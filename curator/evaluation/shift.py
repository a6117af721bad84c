"""Split shift: is each held-out split drawn like train?

Two views. Per image property (brightness, contrast, ...: features/properties.py), the
two-sample Kolmogorov-Smirnov distance of the held-out split to train, "shifted" at a level
shared over every (property, split) test. On the embeddings, a domain classifier: a logistic
regression asked to tell the held-out split from train, scored out of fold. Its ROC AUC is 0.5
when the splits are drawn alike and rises with any difference the embedding sees (content,
style, capture conditions, class mix), whatever the splits' sizes: the classifier two-sample
test of Lopez-Paz and Oquab (ICLR 2017). The interval is a bootstrap of the out-of-fold scores
(each side resampled on its own), and "shifted" means the interval lies above 0.5. The held-out
images the classifier finds least like train (highest out-of-fold score) are the ones to look
at; their score is also what evaluate bins into "train-likeness" groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator.evaluation.intervals import percentile_interval, resamples
from curator.evaluation.metrics import rounded
from curator.features.properties import PROPERTY_NAMES
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
    """Out-of-fold probability that each ``held`` row is not from train, and the AUC summary.

    Standardised features, class-balanced logistic regression, stratified folds: every score
    comes from a model that did not see that image."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.vstack([train, held]).astype(np.float64)
    y = np.r_[np.zeros(len(train), dtype=int), np.ones(len(held), dtype=int)]
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=p.regularization, class_weight="balanced", max_iter=2000),
    )
    folds = StratifiedKFold(p.folds, shuffle=True, random_state=p.seed)
    scores = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, scores))
    rng = np.random.default_rng(p.seed)
    neg, pos = scores[y == 0], scores[y == 1]
    both = np.r_[np.ones(len(pos)), np.zeros(len(neg))]  # each side resampled on its own
    boots = np.array(
        [
            roc_auc_score(both, np.r_[pos[a], neg[b]])
            for a, b in resamples(rng, (len(pos), len(neg)), p.n_bootstrap)
        ]
    )
    summary: dict[str, Any] = {"n": len(held), "n_train": len(train), "auc": rounded(auc)}
    summary["shifted"] = None  # no verdict without an interval (shift.n_bootstrap: 0)
    if len(boots):
        lo, hi = percentile_interval(boots, p.ci_level)
        summary |= {"auc_ci": [rounded(lo), rounded(hi)], "shifted": bool(lo > 0.5)}
    return scores[y == 1], summary
