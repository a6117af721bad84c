"""The DVC pipeline as a user runs it: `dvc repro`, then again (a no-op)."""

import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import typing
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from curator import __version__, artifacts
from curator.checks.base import METADATA_COLUMN_KEYS
from curator.demo import PARAMS_COLUMNS, write_demo
from curator.params import (
    AgreementParams,
    BalanceParams,
    DuplicatesParams,
    EmbedParams,
    EvaluateParams,
    HashParams,
    IngestParams,
    LabelQualityParams,
    Params,
    PropertiesParams,
    TrainParams,
    load_params,
)
from curator.pipeline import (
    EMBEDDER_KEYS,
    RUNTIME_ONLY_KEYS,
    STAGES,
    render_dvc_yaml,
    render_params_yaml,
)
from curator.stages import report
from tests.conftest import REPO, run_stage

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def dvc(cwd: Path, *args: str, path: str = str(BIN)) -> str:
    env = os.environ | {
        "PATH": f"{path}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_CACHE": str(cwd / ".no-weights"),  # never use (or look for) real weights
    }
    done = subprocess.run(
        [str(BIN / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """curator pip-installed from its wheel into a fresh environment outside this tree (its
    dependencies come from this test's environment: nothing is downloaded)."""
    wheels, env = tmp_path / "wheels", tmp_path / "env"
    pip = [str(BIN / "pip"), "-q", "--disable-pip-version-check"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)]
    subprocess.run(build, check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    (wheel,) = wheels.glob("curator-*.whl")
    install = [*pip, "--python", str(env / "bin" / "python"), "install", "--no-deps", str(wheel)]
    subprocess.run(install, check=True)
    (site,) = env.glob("lib/python*/site-packages")
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run(
        [str(env / "bin" / "python"), "-c", "import curator; print(curator.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(site))  # the wheel's copy, not this source tree
    return env / "bin"


@pytest.fixture
def project(tmp_path: Path, installed: Path) -> Path:
    """A user's own git + DVC repository outside this tree, set up as the README says:
    `curator init` (the pip-installed one), the demo images as the user's data, `dvc add`."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    init = subprocess.run(
        [str(installed / "curator"), "init", "--data", "images-v1"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "init: wrote dvc.yaml, params.yaml, .gitignore" in init.stdout
    (repo / "params.yaml").write_text(render_params_yaml(PARAMS_COLUMNS))
    write_demo(repo / "images-v1", seed=0, per_class=40)
    dvc(repo, "add", "-q", "images-v1")
    return repo


def test_repro_in_an_initialised_repo_then_noop_then_exact_reruns(project, installed):
    first = dvc(project, "repro", path=str(installed))
    stages = (
        "ingest",
        "balance",
        "hash",
        "properties",
        "embed",
        "shift",
        "duplicates",
        "agreement",
        "label_quality",
        "train",
    )
    for stage in (*stages, "issues", "evaluate", "errors", "report"):
        assert f"Running stage '{stage}'" in first
    manifest = project / "audits" / artifacts.MANIFEST
    assert manifest.exists() and (project / "audits" / artifacts.ISSUES).exists()
    version = pq.read_schema(manifest).metadata[b"curator_version"].decode()
    assert version == __version__
    mtime = manifest.stat().st_mtime_ns
    second = dvc(project, "repro", path=str(installed))
    assert "Running stage" not in second
    assert "Data and pipelines are up to date." in second
    assert manifest.stat().st_mtime_ns == mtime
    metrics = dvc(project, "metrics", "show", "--json")
    assert "n_unreadable" in metrics and "imbalance_ratio" in metrics and "n_leaked" in metrics
    assert "worst_group" in metrics and "without_leaks_accuracy" in metrics
    table = dvc(project, "metrics", "show").splitlines()  # one short row per stage
    metric_files = sum(o.kind == "metrics" for stage in STAGES for o in stage.outs)
    assert len(table) == 1 + metric_files and max(map(len, table)) <= 320, "\n".join(table)
    dvc(project, "plots", "show")  # images only: the page needs no network
    page = (project / "dvc_plots" / "index.html").read_text()
    for name in report.FIGURES:
        assert f"{name}.svg" in page
    assert "vega" not in page.lower()
    summary = subprocess.run(
        [str(installed / "curator"), "summary"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "leaked from earlier splits: test " in summary
    assert "Embeddings: fallback:thumbnail - ViT-B-32/laion2b_s34b_b79k weights are not" in summary
    assert (project / "reports" / report.MODEL_CARD).exists()
    # a key train reads from another section makes train stale, and nothing else downstream
    params = project / "params.yaml"
    params.write_text(
        params.read_text().replace("effective_number_beta: 0.999", "effective_number_beta: 0.99")
    )
    stale = dvc(project, "status", "--json")
    assert set(json.loads(stale)) == {"balance", "train"}, stale


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
    stage_names = ("ingest", "balance", "properties", "duplicates", "agreement", "label_quality")
    expected = {
        artifacts.MANIFEST,
        artifacts.ANNOTATIONS,
        artifacts.INGEST_SUMMARY,
        artifacts.BALANCE_SUMMARY,
        artifacts.ISSUES,
        artifacts.HASHES,
        artifacts.PROPERTIES,
        artifacts.PROPERTIES_SUMMARY,
        artifacts.EMBEDDINGS_DIR,
        artifacts.EMBED_SUMMARY,
        artifacts.SHIFT,
        artifacts.SHIFT_SUMMARY,
        artifacts.metrics("shift"),
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
        artifacts.EVALUATED_GROUPS,
        artifacts.ERRORS,
        artifacts.ERRORS_SUMMARY,
        artifacts.CONFUSION_PLOT,
        artifacts.GROUP_ACCURACY_PLOT,
        artifacts.CALIBRATION_PLOT,
        *(artifacts.findings(s) for s in stage_names),
        *(artifacts.metrics(s) for s in (*stage_names, "evaluate")),
    }
    pages = (report.DATASET_AUDIT, report.MODEL_CARD, report.MODEL_CARD_JSON)
    pages += tuple(f"{report.FIGURES_DIR}/{name}.svg" for name in report.FIGURES)
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


def test_dvc_yaml_and_params_yaml_are_rendered_from_the_pipeline_table():
    assert (REPO / "dvc.yaml").read_text() == render_dvc_yaml(with_sources=True), (
        "dvc.yaml is stale: regenerate it with python -c 'from curator.pipeline import "
        'render_dvc_yaml as r; print(r(with_sources=True), end="")\' > dvc.yaml'
    )
    assert (REPO / "params.yaml").read_text() == render_params_yaml(PARAMS_COLUMNS)
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, cls in typing.get_type_hints(Params).items():
        assert set(raw[section]) == {f.name for f in dataclasses.fields(cls)}, section
    for stage in STAGES:
        assert all((REPO / path).exists() for path in stage.sources), stage.name
        assert not set(stage.params) & set(RUNTIME_ONLY_KEYS), stage.name


class _Reads:
    """Which params keys each stage reads: sections are swapped for recording subclasses."""

    def __init__(self) -> None:
        self.stage = ""
        self.by_stage: dict[str, set[str]] = {}

    def wrap(self, params: Params) -> Params:
        sections = {}
        for name, base in typing.get_type_hints(Params).items():
            keys = {f.name for f in dataclasses.fields(base)}
            values = {k: getattr(getattr(params, name), k) for k in keys}

            def get(obj, attr, _name=name, _keys=keys):
                if attr in _keys:
                    self.by_stage.setdefault(self.stage, set()).add(f"{_name}.{attr}")
                return object.__getattribute__(obj, attr)

            def reduce(obj, _base=base, _keys=keys):  # worker processes get plain sections
                return functools.partial(_base, **{k: getattr(obj, k) for k in _keys}), ()

            recording = type(
                base.__name__, (base,), {"__getattribute__": get, "__reduce__": reduce}
            )
            sections[name] = recording(**values)
        return Params(**sections)


# Keys a stage reads only in a configuration the demo run below does not use.
CONDITIONAL_READS = {
    "ingest": {"ingest.layout"},  # only when ingest.manifest is set
    "embed": {  # the open_clip path (the demo runs without weights: the fallback)
        "embed.image_size",
        "embed.device",
        "embed.precision",
        "embed.batch_size",
        "embed.seed",
    },
    "label_quality": {  # classifier: cnn trains on the decoded images
        "label_quality.cnn_image_size",
        "label_quality.cnn_width",
        "label_quality.cnn_epochs",
        "label_quality.cnn_batch_size",
        "label_quality.cnn_learning_rate",
        "label_quality.device",
        "ingest.max_image_pixels",
    },
    "evaluate": {"evaluate.positive_class"},  # a 2-class task (the demo has ten)
    "errors": set(EMBEDDER_KEYS),  # the CLIP path re-scores through the image tower
    "train": {
        "train.val_fraction",  # data without a val split
        "balance.effective_number_beta",  # class_weights: balanced
        "train.finetune_epochs",  # finetune: true, which loads the CLIP tower from the images
        "train.finetune_learning_rate",
        "train.finetune_batch_size",
        "ingest.max_image_pixels",
        *EMBEDDER_KEYS,
    },
}


class _Opened:
    """The files a stage opens: Python's `open` audit events (open, os.open, np.load, CSV) and
    parquet reads (pyarrow opens those in C++, where no audit event is raised)."""

    def __init__(self, monkeypatch) -> None:
        self.paths: set[str] | None = None
        sys.addaudithook(self._hook)  # cannot be removed: inert once ``paths`` is None again
        read_parquet = pd.read_parquet

        def recording_read_parquet(path, *args, **kw):
            self._add(path)
            return read_parquet(path, *args, **kw)

        monkeypatch.setattr(pd, "read_parquet", recording_read_parquet)

    def _add(self, path) -> None:
        if self.paths is not None and isinstance(path, str | os.PathLike):
            self.paths.add(os.path.abspath(path))

    def _hook(self, event: str, args: tuple) -> None:
        if event != "open":
            return
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if mode else flags & (os.O_WRONLY | os.O_RDWR)
        if not writes:
            self._add(path)

    def under(self, folder: Path) -> set[str]:
        base = str(folder.resolve()) + os.sep
        return {p[len(base) :] for p in self.paths or () if p.startswith(base)}


# Deps a stage reads only in a configuration the run below does not use.
CONDITIONAL_FILES = {
    "label_quality": {"{data}"},  # classifier: cnn, or label_quality.pred_probs
    "train": {
        "{data}",  # finetune: true
        f"audits/{artifacts.DUPLICATES}",  # no val split: val is carved by duplicate cluster
    },
}


def test_each_stage_reads_exactly_the_params_and_files_dvc_yaml_declares(
    demo_data, tmp_path, monkeypatch
):
    """Every stage runs in a folder holding only the files dvc.yaml names as its deps, with
    params that record each key read and a record of every file opened: dvc.yaml must declare
    every key and file read, and nothing that no configuration reads."""
    root, _ = demo_data
    reads, opened = _Reads(), _Opened(monkeypatch)
    cols = PARAMS_COLUMNS
    params = reads.wrap(
        Params(
            ingest=IngestParams(workers=1),
            balance=BalanceParams(subgroups=cols["balance.subgroups"]),
            hash=HashParams(workers=1),  # one process: its reads are seen here
            properties=PropertiesParams(workers=1),
            embed=EmbedParams(cache_dir=str(tmp_path / "embed-cache"), workers=1),
            duplicates=DuplicatesParams(conflict_attributes=cols["duplicates.conflict_attributes"]),
            agreement=AgreementParams(subgroups=cols["agreement.subgroups"]),
            label_quality=LabelQualityParams(subgroups=cols["label_quality.subgroups"]),
            train=TrainParams(
                max_epochs=10, exclude=("duplicate", "leak", "label_issue", "blurry")
            ),
            evaluate=EvaluateParams(
                sensitive_features=cols["evaluate.sensitive_features"], n_bootstrap=50
            ),
        )
    )
    done = tmp_path / "done"
    for stage in STAGES:
        work = tmp_path / stage.name
        for dep in (d for d in stage.deps if d.startswith("audits/")):
            source, target = done / dep, work / dep
            target.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
        data = root if "{data}" in stage.deps else tmp_path / "no-data-declared"
        reads.stage, opened.paths = stage.name, set()
        run_stage(stage.name, params, data, work / "audits")
        in_work, in_data = opened.under(work), opened.under(root)
        opened.paths = None
        for out in stage.outs:
            assert (work / out.path).exists(), f"{stage.name} did not write {out.path}"
            target = done / out.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if (work / out.path).is_dir():
                shutil.copytree(work / out.path, target)
            else:
                shutil.copy(work / out.path, target)
        read = reads.by_stage.get(stage.name, set()) - set(RUNTIME_ONLY_KEYS)
        if stage.name == "ingest":  # checked early there; the stages that use them declare them
            read -= {f"{s}.{k}" for s, k in METADATA_COLUMN_KEYS if s != "ingest"}
        declared = set(stage.params)
        assert read <= declared, f"{stage.name} reads undeclared {sorted(read - declared)}"
        unread = declared - read - CONDITIONAL_READS.get(stage.name, set())
        assert not unread, f"{stage.name} declares {sorted(unread)}, which it never reads"
        maybe = CONDITIONAL_FILES.get(stage.name, set())
        for dep in stage.deps:
            if dep == "{data}":
                assert in_data or dep in maybe, f"{stage.name} reads nothing in the data folder"
            else:
                hits = [p for p in in_work if p == dep or p.startswith(dep + "/")]
                assert hits or dep in maybe, f"{stage.name} declares {dep}, which it never reads"


def test_dvc_exp_run_set_param_keeps_params_yaml_loadable(tmp_path):
    """`dvc exp run -S` rewrites params.yaml (ruamel round trip) each time: twice in a row, and
    for a value YAML 1.1 reads as a boolean, the file still loads with the values set."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc(tmp_path, "init", "-q")
    (tmp_path / "params.yaml").write_text(render_params_yaml(PARAMS_COLUMNS))
    keys = ("balance.chi2_alpha", "agreement.image_evidence", "ingest.splits")
    stage = {"cmd": "echo ok > out.txt", "params": list(keys), "outs": ["out.txt"]}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": stage}}))
    for command in (
        ["git", "config", "user.name", "curator-test"],
        ["git", "config", "user.email", "curator-test@example.com"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "init"],
    ):
        subprocess.run(command, cwd=tmp_path, check=True)
    for key, value in zip(keys, ("0.02", "off", "[train,test]"), strict=True):
        dvc(tmp_path, "exp", "run", "-S", f"{key}={value}")
    params = load_params(tmp_path / "params.yaml")
    assert params.balance.chi2_alpha == 0.02 and params.agreement.image_evidence == "off"
    assert params.ingest.splits == ("train", "test")
