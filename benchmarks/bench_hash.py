"""Hashing with and without JPEG draft decoding: speed, and whether recall changes.

Usage: .venv/bin/python benchmarks/bench_hash.py [--n 300] [--size 1024]
Makes n photo-sized JPEGs (demo digits upscaled to --size px) and a near copy of each
(re-encoded, resized to 80%, shifted 2%, brightened 25%, in turn), hashes every file with a full
decode and with draft decode (decode_size=64), and prints per hash: images/s, how many planted
pairs fall within the duplicates radius (recall), and how far the draft hashes move.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageEnhance

from curator.demo import write_demo
from curator.features.hashes import HASH_KINDS, hamming, hash_file
from curator.params import DuplicatesParams

MAX_PIXELS = 89_478_485


def make_pairs(n: int, size: int, tmp: Path) -> list[tuple[Path, Path]]:
    truth = write_demo(tmp / "demo", seed=0, per_class=max(40, n // 9))
    bad = {b["path"] for b in truth["bad_files"]}
    sources = sorted(
        p
        for p in (tmp / "demo" / "images").rglob("*")
        if p.is_file() and p.relative_to(tmp / "demo").as_posix() not in bad
    )[:n]
    pairs = []
    for k, src in enumerate(sources):
        big = Image.open(src).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        a, b = tmp / f"{k}a.jpg", tmp / f"{k}b.jpg"
        big.save(a, quality=90)
        copy = (
            big,
            big.resize((size * 4 // 5,) * 2),
            ImageChops.offset(big, size // 50, 0),
            ImageEnhance.Brightness(big).enhance(1.25),
        )[k % 4]
        copy.save(b, quality=75 if k % 4 == 0 else 90)
        pairs.append((a, b))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    radius = DuplicatesParams()
    with tempfile.TemporaryDirectory() as tmp:
        pairs = make_pairs(args.n, args.size, Path(tmp))
        files = [p for pair in pairs for p in pair]
        codes, rates = {}, {}
        for decode_size in (0, 64):
            start = time.perf_counter()
            codes[decode_size] = np.array(
                [hash_file(f, MAX_PIXELS, decode_size) for f in files], dtype=np.uint64
            )
            rates[decode_size] = len(files) / (time.perf_counter() - start)
        print(f"{len(pairs)} near pairs of {args.size}px JPEGs; one process")
        print(
            "| hash | decode | images/s | pairs within radius | mean shift of draft hash (bits) |"
        )
        print("| --- | --- | ---: | ---: | ---: |")
        for k, kind in enumerate(HASH_KINDS):
            r = getattr(radius, f"max_{kind}_distance")
            moved = hamming(codes[0][:, k], codes[64][:, k]).mean()
            for decode_size, label in ((0, "full"), (64, "draft >= 64 px")):
                c = codes[decode_size][:, k]
                within = int((hamming(c[0::2], c[1::2]) <= r).sum())
                shift = f"{moved:.2f}" if decode_size else "-"
                print(
                    f"| {kind} <= {r} | {label} | {rates[decode_size]:.0f} | "
                    f"{within}/{len(pairs)} | {shift} |"
                )


if __name__ == "__main__":
    main()
