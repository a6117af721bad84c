"""The CNN trained on the images: out-of-fold, seeded, and it learns what the pixels show."""

import numpy as np
import pandas as pd
from PIL import Image

from curator import artifacts
from curator.learn.image_cnn import out_of_fold_cnn_probs
from curator.params import IngestParams, LabelQualityParams, Params
from curator.stages import ingest, label_quality

SETTINGS = {"width": 8, "epochs": 6, "batch_size": 16, "learning_rate": 0.1}


def striped(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: a bright band at the top; class 1: at the bottom; noise everywhere."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 90, (2 * n, 16, 16, 3)).astype(np.uint8)
    images[:n, 2:6] += 150
    images[n:, 10:14] += 150
    return images, np.repeat([0, 1], n)


def test_out_of_fold_probabilities_learn_and_repeat():
    images, y = striped(40, 0)
    order = np.random.default_rng(1).permutation(len(y))
    halves = [(order[40:], order[:40]), (order[:40], order[40:])]
    first = out_of_fold_cnn_probs(images, y, halves, 2, SETTINGS, seed=0, device="cpu")
    again = out_of_fold_cnn_probs(images, y, halves, 2, SETTINGS, seed=0, device="cpu")
    np.testing.assert_array_equal(first, again)  # seeded: the same probabilities
    assert np.allclose(first.sum(axis=1), 1, atol=1e-5)
    assert (first.argmax(axis=1) == y).mean() >= 0.9  # every row from a model that never saw it


def test_the_stage_trains_it_on_the_files(tmp_path):
    images, y = striped(12, 2)
    root = tmp_path / "data"
    for k, (img, label) in enumerate(zip(images, y, strict=True)):
        path = root / "images" / "train" / f"c{label}" / f"{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
    params = Params(
        ingest=IngestParams(workers=1, metadata=None, annotations=None),
        label_quality=LabelQualityParams(
            classifier="cnn",
            cnn_image_size=16,
            cnn_width=8,
            cnn_epochs=6,
            cnn_batch_size=8,
            n_folds=3,
            device="cpu",
        ),
    )
    audits = tmp_path / "audits"
    ingest.run(params, root, audits)
    summary = label_quality.run(params, root, audits)
    assert summary["pred_probs_source"] == "3-fold CNN trained on the images (16 px)"
    assert summary["out_of_fold"] is True
    probs = pd.read_parquet(audits / artifacts.PRED_PROBS)
    assert len(probs) == 24 and {"p_c0", "p_c1"} <= set(probs.columns)
