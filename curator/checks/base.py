"""The one result shape every check returns.

Like cleanlab's Datalab issue managers, every check yields a table of flagged samples in one
schema, a summary dict of numbers for reports and ``dvc metrics``, and the params it used. The
flag tables of all checks concatenate into ``audits/issues.parquet`` without any adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from curator.artifacts import ISSUE_COLUMNS, ISSUE_NAMES
from curator.errors import ConfigError, MissingArtifactError

# score: severity in [0, 1], higher = more severe (sort descending to triage).
# every params key whose values name metadata columns: checked together right after the files
# are listed (ingest, `curator check`), not when the stage that reads it finally runs
METADATA_COLUMN_KEYS = (
    ("balance", "subgroups"),
    ("agreement", "subgroups"),
    ("label_quality", "subgroups"),
    ("duplicates", "conflict_attributes"),
    ("evaluate", "sensitive_features"),
)


def require_metadata_columns(params: Any, columns: list[str], source: str) -> list[str]:
    """Refuse, all at once, every params key that names a column the metadata lacks; return
    the keys checked. ``source`` says where the columns come from, for the fix."""
    problems = []
    checked = []
    for section, name in METADATA_COLUMN_KEYS:
        key = f"{section}.{name}"
        wanted = getattr(getattr(params, section), name)
        checked.append(key)
        problems += [f"{key} names {c!r}" for c in wanted if c not in columns]
    if problems:
        raise ConfigError(
            f"params: {'; '.join(problems)}, which {'is' if len(problems) == 1 else 'are'} "
            f"not a metadata column (metadata columns: {', '.join(columns) or 'none'}, from "
            f"{source}). Fix the name in params.yaml, or add the column to {source}."
        )
    return checked


def require_subgroups(manifest: pd.DataFrame, subgroups: tuple[str, ...], key: str) -> None:
    """Refuse an entry of params ``key`` (e.g. balance.subgroups) that is not a metadata column."""
    from curator.io.sources import RESERVED_COLUMNS

    missing = [a for a in subgroups if a not in manifest.columns]
    if missing:
        available = [c for c in manifest.columns if c not in RESERVED_COLUMNS]
        raise ConfigError(
            f"params: {key} names {missing[0]!r}, which is not a column of the "
            f"manifest (metadata columns: {', '.join(available) or 'none'})."
        )


def empty_flags() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": pd.Series(dtype="string"),
            "path": pd.Series(dtype="string"),
            "issue": pd.Series(dtype="string"),
            "score": pd.Series(dtype="float64"),
            "detail": pd.Series(dtype="string"),
        }
    )


def make_flags(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build a flag table in the issue schema, sorted most severe first, stable on ties.
    Every flag table is made here, so here the issue names and the scores are checked: a name
    outside artifacts.ISSUE_NAMES or a score outside [0, 1] (NaN included) is a bug."""
    if not rows:
        return empty_flags()
    unknown = {r["issue"] for r in rows} - ISSUE_NAMES
    if unknown:
        raise ValueError(f"issue name(s) {sorted(unknown)} are not in artifacts.ISSUE_NAMES")
    bad = next((r for r in rows if not 0.0 <= float(r["score"]) <= 1.0), None)
    if bad is not None:
        raise ValueError(
            f"{bad['issue']} score {bad['score']!r} for {bad['path']} is not in [0, 1] "
            "(scores are severities: higher is more severe)"
        )
    df = pd.DataFrame(rows, columns=list(ISSUE_COLUMNS)).astype(empty_flags().dtypes.to_dict())
    return df.sort_values(
        ["score", "issue", "path"], ascending=[False, True, True], ignore_index=True
    )


@dataclass(frozen=True)
class CheckInputs:
    """Everything a check may read; each check declares which fields it needs (Check.requires)
    and ``run_check`` refuses to run it without them."""

    manifest: pd.DataFrame
    annotations: pd.DataFrame | None = None
    hashes: pd.DataFrame | None = None  # sample_id + one uint64 column per hash kind
    properties: pd.DataFrame | None = None  # sample_id + features/properties.PROPERTY_NAMES
    embeddings: tuple[list[str], np.ndarray] | None = None  # (sample_ids, L2-normalised rows)
    # sample_ids -> stacked edge maps (features/edges.py); supplied by the stage that reads files
    load_edge_maps: Callable[[list[str]], np.ndarray] | None = None
    # (sample_ids, seed) -> (edge maps of an edited copy of each, their width / height, the
    # edits' names): the copies that measure, on the user's own images, how many copies the
    # duplicates decision finds
    plant_copies: Callable[[list[str], int], tuple[np.ndarray, np.ndarray, list[str]]] | None = None
    # the user's own model's probabilities: path or sample_id, then one column per class
    pred_probs: pd.DataFrame | None = None
    # sample_ids -> (n, s, s, 3) uint8 images for a model trained on pixels (label_quality cnn)
    load_images: Callable[[list[str]], np.ndarray] | None = None
    device: str = "cpu"  # where a check that trains a model runs it
    boxes: pd.DataFrame | None = None  # a detection dataset's boxes (io/boxes.py BOX_COLUMNS)
    box_predictions: pd.DataFrame | None = None  # a detector's boxes (io/boxes.py, with scores)
    # several annotators' boxes (BOX_COLUMNS, annotator set) and the images each labelled
    # (annotator, path): an image labelled with no box is a statement too
    box_annotations: pd.DataFrame | None = None
    box_annotated_images: pd.DataFrame | None = None


@dataclass(frozen=True)
class CheckResult:
    """``summary`` holds every table a report needs; ``metrics`` the few headline numbers
    that ``dvc metrics show/diff`` compares between versions."""

    name: str
    flags: pd.DataFrame
    summary: dict[str, Any]
    metrics: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # extra outputs, e.g. pairs


# what supplies each input, for the message that says one is missing
INPUT_SOURCES = {
    "manifest": "the manifest (`curator ingest`)",
    "annotations": "the annotations (`curator ingest` with an annotations table)",
    "hashes": "the perceptual hashes (`curator hash`)",
    "properties": "the image properties (`curator properties`)",
    "embeddings": "the embeddings (`curator embed`)",
    "load_edge_maps": "the images' edge maps (the duplicates stage reads them from --data)",
    "plant_copies": "edited copies of the images (the duplicates stage makes them from --data)",
    "pred_probs": "a model's probabilities (`--pred-probs FILE` or label_quality.pred_probs)",
    "load_images": "the images (the label_quality stage reads them from --data)",
    "boxes": "the boxes of a detection dataset (`curator boxes`, detection.format set)",
    "box_predictions": "a detector's out-of-sample predictions (detection.predictions)",
    "box_annotations": "several annotators' boxes (detection.annotators)",
    "box_annotated_images": "the images each annotator labelled (detection.annotators)",
}
INPUT_NAMES = frozenset(f.name for f in fields(CheckInputs))


@dataclass(frozen=True)
class Check:
    """A registered check: its entry point, the params section it reads (if any), what it looks
    for (shown by `curator check` and the dataset audit), the CheckInputs fields it needs (an
    entry that is a tuple needs one of its fields), the issue names it may flag and the kind
    of dataset it audits (a classification dataset's report does not list box checks)."""

    name: str
    run: Callable[..., CheckResult]
    params_section: str | None
    description: str
    requires: tuple[str | tuple[str, ...], ...]
    issues: tuple[str, ...]
    task: Literal["classification", "detection"] = "classification"

    def __post_init__(self) -> None:
        named = {n for r in self.requires for n in ((r,) if isinstance(r, str) else r)}
        if named - INPUT_NAMES or set(self.issues) - ISSUE_NAMES:
            raise ValueError(
                f"check {self.name!r} declares unknown inputs {sorted(named - INPUT_NAMES)} "
                f"or issues {sorted(set(self.issues) - ISSUE_NAMES)}"
            )

    def require_inputs(self, inputs: CheckInputs) -> None:
        """Refuse inputs that lack a field this check needs, naming it and what supplies it."""
        for need in self.requires:
            options = (need,) if isinstance(need, str) else need
            if all(getattr(inputs, name) is None for name in options):
                what = " or ".join(INPUT_SOURCES[name] for name in options)
                raise MissingArtifactError(
                    f"the {self.name} check needs {what}, which was not given: run that "
                    "first (or `dvc repro`)."
                )
