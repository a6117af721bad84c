import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from curator import __version__
from curator.cli import cli
from curator.errors import DataError
from tests.conftest import REPO

COMMANDS = sorted(cli.commands)


def invoke(*args, **kw):
    return CliRunner().invoke(cli, list(args), catch_exceptions=kw.pop("catch", True), **kw)


def test_group_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", result.output, re.MULTILINE)
    assert "Exit codes:" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert "Example: curator" in result.output or "Example:\n" in result.output


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"curator, version {__version__}"


def test_missing_data_is_one_line_exit_5(tmp_path):
    result = invoke("ingest", "--data", str(tmp_path / "nope"), "--audits", str(tmp_path / "a"))
    assert result.exit_code == 5
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: data folder")
    assert "curator demo --out" in lines[0] and "Traceback" not in result.output


def test_missing_earlier_output_exit_6(tmp_path):
    result = invoke("balance", "--audits", str(tmp_path))
    assert result.exit_code == 6
    assert result.output.strip() == (
        f"Error: {tmp_path}/manifest.parquet does not exist: run `curator ingest` first "
        "(or `dvc repro`)."
    )


def test_bad_params_exit_4(tmp_path, image_folder):
    params = tmp_path / "p.yaml"
    params.write_text("ingest:\n  wokers: 2\n")
    result = invoke("ingest", "--data", str(image_folder), "--params", str(params))
    assert result.exit_code == 4
    assert result.output.startswith("Error: params: ingest.wokers is not a known key")


def with_metadata(image_folder):
    paths = sorted(str(p.relative_to(image_folder)) for p in image_folder.rglob("*.png"))
    pd.DataFrame({"path": paths, "site": "A", "scanner": "x"}).to_csv(
        image_folder / "metadata.csv", index=False
    )
    return image_folder


def test_check_reads_no_image_and_accepts_good_params(tmp_path, image_folder):
    params = tmp_path / "p.yaml"
    params.write_text("balance:\n  subgroups: [site]\nevaluate:\n  sensitive_features: [scanner]\n")
    result = invoke("check", "--data", str(with_metadata(image_folder)), "--params", str(params))
    assert result.exit_code == 0, result.output
    assert "12 files (test 6, train 6), 2 classes" in result.output
    assert "metadata columns: site, scanner; 5 keys naming them are fine" in result.output
    # every registered check is listed with what it looks for
    assert "  duplicates     exact and near duplicates, leakage across splits" in result.output
    assert result.output.count("\n  ") == 6


def test_a_misspelt_metadata_column_stops_check_and_ingest_before_any_decoding(
    tmp_path, image_folder
):
    data = with_metadata(image_folder)
    params = tmp_path / "p.yaml"
    params.write_text(
        "label_quality:\n  subgroups: [sight]\nevaluate:\n  sensitive_features: [site, scaner]\n"
    )
    expected = (
        "Error: params: label_quality.subgroups names 'sight'; evaluate.sensitive_features "
        "names 'scaner', which are not a metadata column (metadata columns: site, scanner, from "
        "metadata.csv). Fix the name in params.yaml, or add the column to metadata.csv."
    )
    result = invoke("check", "--data", str(data), "--params", str(params))
    assert result.exit_code == 4 and result.output.strip() == expected
    audits = tmp_path / "audits"
    result = invoke("ingest", "--data", str(data), "--audits", str(audits), "--params", str(params))
    assert result.exit_code == 4 and result.output.strip() == expected
    assert not audits.exists() or not any(audits.iterdir())  # failed before writing anything


def test_debug_shows_the_exception(tmp_path):
    result = invoke("--debug", "ingest", "--data", str(tmp_path / "nope"))
    assert isinstance(result.exception, DataError)


def test_stages_end_to_end_without_dvc(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    assert invoke("demo", "--out", "data", "--per-class", "40").exit_code == 0
    ingest = invoke("ingest")
    assert ingest.exit_code == 0, ingest.output
    assert "3 unreadable" in ingest.output
    assert invoke("balance").exit_code == 0
    findings = ["audits/findings/ingest.parquet", "audits/findings/balance.parquet"]
    assert invoke("issues", *findings).exit_code == 0
    issues = pd.read_parquet(tmp_path / "audits" / "issues.parquet")
    assert {"corrupt", "minority_class", "underrepresented_group"} <= set(issues["issue"])
    summary = invoke("summary")  # the stages run so far: ingest and balance
    assert summary.exit_code == 0
    assert re.search(r"medium 3 files cannot be decoded as images", summary.output)
    assert "audits/manifest.parquet" not in summary.output  # the file list is behind --files
    assert "audits/manifest.parquet" in invoke("summary", "--files").output
    again = invoke("demo", "--out", "data")
    assert again.exit_code == 5 and "never overwrites" in again.output


def test_init_writes_the_pipeline_into_a_git_dvc_repo_and_keeps_user_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused = invoke("init")
    assert refused.exit_code == 3 and "run `git init && dvc init` there first" in refused.output
    (tmp_path / ".git").mkdir()
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".gitignore").write_text("/venv/")  # no final newline
    assert invoke("init", "--data", "../elsewhere").exit_code == 4
    done = invoke("init", "--data", "photos")
    assert done.exit_code == 0, done.output
    assert (tmp_path / ".gitignore").read_text() == "/venv/\n/.curator/\n/dvc_plots/\n"
    dvc_yaml = (tmp_path / "dvc.yaml").read_text()
    assert "curator ingest --data photos --audits audits" in dvc_yaml
    assert "curator/" not in dvc_yaml.replace("curator init", "")  # no dep on curator's source
    params = (tmp_path / "params.yaml").read_text()
    assert "  subgroups: []" in params and "sensitive_features: []" in params
    (tmp_path / "params.yaml").write_text(params + "# my edit\n")
    again = invoke("init")
    assert again.exit_code == 3 and "dvc.yaml and params.yaml already exist" in again.output
    assert (tmp_path / "params.yaml").read_text().endswith("# my edit\n")
    assert invoke("init", "--force").exit_code == 0
    assert not (tmp_path / "params.yaml").read_text().endswith("# my edit\n")
    assert (tmp_path / ".gitignore").read_text() == "/venv/\n/.curator/\n/dvc_plots/\n"


def test_an_output_folder_that_cannot_be_written_stops_before_any_work(image_folder, tmp_path):
    probe = Path("/sys/curator-cannot-write")  # read-only even for root
    try:
        probe.mkdir()
        pytest.skip("/sys is writable here")
    except OSError:
        pass
    result = invoke("ingest", "--data", str(image_folder), "--audits", str(probe))
    assert result.exit_code == 7
    assert result.output.startswith(f"Error: cannot write {probe}/.curator-write-check")
    assert "write the outputs elsewhere" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("layout", ["imagefolder", "manifest"])
def test_init_writes_params_that_match_the_data_folder_so_ingest_warns_of_nothing(
    layout, tmp_path, monkeypatch
):
    """A data folder without metadata.csv or annotations.csv gets them null (ingest would warn
    that they are missing), and one that holds a manifest and no images/ tree gets it named;
    ingest then runs without a single warning."""
    import yaml

    from tests.conftest import write_image

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".dvc").mkdir()
    data = tmp_path / "data"
    rows = []
    for split in ("train", "test"):
        for k, cls in enumerate(("cat", "dog")):
            for i in range(3):
                rel = (
                    f"{split}/{cls}/{i}.png"
                    if layout == "imagefolder"
                    else f"pix/{split}{cls}{i}.png"
                )
                write_image(
                    data / ("images/" + rel if layout == "imagefolder" else rel), seed=10 * k + i
                )
                rows.append({"path": rel, "label": cls, "split": split, "site": "A"})
    if layout == "manifest":
        pd.DataFrame(rows).to_csv(data / "list.csv", index=False)
    assert invoke("init", "--data", "data").exit_code == 0
    ingest = yaml.safe_load((tmp_path / "params.yaml").read_text())["ingest"]
    assert ingest["metadata"] is None and ingest["annotations"] is None
    assert ingest["manifest"] == ("list.csv" if layout == "manifest" else None)
    result = invoke("ingest", "--data", "data", "--audits", "audits")
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output  # the log goes to the runner's stderr, shown here
    assert result.output.startswith("ingest: 12 readable, 0 unreadable of 12 files")
    # what it would have said with the shipped defaults
    params = (
        (tmp_path / "params.yaml").read_text().replace("metadata: null", "metadata: metadata.csv")
    )
    (tmp_path / "params.yaml").write_text(params)
    warned = invoke("ingest", "--data", "data", "--audits", "audits").output
    assert "WARNING curator.stages.ingest: ingest.metadata: data/metadata.csv not found" in warned
