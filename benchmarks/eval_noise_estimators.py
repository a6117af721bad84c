"""Can a noise count come from the probabilities without planting? Three estimators against
CIFAR-10N's truth. A measurement for issue 29 item 1 (nothing in curator uses it).

Usage (after the runs benchmarks/eval_label_evidence.py names, which keep the probabilities):
  .venv/bin/python benchmarks/eval_noise_estimators.py /tmp/le/kl /tmp/le/cnn /tmp/le/cnn_clean \\
      --boost 3.0

For each kept audits folder (images labelled with ``--given``), the last folder sharpened toward
the true class (``--boost``), that sharpened model's noisy posterior (its probabilities times
the true transition matrix: what a perfectly calibrated model trained on the given labels
would say) and Dirichlet-random probabilities (chance), it prints:

* confident learning's count (checks/label_quality.noise_rates);
* the anchor-point estimate of the transition matrix (Patrini et al. 2017): row j is the mean
  probability vector of the images whose p(j) is at or above its q-quantile, the noise rate
  sum_j prior_j (1 - T_jj); at q = 0.9 / 0.95 / 0.97 / 0.99 / 0.995. It assumes the
  probabilities estimate p(given label | image) and that the most confident images are pure:
  the estimate should settle as q rises;
* the same after temperature scaling on the given labels (one temperature by likelihood);
* the maximum-likelihood transition matrix (EM) treating the probabilities as p(true | image):
  labels drawn as sum_j p_j T[j, label]; the noise rate is the mean posterior of an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from curator.checks.label_quality import noise_rates

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.eval_planting import DEFAULT_LABELS, boosted, load

QUANTILES = (0.9, 0.95, 0.97, 0.99, 0.995)


def anchor_rate(y: np.ndarray, p: np.ndarray, q: float) -> float:
    k = p.shape[1]
    diagonal = np.array([p[p[:, j] >= np.quantile(p[:, j], q), j].mean() for j in range(k)])
    prior = np.bincount(y, minlength=k) / len(y)
    return float(np.sum(prior * (1 - diagonal)))


def temperature_scaled(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    logp = np.log(np.maximum(p, 1e-12))

    def scaled(log_t: float) -> np.ndarray:
        z = logp / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    fit = minimize_scalar(lambda t: -scaled(t)[np.arange(len(y)), y].mean(), bounds=(-3, 3))
    return np.exp(scaled(fit.x))


def em_rate(y: np.ndarray, p: np.ndarray, iterations: int = 200) -> float:
    n, k = p.shape
    t = np.full((k, k), 0.1 / (k - 1))
    np.fill_diagonal(t, 0.9)
    for _ in range(iterations):
        r = p * t[:, y].T
        r /= r.sum(axis=1, keepdims=True)
        counts = np.stack([r[y == c].sum(axis=0) for c in range(k)], axis=1)
        t = counts / counts.sum(axis=1, keepdims=True)
    return float(np.mean(1 - r[np.arange(n), y]))


def noisy_posterior(p: np.ndarray, y: np.ndarray, true: np.ndarray) -> np.ndarray:
    k = p.shape[1]
    t = np.zeros((k, k))
    np.add.at(t, (true, y), 1)
    return p @ (t / t.sum(axis=1, keepdims=True))


def row(name: str, p: np.ndarray, y: np.ndarray, true: np.ndarray) -> str:
    claimed = noise_rates(y, p, [str(c) for c in range(p.shape[1])])["overall"]
    scaled = temperature_scaled(y, p)
    anchors = " / ".join(f"{anchor_rate(y, p, q):.3f}" for q in QUANTILES)
    anchors_scaled = " / ".join(f"{anchor_rate(y, scaled, q):.3f}" for q in QUANTILES)
    return (
        f"| {name} | {(p.argmax(axis=1) == true).mean():.3f} | {(y != true).mean():.3f} | "
        f"{claimed:.3f} | {anchors} | {anchors_scaled} | {em_rate(y, p):.3f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--labels", default=str(DEFAULT_LABELS))
    ap.add_argument("--given", default="random_label1")
    ap.add_argument("--boost", type=float, default=3.0)
    args = ap.parse_args()
    labels = pd.read_csv(args.labels).set_index("path")
    print(
        "| probabilities | accuracy vs true | true noise | confident learning | anchors at q "
        + " / ".join(map(str, QUANTILES))
        + " | the same, temperature-scaled | EM, probabilities as p(true) |"
    )
    print("| --- | ---: | ---: | ---: | --- | --- | ---: |")
    for folder in args.folders:
        p, y, true = load(folder, labels, args.given)
        p = p / p.sum(axis=1, keepdims=True)
        print(row(str(folder), p, y, true), flush=True)
    sharp = boosted(p, true, args.boost)
    print(row(f"the last, boosted by {args.boost:g}", sharp, y, true), flush=True)
    print(row("its noisy posterior", noisy_posterior(sharp, y, true), y, true), flush=True)
    chance = np.random.default_rng(0).dirichlet(np.ones(p.shape[1]), size=len(y))
    print(row("chance (Dirichlet-random)", chance, y, true), flush=True)


if __name__ == "__main__":
    main()
