"""Consensus labels from annotators' votes, with the aggregation chosen on held-out votes.

No single aggregation is best everywhere: a plain majority vote is hard to beat with many
anonymous workers, one accuracy per annotator (one-coin Dawid-Skene) finds a spammer among a
few annotators, a confusion matrix shared by all annotators learns which classes people mix up
(cat and dog) and so breaks three-way ties by evidence, and a full confusion matrix per
annotator (Dawid & Skene 1979) needs many votes each. So each is fitted (EM) with one vote per
item held out, and the one that best predicts the held-out votes is used (log-likelihood).
The same criterion sets two more things:

* how much the image itself counts: where out-of-fold class probabilities from a model of the
  images exist (label_quality), they replace the class frequencies as each item's prior, with a
  weight from 0 (ignored) to 1 (as CROWDLAB, Goh et al. 2022, combines a classifier with
  annotators); a weak image model gets a low weight;
* a temperature on the votes' evidence: votes on one image are not independent (hard images
  draw the same mistakes) and the fitted confusions are estimates, so the plug-in posterior is
  overconfident; tempering the likelihood until held-out votes are best predicted makes
  ``consensus_confidence`` calibrated (benchmarks/RESULTS.md: reliability on CIFAR-10N).

Ties in the votes are recorded; the chosen model breaks them by its evidence (annotator
reliability, class confusions, the image), never by class frequency alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

AGGREGATIONS = ("majority_vote", "one_coin", "class_confusion", "full")
IMAGE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
# The power on the votes' evidence is searched over [MIN_T, MAX_T] (log scale, bounded
# golden-section search: the optimum, not a grid point; on CIFAR-10N it lies below 0.5, the
# old grid's edge); the candidates table reports the held-out fit at REPORTED_TEMPERATURES.
MIN_T, MAX_T = 0.02, 2.0
REPORTED_TEMPERATURES = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)
SMOOTHING = 0.01  # Dirichlet pseudo-count keeping confusion matrices away from exact zeros
FLOOR = 1e-6  # smallest image probability used as evidence (a log of zero is no evidence)


@dataclass(frozen=True)
class Votes:
    """(item, annotator, label) code triples and the sizes they index into."""

    item: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    n_items: int
    n_annotators: int
    n_classes: int

    def subset(self, keep: np.ndarray) -> Votes:
        return Votes(
            self.item[keep],
            self.annotator[keep],
            self.label[keep],
            self.n_items,
            self.n_annotators,
            self.n_classes,
        )

    def counts(self) -> np.ndarray:
        """(n_items, n_classes) number of votes per class."""
        flat = np.bincount(
            self.item * self.n_classes + self.label, minlength=self.n_items * self.n_classes
        )
        return flat.reshape(self.n_items, self.n_classes).astype(float)


@dataclass(frozen=True)
class Model:
    """A fitted aggregation: confusion (annotator, true, vote) and the items' log prior."""

    kind: str
    image_weight: float
    confusion: np.ndarray
    class_prior: np.ndarray


def _log_prior(class_prior: np.ndarray, image_logp: np.ndarray | None, weight: float):
    """Each item's log prior: class frequencies, or the image model's probabilities, or a blend."""
    base = np.log(class_prior)[None, :]
    if image_logp is None or weight == 0:
        return base
    mixed = (1 - weight) * base + weight * image_logp
    return mixed - np.logaddexp.reduce(mixed, axis=1, keepdims=True)


def _group_sum(group: np.ndarray, n_groups: int, rows: np.ndarray) -> np.ndarray:
    """(n_groups, width): the sum of ``rows`` (one per vote) over the votes of each group."""
    incidence = sparse.csr_matrix(
        (np.ones(len(group)), (group, np.arange(len(group)))), shape=(n_groups, len(group))
    )
    return np.asarray(incidence @ rows)


def _evidence(votes: Votes, confusion: np.ndarray) -> np.ndarray:
    """(n_items, K): sum over an item's votes of log P(vote | true class)."""
    per_vote = np.log(confusion[votes.annotator, :, votes.label])  # (M, K)
    return _group_sum(votes.item, votes.n_items, per_vote)


def posterior(
    votes: Votes, model: Model, image_logp: np.ndarray | None, temperature: float = 1.0
) -> np.ndarray:
    """(n_items, K) posterior over the true class; ``temperature`` < 1 tempers the votes."""
    logp = _log_prior(model.class_prior, image_logp, model.image_weight) + temperature * _evidence(
        votes, model.confusion
    )
    logp -= logp.max(axis=1, keepdims=True)
    post = np.exp(logp)
    return post / post.sum(axis=1, keepdims=True)


def _m_step(votes: Votes, post: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    a, k = votes.n_annotators, votes.n_classes
    group = votes.annotator * k + votes.label  # (annotator, vote) cell of each vote
    # mass[a, vote, true] -> confusion[a, true, vote]
    mass = _group_sum(group, a * k, post[votes.item]).reshape(a, k, k).transpose(0, 2, 1)
    confusion = mass + SMOOTHING
    if kind in ("class_confusion", "majority_vote"):
        confusion = np.broadcast_to(confusion.sum(axis=0), confusion.shape).copy()
    if kind in ("one_coin", "majority_vote"):
        accuracy = np.trace(confusion, axis1=1, axis2=2) / confusion.sum(axis=(1, 2))
        off = (1 - accuracy) / max(k - 1, 1)
        confusion = np.broadcast_to(off[:, None, None], confusion.shape).copy()
        confusion[:, np.arange(k), np.arange(k)] = accuracy[:, None]
    confusion /= confusion.sum(axis=2, keepdims=True)
    if kind == "majority_vote":  # every class alike a priori: the posterior ranks by vote count
        prior = np.full(k, 1.0 / k)
    else:
        prior = (post.sum(axis=0) + SMOOTHING) / (len(post) + k * SMOOTHING)
    return confusion, prior


def fit(
    votes: Votes,
    kind: str,
    image_logp: np.ndarray | None,
    image_weight: float,
    max_iter: int,
    tol: float,
) -> Model:
    """EM from the vote shares (a soft majority vote), so the result is deterministic."""
    counts = votes.counts() + SMOOTHING
    post = counts / counts.sum(axis=1, keepdims=True)
    model = Model(kind, image_weight, *_m_step(votes, post, kind))
    for _ in range(max_iter):
        new = posterior(votes, model, image_logp)
        done = np.abs(new - post).max() < tol
        post = new
        model = Model(kind, image_weight, *_m_step(votes, post, kind))
        if done:
            break
    return model


def held_out_votes(votes: Votes, rng: np.random.Generator) -> np.ndarray:
    """A mask picking one vote, at random, of every item with at least two votes."""
    order = rng.permutation(len(votes.item))
    first = np.zeros(len(votes.item), dtype=bool)
    _, pos = np.unique(votes.item[order], return_index=True)
    first[order[pos]] = True
    per_item = np.bincount(votes.item, minlength=votes.n_items)
    return first & (per_item[votes.item] >= 2)


def _cross_fitted_loglik(
    votes: Votes,
    kind: str,
    image_logp: np.ndarray | None,
    weight: float,
    fold: np.ndarray,
    target: np.ndarray,
    max_iter: int,
    tol: float,
):
    """temperature -> (held-out items,) log P(target vote | the item's other votes), each item
    scored by the model fitted on the other half of the items (all their votes: a model fitted
    on fewer votes per item than it is used with can be unidentified). The two models are
    fitted once; a temperature only re-weights their evidence."""
    halves = []
    for half in (0, 1):
        model = fit(votes.subset(fold[votes.item] != half), kind, image_logp, weight, max_iter, tol)
        mine = fold[votes.item] == half
        rest, goal = votes.subset(mine & ~target), votes.subset(mine & target)
        confusion = model.confusion[goal.annotator, :, goal.label]
        halves.append((model, rest, goal, confusion, np.flatnonzero((mine & target)[target])))

    def loglik(temperature: float) -> np.ndarray:
        out = np.zeros(int(target.sum()))
        for model, rest, goal, confusion, columns in halves:
            post = posterior(rest, model, image_logp, temperature)[goal.item]
            out[columns] = np.log((post * confusion).sum(axis=1))
        return out

    return loglik


def best_temperature(loglik) -> float:
    """The temperature in [MIN_T, MAX_T] that maximises the mean held-out log-likelihood
    (bounded search on the log scale, to 0.01 in log T)."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(
        lambda u: -loglik(float(np.exp(u))).mean(),
        bounds=(np.log(MIN_T), np.log(MAX_T)),
        method="bounded",
        options={"xatol": 0.01},
    )
    return float(np.round(np.exp(found.x), 3))


@dataclass(frozen=True)
class Choice:
    kind: str
    image_weight: float
    temperature: float
    candidates: list[dict[str, Any]]  # every candidate with its held-out log-likelihood


def choose(
    votes: Votes,
    image_logp: np.ndarray | None,
    kinds: tuple[str, ...],
    max_iter: int,
    tol: float,
    rng: np.random.Generator,
) -> Choice:
    """The aggregation, image weight and temperature that best predict held-out votes.

    The items are split in two halves; a model fitted on one half predicts, for each item of
    the other, one of its votes from the rest (cross-fitting, so every item is scored once).
    Among (aggregation, image weight) pairs, each at its best temperature, the simplest whose
    held-out log-likelihood is within one standard error of the best is taken (Breiman's
    one-standard-error rule): a difference the held-out votes cannot resolve does not buy
    parameters. Simpler means no image evidence, then the order of ``AGGREGATIONS``.
    """
    target = held_out_votes(votes, rng)
    if not target.any():  # one vote per item: nothing to hold out; trust the votes as they are
        return Choice(kinds[0], 0.0, 1.0, [])
    fold = rng.permutation(votes.n_items) % 2
    weights = IMAGE_WEIGHTS if image_logp is not None else (0.0,)
    rows, best = [], []
    for weight in weights:
        for kind in kinds:
            loglik = _cross_fitted_loglik(
                votes, kind, image_logp, weight, fold, target, max_iter, tol
            )
            t_best = best_temperature(loglik)
            rows += [
                {
                    "aggregation": kind,
                    "image_weight": weight,
                    "temperature": t,
                    "heldout_loglik": float(loglik(t).mean()),
                    "best": t == t_best,
                }
                for t in sorted({*REPORTED_TEMPERATURES, t_best})
            ]
            best.append((kind, weight, t_best, loglik(t_best)))
    top = max(best, key=lambda b: b[3].mean())[3]
    kind, weight, t, _ = next(  # simplest first; the best itself always qualifies
        b for b in best if (top - b[3]).mean() <= (top - b[3]).std() / np.sqrt(len(top)) + 1e-12
    )
    return Choice(kind, weight, t, rows)
