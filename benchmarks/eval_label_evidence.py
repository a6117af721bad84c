"""Does the label evidence check state a count when the probabilities can support one, and
abstain when they cannot? CIFAR-10N photos, real human labels, probabilities of several
strengths.

Usage:
  d=$(mktemp -d) && tar -xzf ../shared/devdata/cifar10n-train/cifar10_train_jpg.tar.gz -C "$d"
  .venv/bin/python benchmarks/eval_label_errors.py --data "$d" --n 10000 \\
      --classifier kernel_logistic --keep /tmp/le/kl          # weak: the offline descriptor
  .venv/bin/python benchmarks/eval_label_errors.py --data "$d" --n 10000 \\
      --classifier cnn --keep /tmp/le/cnn                      # the CNN on the noisy labels
  .venv/bin/python benchmarks/eval_label_errors.py --data "$d" --n 10000 --given clean_label \\
      --classifier cnn --keep /tmp/le/cnn_clean                # the CNN on the true labels
  .venv/bin/python benchmarks/eval_label_evidence.py --given random_label1 \\
      --probs "thumbnail kernel logistic=/tmp/le/kl" --probs "CNN=/tmp/le/cnn" \\
      --probs "CNN trained on the true labels=/tmp/le/cnn_clean" [--chance]

Each ``--probs NAME=DIR`` is a kept audits folder's out-of-fold probabilities
(``DIR/audits/pred_probs.parquet``); the images are labelled with ``--given`` (a human label of
CIFAR-10N) and curator's label-quality check judges them with those probabilities, as
``curator label-quality --pred-probs`` does. The CNN trained on the true labels is the strong
stand-in: its probabilities reflect which photos are ambiguous, as a strong model's do, and its
mistakes are not the given labels' mistakes. ``--chance`` adds Dirichlet-random probabilities
(a ranking no better than chance: the check must abstain). Prints per row: accuracy against
the true labels, the true noise rate, the decision, the stated noise rate with its interval
(or none), the bound, the corrected planted-error AUC, the filter's flags' measured share of
planted errors, the average precision of each cleanlab ranking against the real errors, and the
ranking curator chooses (label_quality.ranked_by auto, CIFAR-10N's three human labels as the
annotators' votes) with its average precision.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from curator.checks import CheckInputs, label_quality
from curator.params import LabelQualityParams

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = REPO.parent / "shared/devdata/cifar10n-train/labels.csv.gz"
RANKINGS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
VOTES = ("random_label1", "random_label2", "random_label3")


def judged(name: str, probs: pd.DataFrame, truth: pd.DataFrame, given: str) -> str:
    from cleanlab.rank import get_label_quality_scores

    truth = truth.loc[probs["path"]]
    manifest = pd.DataFrame(
        {
            "sample_id": probs["path"].to_numpy(),
            "path": probs["path"].to_numpy(),
            "split": "train",
            "label": truth[given].to_numpy(),
            "readable": True,
        }
    )
    # CIFAR-10N's three human labels as the annotators' votes: they choose the ranking
    votes = pd.concat(
        [
            pd.DataFrame({"path": manifest["path"], "annotator": column, "label": truth[column]})
            for column in VOTES
        ]
    )
    result = label_quality.run(
        CheckInputs(manifest=manifest, pred_probs=probs, annotations=votes), LabelQualityParams()
    )
    s, ev = result.summary, result.summary["evidence"]
    classes = sorted(manifest["label"].unique())
    p = probs.set_index("path").loc[manifest["path"], [f"p_{c}" for c in classes]].to_numpy()
    y = manifest["label"].map({c: k for k, c in enumerate(classes)}).to_numpy()
    clean = truth["clean_label"].map({c: k for k, c in enumerate(classes)}).to_numpy()
    wrong = y != clean
    ap = [
        average_precision_score(wrong, -get_label_quality_scores(y, p, method=m)) for m in RANKINGS
    ]
    stated = (
        f"{s['estimated_noise_rate']:.3f} ({s['estimated_noise_rate_ci'][0]:.3f}-"
        f"{s['estimated_noise_rate_ci'][1]:.3f})"
        if ev["supported"]
        else "none"
    )
    bound = ev["noise_rate_upper_bound"]
    return (
        f"| {name} | {(p.argmax(1) == clean).mean():.3f} | {wrong.mean():.3f} | "
        f"{'count' if ev['supported'] else 'abstains'} | {stated} | {bound['value']:.3f} "
        f"({bound['ci'][0]:.3f}-{bound['ci'][1]:.3f}) | {ev['planted']['auc_corrected']:.3f} | "
        f"{ev['planted']['flagged_share_planted']:.3f} ({ev['planted']['share_of_images']:.3f}) | "
        + " / ".join(f"{a:.3f}" for a in ap)
        + f" | {s['ranking']['method']} ({ap[RANKINGS.index(s['ranking']['method'])]:.3f}) |"
        + ("" if ev["supported"] else f"\n|   why: {'; '.join(ev['reasons'])} |")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", default=str(DEFAULT_LABELS))
    ap.add_argument("--given", default="random_label1")
    ap.add_argument("--probs", action="append", default=[], help="NAME=kept audits folder")
    ap.add_argument("--chance", action="store_true")
    args = ap.parse_args()
    truth = pd.read_csv(args.labels).set_index("path")
    print(f"images labelled with {args.given}; rankings: {' / '.join(RANKINGS)}\n")
    print(
        "| probabilities | accuracy vs true | true noise | decision | stated noise rate (CI) | "
        "bound (CI) | planted AUC, corrected | flags that are planted (planted share) | "
        "AP per ranking | ranking chosen (its AP) |"
    )
    print("| --- | ---: | ---: | --- | --- | --- | ---: | ---: | --- | --- |")
    tables = []
    for entry in args.probs:
        name, folder = entry.split("=", 1)
        probs = pd.read_parquet(Path(folder) / "audits" / "pred_probs.parquet")
        tables.append(probs)
        print(judged(name, probs, truth, args.given), flush=True)
    if args.chance and tables:
        base = tables[0]
        rng = np.random.default_rng(0)
        columns = [c for c in base.columns if c.startswith("p_")]
        random = base[["sample_id", "path"]].assign(
            **dict(zip(columns, rng.dirichlet(np.ones(len(columns)), len(base)).T, strict=True))
        )
        print(judged("chance (Dirichlet-random)", random, truth, args.given), flush=True)


if __name__ == "__main__":
    main()
