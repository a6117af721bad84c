"""Progress where output is not a terminal: log lines with counts and rate, from every long step."""

import logging

import pytest

from curator.io import progress as progress_module
from curator.io.progress import LogProgress, progress
from curator.params import EmbedParams, IngestParams, Params, ShiftParams
from tests.conftest import run_stage, smooth_image


def test_off_a_terminal_progress_is_log_lines_with_count_rate_and_time_left(monkeypatch, caplog):
    monkeypatch.setattr(progress_module, "LOG_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="curator.progress")
    bar = progress(range(4), desc="hash 1/1")
    assert isinstance(bar, LogProgress)  # pytest captures stderr: not a terminal
    assert list(bar) == [0, 1, 2, 3]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("hash 1/1: 1/4 img (") and "img/s, about" in lines[0]
    assert lines[3].startswith("hash 1/1: 4/4 img (") and lines[-1].endswith(" s")
    assert "; done in " in lines[-1]


def test_a_short_step_says_nothing(caplog):
    caplog.set_level(logging.INFO, logger="curator.progress")
    with progress(total=3, desc="quick", unit="pair") as bar:
        bar.update(3)
    assert caplog.records == []


@pytest.fixture
def small_data(tmp_path):
    for split, n in (("train", 30), ("test", 10)):
        for c, cls in enumerate(("cat", "dog")):
            for i in range(n):
                path = tmp_path / "data" / "images" / split / cls / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                smooth_image(1000 * c + i + (0 if split == "train" else 500), 48).save(path)
    return tmp_path / "data"


def test_the_long_stages_report_progress_off_a_terminal(small_data, tmp_path, monkeypatch, caplog):
    """properties, duplicates, shift and label_quality each say how far they are (and the
    steps inside them: pools, edge correlation, refits, folds, resamples)."""
    monkeypatch.setattr(progress_module, "LOG_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="curator.progress")
    params = Params(
        ingest=IngestParams(workers=1, metadata=None, annotations=None),
        embed=EmbedParams(cache_dir=str(tmp_path / "cache"), workers=1),
        shift=ShiftParams(n_permutations=99, alpha=0.05),
    )
    audits = tmp_path / "audits"
    for stage in ("ingest", "hash", "properties", "embed", "shift", "duplicates", "label_quality"):
        run_stage(stage, params, small_data, audits)
    said = " | ".join(r.getMessage() for r in caplog.records)
    for step in (
        "properties 1/1: ",
        "duplicates: edge correlation, full size, each image's nearest: ",
        "shift: refits on random splits: 99/99 refit",
        "label_quality: kernel_logistic folds: 5/5 fold",
        "label_quality: evidence resamples: 200/200 resample",
    ):
        assert step in said, step
