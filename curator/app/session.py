"""`curator app` and `curator export`: the audit in the FiftyOne app (its table, app/table.py,
and saved views, app/views.py), and flagged subsets out.
FiftyOne is imported lazily, with its telemetry off unless the user turned it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curator import artifacts
from curator.app.table import sample_table
from curator.app.views import saved_views
from curator.errors import ConfigError
from curator.io.fiftyone_dataset import SyncReport, import_fiftyone, load_or_create, sync
from curator.io.tables import read_json
from curator.params import Params
from curator.reporting.summary import describe_review
from curator.stages import load_embeddings

EXPORT_FORMATS = ("fiftyone", "classification-tree", "csv")


def dataset_name(params: Params, data_dir: Path) -> str:
    """params app.dataset, else 'curator-<project folder>'."""
    return params.app.dataset or f"curator-{Path(data_dir).resolve().parent.name}"


def build(params: Params, data_dir: Path, audits_dir: Path) -> SyncReport:
    """Create or refresh the persistent dataset from audits/ (idempotent)."""
    audits = Path(audits_dir)
    table = sample_table(audits, Path(data_dir))
    evaluation_file = audits / artifacts.EVALUATION
    evaluation = (
        read_json(evaluation_file, "curator evaluate") if evaluation_file.exists() else None
    )
    ingest = read_json(audits / artifacts.INGEST_SUMMARY, "curator ingest")
    review = describe_review(ingest) if ingest.get("corrections", {}).get("n_answers") else None
    embeddings = None
    if params.app.visualization != "none" and (audits / artifacts.EMBED_VECTORS).exists():
        embeddings = load_embeddings(audits)
    return sync(
        dataset_name(params, data_dir),
        table,
        saved_views(table, evaluation, review),
        embeddings,
        params.app.visualization,
        params.app.seed,
    )


def launch(params: Params, name: str, port: int | None) -> Any:
    """Serve the app on the configured address (127.0.0.1 by default) and return the session."""
    fo = import_fiftyone()

    dataset = load_or_create(name)
    return fo.launch_app(
        dataset, address=params.app.address, port=port or params.app.port, remote=True
    )


def export(params: Params, name: str, view_name: str, fmt: str, out: Path) -> int:
    """Export a saved view (e.g. 'review queue', 'issue: label_issue') for annotators, with
    FiftyOne's exporters; returns the number of images written."""
    fo = import_fiftyone()

    dataset = load_or_create(name)
    if not dataset.has_saved_view(view_name):
        raise ConfigError(
            f"dataset {name!r} has no saved view {view_name!r}; run `curator app --no-launch` "
            f"first, or pick one of: {', '.join(dataset.list_saved_views()) or 'none'}."
        )
    view = dataset.load_saved_view(view_name)
    if fmt == "fiftyone":
        view.export(export_dir=str(out), dataset_type=fo.types.FiftyOneDataset)
    elif fmt == "classification-tree":
        view.export(
            export_dir=str(out),
            dataset_type=fo.types.ImageClassificationDirectoryTree,
            label_field="ground_truth",
        )
    else:
        fields = [f for f in CSV_FIELDS if view.has_field(f.split(".")[0])]
        view.export(
            export_dir=str(out),
            dataset_type=fo.types.CSVDataset,
            fields=fields,
            export_media=False,
            abs_paths=True,
        )
    return len(view)


CSV_FIELDS = (
    "filepath",
    "sample_id",
    "split",
    "ground_truth.label",
    "suggested_label",
    "consensus_label",
    "review_rank",
    "review_priority",
    "label_issue_score",
    "tags",
)
