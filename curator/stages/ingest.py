"""Ingest stage: list, decode and describe every image; join metadata and annotations.

Writes ``manifest.parquet`` (one row per file, readable or not), ``annotations.parquet``,
``ingest.json`` and the integrity findings. The data folder is only ever read.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from curator import __version__, artifacts
from curator.checks import CheckInputs, run_check
from curator.checks.base import make_flags, require_metadata_columns
from curator.engine import ShardRun, run_sharded
from curator.errors import DataError
from curator.io.images import DecodedImage, decode_bytes
from curator.io.sources import (
    list_sources,
    read_annotations,
    read_metadata,
    read_table,
    safe_relpath,
)
from curator.io.tables import outputs_committed_together, write_json, write_parquet
from curator.io.uris import (
    UriList,
    data_root,
    is_url,
    join_uri,
    read_uri,
    root_key,
    stat_fingerprints,
    uri_exists,
)
from curator.params import Params
from curator.review import corrections as review_corrections

log = logging.getLogger(__name__)


def decode_uri(uri: str, max_image_pixels: int) -> dict[str, Any]:
    """Facts about one file as a flat dict; a file that cannot be read is a finding."""
    try:
        data = read_uri(uri)
    except OSError as exc:  # permissions, a file removed mid-run, an I/O error
        reason = exc.strerror or str(exc)
        return vars(DecodedImage(sample_id="", n_bytes=0, error=f"cannot read file: {reason}"))
    return vars(decode_bytes(data, max_image_pixels))


def decode_all(
    root: Path | str, rel_paths: pd.Series, params: Params
) -> tuple[pd.DataFrame, ShardRun]:
    """Decode every file (engine.name: local cores or Ray), shard by shard; input order kept."""
    p = params.ingest
    work = partial(decode_uri, max_image_pixels=p.max_image_pixels)
    uris = UriList(root, rel_paths)
    key = f"ingest|{root_key(root)}|{p.max_image_pixels}"
    facts, run = run_sharded(
        "ingest",
        uris,
        work,
        params.engine,
        Path(params.engine.work_dir),
        key,
        lambda start, stop: stat_fingerprints(uris[start:stop]),
        p.workers,
    )
    if facts.empty:
        facts = pd.DataFrame(columns=[f.name for f in fields(DecodedImage)])
    # one dtype per column whatever the shards held (a shard without errors has no strings)
    text = ["sample_id", "format", "mode", "pixel_sha256", "error"]
    return facts.astype(dict.fromkeys(text, "str")), run


def _optional_table(root: Path | str, rel: str | None, key: str) -> str | None:
    if rel is None:
        return None
    rel = safe_relpath(root, rel, f"params: {key}")  # never a file outside the data folder
    if not uri_exists(join_uri(root, rel)):
        log.warning(
            "%s: %s not found, so none is joined (set it to null to silence this)",
            key,
            join_uri(root, rel),
        )
        return None
    return rel


def metadata_columns(
    root: Path | str, files: pd.DataFrame, meta_rel: str | None, params: Params
) -> tuple[list, str]:
    """The metadata columns the manifest will carry (the listing's own extra columns and the
    header of ``meta_rel``, the resolved ingest.metadata), read without decoding a single image;
    and where they come from."""
    columns = [c for c in files.columns if c not in ("path", "split", "label")]
    sources = [params.ingest.manifest] if columns else []
    if meta_rel is not None:
        header = read_table(join_uri(root, meta_rel), "ingest.metadata").columns
        columns += [str(c) for c in header if c != "path" and c not in columns]
        sources.append(meta_rel)
    return columns, " and ".join(str(s) for s in sources) or "ingest.metadata (none found)"


def check_params_against_data(root: Path | str, params: Params) -> dict[str, Any]:
    """List the files (no decoding) and check every params key that names a metadata column:
    what `curator check` runs, and ingest before it decodes anything."""
    files = list_sources(root, params.ingest).files
    meta_rel = _optional_table(root, params.ingest.metadata, "ingest.metadata")
    columns, source = metadata_columns(root, files, meta_rel, params)
    checked = require_metadata_columns(params, columns, source)
    return {
        "n_files": len(files),
        "by_split": dict(Counter(files["split"])),
        "n_classes": int(files["label"].nunique()),
        "metadata_columns": columns,
        "keys_checked": checked,
    }


def build_manifest(root: Path | str, params: Params) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Return (manifest, annotations, facts for ingest.json)."""
    p = params.ingest
    listing = list_sources(root, p)
    files = listing.files
    meta_rel = _optional_table(root, p.metadata, "ingest.metadata")
    columns, source = metadata_columns(root, files, meta_rel, params)
    require_metadata_columns(params, columns, source)  # before minutes of decoding, not after
    facts, run = decode_all(root, files["path"], params)
    facts = facts.rename(columns={"n_bytes": "bytes"})
    facts = facts.astype({"bytes": "int64"})
    manifest = pd.concat([files[["path", "split", "label"]], facts], axis=1)
    manifest["readable"] = manifest["error"].isna()
    manifest = manifest.astype({"width": "Int64", "height": "Int64", "bytes": "int64"})
    extra = files.drop(columns=["path", "split", "label"])
    known = set(manifest["path"])
    info: dict[str, Any] = {"metadata_unmatched_rows": 0, "annotations_unmatched_rows": 0}
    if meta_rel is not None:
        meta = read_metadata(root, meta_rel, known)
        clash = sorted(set(meta.columns) & set(extra.columns) - {"path"})
        if clash:
            raise DataError(
                f"{join_uri(root, meta_rel)}: column(s) {', '.join(clash)} are also in the "
                "manifest; keep each metadata column in one file."
            )
        info["metadata_unmatched_rows"] = int((~meta["path"].isin(known)).sum())
        extra = pd.concat([files[["path"]], extra], axis=1).merge(meta, on="path", how="left")
        extra = extra.drop(columns="path")
    manifest = pd.concat([manifest, extra.reset_index(drop=True)], axis=1)
    annotations = pd.DataFrame(columns=["sample_id", "path", "annotator", "label"], dtype="string")
    ann_rel = _optional_table(root, p.annotations, "ingest.annotations")
    if ann_rel is not None:
        classes = set(manifest["label"])
        votes = read_annotations(root, ann_rel, known, classes, p.missing_label_values)
        info["annotations_unmatched_rows"] = int((~votes["path"].isin(known)).sum())
        annotations = votes.merge(manifest[["path", "sample_id"]], on="path", how="inner")
        annotations = annotations[["sample_id", "path", "annotator", "label"]]
    info |= {
        "engine": {"name": run.engine, "shards": run.n_shards, "resumed": run.n_resumed},
        "layout": listing.layout,
        "ignored_files": list(listing.ignored),
        "metadata_columns": [str(c) for c in extra.columns],
    }
    return manifest, annotations.reset_index(drop=True), info


def content_digest(manifest: pd.DataFrame) -> str:
    """SHA-256 over every audited file's path and content id: the version of the data this
    audit saw, whatever DVC's records say (the same files give the same digest anywhere)."""
    lines = sorted(
        f"{p}\t{s}\n" for p, s in zip(manifest["path"], manifest["sample_id"], strict=True)
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()


@outputs_committed_together()
def run(
    params: Params, data_dir: Path, audits_dir: Path, corrections: Path | None = None
) -> dict[str, Any]:
    """``corrections``: reviewers' answers (curator/review/corrections.py) to apply to the
    labels; the file is only read."""
    root = data_root(data_dir)
    if not is_url(root) and not Path(root).is_dir():
        state = "is not a folder" if Path(root).exists() else "does not exist"
        raise DataError(
            f"data folder {root} {state}; run `curator demo --out {root}` for the demo "
            "dataset, or point --data at your own."
        )
    manifest, annotations, info = build_manifest(root, params)
    result = run_check("integrity", CheckInputs(manifest=manifest), params)
    table = (
        review_corrections.read(corrections, set(manifest["label"].dropna()))
        if corrections is not None
        else review_corrections.empty()
    )
    applied = review_corrections.apply(manifest, annotations, table, params.ingest.ci_level)
    manifest, annotations = applied.manifest, applied.annotations
    flags = pd.concat([result.flags, make_flags(applied.findings)], ignore_index=True)
    readable = manifest[manifest["readable"]]
    summary = {
        "data_dir": str(root),
        "n_files": len(manifest),
        "data_digest": content_digest(manifest),
        "n_readable": len(readable),
        "n_unreadable": len(manifest) - len(readable),
        "by_split": dict(Counter(readable["split"])),
        "by_format": dict(Counter(readable["format"])),
        "n_classes": int(readable["label"].nunique()),
        "classes": sorted(readable["label"].unique().tolist()),
        "n_unique_contents": int(manifest["sample_id"].nunique()),
        "n_annotation_votes": len(annotations),
        "n_annotators": int(annotations["annotator"].nunique()),
        **info,
        "integrity": result.summary,
        "corrections": {"file": None if corrections is None else str(corrections)} | applied.facts,
        "params": vars(params.ingest),
        "curator_version": __version__,
    }
    audits = Path(audits_dir)
    write_parquet(manifest, audits / artifacts.MANIFEST)
    write_parquet(annotations, audits / artifacts.ANNOTATIONS)
    write_parquet(flags, audits / artifacts.findings("ingest"))
    write_json(summary, audits / artifacts.INGEST_SUMMARY)
    write_json(result.metrics, audits / artifacts.metrics("ingest"))
    return summary
