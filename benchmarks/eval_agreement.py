"""Annotator reliability and consensus on the demo, scored against its simulated truth.

Usage: .venv/bin/python benchmarks/eval_agreement.py [--image-evidence]
Runs ingest and agreement on a fresh demo (committed params.yaml) and prints: each annotator's
estimated accuracy (with its interval) next to the accuracy it really had, whether it was
flagged, and the accuracy of the consensus labels against majority voting (ties counted wrong,
or broken at random with a fixed seed) on the annotated images. ``--image-evidence`` first runs
embed and label_quality and lets the consensus weigh their out-of-fold probabilities, as the
pipeline does.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from curator import artifacts
from curator.demo import write_demo
from curator.params import load_params
from curator.stages import agreement, embed, ingest, label_quality

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    params = load_params(REPO / "params.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        root, audits = Path(tmp) / "data", Path(tmp) / "audits"
        truth = write_demo(root, seed=0)
        ingest.run(params, root, audits)
        image_probs = None
        if "--image-evidence" in sys.argv:
            params = replace(
                params, embed=replace(params.embed, cache_dir=str(Path(tmp) / "cache"))
            )
            embed.run(params, root, audits)
            label_quality.run(params, root, audits)
            image_probs = audits / artifacts.PRED_PROBS
        summary = agreement.run(params, audits, image_probs)
        annotators = pd.read_parquet(audits / artifacts.ANNOTATORS)
        consensus = pd.read_parquet(audits / artifacts.CONSENSUS)
        votes = pd.read_parquet(audits / artifacts.ANNOTATIONS)
    chosen = summary["aggregation"]
    print(
        f"aggregation chosen on held-out votes: {chosen['chosen']} (temperature "
        f"{chosen['temperature']}, image weight {chosen['image_weight']}); "
        f"{summary['n_items']} items, {summary['n_votes']} votes; Krippendorff alpha "
        f"{json.dumps(summary['krippendorff_alpha'])}"
    )
    print("| annotator | votes | estimated accuracy (95% CI) | real accuracy | flagged |")
    print("| --- | ---: | ---: | ---: | --- |")
    for r in annotators.itertuples():
        real = truth["annotators"][r.annotator]["realized_accuracy"]
        print(
            f"| {r.annotator} | {r.n_votes} | {r.estimated_accuracy:.3f} ({r.accuracy_ci_low:.3f}"
            f" to {r.accuracy_ci_high:.3f}) | {real:.3f} | {'unreliable' if r.unreliable else ''} |"
        )
    flips = {f["path"]: f["true_label"] for f in truth["label_flips"]}
    true = consensus["path"].map(flips).fillna(consensus["given_label"])
    rng = np.random.default_rng(0)

    def plurality(labels: pd.Series) -> str:
        counts = labels.value_counts()
        top = sorted(counts[counts == counts.max()].index)
        return top[rng.integers(len(top))]

    random_tie = consensus["path"].map(votes.groupby("path")["label"].agg(plurality))
    print()
    print("| labels for the annotated images | accuracy |")
    print("| --- | ---: |")
    print(f"| curator consensus | {(consensus['consensus_label'] == true).mean():.4f} |")
    print(f"| majority vote, ties broken at random | {(random_tie == true).mean():.4f} |")
    tie_wrong = (consensus["majority_label"] == true).mean()
    print(f"| majority vote, ties counted wrong | {tie_wrong:.4f} |")
    differs = consensus.loc[consensus["given_label"] != consensus["consensus_label"], "path"]
    voted_flips = set(flips) & set(consensus["path"])
    print(
        f"\nplanted flips among annotated images: {len(voted_flips)}; flagged as differing from "
        f"the consensus: {len(voted_flips & set(differs))}; other images flagged: "
        f"{len(set(differs) - voted_flips)}"
    )


if __name__ == "__main__":
    main()
