"""The DVC pipeline as data: each stage's command, inputs, params keys and outputs, named once.

``dvc.yaml`` is rendered from this table, for this repository (``render_dvc_yaml(
with_sources=True)``: curator's own modules are dependencies too, so editing the code re-runs
the demo) and for a user's repository (``curator init``: no path into curator's source; every
table and summary records the curator version that wrote it instead). Params are declared
key by key, so changing a value re-runs exactly the stages that read it; tests/test_pipeline.py
derives the keys and files each stage really reads and fails when this table disagrees.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from curator import artifacts
from curator.errors import ConfigError, CuratorError
from curator.io.tables import atomic_path
from curator.params import Params

# Keys that decide where and how fast a stage runs, never what it writes: no stage depends on
# them, so switching engine or worker counts re-runs nothing.
RUNTIME_ONLY_KEYS = (
    "engine.name",
    "engine.address",
    "engine.num_cpus",
    "engine.shard_size",
    "engine.batch_size",
    "engine.embed_actors",
    "engine.gpus_per_actor",
    "engine.work_dir",
    "ingest.workers",
    "hash.workers",
    "properties.workers",
    "embed.workers",
    "embed.num_workers",
    "embed.cache_dir",
)

EMBEDDER_KEYS = (  # what loading the CLIP image tower reads (train, when finetuning)
    "embed.model",
    "embed.pretrained",
    "embed.download",
    "embed.connect_timeout",
    "embed.checkpoint",
    "embed.model_config",
    "embed.image_size",
    "embed.device",
    "embed.precision",
    "embed.seed",
)


def _own(section: str) -> tuple[str, ...]:
    """Every key of a params section but the runtime-only ones: the stage named after the
    section reads them all (the test in tests/test_pipeline.py holds it to that)."""
    keys = (f"{section}.{f.name}" for f in fields(typing.get_type_hints(Params)[section]))
    return tuple(k for k in keys if k not in RUNTIME_ONLY_KEYS)


@dataclass(frozen=True)
class Out:
    path: str
    kind: str = "outs"  # outs | metrics | plots
    cache: bool = True


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: str
    deps: tuple[str, ...]  # data and audits paths
    sources: tuple[str, ...]  # curator modules (dependencies in this repository only)
    params: tuple[str, ...]  # dotted params keys
    outs: tuple[Out, ...]


def _a(name: str) -> str:
    return f"audits/{name}"


def _check_outs(stage: str, *extra: Out) -> tuple[Out, ...]:
    """findings/<stage>.parquet, <stage>.json and metrics/<stage>.json, after ``extra``."""
    return (
        *extra,
        Out(_a(artifacts.findings(stage))),
        Out(_a(artifacts.summary(stage)), cache=False),
        Out(_a(artifacts.metrics(stage)), "metrics", cache=False),
    )


CHECK_STAGES = ("ingest", "balance", "properties", "duplicates", "agreement", "label_quality")
_FINDINGS = tuple(_a(artifacts.findings(s)) for s in CHECK_STAGES)

STAGES: tuple[Stage, ...] = (  # in an order that runs each stage after its inputs
    Stage(
        "ingest",
        f"curator ingest --data {{data}} --audits audits --corrections {artifacts.CORRECTIONS}",
        ("{data}", artifacts.CORRECTIONS),
        (
            "curator/stages/ingest.py",
            "curator/review/corrections.py",
            "curator/engine.py",
            "curator/io/uris.py",
            "curator/io/images.py",
            "curator/io/sources.py",
            "curator/checks/base.py",
            "curator/checks/integrity.py",
        ),
        _own("ingest"),
        _check_outs("ingest", Out(_a(artifacts.MANIFEST)), Out(_a(artifacts.ANNOTATIONS))),
    ),
    Stage(
        "balance",
        "curator balance --audits audits",
        (_a(artifacts.MANIFEST),),
        ("curator/stages/balance.py", "curator/checks/balance.py"),
        _own("balance"),
        _check_outs("balance"),
    ),
    Stage(
        "hash",
        "curator hash --data {data} --audits audits",
        ("{data}", _a(artifacts.MANIFEST)),
        (
            "curator/stages/hash.py",
            "curator/engine.py",
            "curator/io/uris.py",
            "curator/features/hashes.py",
        ),
        (*_own("hash"), "ingest.max_image_pixels"),
        (Out(_a(artifacts.HASHES)),),
    ),
    Stage(
        "properties",
        "curator properties --data {data} --audits audits",
        ("{data}", _a(artifacts.MANIFEST)),
        (
            "curator/stages/properties.py",
            "curator/checks/properties.py",
            "curator/features/properties.py",
            "curator/engine.py",
        ),
        (*_own("properties"), "ingest.max_image_pixels"),
        _check_outs("properties", Out(_a(artifacts.PROPERTIES))),
    ),
    Stage(
        "embed",
        "curator embed --data {data} --audits audits",
        ("{data}", _a(artifacts.MANIFEST)),
        (
            "curator/stages/embed.py",
            "curator/engine.py",
            "curator/io/uris.py",
            "curator/features/embeddings.py",
        ),
        (*_own("embed"), "ingest.max_image_pixels"),
        (Out(_a(artifacts.EMBEDDINGS_DIR)), Out(_a(artifacts.EMBED_SUMMARY), cache=False)),
    ),
    Stage(
        "shift",
        "curator shift --audits audits",
        (_a(artifacts.MANIFEST), _a(artifacts.PROPERTIES), _a(artifacts.EMBEDDINGS_DIR)),
        ("curator/stages/shift.py", "curator/evaluation/shift.py"),
        _own("shift"),
        (
            Out(_a(artifacts.SHIFT)),
            Out(_a(artifacts.SHIFT_SUMMARY), cache=False),
            Out(_a(artifacts.metrics("shift")), "metrics", cache=False),
        ),
    ),
    Stage(
        "duplicates",
        "curator duplicates --data {data} --audits audits",
        (
            "{data}",
            _a(artifacts.MANIFEST),
            _a(artifacts.HASHES),
            _a(artifacts.EMBEDDINGS_DIR),
        ),
        (
            "curator/stages/duplicates.py",
            "curator/checks/duplicates.py",
            "curator/checks/same_photo.py",
            "curator/features/edges.py",
            "curator/features/edits.py",
            "curator/features/neighbors.py",
        ),
        (*_own("duplicates"), "ingest.max_image_pixels"),
        _check_outs("duplicates", Out(_a(artifacts.DUPLICATES)), Out(_a(artifacts.LEAKAGE))),
    ),
    Stage(
        "label_quality",
        "curator label-quality --data {data} --audits audits",
        (
            "{data}",
            _a(artifacts.MANIFEST),
            _a(artifacts.ANNOTATIONS),
            _a(artifacts.EMBEDDINGS_DIR),
        ),
        (
            "curator/stages/label_quality.py",
            "curator/checks/label_quality.py",
            "curator/checks/label_evidence.py",
            "curator/learn/image_cnn.py",
        ),
        (*_own("label_quality"), "ingest.max_image_pixels"),
        _check_outs(
            "label_quality", Out(_a(artifacts.PRED_PROBS)), Out(_a(artifacts.LABEL_ISSUES))
        ),
    ),
    Stage(
        "agreement",
        f"curator agreement --audits audits --image-probs {_a(artifacts.PRED_PROBS)}",
        (_a(artifacts.MANIFEST), _a(artifacts.ANNOTATIONS), _a(artifacts.PRED_PROBS)),
        (
            "curator/checks/consensus.py",
            "curator/stages/agreement.py",
            "curator/checks/agreement.py",
        ),
        _own("agreement"),
        _check_outs("agreement", Out(_a(artifacts.ANNOTATORS)), Out(_a(artifacts.CONSENSUS))),
    ),
    Stage(
        "train",
        "curator train --data {data} --audits audits"
        + "".join(
            f" --findings audits/{artifacts.findings(s)}"
            for s in ("properties", "duplicates", "agreement", "label_quality")
        ),
        (
            "{data}",
            _a(artifacts.MANIFEST),
            _a(artifacts.EMBEDDINGS_DIR),
            _a(artifacts.EMBED_SUMMARY),
            _a(artifacts.DUPLICATES),
            _a(artifacts.findings("properties")),
            _a(artifacts.findings("duplicates")),
            _a(artifacts.findings("agreement")),
            _a(artifacts.findings("label_quality")),
            _a(artifacts.LABEL_QUALITY_SUMMARY),
        ),
        (
            "curator/stages/train.py",
            "curator/learn/model.py",
            "curator/learn/finetune.py",
            "curator/io/versions.py",
        ),
        (
            *_own("train"),
            "balance.effective_number_beta",  # class_weights: balanced
            *EMBEDDER_KEYS,  # finetune: true loads the CLIP image tower
            "ingest.max_image_pixels",
        ),
        (Out(_a(artifacts.MODEL_DIR)), Out(_a(artifacts.PREDICTIONS))),
    ),
    Stage(
        "issues",
        "curator issues "
        + " ".join(_FINDINGS)
        + f" --out {_a(artifacts.ISSUES)} --review-queue {_a(artifacts.REVIEW_QUEUE)}"
        + f" --label-evidence {_a(artifacts.summary('label_quality'))}"
        + f" --manifest {_a(artifacts.MANIFEST)} --annotations {_a(artifacts.ANNOTATIONS)}",
        (
            *_FINDINGS,
            _a(artifacts.summary("label_quality")),
            _a(artifacts.MANIFEST),
            _a(artifacts.ANNOTATIONS),
        ),
        (
            "curator/checks/review_queue.py",
            "curator/stages/issues.py",
            "curator/review/corrections.py",
        ),
        (),
        (Out(_a(artifacts.ISSUES)), Out(_a(artifacts.REVIEW_QUEUE))),
    ),
    Stage(
        "evaluate",
        "curator evaluate --audits audits",
        (
            _a(artifacts.MANIFEST),
            _a(artifacts.EMBEDDINGS_DIR),
            _a(artifacts.MODEL_DIR),
            _a(artifacts.PREDICTIONS),
            _a(artifacts.ISSUES),
            _a(artifacts.LEAKAGE),
            _a(artifacts.CONSENSUS),
            _a(artifacts.PROPERTIES),
            _a(artifacts.SHIFT),
        ),
        (
            "curator/stages/evaluate.py",
            "curator/evaluation/subgroups.py",
            "curator/evaluation/fairness.py",
            "curator/evaluation/metrics.py",
        ),
        _own("evaluate"),
        (
            Out(_a(artifacts.SUBGROUPS)),
            Out(_a(artifacts.EVALUATED_GROUPS)),
            Out(_a(artifacts.EVALUATION), cache=False),
            Out(_a(artifacts.metrics("evaluate")), "metrics", cache=False),
            Out(_a(artifacts.CONFUSION_PLOT), cache=False),  # data behind the figures
            Out(_a(artifacts.GROUP_ACCURACY_PLOT), cache=False),
            Out(_a(artifacts.CALIBRATION_PLOT), cache=False),
        ),
    ),
    Stage(
        "errors",
        "curator errors --data {data} --audits audits",
        (
            "{data}",
            _a(artifacts.MODEL_DIR),
            _a(artifacts.PREDICTIONS),
            _a(artifacts.EVALUATION),
            _a(artifacts.EVALUATED_GROUPS),
        ),
        (
            "curator/stages/errors.py",
            "curator/evaluation/saliency.py",
            "curator/learn/model.py",
            "curator/features/embeddings.py",
        ),
        (
            *_own("errors"),
            "ingest.max_image_pixels",
            "embed.fallback_size",  # re-describes the occluded images as embed did
            *EMBEDDER_KEYS,  # the CLIP path loads the image tower
        ),
        (Out(_a(artifacts.ERRORS)), Out(_a(artifacts.ERRORS_SUMMARY), cache=False)),
    ),
    Stage(
        "report",
        "curator report --data {data} --audits audits --reports reports",
        (
            "{data}",
            _a(artifacts.INGEST_SUMMARY),
            _a(artifacts.BALANCE_SUMMARY),
            _a(artifacts.PROPERTIES_SUMMARY),
            _a(artifacts.EMBED_SUMMARY),
            _a(artifacts.SHIFT_SUMMARY),
            _a(artifacts.DUPLICATES_SUMMARY),
            _a(artifacts.DUPLICATES),
            _a(artifacts.AGREEMENT_SUMMARY),
            _a(artifacts.LABEL_QUALITY_SUMMARY),
            _a(artifacts.LABEL_ISSUES),
            _a(artifacts.ISSUES),
            _a(artifacts.REVIEW_QUEUE),
            _a(artifacts.MODEL_DIR),
            _a(artifacts.EVALUATION),
            _a(artifacts.ERRORS),
            _a(artifacts.ERRORS_SUMMARY),
        ),
        (
            "curator/reporting/caveats.py",
            "curator/reporting/context.py",
            "curator/reporting/model_card.py",
            "curator/reporting/numbers.py",
            "curator/reporting/plots.py",
            "curator/reporting/render.py",
            "curator/reporting/thumbnails.py",
            "curator/reporting/templates",
            "curator/reporting/schemas",
            "curator/evaluation/saliency.py",
            "curator/evaluation/fairness.py",
            "curator/checks/__init__.py",  # the checks' descriptions
            "curator/stages/report.py",
        ),
        (
            *_own("report"),
            "ingest.splits",
            "ingest.max_image_pixels",
            "evaluate.min_group_size",
        ),
        (
            Out("reports/dataset_audit.html", cache=False),
            Out("reports/model_card.html", cache=False),
            Out("reports/model_card.json", cache=False),
            *(
                Out(f"reports/figures/{name}.svg", "plots", cache=False)
                for name in ("class_counts", "group_accuracy", "confusion", "reliability")
            ),
        ),
    ),
)

HEADER = """\
# The audit pipeline{origin}
# Paths live here and are passed to the commands; thresholds live in params.yaml, and each
# stage lists the params keys it reads, so changing a value re-runs exactly the stages that
# read it. Findings tables go to audits/findings/<stage>.parquet and into the issues stage.
"""


def _out_entry(out: Out) -> Any:
    return out.path if out.cache else {out.path: {"cache": False}}


def render_dvc_yaml(data: str = "data", with_sources: bool = False) -> str:
    """dvc.yaml for a data folder ``data``; ``with_sources`` adds curator's own modules as
    dependencies (this repository's demo pipeline)."""
    stages: dict[str, Any] = {}
    for stage in STAGES:
        entry: dict[str, Any] = {
            "cmd": stage.cmd.format(data=data),
            "deps": [d.format(data=data) for d in stage.deps]
            + (list(stage.sources) if with_sources else []),
        }
        if stage.params:
            entry["params"] = list(stage.params)
        for kind in ("outs", "metrics", "plots"):
            entries = [_out_entry(o) for o in stage.outs if o.kind == kind]
            if entries:
                entry[kind] = entries
        stages[stage.name] = entry
    body = yaml.safe_dump({"stages": stages}, sort_keys=False, width=100)
    origin = (
        " of curator's own demo,\n# written by curator/pipeline.py (regenerate it; do not edit)."
        if with_sources
        else ", written by `curator init`."
    )
    return HEADER.format(origin=origin) + body


def render_params_yaml(
    columns: Mapping[str, Sequence[str]] | None = None,
    values: Mapping[str, str | None] | None = None,
) -> str:
    """The commented params.yaml curator ships, with the keys that name metadata columns
    (dotted key -> column names, e.g. {"balance.subgroups": ["site"]}) filled in, and scalar
    ``values`` set (dotted key -> a file name, or None for null), comments kept."""
    columns, values = dict(columns or {}), dict(values or {})
    text = (resources.files("curator") / "params.yaml").read_text()
    section, lines = "", []
    for line in text.splitlines(keepends=True):
        if header := re.match(r"(\w+):\s*$", line):
            section = header[1]
        entry = re.match(r"(  (\w+): )(\[\]|[^\s#]+)( *)(.*)", line, re.S)
        key = f"{section}.{entry[2]}" if entry else ""
        if entry and ((key in columns and entry[3] == "[]") or key in values):
            if key in columns:
                value = "[" + ", ".join(columns.pop(key)) + "]"
            else:
                given = values.pop(key)
                value = "null" if given is None else given
            pad = " " * max(1, len(entry[3]) + len(entry[4]) - len(value))
            line = entry[1] + value + (pad + entry[5] if entry[5].strip() else "\n")
        lines.append(line)
    if columns or values:
        raise ValueError(f"params.yaml has no such key: {', '.join(sorted({*columns, *values}))}")
    return "".join(lines)


def layout_values(folder: Path) -> dict[str, str | None]:
    """The ingest keys that match what the data folder holds, so ingest warns of nothing the
    folder never had: metadata.csv and annotations.csv only when present, and a manifest
    (a CSV or Parquet file with path, label and split columns) when there is no images/ tree."""
    values: dict[str, str | None] = {
        "ingest.metadata": "metadata.csv" if (folder / "metadata.csv").is_file() else None,
        "ingest.annotations": "annotations.csv" if (folder / "annotations.csv").is_file() else None,
    }
    if not (folder / "images").is_dir():
        for table in sorted([*folder.glob("*.csv"), *folder.glob("*.parquet")]):
            if table.name not in ("metadata.csv", "annotations.csv") and _is_manifest(table):
                values["ingest.manifest"] = table.name
                break
    return values


def _is_manifest(table: Path) -> bool:
    import pandas as pd

    try:
        header = (
            pd.read_parquet(table).columns
            if table.suffix == ".parquet"
            else pd.read_csv(table, nrows=0).columns
        )
    except (ValueError, OSError):
        return False
    return {"path", "label", "split"} <= set(header)


# shards of unfinished runs and the embedding cache; the page `dvc plots show` writes
GITIGNORE_ENTRIES = ("/.curator/", "/dvc_plots/")


def init_project(root: Path, data: str = "data", force: bool = False) -> list[str]:
    """Write dvc.yaml, params.yaml and .gitignore entries into the git + DVC repository
    ``root``, for the dataset folder ``data`` (relative to it). Returns what was written."""
    root = Path(root)
    if not (root / ".git").exists() or not (root / ".dvc").is_dir():
        raise CuratorError(
            f"{root.resolve()} is not a git + DVC repository: run `git init && dvc init` there "
            "first (curator init writes the pipeline into an existing repository)."
        )
    relative = PurePosixPath(data)
    if relative.is_absolute() or ".." in relative.parts or str(relative) in ("", "."):
        raise ConfigError(
            f"--data {data}: give the dataset folder relative to the repository, inside it "
            "(e.g. --data data)."
        )
    folder = root / relative
    values = layout_values(folder) if folder.is_dir() else {}
    files = {
        "dvc.yaml": render_dvc_yaml(str(relative)),
        "params.yaml": render_params_yaml(values=values),
    }
    existing = [name for name in files if (root / name).exists()]
    if existing and not force:
        raise CuratorError(
            f"{' and '.join(existing)} already exist in {root.resolve()}: keep them, or pass "
            "--force to replace them with curator's (your edits there are lost)."
        )
    for name, text in files.items():
        with atomic_path(root / name) as tmp:
            tmp.write_text(text)
    written = list(files)
    ignore = root / ".gitignore"
    text = ignore.read_text() if ignore.exists() else ""
    missing = [e for e in GITIGNORE_ENTRIES if e not in text.splitlines()]
    if missing:
        text += ("\n" if text and not text.endswith("\n") else "") + "\n".join(missing) + "\n"
        with atomic_path(ignore) as tmp:
            tmp.write_text(text)
        written.append(".gitignore")
    if not (root / artifacts.CORRECTIONS).exists():  # never replaced: it holds people's answers
        with atomic_path(root / artifacts.CORRECTIONS) as tmp:
            tmp.write_text(",".join(artifacts.CORRECTION_COLUMNS) + "\n")
        written.append(artifacts.CORRECTIONS)
    return written
