"""Degenerate but legal data: every stage completes, the report and the summary are written, and
what could not be measured is stated instead of a crash (each case once crashed a stage)."""

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from curator import artifacts
from curator.params import EmbedParams, IngestParams, Params, TrainParams
from curator.pipeline import STAGES
from curator.reporting.summary import render_summary
from tests.conftest import run_stage, smooth_image

PIPELINE = [stage.name for stage in STAGES]  # in the order dvc repro runs them


def picture(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    smooth_image(seed, 48).save(path)


def layout(root: Path, counts: dict[str, dict[str, int]]) -> None:
    """counts[split][class] distinct pictures, each its own seed."""
    seed = 0
    for split, classes in counts.items():
        for cls, n in classes.items():
            for _ in range(n):
                picture(root / "images" / split / cls / f"{seed}.png", seed)
                seed += 1


def no_near_pairs(root: Path) -> None:  # 120 distinct pictures: enough to fit the null model
    layout(
        root, {"train": {"a": 40, "b": 40}, "val": {"a": 10, "b": 10}, "test": {"a": 10, "b": 10}}
    )


def all_test_leaked(root: Path) -> None:
    layout(root, {"train": {"a": 20, "b": 20}})
    for cls in ("a", "b"):
        for src in sorted((root / "images" / "train" / cls).iterdir())[:6]:
            (root / "images" / "test" / cls).mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / "images" / "test" / cls / f"copy-{src.name}")


def one_distinct_image(root: Path) -> None:
    for split, n in (("train", 10), ("test", 4)):
        for cls in ("a", "b"):
            for i in range(n):
                picture(root / "images" / split / cls / f"{i}.png", seed=0)


def single_class(root: Path) -> None:
    layout(root, {"train": {"a": 20}, "test": {"a": 6}})


def one_class_in_test(root: Path) -> None:
    layout(root, {"train": {"a": 20, "b": 20}, "test": {"a": 8}})


def split_of_one_image(root: Path) -> None:
    layout(root, {"train": {"a": 20, "b": 20}, "test": {"a": 1}})


def only_a_train_split(root: Path) -> None:
    layout(root, {"train": {"a": 25, "b": 25}})


def audit(tmp_path: Path, make) -> tuple[Path, Path, str]:
    data, audits = tmp_path / "data", tmp_path / "audits"
    make(data)
    params = Params(
        ingest=IngestParams(workers=1, metadata=None, annotations=None),
        embed=EmbedParams(cache_dir=str(tmp_path / "cache"), workers=1),
        train=TrainParams(max_epochs=20),
    )
    for stage in PIPELINE:
        run_stage(stage, params, data, audits)
    return audits, tmp_path / "reports", render_summary(audits)


def doc(audits: Path, name: str) -> dict:
    return json.loads((audits / name).read_text())


def page(reports: Path, name: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities and white space resolved."""
    text = re.sub(r"<[^>]+>", "", (reports / name).read_text())
    return html.unescape(" ".join(text.split()))


def test_no_near_pairs_states_why_no_precision_is_estimated(tmp_path):
    audits, reports, summary = audit(tmp_path, no_near_pairs)
    calibration = doc(audits, artifacts.DUPLICATES_SUMMARY)["calibration"]
    assert doc(audits, artifacts.DUPLICATES_SUMMARY)["n_pairs"] == 0
    assert calibration["null_model"].get("dimension")  # fitted: 120 images
    reason = "no near pair was accepted, so none can be wrong"
    assert calibration["precision"] is None and calibration["precision_not_estimated"] == reason
    assert f"The share of wrong pairs among those accepted is not estimated: {reason}." in page(
        reports, "dataset_audit.html"
    )
    assert "0 twin pairs" in summary


def test_every_test_image_leaked_says_nothing_was_measured_on_unseen_images(tmp_path):
    audits, reports, summary = audit(tmp_path, all_test_leaked)
    leaks = doc(audits, artifacts.EVALUATION)["data_quality_corrected"]["without_leaks"]
    assert leaks["n_excluded"] == 12 and leaks["n_kept"] == 0 and leaks["clean_accuracy"] is None
    card = page(reports, "model_card.html")
    assert "Every one of the" in card and "no number on this card measures images" in card
    assert "[high] Every test image (12) has a twin in train" in (
        (reports / "model_card.json").read_text()
    )
    assert "every one of them leaked from train: nothing measured on unseen images" in summary


def test_one_distinct_image_judges_no_label_and_trains_without_val(tmp_path):
    audits, reports, summary = audit(tmp_path, one_distinct_image)
    labels = doc(audits, artifacts.LABEL_QUALITY_SUMMARY)
    assert labels["evidence"]["measured"] is False and labels["n_flagged"] == 0
    assert "class 'a' has a single distinct image" in labels["evidence"]["reasons"][0]
    model = doc(audits, f"{artifacts.MODEL_DIR}/model.json")
    assert model["n_val"] == 0 and model["val_split"]["source"].startswith("none: the data has")
    assert "Labels not judged:" in page(reports, "dataset_audit.html")
    assert "no val split: none: the data has no val split" in page(reports, "model_card.html")
    assert "Labels: not measured: class 'a' has a single distinct image" in summary


def test_a_single_class_judges_no_label(tmp_path):
    audits, reports, summary = audit(tmp_path, single_class)
    labels = doc(audits, artifacts.LABEL_QUALITY_SUMMARY)
    reason = "every image has the same label 'a': there is no other label to tell it from"
    assert labels["evidence"]["reasons"] == [reason]
    assert f"Labels not judged: {reason}" in page(reports, "dataset_audit.html")
    assert doc(audits, artifacts.EVALUATION)["overall"]["accuracy"] == 1.0
    assert f"Labels: not measured: {reason}" in summary


def test_one_class_in_test_and_a_test_split_of_one_image_still_give_both_pages(tmp_path):
    for name, make, n_test in (("one", one_class_in_test, 8), ("single", split_of_one_image, 1)):
        audits, reports, summary = audit(tmp_path / name, make)
        evaluation = doc(audits, artifacts.EVALUATION)
        assert evaluation["split"] == "test" and evaluation["n"] == n_test
        assert evaluation["overall"]["per_class"]["b"]["support"] == 0
        assert (reports / "model_card.html").exists() and (reports / "dataset_audit.html").exists()
        assert "test accuracy" in summary
    skipped = doc(audits, artifacts.SHIFT_SUMMARY)["embedding"]["test"]["skipped"]
    assert skipped == "fewer than shift.folds=5 images in test or train"


def test_only_a_train_split_evaluates_on_val_and_says_the_numbers_are_optimistic(tmp_path):
    audits, reports, summary = audit(tmp_path, only_a_train_split)
    evaluation = doc(audits, artifacts.EVALUATION)
    assert evaluation["split"] == "val"
    assert evaluation["split_note"].startswith("the data has no 'test' split, so the model is")
    card = page(reports, "model_card.html")
    assert "Not a held-out test: the data has no 'test' split" in card
    assert "it was carved from train, so it is drawn like train by construction" in card
    assert "val accuracy" in summary


@pytest.mark.parametrize("make", [all_test_leaked, only_a_train_split])
def test_the_degenerate_reports_render_every_number_from_an_audit_file(tmp_path, make):
    from tests.reporting.test_report import lookup, parse

    audits, reports, _ = audit(tmp_path, make)
    for name in ("dataset_audit.html", "model_card.html"):
        for src, _ in parse(reports / name).spans:
            assert isinstance(lookup(audits, src), int | float), src
