"""How should the evidence check plant label errors? Two plantings compared on CIFAR-10N.

Usage (after the runs benchmarks/eval_label_evidence.py names, which keep the probabilities):
  .venv/bin/python benchmarks/eval_planting.py /tmp/le/kl /tmp/le/cnn /tmp/le/cnn_clean \\
      [--boost 3.0]

For each kept audits folder (``DIR/audits/pred_probs.parquet``; images labelled with
``--given``, a CIFAR-10N human label) and, with ``--boost``, a synthetic strong model (the last
folder's probabilities with ``boost`` added to the true class's log-probability: a sharper model
whose mistakes are not the labels' mistakes), it prints the true noise rate, the noise rate
confident learning claims, and for two ways of planting errors (2% of the images, ranked by
self_confidence):

* ``uniform``: curator's planting (checks/label_evidence.plant_errors): images drawn uniformly, a
  new label drawn from the model's probabilities without the given class;
* ``ambiguity-weighted``: images drawn in proportion to 1 - p(given label), among those whose
  given label is the model's top class, the new label as above: errors planted where the model
  itself sees another class, as annotators' mistakes are;

the planted-error AUC against the rest (uncorrected), the noise bound min_t F_all(t) /
F_planted(t) (checks/label_evidence.noise_upper_bound), and the same bound from binomial limits
(Jeffreys, 95% over the three thresholds: the upper limit of F_all over the lower limit of
F_planted), which does not fall to 0 when no real image scores below a planted quantile.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from cleanlab.rank import get_label_quality_scores
from scipy.stats import beta

from curator.checks import label_evidence
from curator.checks.label_quality import noise_rates

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = REPO.parent / "shared/devdata/cifar10n-train/labels.csv.gz"


def load(folder: Path, labels: pd.DataFrame, given: str) -> tuple:
    probs = pd.read_parquet(folder / "audits" / "pred_probs.parquet").set_index("path")
    truth = labels.loc[probs.index]
    classes = sorted(c[2:] for c in probs.columns if c.startswith("p_"))
    index = {c: k for k, c in enumerate(classes)}
    p = probs[[f"p_{c}" for c in classes]].to_numpy()
    return p, truth[given].map(index).to_numpy(), truth["clean_label"].map(index).to_numpy()


def boosted(p: np.ndarray, true: np.ndarray, boost: float) -> np.ndarray:
    logp = np.log(np.maximum(p, 1e-12)) + boost * np.eye(p.shape[1])[true]
    q = np.exp(logp - logp.max(axis=1, keepdims=True))
    return q / q.sum(axis=1, keepdims=True)


def ambiguity_weighted(y: np.ndarray, p: np.ndarray, m: int, rng: np.random.Generator) -> tuple:
    weight = np.where(p.argmax(axis=1) == y, 1.0 - p[np.arange(len(y)), y], 0.0)
    if (weight > 0).sum() < m:
        weight = np.maximum(weight, 1e-12)
    idx = np.sort(rng.choice(len(y), size=m, replace=False, p=weight / weight.sum()))
    w = p[idx].copy()
    w[np.arange(m), y[idx]] = 0.0
    w /= w.sum(axis=1, keepdims=True)
    return idx, np.array([rng.choice(p.shape[1], p=row) for row in w])


def binomial_bound(scores: np.ndarray, planted: np.ndarray, level: float = 0.95) -> float:
    alpha = (1 - level) / (2 * len(label_evidence.PLANTED_QUANTILES))
    ratios = []
    for t in np.quantile(planted, label_evidence.PLANTED_QUANTILES):
        k, n = int((scores <= t).sum()), len(scores)
        kp, n_p = int((planted <= t).sum()), len(planted)
        upper = beta.ppf(1 - alpha, k + 0.5, n - k + 0.5) if k < n else 1.0
        lower = beta.ppf(alpha, kp + 0.5, n_p - kp + 0.5) if kp > 0 else 0.0
        ratios.append(upper / max(lower, 1e-12))
    return float(min(1.0, min(ratios)))


def row(name: str, p: np.ndarray, y: np.ndarray, true: np.ndarray) -> str:
    rng = np.random.default_rng(0)
    claimed = noise_rates(y, p, [str(c) for c in range(p.shape[1])])["overall"]
    score = lambda labels: get_label_quality_scores(labels, p, method="self_confidence")  # noqa: E731
    s = score(y)
    m = max(50, round(0.02 * len(y)))
    cells = []
    for plant in (
        lambda: label_evidence.plant_errors(y, p, 0.02, rng),
        lambda: ambiguity_weighted(y, p, m, rng),
    ):
        idx, new = plant()
        labels = y.copy()
        labels[idx] = new
        planted = score(labels)[idx]
        others = np.setdiff1d(np.arange(len(y)), idx)
        cells.append(
            f"{label_evidence.auc(-planted, -s[others]):.3f} | "
            f"{label_evidence.noise_upper_bound(s, planted):.3f} | "
            f"{binomial_bound(s, planted):.3f}"
        )
    return (
        f"| {name} | {(p.argmax(axis=1) == true).mean():.3f} | {(y != true).mean():.3f} | "
        f"{claimed:.3f} | " + " | ".join(cells) + " |"
    )


def arguments(doc: str) -> argparse.Namespace:
    """The options this script and eval_planting_temperature.py share."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--labels", default=str(DEFAULT_LABELS))
    ap.add_argument("--given", default="random_label1")
    ap.add_argument("--boost", type=float, default=None)
    return ap.parse_args()


def main() -> None:
    args = arguments(__doc__)
    labels = pd.read_csv(args.labels).set_index("path")
    print(
        "| probabilities | accuracy vs true | true noise | claimed (confident learning) | "
        "uniform: AUC | bound | binomial bound | ambiguity-weighted: AUC | bound | "
        "binomial bound |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for folder in args.folders:
        p, y, true = load(folder, labels, args.given)
        print(row(str(folder), p, y, true), flush=True)
    if args.boost is not None:
        name = f"{args.folders[-1]} boosted by {args.boost} toward the true class"
        print(row(name, boosted(p, true, args.boost), y, true))


if __name__ == "__main__":
    main()
