"""The DVC pipeline as a user runs it: `dvc repro`, then again (a no-op)."""

import json
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curator import __version__, artifacts
from curator.demo import PARAMS_COLUMNS, write_demo
from curator.pipeline import (
    STAGES,
    render_params_yaml,
)
from curator.stages import report
from tests.conftest import REPO

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
    """A user's own git + DVC repository outside this tree, set up as the README says: the demo
    images as the user's data, `dvc add`, `curator init` (the pip-installed one), the metadata
    columns named in params.yaml."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    for key, value in (("user.name", "curator-test"), ("user.email", "curator-test@example.com")):
        subprocess.run(["git", "config", key, value], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    write_demo(repo / "images-v1", seed=0, per_class=40)
    dvc(repo, "add", "-q", "images-v1")
    init = subprocess.run(
        [str(installed / "curator"), "init", "--data", "images-v1"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "init: wrote dvc.yaml, params.yaml, .gitignore" in init.stdout
    # the demo has both tables, so init keeps them: the user then names the columns
    assert (repo / "params.yaml").read_text() == render_params_yaml()
    (repo / "params.yaml").write_text(render_params_yaml(PARAMS_COLUMNS))
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
    metrics = json.loads(dvc(project, "metrics", "show", "--json"))[""]["data"]
    values = {k: v for f in metrics.values() for k, v in f["data"].items()}
    assert {"unreadable", "imbalance", "leaked", "accuracy", "clean_accuracy"} <= set(values)
    assert {"worst_gap", "worst_n", "test_auc", "alpha", "label_issues"} <= set(values)
    assert all(v is None or isinstance(v, int | float) for v in values.values())  # numbers only
    table = dvc(project, "metrics", "show").splitlines()  # one short row per stage
    metric_files = sum(o.kind == "metrics" for stage in STAGES for o in stage.outs)
    assert len(table) == 1 + metric_files and max(map(len, table)) <= 200, "\n".join(table)
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
    assert "What to fix first:\n   1. high " in summary
    assert "Embeddings: fallback:thumbnail - ViT-B-32/laion2b_s34b_b79k weights are not" in summary
    assert (project / "reports" / report.MODEL_CARD).exists()
    dvc(project, "add", "-q", artifacts.CORRECTIONS)  # README step 7: the baseline
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "commit", "-qm", "curator: baseline audit"], cwd=project, check=True)
    # a key train reads from another section makes train stale, and nothing else downstream
    params = project / "params.yaml"
    params.write_text(
        params.read_text().replace("effective_number_beta: 0.999", "effective_number_beta: 0.99")
    )
    stale = dvc(project, "status", "--json")
    assert set(json.loads(stale)) == {"balance", "train"}, stale
    subprocess.run(["git", "checkout", "params.yaml"], cwd=project, check=True)
    run_experiment_recipe(project, installed)
    run_review_round(project, installed)


def readme_block(marker: str) -> list[list[str]]:
    """The commands of the README's bash block after ``marker``, as written."""
    readme = (REPO / "README.md").read_text()
    after = readme[readme.index(marker) :]
    start = after.index("```bash") + len("```bash")
    return [
        shlex.split(line)
        for line in after[start : after.index("```", start)].splitlines()
        if line.strip()
    ]


def answer_first_task(tasks: Path) -> tuple[str, str, str]:
    """A reviewer's answers: the first image relabelled as flagged, the others confirmed.
    Returns (path, given label, new label)."""
    sheet = pd.read_csv(tasks, dtype=str, keep_default_na=False)
    path, first = sheet.loc[0, "path"], sheet.loc[0, "given_label"]
    new = sheet.loc[0, "suggested_label"] or sheet.loc[0, "consensus_label"]
    assert new not in ("", first)
    sheet[["verdict", "reviewer"]] = ["confirmed", "ann"]
    sheet.loc[0, ["verdict", "new_label"]] = ["relabel", new]
    sheet.to_csv(tasks, index=False)
    return path, first, new


def run_review_round(project: Path, installed: Path) -> None:
    """README step 9 as written (the data folder named, the reviewer answering after the
    push): the corrections file comes through `dvc repro` byte for byte, ingest and what follows
    re-run, the manifest carries the reviewer's label and the queue leaves the images out."""
    commands = readme_block("<!-- review round:")
    assert [c[:3] for c in commands[:2]] == [
        ["curator", "review", "push"],
        ["curator", "review", "pull"],
    ]
    env = os.environ | {"PATH": f"{installed}{os.pathsep}{os.environ['PATH']}"}
    answered, written = None, b""
    for command in commands:
        if command[0] == "dvc":
            out = dvc(project, *command[1:], path=str(installed))
            if command[1] == "repro":
                assert "Running stage 'ingest'" in out and "Running stage 'issues'" in out
                assert (project / artifacts.CORRECTIONS).read_bytes() == written
            continue
        if command[0] == "curator":
            data = ["--data", "images-v1"] if command[1] == "review" else []
            command = [str(installed / "curator"), *command[1:], *data]
        done = subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
        if command[1] == "diff":  # the round against the last commit: README step 9's diff
            said = done.stdout.decode()
            assert "0 added, 0 removed, 0 with changed bytes" in said, said
            assert "1 relabelled (1 by review)" in said, said
            assert "label_issue" in said and "Model, on the " in said, said
            page = project / command[command.index("--html") + 1]
            assert "McNemar" in page.read_text()
        if command[1:3] == ["review", "push"]:
            answered = answer_first_task(project / "review" / "round-1.csv")
        if command[1:3] == ["review", "pull"]:
            written = (project / artifacts.CORRECTIONS).read_bytes()
            n_tasks = len(pd.read_csv(project / "review" / "round-1.csv"))
            assert written.count(b"\n") == 1 + n_tasks  # the header and one row per answer
    assert answered is not None
    path, first, new = answered
    manifest = pd.read_parquet(project / "audits" / artifacts.MANIFEST).set_index("path")
    row = manifest.loc[path]
    assert (row["label"], row["original_label"], row["review"]) == (new, first, "relabelled")
    queue = pd.read_parquet(project / "audits" / artifacts.REVIEW_QUEUE)
    assert path not in set(queue["path"])
    assert "Data and pipelines are up to date." in dvc(project, "repro", path=str(installed))
    assert subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True
    ).stdout.strip() in ("", "?? review/")


def experiment_recipe() -> list[list[str]]:
    """The README's experiment commands, as written (the block after its marker comment)."""
    return readme_block("<!-- experiment recipe:")


def run_experiment_recipe(project: Path, installed: Path) -> None:
    """Each experiment starts from the baseline's params (none stacks on another), and the
    comparison table is one well-formed markdown row per experiment."""
    commands = experiment_recipe()
    runs = [c for c in commands if c[:3] == ["dvc", "exp", "run"]]
    assert len(runs) == 2 and all("--temp" in c or "--queue" in c for c in runs)
    out = ""
    for command in commands:
        assert command[0] == "dvc"
        out = dvc(project, *command[1:], path=str(installed))
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert all(r.count("|") == rows[0].count("|") for r in rows)  # no cell broke the table
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert {"train.class_weights", "train.hidden", "accuracy", "clean_accuracy"} <= set(header)
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]
    body = {r[0]: dict(zip(header, r, strict=True)) for r in cells}
    experiments = [r for name, r in body.items() if "[" in name]
    changed = {(r["train.class_weights"], r["train.hidden"]) for r in experiments}
    # each experiment changed one param, the other kept the baseline's: nothing stacked
    assert changed == {("balanced", "0"), ("none", "64")}, out
    assert all(float(r["accuracy"]) > 0.5 for r in experiments)
    assert body["workspace"]["train.hidden"] == "0"  # the workspace was left alone
    # an experiment is a revision `curator diff` reads (through DVC's cache)
    name, row = next((n, r) for n, r in body.items() if "[" in n)
    exp = name[name.index("[") + 1 : name.index("]")]
    said = subprocess.run(
        [str(installed / "curator"), "diff", "HEAD", exp, "--json", "exp-diff.json"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert f"B = {exp} (commit " in said and "0 relabelled" in said, said
    compared = json.loads((project / "exp-diff.json").read_text())
    (project / "exp-diff.json").unlink()
    assert compared["model"]["reported_accuracy"][1] == pytest.approx(
        float(row["accuracy"]), abs=1e-3
    )
