"""Subgroup evaluation on the demo: is the degraded site found, and do leaks inflate accuracy?

Usage: .venv/bin/python benchmarks/eval_fairness.py [--fairlearn-bootstrap]
Runs the whole audit on a fresh demo (committed params.yaml), times the train and evaluate
stages, and prints per-site accuracy with intervals, the worst group's gap against the rest,
and the leakage-corrected numbers; then the same with ``train.exclude`` set, so the clean-vs-raw
comparison is visible. ``--fairlearn-bootstrap`` also times fairlearn's own MetricFrame bootstrap
(n_boot = evaluate.n_bootstrap) on the same predictions, for the record in RESULTS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from curator import artifacts
from curator.demo import DEGRADED_SITE, write_demo
from curator.params import load_params
from curator.stages import (
    agreement,
    duplicates,
    embed,
    evaluate,
    hash,
    ingest,
    issues,
    label_quality,
    train,
)

REPO = Path(__file__).resolve().parents[1]
FINDING_STAGES = ("ingest", "duplicates", "agreement", "label_quality")


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def report(label: str, result: dict, train_s: float, eval_s: float) -> None:
    site = result["subgroups"]["site"]
    o = result["overall"]
    print(f"\n### {label}: train {train_s:.1f} s, evaluate {eval_s:.1f} s\n")
    print("| group | n | accuracy | 95% CI | gap vs rest | 95% CI |")
    print("| --- | ---: | ---: | --- | ---: | --- |")
    print(
        f"| all ({result['split']}) | {o['n']} | {o['accuracy']:.3f} | "
        f"{o['accuracy_ci'][0]:.3f} to {o['accuracy_ci'][1]:.3f} | | |"
    )
    for name, g in site["groups"].items():
        if "accuracy" in g:
            gap, ci = g["accuracy_gap_vs_rest"], g["accuracy_gap_vs_rest_ci"]
            print(
                f"| site={name} | {g['n']} | {g['accuracy']:.3f} | {g['accuracy_ci'][0]:.3f} "
                f"to {g['accuracy_ci'][1]:.3f} | {gap:+.3f} | {ci[0]:+.3f} to {ci[1]:+.3f} |"
            )
    w = result["worst_group"]
    print(
        f"\nworst group: {w['grouping']}={w['group']} (planted: site={DEGRADED_SITE}), gap "
        f"{w['accuracy_gap_vs_rest']:.3f}, {w['ci_level']:.1%} CI {w['gap_ci'][0]:.3f} to "
        f"{w['gap_ci'][1]:.3f} (Bonferroni over the groups), significant: {w['significant']}"
    )
    c = result["data_quality_corrected"]
    leaks, labels = c["without_leaks"], c["without_label_issues"]
    print(
        f"accuracy raw {leaks['raw_accuracy']:.3f}; without the {leaks['n_excluded']} test "
        f"images leaking from train {leaks['clean_accuracy']:.3f} (the leaked ones alone: "
        f"{leaks['excluded_only_accuracy']:.3f}; inflation {leaks['inflation_accuracy']:+.4f}, "
        f"CI {leaks['inflation_accuracy_ci'][0]:+.4f} to {leaks['inflation_accuracy_ci'][1]:+.4f})"
        f"; without the {labels['n_excluded']} flagged label issues {labels['clean_accuracy']:.3f}"
    )


def time_fairlearn(audits: Path, params) -> float:
    from functools import partial

    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    preds = pd.read_parquet(audits / artifacts.PREDICTIONS)
    test = preds[preds["split"] == params.evaluate.split].merge(
        pd.read_parquet(audits / artifacts.MANIFEST)[["path", "site"]], on="path"
    )
    tail = (1 - params.evaluate.ci_level) / 2
    start = time.perf_counter()
    MetricFrame(
        metrics={
            "accuracy": accuracy_score,
            "balanced_accuracy": balanced_accuracy_score,
            "macro_f1": partial(f1_score, average="macro", zero_division=0),
        },
        y_true=test["label"],
        y_pred=test["predicted"],
        sensitive_features=test["site"],
        n_boot=params.evaluate.n_bootstrap,
        ci_quantiles=[tail, 1 - tail],
        random_state=0,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fairlearn-bootstrap", action="store_true")
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        root, audits = Path(tmp) / "data", Path(tmp) / "audits"
        write_demo(root, seed=0)
        params = replace(params, embed=replace(params.embed, cache_dir=str(Path(tmp) / "cache")))
        for stage in (ingest, hash, embed, duplicates):
            stage.run(params, root, audits)
        agreement.run(params, audits)
        label_quality.run(params, root, audits)
        findings = [audits / artifacts.findings(s) for s in FINDING_STAGES]
        issues.run(findings, audits / artifacts.ISSUES)
        for label, exclude in (
            ("trained on every train image", ()),
            (
                "trained without duplicates, leaks and label issues",
                ("duplicate", "leak", "label_issue"),
            ),
        ):
            p = replace(params, train=replace(params.train, exclude=exclude))
            _, train_s = timed(train.run, p, root, audits, findings)
            result, eval_s = timed(evaluate.run, p, audits)
            report(label, result, train_s, eval_s)
        if args.fairlearn_bootstrap:
            seconds = time_fairlearn(audits, params)
            print(
                f"\nfairlearn MetricFrame bootstrap, n_boot={params.evaluate.n_bootstrap}, "
                f"3 metrics, one feature: {seconds:.1f} s"
            )


if __name__ == "__main__":
    main()
