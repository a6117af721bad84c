"""Review rounds on real photos through a real Label Studio server: how many true errors each
round fixes, and whether curator's estimates of what is left hold against the truth.

Usage (after benchmarks/eval_label_errors.py kept an audit of CIFAR-10N, e.g. the CNN's:
``--n 10000 --given random_label1 --classifier cnn --keep /tmp/le/cnn``; `make labelstudio`):
  .venv/bin/python benchmarks/eval_review_rounds.py --audits /tmp/le/cnn/audits \\
      --data <extracted CIFAR-10 train> [--rounds 2] [--per-round 500] [--random 100]

Works on a copy of the audits folder. Starts Label Studio with `curator review serve`'s code
(127.0.0.1, the images served from the data folder). Per round: the queue's next
``--per-round`` images plus ``--random`` drawn at random from those no one has reviewed are
pushed as a project; every task is answered through the API with CIFAR-10N's ``clean_label``
(a reviewer who is always right); the answers are pulled into corrections.csv, the ingest stage
applies them, the issues stage rebuilds the queue without the reviewed images. Prints per round:
tasks, true errors among the queue's tasks, labels corrected and how many of those were true
errors, the estimate of wrong labels left among the images no one reviewed (with its interval)
against the true count, and "the next 100 of the queue would fix about X" against the true
errors in the next 100 of the rebuilt queue. The model (label_quality) is not retrained between
rounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pandas as pd

from curator import artifacts
from curator.params import IngestParams, Params
from curator.review import label_studio, rounds
from curator.stages import ingest, issues

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = REPO.parent / "shared/devdata/cifar10n-train/labels.csv.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rebuild_queue(audits: Path) -> pd.DataFrame:
    findings = sorted((audits / artifacts.FINDINGS_DIR).glob("*.parquet"))
    issues.run(
        findings,
        audits / artifacts.ISSUES,
        audits / artifacts.REVIEW_QUEUE,
        audits / artifacts.summary("label_quality"),
        audits / artifacts.MANIFEST,
        audits / artifacts.ANNOTATIONS,
    )
    return pd.read_parquet(audits / artifacts.REVIEW_QUEUE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--audits", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--labels", default=str(DEFAULT_LABELS))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--per-round", type=int, default=500)
    ap.add_argument("--random", type=int, default=100)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="review-rounds-"))
    audits = work / "audits"
    shutil.rmtree(audits, ignore_errors=True)
    shutil.copytree(args.audits, audits)
    doc = json.loads((audits / artifacts.INGEST_SUMMARY).read_text())
    params = Params(ingest=IngestParams(**doc["params"] | {"workers": 0}))
    truth = pd.read_csv(args.labels).set_index("path")["clean_label"].astype(str)
    fixes = work / "corrections.csv"
    fixes.unlink(missing_ok=True)

    queue = rebuild_queue(audits)
    start = time.monotonic()
    process, state = label_studio.serve(
        label_studio.binary(None), args.data, work / "label-studio", free_port()
    )
    print(f"Label Studio up at {state['url']} in {time.monotonic() - start:.0f} s", flush=True)
    client = label_studio.Client(state["url"], state["api_key"])
    print(
        "| round | tasks (queue + random) | true errors in the queue's tasks | labels corrected "
        "(true errors among them) | wrong left among unreviewed: estimate (95%) | true | next "
        "100 of the queue: estimate (95%) | true | wrong per 100 down the round's queue |"
    )
    print("| ---: | --- | ---: | --- | --- | ---: | --- | ---: | --- |")
    try:
        for r in range(1, args.rounds + 1):
            rows = rounds.select(audits, args.per_round, None, args.random, seed=r)
            record = work / "review" / f"round-{r}.json"
            pushed = rounds.push(
                audits,
                str(args.data),
                record,
                rows,
                True,
                rounds.Server(state["url"], state["api_key"]),
            )
            for task in client.export(pushed.project):
                client.annotate(task["id"], truth[task["data"]["path"]])
            pulled = rounds.pull(audits, str(args.data), record, fixes, state["api_key"])
            assert not pulled.set_aside and pulled.n_open == 0, pulled
            summary = ingest.run(params, args.data, audits, fixes)
            queue = rebuild_queue(audits)
            manifest = pd.read_parquet(audits / artifacts.MANIFEST)
            labels = manifest.set_index("path")
            wrong_now = labels["label"] != truth.reindex(labels.index)
            queued = rows[rows["drawn"] == "queue"]["path"]
            relabelled = labels.index[labels["review"] == "relabelled"]
            was_wrong = labels.loc[relabelled, "original_label"] != truth.reindex(relabelled)
            unreviewed = labels.index[labels["review"] == ""]
            c = summary["corrections"]
            left, band = c["errors_left"], c["next_queue_band"]
            next_true = int(wrong_now.reindex(queue["path"].head(100)).sum())
            print(
                f"| {r} | {len(rows)} ({len(queued)} + {len(rows) - len(queued)}) | "
                f"{int((labels.loc[queued, 'original_label'] != truth.reindex(queued)).sum())} | "
                f"{len(relabelled)} ({int(was_wrong.sum())}) | "
                f"{left['left']:.0f} ({left['left_ci'][0]:.0f} to {left['left_ci'][1]:.0f}) | "
                f"{int(wrong_now.reindex(unreviewed).sum())} | "
                f"{band['would_fix']:.0f} ({band['would_fix_ci'][0]:.0f} to "
                f"{band['would_fix_ci'][1]:.0f}) | {next_true} | "
                f"{', '.join(str(w) for w, _ in band['per_band'])} |",
                flush=True,
            )
    finally:
        process.terminate()
        process.wait(timeout=60)


if __name__ == "__main__":
    main()
