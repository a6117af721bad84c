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


# Run in a fresh interpreter: a reviewer's answers in the app, saved as the app saves them (an
# edited ground_truth from the Annotate tab, or a sample tag).
ANSWER = """
import json, sys
import fiftyone as fo
ds = fo.load_dataset(sys.argv[1])
for filepath, (kind, value) in json.loads(sys.argv[2]).items():
    sample = ds.match({"filepath": filepath}).first()
    if kind == "label":
        sample["ground_truth"] = fo.Classification(label=value)
    elif kind == "tag":
        sample.tags.append(value)
    else:
        sample.tags.remove(value)
    sample.save()
"""


def test_a_review_round_in_the_app(built, demo_data, env):
    """Push the queue's top 4 to the app, answer there as a reviewer would (a class edited, a
    tag 'confirmed', a tag 'relabel:<class>', a bare 'mislabeled'), refresh the app (the edit
    is kept), pull, pull again; then answers that contradict or name no class are refused."""
    work, params_file, _, _ = built
    root = demo_data[0].resolve()
    record = work / "review" / "round-1.json"
    corrections_file = work / "corrections.csv"
    review = [str(BIN / "curator"), "review"]
    where = ["--audits", str(work / "audits"), "--data", str(demo_data[0])]
    said = run(
        [
            *review,
            "push",
            *where,
            "--tool",
            "app",
            "--params",
            str(params_file),
            "--top",
            "4",
            "--out",
            str(record),
        ],
        env,
        work,
    )
    assert "saved view 'review: round-1'" in said
    pushed = json.loads(record.read_text())
    assert pushed["tool"] == "app" and len(pushed["tasks"]) == 4
    tasks = [pushed["tasks"][str(k)] for k in range(1, 5)]
    classes = sorted(
        {str(c) for c in pd.read_parquet(work / "audits" / artifacts.MANIFEST)["label"]}
    )
    other = [next(c for c in classes if c != t["given_label"]) for t in tasks]
    answers = {
        str(root / tasks[0]["path"]): ("label", other[0]),
        str(root / tasks[1]["path"]): ("tag", "confirmed"),
        str(root / tasks[2]["path"]): ("tag", f"relabel:{other[2]}"),
        str(root / tasks[3]["path"]): ("tag", "mislabeled"),
    }
    run([sys.executable, "-c", ANSWER, DATASET, json.dumps(answers)], env, work)
    refreshed = app(params_file, demo_data[0], work / "audits", env)
    assert "ground_truth left as reviewers set it on 1 sample(s) under review" in refreshed
    state = dump(env, work)
    values = state["values"]
    assert (
        values["ground_truth.label"][values["filepath"].index(str(root / tasks[0]["path"]))]
        == other[0]
    )
    assert state["views"]["review: round-1"] == 4
    schema = (
        "import fiftyone as fo, sys, json; ds = fo.load_dataset(sys.argv[1]); "
        "print(json.dumps([ds.active_label_schemas, ds.label_schemas['ground_truth']['classes']]))"
    )
    active, offered = json.loads(
        run([sys.executable, "-c", schema, DATASET], env, work).splitlines()[-1]
    )
    assert "ground_truth" in active and offered == classes  # the Annotate tab's dropdown

    pull = [
        *review,
        "pull",
        *where,
        "--answers",
        str(record),
        "--corrections",
        str(corrections_file),
        "--reviewer",
        "alice",
    ]
    out = run(pull, env, work)
    assert "3 answer(s) added" in out and "1 task(s) not answered yet" in out
    rows = pd.read_csv(corrections_file, dtype=str, keep_default_na=False)
    assert rows[["path", "verdict", "new_label", "reviewer"]].values.tolist() == [
        [tasks[0]["path"], "relabel", other[0], "alice"],
        [tasks[1]["path"], "confirmed", "", "alice"],
        [tasks[2]["path"], "relabel", other[2], "alice"],
    ]
    assert rows["task"].tolist() == ["round-1.json#1", "round-1.json#2", "round-1.json#3"]
    assert (rows["sample_id"] == [t["sample_id"] for t in tasks[:3]]).all()
    written = corrections_file.read_bytes()
    again = run(pull, env, work)
    assert "0 answer(s) added" in again and corrections_file.read_bytes() == written

    # both ways at once, and a class the data does not have: refused, nothing applied
    both = {str(root / tasks[1]["path"]): ("tag", f"relabel:{other[1]}")}
    run([sys.executable, "-c", ANSWER, DATASET, json.dumps(both)], env, work)
    refused = subprocess.run(pull, env=env, cwd=work, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert f"task 2 ({tasks[1]['path']}): answered both ways in the app" in refused.stderr
    assert corrections_file.read_bytes() == written
    fixed = {
        str(root / tasks[1]["path"]): ("untag", f"relabel:{other[1]}"),
        str(root / tasks[3]["path"]): ("tag", "relabel:zebra"),
    }
    run([sys.executable, "-c", ANSWER, DATASET, json.dumps(fixed)], env, work)
    refused = subprocess.run(pull, env=env, cwd=work, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert "'zebra' is not a class of this dataset" in refused.stderr, refused.stderr
    assert corrections_file.read_bytes() == written


def test_the_review_queue_view_carries_what_the_rounds_estimate():
    from curator.app.views import REVIEW_QUEUE_VIEW, saved_views
    from curator.reporting.summary import describe_review

    ingest = {
        "corrections": {
            "n_answers": 168,
            "n_relabelled": 50,
            "n_confirmed": 118,
            "n_conflict": 0,
            "n_stale": 0,
            "file": "corrections.csv",
            "errors_left": {
                "measured": True,
                "round": "round-1.json",
                "pool": 348,
                "n_sample": 100,
                "wrong_in_sample": 0,
                "left_ci": [0.0, 8.6],
            },
        }
    }
    table = pd.DataFrame({"tags": [[], []], "review_rank": [1.0, None]})
    description, _ = saved_views(table, None, describe_review(ingest))[REVIEW_QUEUE_VIEW]
    assert description.startswith("images to relabel, highest priority first; reviews: 50 ")
    assert "at most about 9 wrong labels left among the 348" in description
    assert saved_views(table, None)[REVIEW_QUEUE_VIEW][0].endswith("first")
