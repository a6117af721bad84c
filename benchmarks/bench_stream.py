"""Streaming ingest + hash on synthetic image folders: wall time and peak memory against size.

Usage: .venv/bin/python benchmarks/bench_stream.py [--sizes 50000,200000] [--engine local]
For each size, writes that many distinct 32x32 PNGs (random noise, so every file is its own
content) under a temporary ImageFolder, then runs `curator ingest` and `curator hash` as
subprocesses and samples the memory of the whole process tree (the command and its worker
processes) every 0.2 s as the sum of each process's PSS (proportional set size: pages shared
between the forked workers and their parent are counted once, which summing RSS would not do).
Prints a table: files, stage, wall time, peak memory of the tree, and the peak relative to the
smallest size. The outputs themselves (one manifest row and one
hash row per file) are the only thing that should grow.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import yaml
from PIL import Image

BIN = Path(sys.executable).parent


def write_images(root: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for start in range(0, n, 10_000):
        folder = root / "images" / "train" / f"c{start // 10_000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(start, min(n, start + 10_000)):
            pixels = rng.integers(0, 256, size=(32, 32), dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(pixels, mode="L").save(buf, format="PNG")
            (folder / f"{i:07d}.png").write_bytes(buf.getvalue())


def peak_tree_pss(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``args``; return (wall seconds, peak MiB of the summed PSS of it and its children)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, root = 0, psutil.Process(proc.pid)

    def sample() -> None:
        nonlocal peak
        while proc.poll() is None:
            try:
                procs = [root, *root.children(recursive=True)]
                total = sum(p.memory_full_info().pss for p in procs)
            except psutil.Error:
                continue
            peak = max(peak, total)
            time.sleep(0.2)

    watcher = threading.Thread(target=sample)
    watcher.start()
    _, err = proc.communicate()
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{err.decode()[-2000:]}")
    return time.perf_counter() - start, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="50000,200000")
    parser.add_argument("--engine", default="local", choices=["local", "ray"])
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            work = Path(tmp) / str(n)
            write_images(work / "data", n)
            params = {
                "engine": {"name": args.engine, "work_dir": str(work / "shards")},
                "ingest": {"metadata": None, "annotations": None},
            }
            (work / "params.yaml").write_text(yaml.safe_dump(params))
            for stage in ("ingest", "hash"):
                cmd = [str(BIN / "curator"), stage, "--data", "data", "--audits", "audits"]
                wall, peak = peak_tree_pss(cmd, work)
                rows.append((n, stage, wall, peak))
                print(f"{n} {stage}: {wall:.1f} s, peak {peak:.0f} MiB", file=sys.stderr)
    base = {stage: peak for n, stage, _, peak in rows if n == sizes[0]}
    print(f"| files | stage | wall s | files/s | peak PSS MiB | vs {sizes[0]:,} |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for n, stage, wall, peak in rows:
        print(
            f"| {n:,} | {stage} | {wall:.1f} | {n / wall:,.0f} | {peak:.0f} | "
            f"{peak / base[stage]:.2f}x |"
        )


if __name__ == "__main__":
    main()
