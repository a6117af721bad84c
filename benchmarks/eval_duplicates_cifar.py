"""Near-duplicates on real photos: copies planted into CIFAR-10 train, found among 51,000 images.

Usage:
  d=$(mktemp -d) && tar -xzf ../shared/devdata/cifar10n-train/cifar10_train_jpg.tar.gz -C "$d"
  .venv/bin/python benchmarks/eval_duplicates_cifar.py --data "$d" [--n-copies 1000]
      [--keep DIR] [--skip-features] [--imagededup] [--mixed-aspects]

Holds apart ``--n-copies`` random training photos and writes an edited copy of each into the data
folder (``curator_bench_copies/``): two thirds with the calibration edits of features/edits.py
(re-encode, resize, crop, shift, colour, brightness, rotate, hue, caption, border, mirror; the last
four since the ninth session, so earlier tables are of the first seven), one third with further
edits (blur, gamma, noise, each combined with one common edit). The copies are the test split, the
originals train. Then curator's stages run (ingest, hash, embed with the thumbnail fallback,
duplicates) and the planted pairs score the result: recall (planted pairs accepted, per kind of
edit), precision among the accepted pairs that involve a copy (each copy has exactly one planted
twin; a source's own CIFAR twins count as wrong), the stage's wall time and peak memory, and the
candidate count. Pairs found between two original photos (CIFAR-10 has real near-duplicates) are
counted and the first are saved as a contact sheet (``--keep``/unplanted.png) to be looked at.
``--imagededup`` scores imagededup's PHash and DHash (radius = params' max_phash_distance) on the
same files (install it as benchmarks/eval_duplicates.py says).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from curator import artifacts
from curator.features.edits import CALIBRATION_EDITS, HELD_OUT_EDITS, plant_copy
from curator.params import params_from_dict
from curator.pipeline import render_params_yaml
from curator.stages import duplicates, embed, hash, ingest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.eval_duplicates import estimate, run_imagededup  # noqa: E402

DEFAULT_LABELS = REPO.parent / "shared/devdata/cifar10n-train/labels.csv.gz"
COPIES = "curator_bench_copies"


def write_copies(data: Path, labels: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Edited copies of ``n`` random photos; returns path, twin, edit, held_out per copy."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=n, replace=False)
    rows = []
    for k, idx in enumerate(chosen):
        source = labels.iloc[idx]
        img = Image.open(data / source["path"]).convert("RGB")
        held_out = k % 3 == 2
        if held_out:  # an unseen edit, plus one the calibration knows
            name = list(HELD_OUT_EDITS)[k % len(HELD_OUT_EDITS)]
            copy = HELD_OUT_EDITS[name](img, rng)
            copy, extra = plant_copy(copy, rng)
            edit = f"{name}+{extra}"
        else:
            copy, edit = plant_copy(img, rng, CALIBRATION_EDITS)
        rel = f"{COPIES}/{source['clean_label']}/{Path(source['path']).stem}_copy.png"
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        copy.save(data / rel)
        rows.append(
            {
                "path": rel,
                "twin": source["path"],
                "edit": edit,
                "held_out": held_out,
                "label": source["clean_label"],
            }
        )
    return pd.DataFrame(rows)


def contact_sheet(data: Path, pairs: pd.DataFrame, out: Path, n: int = 24) -> None:
    tiles = []
    for r in pairs.head(n).itertuples():
        a = Image.open(data / r.path_a).convert("RGB").resize((64, 64))
        b = Image.open(data / r.path_b).convert("RGB").resize((64, 64))
        tile = Image.new("RGB", (132, 64), "white")
        tile.paste(a, (0, 0))
        tile.paste(b, (68, 0))
        tiles.append(tile)
    if not tiles:
        return
    cols = 4
    sheet = Image.new("RGB", (cols * 140, -(-len(tiles) // cols) * 72), "white")
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % cols) * 140, (k // cols) * 72))
    sheet.save(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--labels", default=str(DEFAULT_LABELS))
    ap.add_argument("--n-copies", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="audits and outputs go here")
    ap.add_argument(
        "--skip-features",
        action="store_true",
        help="reuse the manifest, hashes and embeddings in --keep",
    )
    ap.add_argument("--imagededup", action="store_true")
    ap.add_argument(
        "--mixed-aspects",
        action="store_true",
        help="also time the stage as if the images' aspects varied (0.75 to 1.5)",
    )
    args = ap.parse_args()

    labels = pd.read_csv(args.labels)
    work = Path(args.keep or tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    truth_file = work / "planted_copies.csv"
    # the params.yaml curator ships, naming no metadata column (CIFAR has none)
    params = params_from_dict(yaml.safe_load(render_params_yaml()))
    params = replace(
        params,
        ingest=replace(
            params.ingest,
            layout="manifest",
            manifest="curator_bench_manifest.csv",
            metadata=None,
            annotations=None,
        ),
        embed=replace(params.embed, cache_dir=str(work / "cache"), download="never"),
    )
    audits = work / "audits"
    if not args.skip_features:
        truth = write_copies(args.data, labels, args.n_copies, args.seed)
        truth.to_csv(truth_file, index=False)
        manifest = pd.concat(
            [
                labels.assign(label=labels["clean_label"], split="train")[
                    ["path", "label", "split"]
                ],
                truth.assign(split="test")[["path", "label", "split"]],
            ]
        )
        manifest.to_csv(args.data / "curator_bench_manifest.csv", index=False)
        for stage in (ingest, hash, embed):
            stage.run(params, args.data, audits)
    truth = pd.read_csv(truth_file)
    start = time.perf_counter()
    summary = duplicates.run(params, args.data, audits)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pairs = pd.read_parquet(audits / artifacts.DUPLICATES)
    near = pairs[pairs["kind"] != "exact_bytes"]
    key = lambda a, b: tuple(sorted((a, b)))  # noqa: E731
    found = {key(a, b) for a, b in zip(near["path_a"], near["path_b"], strict=True)}
    truth["found"] = [key(p, t) in found for p, t in zip(truth["path"], truth["twin"], strict=True)]
    copies = set(truth["path"])
    with_copy = near[near["path_a"].isin(copies) | near["path_b"].isin(copies)]
    print(
        f"{summary['n_images']} images ({len(truth)} planted copies); duplicates stage "
        f"{seconds:.1f} s, peak RSS {peak_mb:.0f} MiB; {summary['n_candidate_pairs']} candidate "
        f"pairs ({summary['n_candidate_pairs_by_method']}; each image proposes at most "
        f"{summary['max_proposals_per_image']}); indexes {summary['indexes']}"
    )
    planted = {key(p, t) for p, t in zip(truth["path"], truth["twin"], strict=True)}
    print("\n| planted copies | n | recall |")
    print("| --- | ---: | ---: |")
    for name, group in (
        ("all", truth),
        ("common edits", truth[~truth["held_out"]]),
        ("blur / gamma / noise + one common edit", truth[truth["held_out"]]),
    ):
        print(f"| {name} | {len(group)} | {group['found'].mean():.3f} |")
    for edit in sorted({e for names in truth["edit"] for e in names.split("+")}):
        has = truth["edit"].str.split("+").apply(lambda n, e=edit: e in n)
        print(f"| with {edit} | {has.sum()} | {truth.loc[has, 'found'].mean():.3f} |")
    right = sum(
        key(a, b) in planted for a, b in zip(with_copy["path_a"], with_copy["path_b"], strict=True)
    )
    print(
        f"\nprecision among accepted pairs involving a copy: {right}/{len(with_copy)} = "
        f"{right / max(len(with_copy), 1):.3f}"
    )
    calibration = summary["calibration"]
    print(
        f"\nduplicates.json: copies found {calibration['recall']:.3f}, precision "
        f"{estimate(calibration['precision'])} (null model {calibration['null_model']})"
    )
    print("\n| max_distance_ratio | copies found | near pairs | expected different | precision |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for step in calibration["at_ratio"]:
        print(
            f"| {step['max_distance_ratio']} | {step['recall']:.3f} | {step['n_pairs']} | "
            f"{estimate(step['expected_false_pairs'], '.1f')} | {estimate(step['precision'])} |"
        )
    if args.imagededup:
        radius = params.duplicates.max_phash_distance
        print("\n| tool | recall (planted) | precision (pairs with a copy) | pairs | wall s |")
        print("| --- | ---: | ---: | ---: | ---: |")
        theirs = run_imagededup(args.data, radius, "", ("phash", "dhash"))
        for name, (found_pairs, wall) in theirs.items():
            pairs_ = {tuple(sorted(p)) for p in found_pairs}
            touching = [p for p in pairs_ if p[0] in copies or p[1] in copies]
            recall = len(pairs_ & planted) / len(planted)
            prec = sum(p in planted for p in touching) / max(len(touching), 1)
            row = f"| imagededup {name} <= {radius} | {recall:.3f} | {prec:.3f} |"
            print(f"{row} {len(pairs_)} | {wall:.1f} |")
    originals = near[~(near["path_a"].isin(copies) | near["path_b"].isin(copies))]
    print(
        f"pairs between two original photos: {len(originals)} (CIFAR-10's own near-duplicates"
        f", or errors: see {work / 'unplanted.png'})"
    )
    contact_sheet(args.data, originals, work / "unplanted.png")
    if args.mixed_aspects:
        time_mixed_aspects(params, args.data, audits, work / "audits-mixed-aspects", args.seed)


def time_mixed_aspects(params, data: Path, audits: Path, out: Path, seed: int) -> None:
    """The stage's wall time when the images' aspects vary, as in most photo collections: every
    pair of different aspects gets the full-size pass's stretched tries (features/edges.py).
    Only the manifest's widths change (the maps are squared from the same files), so this
    times the work, not what is found."""
    out.mkdir(parents=True, exist_ok=True)
    for f in audits.iterdir():
        if f.is_file() and f.name != artifacts.MANIFEST:
            shutil.copy2(f, out / f.name)
    shutil.copytree(audits / "embeddings", out / "embeddings", dirs_exist_ok=True)
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    factor = np.random.default_rng(seed).choice([0.75, 1.0, 1.33, 1.5], len(manifest))
    manifest["width"] = (manifest["width"] * factor).round().astype("Int64")
    manifest.to_parquet(out / artifacts.MANIFEST)
    start = time.perf_counter()
    duplicates.run(params, data, out)
    print(f"\nduplicates stage with mixed aspects: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
