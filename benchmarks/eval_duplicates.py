"""Precision / recall / F1 of duplicate pairs against a ground-truth list of path pairs.

Usage:
  .venv/bin/python benchmarks/eval_duplicates.py [--per-class N]  # the demo and its truth
  .venv/bin/python benchmarks/eval_duplicates.py --data DIR --truth pairs.csv   # your own
  add --imagededup to compare with imagededup's PHash/DHash/WHash on the same images; install
  it first in the benchmark's own folder (its torch needs are met by curator's venv):
  .venv/bin/pip install --no-deps --target benchmarks/.imagededup imagededup==0.3.3.post2

The truth CSV has columns path_a,path_b (paths relative to the data folder). Scores are per
method at its candidate threshold in params.yaml (what that method alone would report), and for
curator's fused decision (any method proposes, the registered edge correlation's distance ratio
accepts). Exact byte copies
are scored separately.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from curator import artifacts
from curator.checks.duplicates import NEAR_METHODS, candidate_pairs
from curator.demo import write_demo
from curator.params import load_params
from curator.stages import duplicates, embed, hash, ingest, load_embeddings

REPO = Path(__file__).resolve().parents[1]


def prf(found: set, truth: set) -> tuple[float, float, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def pair_set(a, b) -> set[frozenset]:
    return {frozenset(x) for x in zip(a, b, strict=True)}


def demo_truth(root: Path) -> tuple[set, set]:
    truth = json.loads((root / "demo_truth.json").read_text())
    exact = {frozenset((p["a"], p["b"])) for p in truth["exact_duplicates"]}
    near = {frozenset((p["a"], p["b"])) for p in truth["near_duplicates"]}
    return exact, near


def run_curator(root: Path, audits: Path) -> tuple[dict, pd.DataFrame, dict[str, set]]:
    params = load_params(REPO / "params.yaml")
    start = time.perf_counter()
    for stage in (ingest, hash, embed, duplicates):
        summary = stage.run(params, root, audits)
    wall = time.perf_counter() - start
    pairs = pd.read_parquet(audits / artifacts.DUPLICATES)
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    ids, vectors = load_embeddings(audits)
    hashes = pd.read_parquet(audits / artifacts.HASHES).set_index("sample_id").loc[ids]
    cand, _ = candidate_pairs(hashes.reset_index(), vectors, params.duplicates)
    first = manifest[manifest["readable"]].drop_duplicates("sample_id").set_index("sample_id")
    per_method = {
        m: pair_set(
            first.loc[[ids[i] for i in rows["i"]], "path"],
            first.loc[[ids[j] for j in rows["j"]], "path"],
        )
        for m in NEAR_METHODS
        for rows in [cand[cand["methods"].str.contains(m)]]
    }
    return {"wall_s": wall, "summary": summary}, pairs, per_method


def estimate(value: float | None, spec: str = ".3f") -> str:
    """A number from duplicates.json that may not have been estimated (None)."""
    return "not estimated" if value is None else format(value, spec)


def print_margin(root: Path, audits: Path, near_truth: set, calibration: dict) -> None:
    """Distance ratio of the planted near pairs against every other scored candidate pair: how
    much room ``duplicates.max_distance_ratio`` has on this data; and, at each ratio of the
    calibration table, the pairs a rule that loose accepts that are not planted, against the
    null model's estimate of different pictures among them (duplicates.json)."""
    params = load_params(REPO / "params.yaml")
    accept_all = replace(params.duplicates, max_distance_ratio=0.5)
    duplicates.run(replace(params, duplicates=accept_all), root, audits)
    pairs = pd.read_parquet(audits / artifacts.DUPLICATES)
    pairs = pairs[pairs["kind"] == "near"]
    path_pairs = zip(pairs["path_a"], pairs["path_b"], strict=True)
    planted = np.array([frozenset(ab) in near_truth for ab in path_pairs])
    ratio = pairs["distance_ratio"].to_numpy()
    print(
        f"distance ratio: planted near pairs <= {ratio[planted].max():.3f}, other pairs under 0.5 "
        f">= {ratio[~planted].min():.3f} ({(~planted).sum()} pairs); "
        f"threshold {params.duplicates.max_distance_ratio}"
    )
    print("\n| max_distance_ratio | near pairs | not planted | expected different (null model) |")
    print("| ---: | ---: | ---: | ---: |")
    for step in calibration.get("at_ratio", []):
        within = ratio <= step["max_distance_ratio"]
        expected = step["expected_false_pairs"]
        print(
            f"| {step['max_distance_ratio']} | {within.sum()} | {(within & ~planted).sum()} | "
            f"{estimate(expected, '.1f')} |"
        )


def run_imagededup(
    root: Path, radius: int, under: str = "images", methods=("phash", "dhash", "whash")
) -> dict[str, tuple[set, float]]:
    """imagededup's hashes at ``radius`` over ``root/under``: name -> (pairs, wall s)."""
    sys.path.insert(0, str(REPO / "benchmarks" / ".imagededup"))
    from curator.torch_compat import ensure_torchvision

    ensure_torchvision()
    from imagededup.methods import DHash, PHash, WHash

    out = {}
    for name, method in (("phash", PHash), ("dhash", DHash), ("whash", WHash)):
        if name not in methods:
            continue
        start = time.perf_counter()
        found = method(verbose=False).find_duplicates(
            image_dir=root / under, max_distance_threshold=radius, recursive=True
        )
        wall = time.perf_counter() - start
        prefix = f"{under}/" if under else ""
        pairs = {
            frozenset((f"{prefix}{a}", f"{prefix}{b}")) for a, dups in found.items() for b in dups
        }
        out[name] = (pairs, wall)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path)
    parser.add_argument("--truth", type=Path)
    parser.add_argument("--imagededup", action="store_true")
    parser.add_argument("--per-class", type=int, default=300, help="demo images per class")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp) / "data"
        if args.data is None:
            write_demo(root, seed=0, per_class=args.per_class)
            exact_truth, near_truth = demo_truth(root)
        else:
            with args.truth.open() as fh:
                near_truth = {frozenset((r["path_a"], r["path_b"])) for r in csv.DictReader(fh)}
            exact_truth = set()
        facts, pairs, per_method = run_curator(root, Path(tmp) / "audits")
        exact_found = pair_set(
            *(pairs.loc[pairs["kind"] == "exact_bytes", c] for c in ("path_a", "path_b"))
        )
        near_found = pair_set(
            *(pairs.loc[pairs["kind"] != "exact_bytes", c] for c in ("path_a", "path_b"))
        )
        truth_all = exact_truth | near_truth
        print(
            f"{len(exact_truth)} planted exact pairs, {len(near_truth)} planted near pairs; "
            f"curator (ingest+hash+embed+duplicates) {facts['wall_s']:.1f} s"
        )
        print("| tool | method | precision | recall | F1 | found | wall s |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        if exact_truth:
            p, r, f = prf(exact_found, exact_truth)
            print(f"| curator | exact bytes | {p:.3f} | {r:.3f} | {f:.3f} | {len(exact_found)} | |")
        for method, found in per_method.items():
            p, r, f = prf(found, near_truth)
            print(
                f"| curator | {method} alone (near) | {p:.3f} | {r:.3f} | {f:.3f} | "
                f"{len(found)} | |"
            )
        p, r, f = prf(near_found, near_truth)
        print(
            f"| curator | fused + edge verification (near) | {p:.3f} | {r:.3f} | {f:.3f} | "
            f"{len(near_found)} | {facts['wall_s']:.1f} |"
        )
        print_margin(root, Path(tmp) / "audits", near_truth, facts["summary"]["calibration"])
        if args.imagededup:
            radius = load_params(REPO / "params.yaml").duplicates.max_phash_distance
            for name, (found, wall) in run_imagededup(root, radius).items():
                p, r, f = prf(found, truth_all)
                print(
                    f"| imagededup 0.3.3 | {name} <= {radius} (exact + near) | {p:.3f} | "
                    f"{r:.3f} | {f:.3f} | {len(found)} | {wall:.1f} |"
                )
            p, r, f = prf(exact_found | near_found, truth_all)
            print(
                f"| curator | all pairs (exact + near) | {p:.3f} | {r:.3f} | {f:.3f} | "
                f"{len(exact_found | near_found)} | {facts['wall_s']:.1f} |"
            )


if __name__ == "__main__":
    main()
