"""`curator diff`: two real audits of the demo, the second changed the way a round changes one
(a file removed, one with new bytes, a test label corrected, a new leak, label issues fixed, a
worse model), compared by the CLI into text, JSON, an HTML page and --fail-on exit codes."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from curator import artifacts
from curator.cli import cli
from tests.reporting.test_report import SCRIPT, assert_renders, chromium, parse

RULES = ("--fail-on", "new-leaks", "--fail-on", "accuracy-drop", "--fail-on", "worst-group")


def run_diff(*args: str):
    return CliRunner().invoke(cli, ["diff", *map(str, args)])


@pytest.fixture
def changed(audited_demo, audits: Path):
    """(A, B, what was changed): B is a copy of the demo's audit with a round's changes."""
    _, original, _ = audited_demo
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    preds = pd.read_parquet(audits / artifacts.PREDICTIONS)
    evaluated = pd.read_parquet(audits / artifacts.EVALUATED_GROUPS)["path"]
    test = preds[preds["path"].isin(evaluated)]
    classes = json.loads((audits / artifacts.EVALUATION).read_text())["classes"]
    probs = [f"p_{c}" for c in classes]
    right = test[test[probs].to_numpy().argmax(1) == test["label"].map(classes.index)]
    relabelled, rebytes = right["path"].iloc[0], test["path"].iloc[-1]
    removed = manifest.loc[manifest["split"] == "train", "path"].iloc[0]
    new_label = classes[(classes.index(right["label"].iloc[0]) + 1) % len(classes)]

    row = manifest["path"] == relabelled
    manifest.loc[row, "original_label"] = manifest.loc[row, "label"]
    manifest.loc[row, ["label", "label_source", "review"]] = [new_label, "review", "relabelled"]
    manifest.loc[manifest["path"] == rebytes, "sample_id"] = "f" * 64
    manifest = manifest[manifest["path"] != removed]
    manifest.to_parquet(audits / artifacts.MANIFEST, index=False)

    preds.loc[preds["path"] == relabelled, "label"] = new_label
    preds.loc[preds["path"] == rebytes, "sample_id"] = "f" * 64
    # B's model gets 40 images wrong that A's got right: its top class moves one class on
    spoiled = right["path"].iloc[1:41]
    at = preds["path"].isin(spoiled)
    preds.loc[at, probs] = np.roll(preds.loc[at, probs].to_numpy(), 1, axis=1)
    preds.to_parquet(audits / artifacts.PREDICTIONS, index=False)

    issues = pd.read_parquet(audits / artifacts.ISSUES)
    leaked = test.loc[~test["path"].isin(issues.loc[issues["issue"] == "leak", "path"])].iloc[5]
    leak = {
        "sample_id": leaked["sample_id"],
        "path": leaked["path"],
        "issue": "leak",
        "score": 1.0,
        "detail": f"twin of {SCRIPT} in train",
    }
    issues = pd.concat([issues[issues["issue"] != "label_issue"], pd.DataFrame([leak])])
    issues.to_parquet(audits / artifacts.ISSUES, index=False)
    return (
        original,
        audits,
        {
            "relabelled": relabelled,
            "rebytes": rebytes,
            "removed": removed,
            "spoiled": spoiled,
            "leak": leaked["path"],
            "classes": classes,
            "new_label": new_label,
        },
    )


def test_a_round_of_changes_is_counted_and_the_gates_trip(changed, tmp_path):
    a, b, what = changed
    out = run_diff(a, b, "--json", tmp_path / "d.json", "--html", tmp_path / "d.html", *RULES)
    assert out.exit_code == 8, out.output  # a CI job fails on it
    assert "Error: diff: --fail-on: new-leaks: 1 new leak finding(s)" in out.output
    assert "accuracy-drop: " in out.output
    result = json.loads((tmp_path / "d.json").read_text())
    data = result["data"]
    assert data["removed"] == {"n": 1, "examples": [what["removed"]]}
    assert data["bytes_changed"] == {"n": 1, "examples": [what["rebytes"]]}
    assert data["added"]["n"] == 0 and data["split_changed"]["n"] == 0
    assert data["relabelled"]["n"] == data["relabelled"]["by_review"] == 1
    assert data["relabelled"]["examples"][0]["to"] == what["new_label"]

    kinds = result["findings"]["by_kind"]
    label_issues = pd.read_parquet(a / artifacts.ISSUES).query("issue == 'label_issue'")
    assert kinds["label_issue"]["resolved"] == len(label_issues) > 0
    assert kinds["label_issue"]["b"] == kinds["label_issue"]["new"] == 0
    assert kinds["leak"]["new"] == 1 and kinds["leak"]["new_examples"][0]["path"] == what["leak"]

    model = result["model"]
    assert model["compared"] and model["labels_changed"] == 1
    evaluated = len(pd.read_parquet(a / artifacts.EVALUATED_GROUPS))
    assert model["n_common"] == evaluated - 1  # the image whose bytes changed is not paired
    # the change, worked out from the two prediction tables against B's labels
    pa, pb = (pd.read_parquet(x / artifacts.PREDICTIONS).set_index("path") for x in (a, b))
    common = pb.index[pb.index.isin(pd.read_parquet(b / artifacts.EVALUATED_GROUPS)["path"])]
    common = common[common != what["rebytes"]]
    probs = [f"p_{c}" for c in what["classes"]]
    truth = pb.loc[common, "label"].map(what["classes"].index).to_numpy()
    right_a = pa.loc[common, probs].to_numpy().argmax(1) == truth
    right_b = pb.loc[common, probs].to_numpy().argmax(1) == truth
    acc = model["metrics"]["accuracy"]
    assert (acc["a"], acc["b"]) == pytest.approx((right_a.mean(), right_b.mean()))
    assert model["mcnemar"]["only_a"] == int((right_a & ~right_b).sum()) >= 40
    assert acc["change_ci"][1] < 0 and model["mcnemar"]["p_value"] < 1e-6
    # each audit's own number scored A against its own (older) labels
    assert (
        model["reported_accuracy"][0]
        == json.loads((a / artifacts.EVALUATION).read_text())["overall"]["accuracy"]
    )
    broken = [line.split(":")[0] for line in result["rules"]["broken"]]
    assert broken[:2] == ["new-leaks", "accuracy-drop"]


def test_the_page_traces_every_number_and_shows_markup_as_text(changed, tmp_path):
    a, b, _ = changed
    out = run_diff(a, b, "--json", tmp_path / "d.json", "--html", tmp_path / "d.html")
    assert out.exit_code == 0, out.output  # no rule asked for: a comparison, not a gate
    doc = json.loads((tmp_path / "d.json").read_text())
    page = parse(tmp_path / "d.html")
    assert "script" not in page.tags
    html = (tmp_path / "d.html").read_text()
    assert SCRIPT not in html and "twin of &lt;script&gt;" in html
    assert len(page.spans) > 60
    for src, shown in page.spans:
        name, path = src.split(" ", 1)
        assert name == "diff.json"
        node = doc
        for key in json.loads(path):
            node = node[key]
        assert isinstance(node, int | float), src
        assert shown in {format(node, f) for f in (".3f", "+.3f", ".3g", ",.0f")} | (
            {format(node, "d")} if isinstance(node, int) else set()
        ), src
    if chromium() is not None:
        assert_renders(tmp_path / "d.html", tmp_path / "d.png")


def test_an_audit_against_itself_changes_nothing_and_passes_every_gate(audited_demo, tmp_path):
    _, audits, _ = audited_demo
    out = run_diff(
        audits, audits, "--json", tmp_path / "d.json", *RULES, "--fail-on", "new:label_issue"
    )
    assert out.exit_code == 0, out.output
    result = json.loads((tmp_path / "d.json").read_text())
    assert result["rules"] == {
        "checked": ["new-leaks", "accuracy-drop", "worst-group", "new:label_issue"],
        "broken": [],
    }
    data = result["data"]
    assert [data[k]["n"] for k in ("added", "removed", "bytes_changed", "relabelled")] == [0] * 4
    for kind in result["findings"]["by_kind"].values():
        assert kind["resolved"] == kind["new"] == 0 and kind["persisting"] == kind["a"]
    model = result["model"]
    assert model["mcnemar"] == {"only_a": 0, "only_b": 0, "p_value": 1.0}
    for metric in model["metrics"].values():
        assert metric["change"] == 0 and metric["change_ci"] == [0, 0]
    assert any("worst" in g for g in model["groupings"].values())
    assert "accuracy 0." in out.output and "change +0.000" in out.output


def test_a_gate_that_cannot_be_checked_fails_closed(audited_demo, audits):
    _, original, _ = audited_demo
    (audits / artifacts.EVALUATION).unlink()
    out = run_diff(original, audits, "--fail-on", "accuracy-drop", "--fail-on", "new-leaks")
    assert out.exit_code == 8
    assert "accuracy-drop: cannot be checked: " in out.output
    assert "Model: not compared: " in out.output


def test_bad_input_is_one_line(audited_demo, tmp_path, monkeypatch):
    _, audits, _ = audited_demo
    out = run_diff(audits, audits, "--fail-on", "new-leak")
    assert out.exit_code == 4 and "--fail-on new-leak: not a rule" in out.output
    out = run_diff(audits, audits, "--fail-on", "new:labelissue")
    assert out.exit_code == 4 and "new:labelissue" in out.output
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run_diff(empty, audits)
    assert out.exit_code == 6 and "holds neither manifest.parquet" in out.output
    monkeypatch.chdir(tmp_path)  # not a repository: a name that is no folder is no revision
    out = run_diff("HEAD~1", audits)
    assert out.exit_code == 6 and "is not a DVC repository" in out.output
    shutil.copytree(audits, tmp_path / "copy", ignore=shutil.ignore_patterns("issues.parquet"))
    out = run_diff(tmp_path / "copy", audits)
    assert out.exit_code == 6 and "has no issues.parquet" in out.output


def test_the_worst_group_rule_reads_the_adjusted_interval_of_the_gap():
    from curator.review.diff import check_rules

    def result(lo, hi):
        gap = {"a": 0.10, "b": 0.25, "change": 0.15, "change_ci": [lo, hi]}
        return {
            "ci_level": 0.95,
            "findings": {"by_kind": {}},
            "model": {"compared": True, "groupings": {"site": {"worst": {"gap": gap}}}},
        }

    assert check_rules(result(0.02, 0.3), ("worst-group",)) == [
        "worst-group: site: gap 0.100 -> 0.250 (change +0.020 to +0.300)"
    ]
    assert check_rules(result(-0.01, 0.3), ("worst-group",)) == []  # not clearly wider
    assert check_rules(result(None, None), ("worst-group",)) == [  # a gate fails closed
        "worst-group: site: cannot be checked: the gap's change has no interval (B's "
        "evaluate.n_bootstrap is 0)"
    ]


def test_a_class_the_earlier_model_did_not_know_counts_against_it(audited_demo, audits, tmp_path):
    """A's model predates class '9': its probabilities lack the column; B's images of '9' are
    scored as A's mistakes, not dropped (and not a crash)."""
    _, original, _ = audited_demo
    evaluation = json.loads((audits / artifacts.EVALUATION).read_text())
    last = evaluation["classes"][-1]
    evaluation["classes"] = evaluation["classes"][:-1]
    (audits / artifacts.EVALUATION).write_text(json.dumps(evaluation))
    preds = pd.read_parquet(audits / artifacts.PREDICTIONS).drop(columns=f"p_{last}")
    preds.to_parquet(audits / artifacts.PREDICTIONS, index=False)
    out = run_diff(audits, original, "--json", tmp_path / "d.json")
    assert out.exit_code == 0, out.output
    model = json.loads((tmp_path / "d.json").read_text())["model"]
    assert model["classes_missing_in_a"] == [last]
    b = pd.read_parquet(original / artifacts.PREDICTIONS)
    b = b[b["path"].isin(pd.read_parquet(original / artifacts.EVALUATED_GROUPS)["path"])]
    known = json.loads((original / artifacts.EVALUATION).read_text())["classes"]
    probs = b[[f"p_{c}" for c in known[:-1]]].to_numpy()
    right_a = np.asarray(known[:-1])[probs.argmax(1)] == b["label"].astype(str).to_numpy()
    assert model["metrics"]["accuracy"]["a"] == pytest.approx(right_a.mean())
    right_b = b["predicted"].astype(str).to_numpy() == b["label"].astype(str).to_numpy()
    assert model["metrics"]["accuracy"]["b"] == pytest.approx(right_b.mean())  # B keeps its '9'
    assert (b["label"].astype(str) == last).any()  # the class is there to be missed
