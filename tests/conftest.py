"""Shared fixtures: real images written into tmp_path, and a small demo dataset."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


def write_image(path: Path, seed: int = 0, size: tuple[int, int] = (32, 32), fmt: str = "PNG"):
    """A small real image with random content (distinct per seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr, mode="RGB").save(path, format=fmt)
    return path


def smooth_image(seed: int, size: int) -> Image.Image:
    """A photo-like picture: random colour blobs, blurred (distinct per seed)."""
    from PIL import ImageFilter

    arr = np.random.default_rng(seed).integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    return (
        Image.fromarray(arr)
        .resize((size, size), Image.Resampling.BICUBIC)
        .filter(ImageFilter.GaussianBlur(2))
    )


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root`` with its content hash and mtime: to prove nothing changed."""
    return {
        p.relative_to(root).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """data/images/<split>/<class>/<file>: 2 splits x 2 classes x 3 images."""
    root = tmp_path / "data"
    seed = 0
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            for i in range(3):
                write_image(root / "images" / split / cls / f"{i}.png", seed=seed)
                seed += 1
    return root


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The demo dataset at its smallest size; tests must not modify it."""
    from curator.demo import write_demo

    root = tmp_path_factory.mktemp("demo") / "data"
    truth = write_demo(root, seed=0, per_class=40)
    return root, truth


@pytest.fixture(scope="session")
def audited_demo(demo_data, tmp_path_factory):
    """Every stage run on the small demo: (params, audits folder, evaluate's summary).

    Tests read it; a test that changes something works on a copy."""
    from curator.params import (
        BalanceParams,
        EmbedParams,
        EvaluateParams,
        IngestParams,
        LabelQualityParams,
        Params,
        TrainParams,
    )

    root, _ = demo_data
    audits = tmp_path_factory.mktemp("audits")
    params = Params(
        ingest=IngestParams(workers=1),
        balance=BalanceParams(subgroups=("site", "device")),
        embed=EmbedParams(cache_dir=str(audits.parent / "embed-cache"), workers=1),
        label_quality=LabelQualityParams(subgroups=("site",)),
        train=TrainParams(max_epochs=40),
        evaluate=EvaluateParams(sensitive_features=("site", "device"), n_bootstrap=200),
    )
    for stage in ("ingest", "hash", "properties", "embed", "shift", "duplicates", "balance"):
        run_stage(stage, params, root, audits)
    for stage in ("label_quality", "agreement", "train", "issues"):
        run_stage(stage, params, root, audits)
    summary = run_stage("evaluate", params, root, audits)
    run_stage("errors", params, root, audits)
    return params, audits, summary


def run_stage(name: str, params, data: Path, audits: Path):
    """Run one pipeline stage as dvc.yaml's command does (the same inputs, findings included)
    and return what it returns."""
    from curator import artifacts
    from curator.pipeline import CHECK_STAGES
    from curator.stages import (
        agreement,
        balance,
        duplicates,
        embed,
        errors,
        evaluate,
        hash,
        ingest,
        issues,
        label_quality,
        properties,
        report,
        shift,
        train,
    )

    findings = [audits / artifacts.findings(s) for s in CHECK_STAGES]
    runs = {
        "ingest": lambda: ingest.run(params, data, audits),
        "balance": lambda: balance.run(params, audits),
        "hash": lambda: hash.run(params, data, audits),
        "properties": lambda: properties.run(params, data, audits),
        "embed": lambda: embed.run(params, data, audits),
        "shift": lambda: shift.run(params, audits),
        "duplicates": lambda: duplicates.run(params, data, audits),
        "label_quality": lambda: label_quality.run(params, data, audits),
        "agreement": lambda: agreement.run(params, audits, audits / artifacts.PRED_PROBS),
        "train": lambda: train.run(params, data, audits, findings[2:]),
        "issues": lambda: issues.run(
            findings,
            audits / artifacts.ISSUES,
            audits / artifacts.REVIEW_QUEUE,
            audits / artifacts.summary("label_quality"),
            audits / artifacts.MANIFEST,
            audits / artifacts.ANNOTATIONS,
        ),
        "evaluate": lambda: evaluate.run(params, audits),
        "errors": lambda: errors.run(params, data, audits),
        "report": lambda: report.run(params, data, audits, audits.parent / "reports"),
    }
    return runs[name]()


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 64, "heads": 2, "layers": 1},
}


def tiny_clip_embed(config: Path, cache_dir: Path, **kw):
    """EmbedParams for the tiny random open_clip model: the real code path, on CPU."""
    from curator.params import EmbedParams

    return EmbedParams(
        model="curator-tiny",
        model_config=str(config),
        pretrained="random-init",
        num_workers=0,
        device="cpu",
        cache_dir=str(cache_dir),
        **kw,
    )


@pytest.fixture(scope="session")
def tiny_clip_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer open_clip architecture (random weights are built from it; nothing downloads)."""
    import json

    path = tmp_path_factory.mktemp("clip") / "curator-tiny.json"
    path.write_text(json.dumps(TINY_CLIP))
    return path


@pytest.fixture(autouse=True)
def _no_weight_caches(tmp_path_factory, monkeypatch):
    """Point the model caches at an empty folder: tests never see (or fetch) real weights."""
    empty = tmp_path_factory.getbasetemp() / "empty-hf-cache"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(empty), raising=False)


def write_two_class_tree(root: Path) -> None:
    """A tiny imagefolder tree: 8/4/4 cat and dog images in train/val/test."""
    for split, n in (("train", 8), ("val", 4), ("test", 4)):
        for c, cls in enumerate(("cat", "dog")):
            for i in range(n):
                write_image(root / "images" / split / cls / f"{i}.png", seed=100 * c + i)
