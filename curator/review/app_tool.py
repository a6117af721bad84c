"""Review in the FiftyOne app: the tasks are samples of the audit's dataset, tagged and saved as
a view; a reviewer answers there, and the answers come back like any tool's.

In the app a reviewer opens the saved view ``review: <round>`` and, per sample, either tags it
``confirmed``, or gives the right class: edits its ``ground_truth`` (the Annotate tab) or tags
it ``relabel:<class>``. A sample tagged ``mislabeled`` with no class is not an answer yet (it is
named, with how to finish it). While a sample carries its round's tag, `curator app` leaves its
``ground_truth`` as the reviewer set it (io/fiftyone_dataset.py), so an answer not pulled yet is
never overwritten; once pulled and applied by `dvc repro`, the audit's label is the reviewer's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from curator.errors import DataError
from curator.io.fiftyone_dataset import REVIEW_TAG_PREFIX, import_fiftyone
from curator.io.tables import atomic_path
from curator.review import corrections

TOOL = "app"
CONFIRMED = "confirmed"
RELABEL = "relabel:"
MISLABELED = "mislabeled"
PUSHED = ("path", "sample_id", "given_label", "drawn", "evidence", "reasons")


def _dataset(name: str):
    fo = import_fiftyone()
    if not fo.dataset_exists(name):
        raise DataError(
            f"the FiftyOne dataset {name!r} does not exist: build it with `curator app "
            "--no-launch` (the same --data and params), then push again."
        )
    return fo.load_dataset(name)


def push(
    tasks: pd.DataFrame, dataset_name: str, data_root: str, out: Path, classes: list[str]
) -> int:
    """Tag the tasks' samples ``review:<out's stem>``, save them as view ``review: <stem>``,
    give ``ground_truth`` a label schema listing ``classes`` (the Annotate tab then offers them
    in a dropdown) and write the push record ``out`` (what pull reads). Returns the number of
    tasks."""
    dataset = _dataset(dataset_name)
    root = Path(data_root).resolve()
    filepaths = [str(root / p) for p in tasks["path"]]
    present = set(dataset.values("filepath"))
    missing = [p for p, fp in zip(tasks["path"], filepaths, strict=True) if fp not in present]
    if missing:
        raise DataError(
            f"{len(missing)} image(s) to push are not in the FiftyOne dataset {dataset_name!r}, "
            f"e.g. {missing[0]!r}: it is older than the audit; refresh it with `curator app "
            "--no-launch`, then push again."
        )
    tag = f"{REVIEW_TAG_PREFIX}{out.stem}"
    dataset.select_by("filepath", filepaths).tag_samples(tag)
    dataset.save_view(
        f"review: {out.stem}",
        dataset.match_tags(tag),
        description=f"review {out.stem} (curator review push --tool app): tag each sample "
        f"'{CONFIRMED}', or give its class: edit ground_truth, or tag '{RELABEL}<class>'",
        overwrite=True,
    )
    schema = dataset.generate_label_schemas(fields="ground_truth", scan_samples=False)
    schema.update(component="dropdown", classes=list(classes))
    dataset.set_label_schemas(dataset.label_schemas | {"ground_truth": schema})
    dataset.active_label_schemas = sorted({*dataset.active_label_schemas, "ground_truth"})
    facts = tasks[list(PUSHED)].fillna("").astype(str)
    doc = {
        "tool": TOOL,  # says what the file is to whoever opens it
        "dataset": dataset_name,
        "data_root": str(root),
        "tag": tag,
        "tasks": {str(k): row for k, row in enumerate(facts.to_dict("records"), start=1)},
    }
    with atomic_path(Path(out), now=True) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return len(tasks)


def _utc(when) -> str:
    """The sample's last change (FiftyOne stores naive UTC) as ISO 8601 with its zone."""
    stamp = pd.Timestamp(when)
    return (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    ).isoformat()


def answers(record: dict[str, Any], where: str, classes: set[str], reviewer: str):
    """The answered samples of a push record as corrections rows (validated: a class the
    data lacks, or a sample both confirmed and relabelled, stops the pull with its task)."""
    dataset = _dataset(record["dataset"])
    root = Path(record["data_root"])
    fields = ("filepath", "ground_truth.label", "tags", "last_modified_at")
    state = {
        fp: (label, tags, when)
        for fp, label, tags, when in zip(*(dataset.values(f) for f in fields), strict=True)
    }
    rows, names, set_aside, n_open = [], [], [], 0
    for task_id, pushed in sorted(record["tasks"].items(), key=lambda kv: int(kv[0])):
        name = f"task {task_id} ({pushed['path']})"
        sample = state.get(str(root / pushed["path"]))
        if sample is None:
            set_aside.append(
                f"{where} {name}: no longer in the FiftyOne dataset; push the image again"
            )
            continue
        label, tags, when = sample
        given = pushed["given_label"]
        chosen = {t.removeprefix(RELABEL) for t in tags if t.startswith(RELABEL)}
        if label is not None and label != given:
            chosen.add(label)
        if len(chosen) > 1 or (chosen and CONFIRMED in tags):
            said = sorted(chosen) + ([CONFIRMED] if CONFIRMED in tags else [])
            raise DataError(
                f"{where} {name}: answered both ways in the app ({', '.join(said)}); keep one "
                "(remove the other tag, or set ground_truth back). Nothing was applied."
            )
        if not chosen and CONFIRMED not in tags:
            n_open += 1
            if MISLABELED in tags:
                set_aside.append(
                    f"{where} {name}: tagged '{MISLABELED}' without a class: edit its "
                    f"ground_truth or tag it '{RELABEL}<class>'"
                )
            continue
        new = next(iter(chosen), "")
        rows.append(
            {
                "path": pushed["path"],
                "sample_id": pushed["sample_id"],
                "old_label": given,
                "verdict": "relabel" if new else "confirmed",
                "new_label": new,
                "reviewer": reviewer,
                "reviewed_at": _utc(when),
                "task": f"{Path(where).name}#{task_id}",
                "drawn": pushed["drawn"],
                "evidence": pushed["evidence"],
                "reasons": pushed["reasons"],
            }
        )
        names.append(name)
    table = pd.DataFrame(rows, columns=list(corrections.COLUMNS), index=names)
    return corrections.Answers(
        corrections.validate(table, classes, where, names), n_open, set_aside
    )
