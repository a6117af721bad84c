"""Whom the model fails, found from pixels alone: CIFAR-10 with degraded photos planted in test.

Usage:
  d=$(mktemp -d) && tar -xzf ../shared/devdata/cifar10n-train/cifar10_train_jpg.tar.gz -C "$d"
  .venv/bin/python benchmarks/eval_conditions_cifar.py --data "$d" [--work /tmp/condbench]
      [--n-train 10000] [--n-val 2000] [--n-test 3000] [--n-planted 300]
      [--kinds darkened,blurred,downscaled] [--params-yaml '{"embed": {"fallback": "hog"}}']

Builds a train/val/test folder from random CIFAR-10 training photos (disjoint), then replaces
``--n-planted`` test photos per kind with a degraded version (darkened, blurred, downscaled:
the degradations of eval_properties_cifar.py, each with its own random strength; or
``--kinds low_light,...``: darkened plus sensor noise), and runs
every pipeline stage through its `curator` command as dvc.yaml has it (no metadata: the
failure must be found from the pixels). Prints, per planted kind: the property finding's
precision and recall on the test split; the model's accuracy on those images against the clean
ones; the image-condition bin that holds most of them, its accuracy, its gap to the rest with
the Bonferroni-widened interval, and whether it is its grouping's worst and the overall worst
group; then the shift stage's verdict on test against train.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from eval_properties_cifar import degrade

from curator import artifacts
from curator.evaluation.shift import shifted_properties
from curator.pipeline import STAGES

KINDS = {  # planted kind -> the finding that should flag it, the property bin that holds it
    "darkened": ("dark", "image brightness"),
    "low_light": ("dark", "image brightness"),
    "blurred": ("blurry", "image sharpness"),
    "downscaled": ("odd_size", "image shorter_side"),
}


def plant(img: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """eval_properties_cifar's degradations, and low light: darkened as there, then the sensor
    noise a camera adds when light is short (Gaussian, sd 3-8 grey levels)."""
    if kind != "low_light":
        return degrade(img, kind, rng)
    dark = np.asarray(degrade(img, "darkened", rng), np.float64)
    noisy = dark + rng.normal(0, rng.uniform(3, 8), dark.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))


def build(source: Path, data: Path, sizes: dict, kinds: list[str], n_planted: int, seed: int):
    files = sorted(source.glob("train/*/*.jpg"))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    rows, start = [], 0
    for split, n in sizes.items():
        for k, i in enumerate(order[start : start + n]):
            src = files[i]
            kind = "clean"
            if split == "test" and k < n_planted * len(kinds):
                kind = kinds[k // n_planted]
            rel = f"images/{split}/{src.parent.name}/{kind}_{src.stem}.png"
            (data / rel).parent.mkdir(parents=True, exist_ok=True)
            img = Image.open(src).convert("RGB")
            (img if kind == "clean" else plant(img, kind, rng)).save(data / rel)
            rows.append({"path": rel, "split": split, "kind": kind})
        start += n
    return pd.DataFrame(rows)


def run_pipeline(work: Path, data: Path) -> dict[str, float]:
    env = os.environ | {"HF_HUB_OFFLINE": "1", "FIFTYONE_DO_NOT_TRACK": "true"}
    curator = str(Path(sys.executable).parent / "curator")
    seconds = {}
    for stage in STAGES:
        args = stage.cmd.format(data=data).split()
        t = time.perf_counter()
        done = subprocess.run(
            [curator, *args[1:]], cwd=work, env=env, capture_output=True, text=True
        )
        if done.returncode:
            raise SystemExit(f"{stage.name} failed:\n{done.stdout}\n{done.stderr}")
        seconds[stage.name] = time.perf_counter() - t
        print(done.stdout.strip().splitlines()[-1][:200], flush=True)
    return seconds


def bin_of(evaluation: dict, groups: pd.DataFrame, truth: pd.DataFrame, kind: str, grouping: str):
    """The bin of ``grouping`` holding most images of ``kind``, with its numbers."""
    members = groups.merge(truth, on="path")
    held = members.loc[members["kind"] == kind, grouping].value_counts()
    name = held.index[0]
    summary = evaluation["subgroups"][grouping]
    g = summary["groups"][name]
    worst = summary.get("worst_group") or {}
    overall = evaluation["worst_group"] or {}
    share_of_bin = (members.loc[members[grouping] == name, "kind"] == kind).mean()
    return {
        "bin": f"{grouping}={name}",
        "holds": f"{held.iloc[0]} of {held.sum()}",
        "bin_is_planted": share_of_bin,
        "accuracy": g["accuracy"],
        "gap": g["accuracy_gap_vs_rest"],
        "worst_of_grouping": worst.get("group") == name,
        "gap_ci": worst.get("gap_ci") if worst.get("group") == name else None,
        "significant": worst.get("significant") if worst.get("group") == name else None,
        "overall_worst": overall.get("grouping") == grouping and overall.get("group") == name,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="extracted devdata (has train/)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/condbench"))
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--n-val", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=3000)
    ap.add_argument("--n-planted", type=int, default=300)
    ap.add_argument("--kinds", default="darkened,blurred,downscaled", help=f"of {list(KINDS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params-yaml", default="{}", help="params overrides, as JSON")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    work, data = args.work, args.work / "data"
    if work.exists():
        raise SystemExit(f"{work} exists; pass another --work or remove it")
    sizes = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
    truth = build(args.data, data, sizes, kinds, args.n_planted, args.seed)
    (work / "params.yaml").write_text(yaml.safe_dump(json.loads(args.params_yaml)))
    seconds = run_pipeline(work, data)
    audits = work / "audits"
    evaluation = json.loads((audits / artifacts.EVALUATION).read_text())
    groups = pd.read_parquet(audits / artifacts.EVALUATED_GROUPS)
    preds = pd.read_parquet(audits / artifacts.PREDICTIONS).merge(truth, on=["path", "split"])
    test = preds[preds["split"] == "test"]
    right = test["label"] == test["predicted"]
    issues = pd.read_parquet(audits / artifacts.ISSUES).merge(truth, on="path")
    print(
        "\n| planted kind | finding | flagged in test | precision | recall | accuracy (clean "
        f"{right[test['kind'] == 'clean'].mean():.3f}) | bin holding most | bin accuracy | gap "
        "to rest | worst of its grouping (interval, significant) | overall worst |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |")
    for kind in kinds:
        finding, grouping = KINDS[kind]
        flagged = issues[(issues["issue"] == finding) & (issues["split"] == "test")]
        flagged = flagged.drop_duplicates("path")
        hit = (flagged["kind"] == kind).sum()
        planted = (truth["kind"] == kind).sum()
        acc = right[test["kind"] == kind].mean()
        cells = [
            kind,
            finding,
            str(len(flagged)),
            f"{hit / max(len(flagged), 1):.3f}",
            f"{hit / planted:.3f}",
            f"{acc:.3f}",
        ]
        b = bin_of(evaluation, groups, truth, kind, grouping)
        worst = "yes" if b["worst_of_grouping"] else "no"
        if b["worst_of_grouping"]:
            worst += f" ({b['gap_ci'][0]:.3f} to {b['gap_ci'][1]:.3f}, "
            worst += f"{'significant' if b['significant'] else 'not significant'})"
        cells += [
            f"{b['bin']} ({b['holds']}; {b['bin_is_planted']:.0%} planted)",
            f"{b['accuracy']:.3f}",
            f"{b['gap']:+.3f}",
            worst,
            "yes" if b["overall_worst"] else "no",
        ]
        print("| " + " | ".join(cells) + " |")
    w = evaluation["worst_group"]
    print(
        f"\noverall worst group: {w['grouping']}={w['group']}, accuracy {w['accuracy']:.3f}, "
        f"gap {w['accuracy_gap_vs_rest']:+.3f} ({w['gap_ci'][0]:.3f} to {w['gap_ci'][1]:.3f})"
    )
    shift = json.loads((audits / artifacts.SHIFT_SUMMARY).read_text())
    e = shift["embedding"]["test"]
    moved = shifted_properties(shift["properties"]).get("test", [])
    print(
        f"shift, test vs train: domain AUC {e['auc']:.3f} (p={e['p_value']:.3g} against random "
        f"splits), shifted={e['shifted']}; properties shifted: {moved}"
    )
    top = pd.DataFrame(e["most_shifted"]).merge(truth, on="path")
    print(f"the {len(top)} test images least like train: {top['kind'].value_counts().to_dict()}")
    print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
