"""Label-error detection on real photos with real human label noise (CIFAR-10N).

Usage:
  d=$(mktemp -d) && tar -xzf ../shared/devdata/cifar10n-train/cifar10_train_jpg.tar.gz -C "$d"
  .venv/bin/python benchmarks/eval_label_errors.py --data "$d" --given random_label1 \\
      --classifier kernel_logistic [--classifier cnn] [--n 10000]

Labels every image with a human label (``--given``: ``random_label1``, about 17% wrong, or
``worse_label``, about 40% wrong), runs curator's own stages (ingest, embed, label_quality; the
embeddings are the thumbnail fallback, as no CLIP weights can be fetched here) and scores the
flags against ``clean_label``: precision and recall of the flagged set, average precision of the
ranking (chance = the noise rate), what the evidence check decided, the noise rate it states (if
any) against the true one, and the wall time of label_quality. ``--pred-probs FILE`` scores a
probabilities file instead (curator's p_<label> format, keyed by path).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from sklearn.metrics import average_precision_score

from curator import artifacts
from curator.params import EmbedParams, IngestParams, LabelQualityParams, Params
from curator.stages import embed, ingest, label_quality

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = REPO.parent / "shared/devdata/cifar10n-train/labels.csv.gz"


def prepare(data: Path, labels: pd.DataFrame, given: str, n: int | None, seed: int) -> str:
    """Write a manifest (in the extracted folder, never in shared/) and return its name."""
    table = labels if n is None else labels.sample(n=n, random_state=seed).sort_index()
    name = f"curator_manifest_{given}_{len(table)}.csv"
    table.assign(label=table[given], split="train")[["path", "label", "split"]].to_csv(
        data / name, index=False
    )
    return name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the extracted CIFAR-10 folder")
    ap.add_argument("--labels", default=str(DEFAULT_LABELS))
    ap.add_argument("--given", default="random_label1")
    ap.add_argument("--classifier", action="append", default=None)
    ap.add_argument("--pred-probs", type=Path, default=None)
    ap.add_argument("--n", type=int, default=None, help="a random subset of this many images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="keep the audits folder here")
    args = ap.parse_args()

    labels = pd.read_csv(args.labels)
    manifest_name = prepare(args.data, labels, args.given, args.n, args.seed)
    work = Path(args.keep or tempfile.mkdtemp())
    base = Params(
        ingest=IngestParams(
            layout="manifest", manifest=manifest_name, metadata=None, annotations=None
        ),
        embed=EmbedParams(cache_dir=str(work / "cache"), download="never"),
    )
    audits = work / "audits"
    ingest.run(base, args.data, audits)
    embed.run(base, args.data, audits)
    truth = labels.set_index("path")
    print(
        f"{args.given}: images labelled with a human label; true noise rate "
        f"{(truth[args.given] != truth['clean_label']).mean():.3f} on all 50,000"
    )
    print(
        "\n| probabilities | n | accuracy vs given | flagged | precision | recall | AP "
        "(chance) | evidence | stated noise rate (CI) | bound | true | planted AUC | s |"
    )
    print(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |"
    )
    runs = [(c, None) for c in (args.classifier or ["kernel_logistic"])]
    if args.pred_probs:
        runs = [("user", args.pred_probs)]
    for classifier, probs_file in runs:
        params = replace(
            base,
            label_quality=LabelQualityParams(
                classifier=classifier if classifier != "user" else "kernel_logistic"
            ),
        )
        start = time.perf_counter()
        s = label_quality.run(params, args.data, audits, probs_file)
        seconds = time.perf_counter() - start
        table = pd.read_parquet(audits / artifacts.LABEL_ISSUES).set_index("path")
        wrong = (table["given_label"] != truth.loc[table.index, "clean_label"]).to_numpy()
        flagged = table["is_label_issue"].to_numpy()
        ap_score = average_precision_score(wrong, -table["label_quality"].to_numpy())
        ev = s["evidence"]
        stated = (
            f"{s['estimated_noise_rate']:.3f} ({s['estimated_noise_rate_ci'][0]:.3f}-"
            f"{s['estimated_noise_rate_ci'][1]:.3f})"
            if ev["supported"]
            else "abstains"
        )
        print(
            f"| {s['pred_probs_source']} | {len(table)} | "
            f"{s['accuracy_vs_given_labels']['value']:.3f} | {flagged.sum()} | "
            f"{wrong[flagged].mean():.3f} | {flagged[wrong].mean():.3f} | {ap_score:.3f} "
            f"({wrong.mean():.3f}) | {'supported' if ev['supported'] else 'not supported'} | "
            f"{stated} | {ev['noise_rate_upper_bound']['value']:.3f} | {wrong.mean():.3f} | "
            f"{ev['planted']['auc_corrected']:.3f} | {seconds:.0f} |"
        )
        if not ev["supported"]:
            print(f"|  reasons: {'; '.join(ev['reasons'])} |")


if __name__ == "__main__":
    main()
