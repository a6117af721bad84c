"""Embedding throughput (images/s): open_clip on this machine's device, and the CPU fallback.

Usage: python benchmarks/bench_embed.py [--model ViT-B-32] [--n 512] [--batch-sizes 64]
           [--precisions fp32,fp16] [--num-workers 2]
Weights are random (the architecture, not the weights, sets the speed), so it runs offline.
Images are the demo's 64x64 digits, preprocessed to the model's input size (224 for ViT-B-32).
Prints one table row per (device, precision, batch size); the first batch is a warm-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from curator.demo import write_demo
from curator.features.embeddings import OpenClipEncoder, fallback_file, resolve_embedder
from curator.params import EmbedParams

MAX_PIXELS = 89_478_485


def demo_paths(n: int, tmp: Path) -> list[Path]:
    truth = write_demo(tmp / "data", seed=0, per_class=max(40, n // 9))
    bad = {b["path"] for b in truth["bad_files"]}
    paths = sorted(
        p
        for p in (tmp / "data" / "images").rglob("*")
        if p.is_file() and p.relative_to(tmp / "data").as_posix() not in bad
    )
    return paths[:n]


def time_open_clip(paths, model, precision, batch, workers) -> tuple[str, float]:
    import torch

    params = EmbedParams(
        model=model,
        pretrained="random-init",
        precision=precision,
        batch_size=batch,
        num_workers=workers,
    )
    encoder = OpenClipEncoder.load(resolve_embedder(params), params)
    encoder.encode(paths[:batch], batch, workers, MAX_PIXELS, progress=False)  # warm-up
    if encoder.device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    vectors = encoder.encode(paths, batch, workers, MAX_PIXELS, progress=False)
    if encoder.device == "cuda":
        torch.cuda.synchronize()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    return f"{encoder.device} {encoder.precision}", len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch-sizes", default="64")
    parser.add_argument("--precisions", default="fp32")
    parser.add_argument("--num-workers", type=int, default=2)
    args = parser.parse_args()
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {gpu}; torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = demo_paths(args.n, Path(tmp))
        print("| backend | model | device precision | batch | images | images/s |")
        print("| --- | --- | --- | ---: | ---: | ---: |")
        for precision in args.precisions.split(","):
            for batch in map(int, args.batch_sizes.split(",")):
                where, rate = time_open_clip(paths, args.model, precision, batch, args.num_workers)
                print(
                    f"| open_clip | {args.model} | {where} | {batch} | {len(paths)} | {rate:.0f} |"
                )
        start = time.perf_counter()
        for p in paths:
            fallback_file(p, "thumbnail", 16, MAX_PIXELS)
        rate = len(paths) / (time.perf_counter() - start)
        print(
            f"| fallback | thumbnail 16x16 | cpu fp32, 1 process | - | {len(paths)} | {rate:.0f} |"
        )


if __name__ == "__main__":
    main()
