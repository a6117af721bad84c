"""Ingest throughput: decode + hash every demo image, serial vs all cores.

Usage: .venv/bin/python benchmarks/bench_ingest.py [--per-class 300] [--repeat 3]
Prints a table: workers, images, best wall time, images/s, peak RSS of this process tree.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from curator.demo import write_demo
from curator.params import IngestParams, Params
from curator.stages import ingest


def peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        truth = write_demo(root, seed=0, per_class=args.per_class)
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"{truth['n_files']} files"
        )
        print(
            f"{'workers':>7} | {'images':>6} | {'best s':>7} | {'images/s':>8} | "
            f"{'peak RSS MiB':>12}"
        )
        for workers in (1, os.cpu_count() or 1):
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                ingest.run(Params(ingest=IngestParams(workers=workers)), root, Path(tmp) / "a")
                best = min(best, time.perf_counter() - start)
            print(
                f"{workers:>7} | {truth['n_files']:>6} | {best:>7.2f} | "
                f"{truth['n_files'] / best:>8.0f} | {peak_rss_mib():>12.0f}"
            )


if __name__ == "__main__":
    main()
