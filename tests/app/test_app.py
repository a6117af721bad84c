"""`curator app --no-launch` on the small demo, with FiftyOne's bundled database in a temporary
folder: every check is made from a fresh process, as a user reopening the dataset would."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from curator import artifacts

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
DATASET = "curator-test-app"

# Run in a fresh interpreter: dumps what the persistent dataset holds.
DUMP = """
import json, sys
import fiftyone as fo
ds = fo.load_dataset(sys.argv[1])
fields = ["filepath", "tags", "split", "site", "label_issue_score", "leak_similarity",
          "duplicate_cluster", "review_rank", "consensus_label", "annotator_votes", "phash",
          "ground_truth.label", "prediction.label", "prediction.confidence", "last_modified_at"]
values = {f: ds.values(f) for f in fields}
values["last_modified_at"] = [str(v) for v in values["last_modified_at"]]
queue = ds.load_saved_view("review queue").values("filepath")
views = {name: len(ds.load_saved_view(name)) for name in ds.list_saved_views()}
order = {name: ds.load_saved_view(name).values(name.removeprefix("issue: ") + "_score")
         for name in ds.list_saved_views() if name.startswith("issue: ")}
clusters = [sorted(s.filepath for s in g)
            for g in ds.load_saved_view("duplicate clusters").iter_dynamic_groups()]
flat = ds.load_saved_view("duplicate clusters, surest first")
flat = list(zip(flat.values("duplicate_cluster"), flat.values("duplicate_cluster_score"),
                flat.values("duplicate_cluster_rank")))
errors = {name: ds.load_saved_view(name).values("prediction.confidence")
          for name in ds.list_saved_views() if name.startswith(("errors: ", "error gallery: "))}
heat = {s.filepath: list(s.saliency.map.shape) for s in ds.exists("saliency")}
print(json.dumps({"n": len(ds), "persistent": ds.persistent, "values": values, "views": views,
                  "order": order, "clusters": clusters, "flat": flat,
                  "queue": queue, "brain": ds.list_brain_runs(), "errors": errors, "heat": heat,
                  "tag_counts": ds.count_sample_tags()}))
"""

TAG = """
import sys
import fiftyone as fo
ds = fo.load_dataset(sys.argv[1])
sample = ds.match({"filepath": sys.argv[2]}).first()
sample.tags.append("reviewed-by-alice")
sample.save()
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    db = tmp_path_factory.mktemp("fiftyone-db")
    return os.environ | {
        "FIFTYONE_DATABASE_DIR": str(db),
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_DATABASE_VALIDATION": "false",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }


# FiftyOne's bundled mongod once answered a fresh process with a garbled reply (pymongo
# "ProtocolError: Got response id ... but expected ...", then "Could not connect to `mongod`";
# voxel51/fiftyone#6068 shows the same reply): the command is run once more in that case only,
# so a database that never answers still fails
MONGOD_UNREACHABLE = "Could not connect to `mongod`"


def run(args, env, cwd) -> str:
    for attempt in range(2):
        done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
        if done.returncode == 0 or MONGOD_UNREACHABLE not in done.stderr or attempt:
            break
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def app(params_file: Path, data: Path, audits: Path, env) -> str:
    args = [str(BIN / "curator"), "app", "--no-launch", "--params", str(params_file)]
    return run([*args, "--data", str(data), "--audits", str(audits)], env, params_file.parent)


def dump(env, cwd) -> dict:
    return json.loads(run([sys.executable, "-c", DUMP, DATASET], env, cwd).splitlines()[-1])


@pytest.fixture(scope="module")
def built(audited_demo, demo_data, env, tmp_path_factory):
    _, audits, _ = audited_demo
    work = tmp_path_factory.mktemp("app")
    shutil.copytree(audits, work / "audits")
    params_file = work / "params.yaml"
    params_file.write_text(yaml.safe_dump({"app": {"dataset": DATASET, "visualization": "pca"}}))
    first = app(params_file, demo_data[0], work / "audits", env)
    return work, params_file, first, dump(env, work)


def test_dataset_matches_the_audit(built, demo_data):
    work, _, first, state = built
    audits = work / "audits"
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    issues = pd.read_parquet(audits / artifacts.ISSUES)
    assert "added" in first and state["persistent"]
    assert state["n"] == len(manifest)  # one sample per file, unreadable ones included
    assert state["tag_counts"] == issues.groupby("issue")["path"].nunique().to_dict()
    v = state["values"]
    by_path = {fp: i for i, fp in enumerate(v["filepath"])}
    root = demo_data[0].resolve()
    for row in manifest.itertuples():
        i = by_path[str(root / row.path)]
        assert v["ground_truth.label"][i] == row.label and v["split"][i] == row.split
    preds = pd.read_parquet(audits / artifacts.PREDICTIONS)
    for row in preds.head(20).itertuples():
        i = by_path[str(root / row.path)]
        assert v["prediction.label"][i] == row.predicted
        assert v["prediction.confidence"][i] == pytest.approx(row.confidence)
    leaks = pd.read_parquet(audits / artifacts.LEAKAGE)
    assert sum(x is not None for x in v["leak_similarity"]) == leaks["path"].nunique()
    assert all(len(h) == 16 for h in v["phash"] if h is not None)
    queue = pd.read_parquet(audits / artifacts.REVIEW_QUEUE)
    assert state["queue"] == [str(root / p) for p in queue["path"]]  # priority order
    assert state["brain"] == ["curator_embeddings"]


def test_saved_views_cover_every_issue_and_subgroup(built):
    work, _, _, state = built
    issues = pd.read_parquet(work / "audits" / artifacts.ISSUES)
    for issue, n in issues.groupby("issue")["path"].nunique().items():
        assert state["views"][f"issue: {issue}"] == n
        scores = state["order"][f"issue: {issue}"]  # most severe first
        assert scores == sorted(scores, reverse=True) and None not in scores
    evaluation = json.loads((work / "audits" / artifacts.EVALUATION).read_text())
    preds = pd.read_parquet(work / "audits" / artifacts.PREDICTIONS)
    manifest = pd.read_parquet(work / "audits" / artifacts.MANIFEST)
    test = preds[preds["split"] == evaluation["split"]].merge(manifest[["path", "site"]], on="path")
    wrong = test[test["label"] != test["predicted"]].groupby("site").size()
    for site, n in wrong.items():
        assert state["views"][f"errors: site={site}"] == n
    assert any(name.startswith("errors: site x device=") for name in state["views"])
    for name, confidences in state["errors"].items():  # most confident mistake first
        assert confidences == sorted(confidences, reverse=True), name
    # no error views for groupings that are no sample field (they would match nothing)
    derived = [g for g, s in evaluation["subgroups"].items() if not s["recorded"]]
    assert derived
    assert not any(v.startswith(f"errors: {g}=") for g in derived for v in state["views"])


def test_error_galleries_are_views_with_their_saliency_heatmaps(built, demo_data):
    work, _, _, state = built
    summary = json.loads((work / "audits" / artifacts.ERRORS_SUMMARY).read_text())
    root = demo_data[0].resolve()
    assert summary["galleries"]
    for gallery in summary["galleries"]:
        assert state["views"][f"error gallery: {gallery['title']}"] == len(gallery["paths"])
    shown = {str(root / p) for g in summary["galleries"] for p in g["paths"]}
    table = pd.read_parquet(work / "audits" / artifacts.ERRORS)
    shapes = dict(zip(table["path"], table["saliency_shape"], strict=True))
    shapes = {str(root / p): list(s) for p, s in shapes.items()}
    assert state["heat"] == {fp: shapes[fp] for fp in shown}


def test_duplicate_clusters_are_groups_surest_first(built, demo_data):
    work, _, _, state = built
    pairs = pd.read_parquet(work / "audits" / artifacts.DUPLICATES)
    root = demo_data[0].resolve()
    members = pd.concat(
        [
            pairs[["path_a", "cluster_id"]].set_axis(["path", "c"], axis=1),
            pairs[["path_b", "cluster_id"]].set_axis(["path", "c"], axis=1),
        ]
    ).drop_duplicates()
    expected = sorted(sorted(str(root / p) for p in g["path"]) for _, g in members.groupby("c"))
    assert sorted(state["clusters"]) == expected  # one group per cluster, every twin in it
    assert all(len(g) >= 2 for g in state["clusters"])
    ids = [c for c, _, _ in state["flat"]]
    runs = [c for k, c in enumerate(ids) if k == 0 or c != ids[k - 1]]
    assert len(runs) == len(set(runs)) == len(expected)  # each cluster's members together
    scores = [score for _, score, _ in state["flat"]]
    ranks = [rank for _, _, rank in state["flat"]]
    assert scores == sorted(scores, reverse=True) and ranks == sorted(ranks)
    best = pairs.groupby("cluster_id")["score"].max()
    assert scores[0] == pytest.approx(best.max()) and scores[-1] == pytest.approx(best.min())


def test_second_run_changes_nothing_and_vanished_findings_lose_their_tag(built, demo_data, env):
    work, params_file, _, state = built
    again = app(params_file, demo_data[0], work / "audits", env)
    assert "already up to date" in again
    assert dump(env, work) == state  # values, tags, views and modification times unchanged

    issues = pd.read_parquet(work / "audits" / artifacts.ISSUES)
    gone = issues[issues["issue"] == "leak"].iloc[0]["path"]
    filepath = str(demo_data[0].resolve() / gone)
    run([sys.executable, "-c", TAG, DATASET, filepath], env, work)  # a person's own tag
    issues[~((issues["path"] == gone) & (issues["issue"] == "leak"))].to_parquet(
        work / "audits" / artifacts.ISSUES, index=False
    )
    out = app(params_file, demo_data[0], work / "audits", env)
    assert "tags changed on 1" in out
    after = dump(env, work)
    tags = after["values"]["tags"][after["values"]["filepath"].index(filepath)]
    assert "leak" not in tags and "reviewed-by-alice" in tags
    assert after["views"]["issue: leak"] == state["views"]["issue: leak"] - 1
    assert after["n"] == state["n"]  # updated in place, nothing duplicated


def test_export_hands_a_flagged_subset_to_annotators(built, demo_data, env):
    work, params_file, _, state = built
    base = [str(BIN / "curator"), "export", "--params", str(params_file)]
    run(
        [*base, "--data", str(demo_data[0]), "--format", "csv", "--out", str(work / "q")], env, work
    )
    rows = pd.read_csv(work / "q" / "labels.csv")
    assert rows["filepath"].tolist() == state["queue"]  # the review queue, in priority order
    assert {"ground_truth.label", "suggested_label", "review_priority"} <= set(rows.columns)
    # a saved view goes to reviewers through its export
    tasks = work / "q" / "tasks.csv"
    run(
        [
            str(BIN / "curator"),
            "review",
            "push",
            "--audits",
            str(work / "audits"),
            "--data",
            str(demo_data[0]),
            "--paths",
            str(work / "q" / "labels.csv"),
            "--out",
            str(tasks),
        ],
        env,
        work,
    )
    pushed = pd.read_csv(tasks, dtype=str, keep_default_na=False)
    root = demo_data[0].resolve()
    assert [str(root / p) for p in pushed["path"]] == state["queue"]
    assert (pushed["drawn"] == "paths").all()
    view = "issue: label_issue"
    out = work / "tree"
    run(
        [
            *base,
            "--data",
            str(demo_data[0]),
            "--view",
            view,
            "--format",
            "classification-tree",
            "--out",
            str(out),
        ],
        env,
        work,
    )
    exported = [p for p in out.rglob("*") if p.is_file()]
    assert len(exported) == state["views"][view]
    assert {p.parent.name for p in exported} <= set(state["values"]["ground_truth.label"])
