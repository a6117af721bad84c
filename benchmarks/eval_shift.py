"""Does the shift stage's domain test cry wolf on random splits of real photos, and does it see
real shifts? A seeded simulation on CIFAR-10 photos.

Usage:
  d=$(mktemp -d) && tar -xzf ../shared/devdata/cifar10n-train/cifar10_train_jpg.tar.gz -C "$d"
  .venv/bin/python benchmarks/eval_shift.py --data "$d" [--n 3000] [--runs 100]
      [--held 0.2] [--descriptor thumbnail|hog] [--alpha 0.01]
      [--scenarios null,vehicles,zoomed,rotated,darker]

Per run, ``--n`` photos are drawn (seeded by the run) and split into train and a held-out split
of ``--held`` of them; the stage's domain test (curator.evaluation.shift.domain_classifier, as
the shift stage calls it, with the default params but the run's seed and ``--alpha``) is asked
whether the held-out split is drawn like train. Descriptors are what the embed stage computes
offline (the thumbnail fallback, or HOG). Scenarios:
- null: a uniform random split: every "shifted" is a false alarm;
- vehicles: the held-out split draws the four vehicle classes three times as often (label shift);
- zoomed: 30% of the held-out photos are centre crops of 60% of the frame, resized back;
- rotated: 10% of the held-out photos are turned a quarter turn (a sub-population);
- darker: 30% of the held-out photos at 0.6 brightness. The thumbnail descriptor is centred and
  normalised, blind to brightness by design: this one is for the property tests (KS on
  brightness), and shows what the embedding test alone cannot see.
Prints one row per scenario: runs, share called shifted (a false-alarm rate under null, power
otherwise, with a Jeffreys interval), mean AUC, mean wall seconds per test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from curator.evaluation.intervals import jeffreys_interval
from curator.evaluation.shift import domain_classifier
from curator.features.embeddings import hog_descriptor, thumbnail_descriptor
from curator.params import EmbedParams, ShiftParams


def load(data: Path) -> tuple[list[Path], np.ndarray]:
    paths = sorted(data.glob("train/*/*.jpg"))
    classes = sorted({p.parent.name for p in paths})
    return paths, np.array([classes.index(p.parent.name) for p in paths])


def describe(img: Image.Image, kind: str) -> np.ndarray:
    size = EmbedParams().fallback_size if kind == "thumbnail" else 32
    fn = thumbnail_descriptor if kind == "thumbnail" else hog_descriptor
    return fn(img, size)


def run_once(paths, labels, scenario: str, args, seed: int) -> tuple[bool, float, float]:
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(paths), size=args.n, replace=False)
    n_held = int(args.held * args.n)
    if scenario == "vehicles":  # airplane, automobile, ship, truck: 3x as likely held out
        weight = np.where(np.isin(labels[pick], [0, 1, 8, 9]), 3.0, 1.0)
        held = rng.choice(args.n, size=n_held, replace=False, p=weight / weight.sum())
    else:
        held = rng.choice(args.n, size=n_held, replace=False)
    is_held = np.zeros(args.n, dtype=bool)
    is_held[held] = True
    images = [Image.open(paths[k]).convert("RGB") for k in pick]
    if scenario == "darker":
        for k in rng.choice(held, size=int(0.3 * n_held), replace=False):
            images[k] = ImageEnhance.Brightness(images[k]).enhance(0.6)
    if scenario == "zoomed":
        for k in rng.choice(held, size=int(0.3 * n_held), replace=False):
            w, h = images[k].size
            box = (int(0.2 * w), int(0.2 * h), int(0.8 * w), int(0.8 * h))
            images[k] = images[k].crop(box).resize((w, h), Image.Resampling.BICUBIC)
    if scenario == "rotated":
        for k in rng.choice(held, size=int(0.1 * n_held), replace=False):
            images[k] = images[k].transpose(Image.Transpose.ROTATE_90)
    x = np.stack([describe(img, args.descriptor) for img in images]).astype(np.float32)
    start = time.perf_counter()
    params = ShiftParams(seed=seed, alpha=args.alpha)
    _, summary = domain_classifier(x[~is_held], x[is_held], params)
    return bool(summary["shifted"]), float(summary["auc"]), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--held", type=float, default=0.2)
    parser.add_argument("--descriptor", choices=("thumbnail", "hog"), default="thumbnail")
    parser.add_argument("--alpha", type=float, default=ShiftParams().alpha)
    parser.add_argument("--scenarios", default="null,vehicles,zoomed,rotated,darker")
    args = parser.parse_args()
    paths, labels = load(args.data)
    print(
        f"{args.n} CIFAR-10 photos per run, {args.held:.0%} held out, {args.descriptor} "
        f"descriptor, shift.alpha {args.alpha:g}, {args.runs} seeded runs per scenario\n"
    )
    print("| scenario | runs | called shifted | interval (95%) | mean AUC | s per test |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for scenario in args.scenarios.split(","):
        results = [run_once(paths, labels, scenario, args, 1000 * i + 7) for i in range(args.runs)]
        called = sum(r[0] for r in results)
        lo, hi = jeffreys_interval(called, args.runs, 0.95)
        print(
            f"| {scenario} | {args.runs} | {called / args.runs:.3f} | {float(lo):.3f} to "
            f"{float(hi):.3f} | {np.mean([r[1] for r in results]):.3f} | "
            f"{np.mean([r[2] for r in results]):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
