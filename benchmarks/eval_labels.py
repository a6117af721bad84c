"""Label-error detection on the demo: precision and recall of the planted label flips.

Usage: .venv/bin/python benchmarks/eval_labels.py
Runs the whole audit on a fresh demo (committed params.yaml) and scores, against the 52 planted
flips in data/demo_truth.json: cleanlab's label issues alone, the annotators' consensus alone,
and the review queue that combines every label signal (by priority threshold and by its top n).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from curator import artifacts
from curator.demo import write_demo
from curator.params import load_params
from curator.stages import agreement, duplicates, embed, hash, ingest, issues, label_quality

REPO = Path(__file__).resolve().parents[1]


def score(found: set, truth: set) -> str:
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    return f"{len(found)} | {precision:.3f} | {tp / len(truth):.3f}"


def main() -> None:
    params = load_params(REPO / "params.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        root, audits = Path(tmp) / "data", Path(tmp) / "audits"
        truth = write_demo(root, seed=0)
        params = params.__class__(
            **{
                **vars(params),
                "embed": params.embed.__class__(
                    **{**vars(params.embed), "cache_dir": str(Path(tmp) / "cache")}
                ),
            }
        )
        for stage in (ingest, hash, embed, duplicates):
            stage.run(params, root, audits)
        summary = label_quality.run(params, root, audits)
        agreement.run(params, audits, audits / artifacts.PRED_PROBS)  # as dvc.yaml runs it
        findings = [
            audits / artifacts.findings(s)
            for s in ("ingest", "duplicates", "agreement", "label_quality")
        ]
        issues.run(findings, audits / artifacts.ISSUES, audits / artifacts.REVIEW_QUEUE)
        table = pd.read_parquet(audits / artifacts.ISSUES)
        queue = pd.read_parquet(audits / artifacts.REVIEW_QUEUE)
    flips = {f["path"] for f in truth["label_flips"]}
    evidence = summary["evidence"]
    stated = (
        f"estimated noise rate {summary['estimated_noise_rate']:.4f} ("
        f"{summary['estimated_noise_rate_ci'][0]:.4f} to "
        f"{summary['estimated_noise_rate_ci'][1]:.4f})"
        if evidence["supported"]
        else f"no noise rate stated ({'; '.join(evidence['reasons'])})"
    )
    print(
        f"{len(flips)} planted flips; out-of-fold accuracy "
        f"{summary['accuracy_vs_given_labels']['value']:.3f} ({summary['pred_probs_source']}, "
        f"filter {params.label_quality.filter_by}); evidence check: planted-error AUC "
        f"{evidence['planted']['auc_corrected']:.3f}, noise bound "
        f"{evidence['noise_rate_upper_bound']['value']:.4f}; {stated} (planted: "
        f"{len(flips) / summary['n_images']:.4f})"
    )
    print("| signal | flagged | precision | recall |")
    print("| --- | ---: | ---: | ---: |")
    for issue in ("label_issue", "label_differs_from_consensus"):
        print(
            f"| {issue} alone | {score(set(table.loc[table['issue'] == issue, 'path']), flips)} |"
        )
    for threshold in (0.5, 0.8, 0.9):
        chosen = set(queue.loc[queue["priority"] >= threshold, "path"])
        print(f"| review queue, priority >= {threshold} | {score(chosen, flips)} |")
    for n in (len(flips), 60):
        print(f"| review queue, top {n} | {score(set(queue.head(n)['path']), flips)} |")


if __name__ == "__main__":
    main()
