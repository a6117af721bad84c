"""A review round through a file on the demo's real images: push the queue with its evidence,
answer as a reviewer who knows the demo's planted label errors, pull, re-ingest, re-queue; and
every bad input of the round."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from curator import artifacts
from curator.cli import cli
from curator.errors import DataError
from curator.review import corrections, file_tool, rounds
from curator.stages import ingest
from tests.conftest import run_stage, tree_digest


def answer_as_the_truth_says(tasks: Path, flips: dict[str, str], reviewer: str) -> None:
    """Relabel the planted errors to their true class, confirm the rest."""
    sheet = pd.read_csv(tasks, dtype=str, keep_default_na=False)
    wrong = sheet["path"].isin(flips)
    sheet["verdict"] = wrong.map({True: "relabel", False: "confirmed"})
    sheet["new_label"] = sheet["path"].map(flips).fillna("")
    sheet["reviewer"] = reviewer
    sheet.to_csv(tasks, index=False)


def requeue(audits: Path) -> pd.DataFrame:
    """The issues stage as dvc.yaml runs it (it reads no params and no data)."""
    run_stage("issues", None, Path(), audits)
    return pd.read_parquet(audits / artifacts.REVIEW_QUEUE)


def test_a_round_relabels_the_planted_errors_and_keeps_reviewed_images_out_of_the_queue(
    audited_demo, demo_data, audits, tmp_path
):
    params, _, _ = audited_demo
    data, truth = demo_data
    flips = {f["path"]: f["true_label"] for f in truth["label_flips"]}
    before = tree_digest(data)
    queue = requeue(audits)  # as dvc.yaml builds it: the model named in the evidence
    tasks = tmp_path / "review" / "round-1.csv"
    pushed = rounds.push(audits, str(data), tasks, rounds.select(audits, 20, None), force=False)
    assert pushed.n_tasks == 20
    sheet = pd.read_csv(tasks, dtype=str, keep_default_na=False)
    assert list(sheet.columns) == [*file_tool.EVIDENCE, *file_tool.ANSWERS]
    assert sheet["path"].tolist() == queue["path"].head(20).tolist()
    manifest = pd.read_parquet(audits / artifacts.MANIFEST).set_index("path")
    assert sheet["given_label"].tolist() == manifest.loc[sheet["path"], "label"].tolist()
    assert sheet["sample_id"].tolist() == manifest.loc[sheet["path"], "sample_id"].tolist()
    assert (sheet["evidence"] != "").all() and (sheet["reasons"] != "").all()
    model_rows = sheet["signals"].str.contains("label_issue")
    assert model_rows.any() and (sheet.loc[model_rows, "suggested_label"] != "").all()
    vote_rows = sheet["signals"].str.contains("consensus")
    assert vote_rows.any() and (sheet.loc[vote_rows, "consensus_label"] != "").all()
    assert all(Path(image).is_file() for image in sheet["image"])  # a reviewer can open it
    planted = sheet["path"].isin(flips)
    assert planted.sum() >= 5  # the queue's top holds planted errors to fix

    answer_as_the_truth_says(tasks, flips, "ann")
    fixes = tmp_path / "corrections.csv"
    first = rounds.pull(audits, str(data), tasks, fixes)
    assert (first.n_added, first.n_already, first.n_open, first.set_aside) == (20, 0, 0, [])
    written = fixes.read_bytes()
    again = rounds.pull(audits, str(data), tasks, fixes)
    assert (again.n_added, again.n_already) == (0, 20)
    assert fixes.read_bytes() == written  # nothing applied twice

    summary = ingest.run(params, data, audits, fixes)
    assert fixes.read_bytes() == written and tree_digest(data) == before  # only read
    assert summary["corrections"]["n_relabelled"] == planted.sum()
    assert summary["corrections"]["n_confirmed"] == 20 - planted.sum()
    after = pd.read_parquet(audits / artifacts.MANIFEST).set_index("path")
    for path in sheet.loc[planted, "path"]:
        assert after.loc[path, "label"] == flips[path]
        assert after.loc[path, "original_label"] == manifest.loc[path, "label"]
        assert after.loc[path, "label_source"] == "review"
    untouched = after.index.difference(sheet["path"])
    assert (after.loc[untouched, "label"] == after.loc[untouched, "original_label"]).all()
    assert (after.loc[untouched, "review"] == "").all()

    # the app shows each corrected label with its given one
    from curator.app.table import sample_table

    shown = sample_table(audits, data).set_index("filepath")
    fixed = sheet.loc[planted, "path"].iloc[0]
    row = shown.loc[str((data / fixed).resolve())]
    assert (row["ground_truth"], row["original_label"], row["review"]) == (
        flips[fixed],
        manifest.loc[fixed, "label"],
        "relabelled",
    )

    queue_after = requeue(audits)  # the same evidence as before: no reviewed image returns
    assert not set(queue_after["path"]) & set(sheet["path"])
    assert len(queue_after) == len(queue) - 20
    # the reviewer's answers are votes now (annotator "reviewer:ann"); say they make the
    # votes on a reviewed image disagree: that is the reviewer's own answer, not new evidence
    reviewed = sheet["path"].iloc[0]
    found = audits / artifacts.findings("agreement")
    flags = pd.read_parquet(found)
    row = {
        "sample_id": after.loc[reviewed, "sample_id"],
        "path": reviewed,
        "issue": "low_agreement",
        "score": 0.6,
        "detail": "votes disagree",
    }
    pd.concat([flags, pd.DataFrame([row])]).to_parquet(found, index=False)
    votes = pd.read_parquet(audits / artifacts.ANNOTATIONS)
    assert (votes["annotator"] == "reviewer:ann").sum() == 20
    assert reviewed not in set(requeue(audits)["path"])
    # another annotator's vote is new evidence
    extra = votes[votes["path"] == reviewed].iloc[[0]].assign(annotator="late-annotator")
    pd.concat([votes, extra]).to_parquet(audits / artifacts.ANNOTATIONS, index=False)
    back = requeue(audits).set_index("path")
    assert back.loc[reviewed, "evidence"].endswith("votes:4")


def test_the_cli_round_and_bad_answers(audited_demo, demo_data, audits, tmp_path):
    data, _ = demo_data
    run = CliRunner().invoke
    tasks = tmp_path / "round-1.csv"
    common = ["--audits", str(audits), "--data", str(data)]
    pushed = run(cli, ["review", "push", *common, "--out", str(tasks), "--top", "3"])
    assert pushed.exit_code == 0 and "review push: 3 task(s)" in pushed.output
    again = run(cli, ["review", "push", *common, "--out", str(tasks), "--top", "3"])
    assert again.exit_code == 5 and "already exists and may hold answers" in again.output

    sheet = pd.read_csv(tasks, dtype=str, keep_default_na=False)
    sheet.loc[0, ["verdict", "new_label", "reviewer"]] = ["relabel", "seven", "ann"]
    sheet.loc[1, ["verdict", "reviewer"]] = ["confirm", "ann"]
    sheet.to_csv(tasks, index=False)
    fixes = tmp_path / "corrections.csv"
    pull = ["review", "pull", *common, "--answers", str(tasks), "--corrections", str(fixes)]
    bad = run(cli, pull)
    assert bad.exit_code == 5
    assert f"{tasks} line 2: new_label 'seven' is not a class of this dataset" in bad.output
    assert f"{tasks} line 3: verdict 'confirm' is not one of relabel, confirmed" in bad.output
    assert "Nothing was applied." in bad.output and not fixes.exists()

    sheet.loc[0, "new_label"] = "7" if sheet.loc[0, "given_label"] != "7" else "1"
    sheet.loc[1, "verdict"] = "confirmed"
    sheet.to_csv(tasks, index=False)
    good = run(cli, pull)
    assert good.exit_code == 0, good.output
    assert "2 answer(s) added" in good.output and "1 task(s) not answered yet" in good.output
    assert len(corrections.read(fixes, {str(k) for k in range(10)})) == 2

    sheet.drop(columns="verdict").to_csv(tasks, index=False)
    broken = run(cli, pull)
    assert broken.exit_code == 5 and "missing column(s) verdict" in broken.output


def test_an_image_changed_since_the_push_is_set_aside_with_its_task(demo_data, audits, tmp_path):
    source, _ = demo_data
    data = tmp_path / "data"
    shutil.copytree(source, data)
    tasks = tmp_path / "round-1.csv"
    rounds.push(audits, str(data), tasks, rounds.select(audits, 4, None), force=False)
    sheet = pd.read_csv(tasks, dtype=str, keep_default_na=False)
    sheet[["verdict", "reviewer"]] = ["confirmed", "ann"]
    sheet.to_csv(tasks, index=False)
    changed = data / sheet.loc[1, "path"]
    changed.write_bytes(changed.read_bytes() + b"\0")  # re-saved after the push
    (data / sheet.loc[2, "path"]).unlink()  # removed after the push
    pulled = rounds.pull(audits, str(data), tasks, tmp_path / "corrections.csv")
    assert pulled.n_added == 2
    assert pulled.set_aside == [
        f"{tasks} line 3 (task round-1.csv#2): its bytes changed since the push; push it "
        "again to review it as it is",
        f"{tasks} line 4 (task round-1.csv#3): the image is no longer in the data since the "
        "push; push it again to review it as it is",
    ]


def test_push_by_paths_refuses_a_path_not_in_the_data(audits, tmp_path):
    queue = pd.read_parquet(audits / artifacts.REVIEW_QUEUE)
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    calm = manifest.loc[~manifest["path"].isin(queue["path"]), "path"].iloc[0]
    rows = rounds.select(audits, None, [calm, queue["path"].iloc[0]])
    assert rows["path"].tolist() == [calm, queue["path"].iloc[0]]
    assert rows["reasons"].iloc[0] == "asked for by path"
    # the task shows the annotators' consensus: the votes it saw are in its evidence
    sheet = tmp_path / "by-path.csv"
    rounds.push(audits, "data", sheet, rows, force=False)
    votes = pd.read_parquet(audits / artifacts.ANNOTATIONS)["path"].value_counts()
    evidence = pd.read_csv(sheet, dtype=str, keep_default_na=False)["evidence"]
    assert evidence.iloc[0] == f"votes:{votes.get(calm, 0)}"
    assert evidence.iloc[1].endswith(f";votes:{votes.get(queue['path'].iloc[0], 0)}")
    with pytest.raises(DataError, match=r"not in the audited data, e\.g\. 'images/nope\.png'"):
        rounds.select(audits, None, ["images/nope.png"])


def test_a_random_sample_is_drawn_from_the_unreviewed_images_not_pushed_here(audits):
    top = rounds.select(audits, 5, None)
    rows = rounds.select(audits, 5, None, random=30, seed=3)
    assert rows["path"].head(5).tolist() == top["path"].tolist()
    assert rows["drawn"].tolist() == ["queue"] * 5 + ["random"] * 30
    sample = rows[rows["drawn"] == "random"]
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    pool = int(manifest["readable"].sum()) - 5
    assert not set(sample["path"]) & set(top["path"])
    assert set(sample["path"]) <= set(manifest.loc[manifest["readable"], "path"])
    assert (sample["evidence"] == f"random:{pool}").all()
    assert sample["path"].is_unique
    again = rounds.select(audits, 5, None, random=30, seed=3)
    assert again["path"].tolist() == rows["path"].tolist()  # seeded
    assert (
        rounds.select(audits, 5, None, random=30, seed=4)["path"].tolist() != rows["path"].tolist()
    )
    with pytest.raises(DataError, match="--random 99999: only"):
        rounds.select(audits, None, None, random=99999)


def test_the_images_to_push_can_be_a_list_or_a_csv(demo_data, tmp_path):
    data, _ = demo_data
    listing = tmp_path / "paths.txt"
    listing.write_text("images/train/0/a.png\n\nimages/test/1/b.png\n")
    assert rounds.read_paths(listing, str(data)) == ["images/train/0/a.png", "images/test/1/b.png"]
    exported = tmp_path / "view.csv"
    pd.DataFrame({"filepath": [str(data.resolve() / "images/train/0/a.png")]}).to_csv(
        exported, index=False
    )
    assert rounds.read_paths(exported, str(data)) == ["images/train/0/a.png"]
    pd.DataFrame({"filepath": ["/elsewhere/c.png"]}).to_csv(exported, index=False)
    with pytest.raises(DataError, match=r"view\.csv line 2: /elsewhere/c\.png is not under"):
        rounds.read_paths(exported, str(data))
    pd.DataFrame({"file": ["x"]}).to_csv(exported, index=False)
    with pytest.raises(DataError, match="needs a 'path' column"):
        rounds.read_paths(exported, str(data))
