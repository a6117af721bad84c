"""Does `curator diff` say, with a right interval, how much review rounds improved a model?
Checked on CIFAR-10N against the truth.

Usage (after benchmarks/eval_review_rounds.py ran its rounds, e.g. with --work /tmp/rr):
  .venv/bin/python benchmarks/eval_diff_rounds.py --audits /tmp/rr/audits \\
      --corrections /tmp/rr/corrections.csv --data <extracted CIFAR-10 train> --work /tmp/dr \\
      [--test 2000] [--seed 0]

The images of the audit are split once (seeded) into ``--test`` held-out images and the rest.
Three label versions: as given (random_label1), after round 1's corrections, after rounds 1 and
2 (corrections.apply on the rounds' answers, as the ingest stage does; held-out images that a
round reviewed are corrected too, as they would be in a user's data). For each, curator's small
CNN (learn/image_cnn.py, label_quality's cnn settings) is trained on the rest with that
version's labels and predicts the held-out images; the evaluate stage runs on them, giving one
audits folder per version. Then `curator diff` (review/diff.py) compares consecutive versions
and the first with the last. Printed per comparison: the diff's paired accuracy change with its
95% interval and McNemar's p (both models scored against B's labels), and the true change:
the two models' accuracies against the true labels (clean_label) on the same images; whether
the interval covers it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from curator import artifacts
from curator.checks.base import empty_flags
from curator.io.tables import write_json, write_parquet
from curator.learn.image_cnn import predict_cnn, train_cnn
from curator.params import EvaluateParams, LabelQualityParams, Params
from curator.review import corrections, diff
from curator.review.snapshots import open_audit
from curator.stages import evaluate

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = REPO.parent / "shared/devdata/cifar10n-train/labels.csv.gz"


def versions(manifest: pd.DataFrame, annotations: pd.DataFrame, table: pd.DataFrame):
    """(name, manifest with that version's labels, ingest facts) for the data as given and
    after each round's corrections in turn."""
    given = manifest.assign(label=manifest["original_label"])[
        [c for c in manifest.columns if c not in ("original_label", "label_source", "review")]
    ]
    given = given.drop(columns=["review_evidence"], errors="ignore")
    rounds = sorted(table["task"].str.split("#").str[0].unique())
    out = [("given", corrections.apply(given, annotations, table.head(0)))]
    for k in range(len(rounds)):
        upto = table[table["task"].str.split("#").str[0].isin(rounds[: k + 1])]
        out.append((rounds[k].removesuffix(".json"), corrections.apply(given, annotations, upto)))
    return [(name, applied.manifest, applied.facts) for name, applied in out]


def load_images(data: Path, paths: pd.Series, size: int) -> np.ndarray:
    out = np.empty((len(paths), size, size, 3), np.uint8)
    for k, p in enumerate(paths):
        with Image.open(data / p) as img:
            out[k] = np.asarray(img.convert("RGB").resize((size, size)))
    return out


def write_audit(folder: Path, manifest, facts, test, probs, classes, params: Params) -> None:
    """An audits folder for one label version: what the evaluate stage and the diff read."""
    (folder / artifacts.MODEL_DIR).mkdir(parents=True, exist_ok=True)
    write_parquet(manifest, folder / artifacts.MANIFEST)
    write_json({"corrections": facts}, folder / artifacts.INGEST_SUMMARY)
    write_parquet(empty_flags(), folder / artifacts.ISSUES)
    leak_cols = ["path", "split", "twin_path", "twin_split", "kind", "score", "sample_id"]
    write_parquet(pd.DataFrame(columns=leak_cols), folder / artifacts.LEAKAGE)
    write_parquet(pd.DataFrame({"path": pd.Series(dtype=str)}), folder / artifacts.CONSENSUS)
    write_json({"classes": classes}, folder / artifacts.MODEL_DIR / "model.json")
    rows = manifest.set_index("path").loc[test]
    preds = pd.DataFrame(
        {
            "sample_id": rows["sample_id"].to_numpy(),
            "path": test.to_numpy(),
            "split": "test",
            "label": rows["label"].to_numpy(),
            "predicted": np.asarray(classes)[probs.argmax(1)],
            "confidence": probs.max(1),
        }
    )
    preds = pd.concat([preds, pd.DataFrame(probs, columns=[f"p_{c}" for c in classes])], axis=1)
    write_parquet(preds, folder / artifacts.PREDICTIONS)
    evaluate.run(params, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audits", type=Path, required=True)
    parser.add_argument("--corrections", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=LabelQualityParams().cnn_epochs)
    args = parser.parse_args()

    manifest = pd.read_parquet(args.audits / artifacts.MANIFEST)
    annotations = pd.read_parquet(args.audits / artifacts.ANNOTATIONS)
    table = corrections.read(args.corrections, sorted(manifest["original_label"].unique()))
    truth = pd.read_csv(args.labels).set_index("path")["clean_label"].astype(str)
    order = np.random.default_rng(args.seed).permutation(len(manifest))
    test = manifest["path"].iloc[order[: args.test]].reset_index(drop=True)
    is_test = manifest["path"].isin(test)
    lq = LabelQualityParams()
    settings = {
        "width": lq.cnn_width,
        "epochs": args.epochs,
        "batch_size": lq.cnn_batch_size,
        "learning_rate": lq.cnn_learning_rate,
    }
    images = load_images(args.data, manifest["path"], lq.cnn_image_size)
    classes = sorted(manifest["original_label"].unique())
    params = Params(
        evaluate=EvaluateParams(
            split="test", sensitive_features=(), condition_bins=0, slices=0, n_bootstrap=1000
        )
    )
    folders = {}
    for name, version, facts in versions(manifest, annotations, table):
        folder = args.work / name
        version = version.assign(split=np.where(is_test, "test", "train"))
        y = version["label"].map(classes.index).to_numpy()
        train = ~is_test.to_numpy()
        started = time.perf_counter()
        model, normalise = train_cnn(
            images[train], y[train], len(classes), settings, args.seed, "cpu", desc=name
        )
        position = pd.Series(np.arange(len(manifest)), index=manifest["path"])
        probs = predict_cnn(model, normalise, images[position.loc[test].to_numpy()], "cpu")
        write_audit(folder, version, facts, test, probs.astype(float), classes, params)
        wrong = int(
            (
                version.loc[train, "label"] != truth.reindex(version.loc[train, "path"]).to_numpy()
            ).sum()
        )
        print(
            f"{name}: {wrong} wrong labels in the {int(train.sum())} trained on; "
            f"trained in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        folders[name] = folder

    names = list(folders)
    pairs = [*itertools.pairwise(names), (names[0], names[-1])]
    print(
        "\n| A -> B | n | diff: accuracy A -> B (vs B's labels) | change (95%) | McNemar p "
        "| truth: accuracy A -> B (vs clean_label) | true change | covered |"
    )
    print("|---|---|---|---|---|---|---|---|")
    results = {}
    for a, b in pairs:
        result = diff.compare(open_audit(str(folders[a])), open_audit(str(folders[b])))
        m = result["model"]
        acc = m["metrics"]["accuracy"]
        pa, pb = (
            pd.read_parquet(folders[x] / artifacts.PREDICTIONS).set_index("path") for x in (a, b)
        )
        common = pa.index.intersection(pb.index)
        clean = truth.reindex(common).to_numpy()
        true_a = float((pa.loc[common, "predicted"].to_numpy() == clean).mean())
        true_b = float((pb.loc[common, "predicted"].to_numpy() == clean).mean())
        lo, hi = acc["change_ci"]
        change = true_b - true_a
        print(
            f"| {a} -> {b} | {m['n_common']} | {acc['a']:.3f} -> {acc['b']:.3f} | "
            f"{acc['change']:+.3f} ({lo:+.3f} to {hi:+.3f}) | {m['mcnemar']['p_value']:.2g} | "
            f"{true_a:.3f} -> {true_b:.3f} | {change:+.3f} | {lo <= change <= hi} |"
        )
        results[f"{a}->{b}"] = {
            "diff": acc,
            "mcnemar": m["mcnemar"],
            "true": [true_a, true_b],
            "labels_changed": m["labels_changed"],
        }
    (args.work / "summary.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
