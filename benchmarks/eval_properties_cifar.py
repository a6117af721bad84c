"""Image-condition findings on real photos: CIFAR-10 train with degraded copies planted.

Usage:
  d=$(mktemp -d) && tar -xzf ../shared/devdata/cifar10n-train/cifar10_train_jpg.tar.gz -C "$d"
  .venv/bin/python benchmarks/eval_properties_cifar.py --data "$d" [--n-real 10000]
      [--n-planted 200]

Copies ``--n-real`` random CIFAR-10 training photos unchanged into a fresh data folder and, from
other photos, ``--n-planted`` degraded copies of each kind, every copy with its own random
strength: darkened (brightness x 0.1-0.3), overexposed (pixel values squeezed into the top 10-25%
of the range), blurred (Gaussian, radius 1-2 px), low resolution (downscaled to 8-14 px and scaled
back to 32: detail lost, size kept), downscaled (saved at 8-15 px) and blank (one random colour
plus sensor-like noise, sd 1-4 grey levels). Then ingest and the properties stage run with the
shipped thresholds (or ``--params``), and each finding is scored against the kinds that should
raise it: precision (planted copies of those kinds among the flagged images that are either those
copies or unplanted photos; a copy of another kind may have the condition too, e.g. a blank frame
in a dark colour is dark, and is left out; an unplanted CIFAR photo that is flagged counts as
wrong, although some are genuinely dark or blurred, so these precisions are lower bounds) and
recall (flagged copies among those planted).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageFilter

from curator import artifacts
from curator.params import Params, load_params
from curator.stages import ingest, properties

EXPECTED = {  # finding -> the planted kinds that should raise it
    "dark": {"darkened"},
    "overexposed": {"overexposed"},
    "blurry": {"blurred", "low_resolution"},
    "low_information": {"blank"},
    "odd_size": {"downscaled"},
}


def degrade(img: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    if kind == "darkened":
        return ImageEnhance.Brightness(img).enhance(rng.uniform(0.1, 0.3))
    if kind == "overexposed":
        keep = rng.uniform(0.1, 0.25)
        return img.point(lambda v: round(255 - (255 - v) * keep))
    if kind == "blurred":
        return img.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 2.0)))
    if kind == "low_resolution":
        side = int(rng.integers(8, 15))
        return img.resize((side, side), Image.Resampling.BILINEAR).resize(img.size)
    if kind == "downscaled":
        side = int(rng.integers(8, 16))
        return img.resize((side, side), Image.Resampling.BILINEAR)
    if kind == "blank":
        colour = rng.integers(0, 256, 3)
        noise = rng.normal(0, rng.uniform(1, 4), (*img.size[::-1], 3))
        return Image.fromarray(np.clip(colour + noise, 0, 255).astype(np.uint8))
    raise ValueError(kind)


def plant(source: Path, data: Path, n_real: int, n_planted: int, seed: int) -> pd.DataFrame:
    files = sorted(source.glob("train/*/*.jpg"))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    kinds = sorted({k for v in EXPECTED.values() for k in v})
    rows = []
    for n, i in enumerate(order[: n_real + n_planted * len(kinds)]):
        src = files[i]
        kind = "real" if n < n_real else kinds[(n - n_real) // n_planted]
        rel = f"images/train/{src.parent.name}/{kind}_{src.stem}.png"
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        img = Image.open(src).convert("RGB")
        (img if kind == "real" else degrade(img, kind, rng)).save(data / rel)
        rows.append({"path": rel, "kind": kind})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="extracted CIFAR-10 train")
    parser.add_argument(
        "--params", type=Path, default=None, help="default: the params.yaml curator init writes"
    )
    parser.add_argument("--n-real", type=int, default=10_000)
    parser.add_argument("--n-planted", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    params = load_params(args.params) if args.params else Params()
    with tempfile.TemporaryDirectory() as tmp:
        data, audits = Path(tmp) / "data", Path(tmp) / "audits"
        truth = plant(args.data, data, args.n_real, args.n_planted, args.seed)
        ingest.run(params, data, audits)
        start = time.perf_counter()
        properties.run(params, data, audits)
        seconds = time.perf_counter() - start
        flags = pd.read_parquet(audits / artifacts.findings("properties"))
    kind = truth.set_index("path")["kind"]
    print(f"{len(truth)} images ({args.n_real} real, {args.n_planted} per planted kind); ")
    print(f"properties stage {seconds:.1f} s ({len(truth) / seconds:.0f} images/s)\n")
    print("| finding | planted kinds | flagged | of them planted | precision | recall |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for finding, kinds in EXPECTED.items():
        flagged = set(flags.loc[flags["issue"] == finding, "path"])
        hit = sum(kind[p] in kinds for p in flagged)
        planted = int(kind.isin(kinds).sum())
        real = sum(kind[p] == "real" for p in flagged)
        precision = hit / (hit + real) if hit + real else float("nan")
        print(
            f"| {finding} | {', '.join(sorted(kinds))} | {len(flagged)} ({real} unplanted) "
            f"| {hit} | {precision:.3f} | {hit / planted:.3f} |"
        )


if __name__ == "__main__":
    main()
