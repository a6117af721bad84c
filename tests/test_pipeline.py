"""The DVC pipeline as a user runs it: `dvc repro`, then again (a no-op)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from curator import artifacts
from curator.demo import write_demo
from curator.stages import report
from tests.conftest import REPO

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def dvc(cwd: Path, *args: str) -> str:
    env = os.environ | {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_CACHE": str(cwd / ".no-weights"),  # never use (or look for) real weights
    }
    done = subprocess.run(
        [str(BIN / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the repo's pipeline files (and the code its stages depend on)."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(
        REPO / "curator", tmp_path / "curator", ignore=shutil.ignore_patterns("__pycache__")
    )
    dvc(tmp_path, "init", "--no-scm", "-q")
    return tmp_path


def test_repro_then_noop(project):
    write_demo(project / "data", seed=0, per_class=40)
    first = dvc(project, "repro")
    stages = (
        "ingest",
        "balance",
        "hash",
        "embed",
        "duplicates",
        "agreement",
        "label_quality",
        "train",
    )
    for stage in (*stages, "issues", "evaluate", "report"):
        assert f"Running stage '{stage}'" in first
    manifest = project / "audits" / artifacts.MANIFEST
    assert manifest.exists() and (project / "audits" / artifacts.ISSUES).exists()
    mtime = manifest.stat().st_mtime_ns
    second = dvc(project, "repro")
    assert "Running stage" not in second
    assert "Data and pipelines are up to date." in second
    assert manifest.stat().st_mtime_ns == mtime
    metrics = dvc(project, "metrics", "show", "--json")
    assert "n_unreadable" in metrics and "imbalance_ratio" in metrics and "n_leaked" in metrics
    assert "worst_group" in metrics and "without_leaks" in metrics
    plots = dvc(project, "plots", "show", "--json")
    assert "confusion.csv" in plots and "group_accuracy.csv" in plots
    summary = subprocess.run(
        [str(BIN / "curator"), "summary"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    assert "leaked from earlier splits: test " in summary
    assert "Embeddings: fallback:thumbnail - ViT-B-32/laion2b_s34b_b79k weights are not" in summary
    assert (project / "reports" / report.MODEL_CARD).exists()


def test_dvc_yaml_outputs_match_what_stages_write():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]

    def names(entries):
        return {next(iter(e)) if isinstance(e, dict) else e for e in entries}

    outs = set().union(
        *(
            names(s.get("outs", [])) | names(s.get("metrics", [])) | names(s.get("plots", []))
            for s in stages.values()
        )
    )
    stage_names = ("ingest", "balance", "duplicates", "agreement", "label_quality")
    expected = {
        artifacts.MANIFEST,
        artifacts.ANNOTATIONS,
        artifacts.INGEST_SUMMARY,
        artifacts.BALANCE_SUMMARY,
        artifacts.ISSUES,
        artifacts.HASHES,
        artifacts.EMBEDDINGS_DIR,
        artifacts.EMBED_SUMMARY,
        artifacts.DUPLICATES,
        artifacts.LEAKAGE,
        artifacts.DUPLICATES_SUMMARY,
        artifacts.AGREEMENT_SUMMARY,
        artifacts.ANNOTATORS,
        artifacts.CONSENSUS,
        artifacts.PRED_PROBS,
        artifacts.LABEL_ISSUES,
        artifacts.LABEL_QUALITY_SUMMARY,
        artifacts.REVIEW_QUEUE,
        artifacts.MODEL_DIR,
        artifacts.PREDICTIONS,
        artifacts.EVALUATION,
        artifacts.SUBGROUPS,
        artifacts.CONFUSION_PLOT,
        artifacts.GROUP_ACCURACY_PLOT,
        artifacts.CALIBRATION_PLOT,
        *(artifacts.findings(s) for s in stage_names),
        *(artifacts.metrics(s) for s in stage_names),
    }
    pages = (report.DATASET_AUDIT, report.MODEL_CARD, report.MODEL_CARD_JSON)
    assert outs == {f"audits/{name}" for name in expected} | {f"reports/{p}" for p in pages}
    findings = {f"audits/{artifacts.findings(s)}" for s in stage_names}
    assert set(stages["issues"]["deps"]) >= findings
    assert all(f in stages["issues"]["cmd"] for f in findings)


def test_committed_data_dvc_matches_the_regenerated_demo(tmp_path):
    """A fresh clone regenerates data/ with `curator demo`; its bytes must match data.dvc."""
    dvc(tmp_path, "init", "--no-scm", "-q")
    write_demo(tmp_path / "data", seed=0)
    dvc(tmp_path, "add", "-q", "data")
    regenerated = yaml.safe_load((tmp_path / "data.dvc").read_text())["outs"][0]
    committed = yaml.safe_load((REPO / "data.dvc").read_text())["outs"][0]
    assert regenerated == committed
