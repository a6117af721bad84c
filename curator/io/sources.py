"""Find the images of a dataset and the tables that describe them.

Two layouts are accepted: an ImageFolder tree (``<images_dir>/<split>/<class>/<file>``) or a
CSV/Parquet manifest (``path,label,split`` plus any metadata columns). Optional metadata and
annotation tables join by ``path`` (relative to the data folder). Anything that cannot be used
is either refused with the file, line and fix, or listed (never silently dropped).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from curator.errors import DataError
from curator.io.uris import (
    Location,
    data_root,
    is_url,
    join_uri,
    missing_files,
    read_uri,
    uri_exists,
)
from curator.params import IngestParams

log = logging.getLogger(__name__)

# How a missing metadata value is shown. An image whose value is unknown belongs to no group of
# that column: it never competes in representation, shares or fairness, and is counted apart.
UNKNOWN = "(unknown)"


def known_values(column: pd.Series) -> pd.Series:
    """A metadata column as text, with missing and blank cells as <NA> (no group)."""
    values = column.astype("string")
    return values.mask(values.str.strip() == "")


# Columns the manifest owns; metadata may not reuse these names.
RESERVED_COLUMNS = (
    "sample_id",
    "path",
    "split",
    "label",
    "width",
    "height",
    "format",
    "mode",
    "bytes",
    "pixel_sha256",
    "readable",
    "error",
)
ANNOTATION_COLUMNS = ("annotator", "label")


@dataclass(frozen=True)
class SourceListing:
    """The files to ingest, in a stable order, plus what was seen and skipped."""

    files: pd.DataFrame  # path, split, label, [manifest metadata columns]
    ignored: tuple[str, ...]
    layout: str


def _inside(root: Path, rel: str) -> bool:
    return (root / rel).resolve().is_relative_to(root.resolve())


def safe_relpath(root: Location, raw: str, where: str) -> str:
    """Normalise ``raw``, a path someone wrote in a table or params, to a POSIX path relative to
    ``root`` (a backslash is a Windows separator there; in a name the filesystem gives it is
    part of the name, so listings never come through here); refuse one that leaves ``root``."""
    text = str(raw).strip().replace("\\", "/")
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or ".." in pure.parts:
        raise DataError(
            f"{where}: path {raw!r} is not inside the data folder {root}; "
            "use a path relative to the data folder, without '..'."
        )
    if is_url(root):  # no symlinks in an object store: the pure-path checks above suffice
        return pure.as_posix()
    if not _inside(Path(root), pure.as_posix()):
        raise DataError(
            f"{where}: {raw!r} resolves to {(Path(root) / pure).resolve()}, outside the data "
            f"folder {root} "
            "(a symlink?); copy the file into the data folder instead."
        )
    return pure.as_posix()


def _line(i: int) -> int:
    """1-based file line of the i-th data row of a CSV with a header line."""
    return i + 2


def read_table(path: Location, what: str) -> pd.DataFrame:
    """Read a CSV or Parquet table (a path or a URL) with every cell as text (labels like
    '007' stay intact)."""
    if not uri_exists(path):
        raise DataError(f"{what} {path} does not exist; fix the path in params.yaml ({what}).")
    try:
        source = io.BytesIO(read_uri(str(path))) if is_url(path) else path
        if str(path).lower().endswith((".parquet", ".pq")):
            table = pd.read_parquet(source).astype("string").fillna("")
        else:
            table = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(
            f"{path}: cannot be read as a table ({exc}); save it as UTF-8 CSV."
        ) from exc
    table.attrs["source"] = str(path)  # for messages about its rows, wherever they are checked
    return table


def _require_columns(df: pd.DataFrame, columns: tuple[str, ...], path: Location) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(df.columns)}); "
            f"the header must name {', '.join(columns)}."
        )


def _require_cells(df: pd.DataFrame, columns: tuple[str, ...], path: Location) -> None:
    for col in columns:
        empty = df.index[df[col].str.strip() == ""]
        if len(empty):
            raise DataError(f"{path} line {_line(empty[0])}: column '{col}' is empty; fill it in.")


def _require_labels(
    df: pd.DataFrame, column: str, path: Location, missing: tuple[str, ...], what: str
) -> None:
    """Refuse labels that would silently become classes of their own: ' 0 ' beside '0', and
    missing values exported as text ('NaN', 'None', ...: ingest.missing_label_values)."""
    values = df[column]
    padded = df.index[values != values.str.strip()]
    if len(padded):
        i = padded[0]
        raise DataError(
            f"{path} line {_line(i)}: {what} {values[i]!r} has spaces around it and would be a "
            f"class apart from {values[i].strip()!r}; remove the spaces."
        )
    missing_like = df.index[values.str.lower().isin({m.lower() for m in missing})]
    if len(missing_like):
        i = missing_like[0]
        raise DataError(
            f"{path} line {_line(i)}: {what} {values[i]!r} reads as a missing value, not a "
            "class; fill it in or drop the row (or, if it is a class name, take it out of "
            "ingest.missing_label_values)."
        )


def walk_files(base: Path) -> Iterator[tuple[str, str | None]]:
    """Every file under ``base`` in sorted order, as (path relative to ``base``, why it cannot
    be listed or None). Symlinked folders are followed (each real folder once, so a link cycle
    ends; the caller keeps only what resolves inside the data folder); a name that is not
    UTF-8 is given with its bytes escaped."""
    seen = {os.path.realpath(base)}
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            real = os.path.realpath(os.path.join(dirpath, d))
            if real not in seen:
                seen.add(real)
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = (Path(dirpath) / name).relative_to(base).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                printable = os.fsencode(rel).decode("utf-8", "backslashreplace")
                yield printable, "its name is not UTF-8: rename it"
            else:
                yield rel, None


def list_imagefolder(root: Path, params: IngestParams) -> SourceListing:
    """Walk ``<images_dir>/<split>/<class>/<file>`` in sorted order."""
    images_dir = safe_relpath(root, params.images_dir, "params: ingest.images_dir")
    base = root / images_dir
    if not base.is_dir():
        raise DataError(
            f"{base} is not a folder; put images in {images_dir}/<split>/<class>/<file> "
            "or set ingest.manifest in params.yaml."
        )
    rows, ignored, unusable, outside = [], [], [], []
    extensions = {e.lower() for e in params.extensions}
    for name, why_not in walk_files(base):
        rel = f"{images_dir}/{name}"
        parts = PurePosixPath(name).parts
        if why_not:
            unusable.append(rel)
            log.warning("cannot use %s: %s", rel, why_not)
            continue
        hidden_or_other = parts[-1].startswith(".") or Path(name).suffix.lower() not in extensions
        if hidden_or_other or len(parts) != 3:  # not <split>/<class>/<image>
            ignored.append(rel)
            continue
        split, label, _ = parts
        if split not in params.splits:
            raise DataError(
                f"{base / split}: split folder '{split}' is not one of {list(params.splits)}; "
                "rename the folder or add it to ingest.splits."
            )
        if not _inside(root, rel):
            outside.append(rel)
            continue
        rows.append({"path": rel, "split": split, "label": label})
    if not rows:
        raise DataError(f"{base} holds no images with extensions {sorted(extensions)}.")
    if ignored:
        log.warning(
            "ignored %d file(s) that are not <split>/<class>/<image>: %s%s",
            len(ignored),
            ", ".join(ignored[:3]),
            " ..." if len(ignored) > 3 else "",
        )
    if outside:
        log.warning(
            "ignored %d file(s) that resolve outside the data folder %s (symlinks; copy them in "
            "to audit them): %s",
            len(outside),
            root,
            ", ".join(outside[:3]),
        )
    return SourceListing(pd.DataFrame(rows), tuple(ignored + unusable + outside), "imagefolder")


def list_manifest(root: Location, manifest: str, params: IngestParams) -> SourceListing:
    """Read a ``path,label,split`` manifest; every row is checked and errors name the line."""
    path = data_root(join_uri(root, safe_relpath(root, manifest, "params: ingest.manifest")))
    df = read_table(path, "ingest.manifest")
    _require_columns(df, ("path", "label", "split"), path)
    if df.empty:
        raise DataError(
            f"{path} lists no images (a header and no rows); add one row per image: "
            "path,label,split."
        )
    _require_cells(df, ("path", "label", "split"), path)
    _require_labels(df, "label", path, params.missing_label_values, "label")
    bad_split = df.index[~df["split"].isin(params.splits)]
    if len(bad_split):
        i = bad_split[0]
        raise DataError(
            f"{path} line {_line(i)}: split {df.at[i, 'split']!r} is not one of "
            f"{list(params.splits)}; fix the row or add the split to ingest.splits."
        )
    df["path"] = [
        safe_relpath(root, p, f"{path} line {_line(i)}") for i, p in enumerate(df["path"])
    ]
    dup = df.index[df["path"].duplicated()]
    if len(dup):
        first = df.index[df["path"] == df.at[dup[0], "path"]][0]
        raise DataError(
            f"{path} line {_line(dup[0])}: {df.at[dup[0], 'path']} is already listed on line "
            f"{_line(first)}; list each file once."
        )
    missing = set(missing_files(root, df["path"].tolist()))
    for i, rel in enumerate(df["path"]):
        if rel in missing:
            raise DataError(
                f"{path} line {_line(i)}: {rel} does not exist under {root}; "
                "fix the path or remove the row."
            )
    listed = set(df["path"])
    unlisted = () if is_url(root) else _unlisted_images(Path(root), listed, params.extensions)
    if unlisted:
        log.warning(
            "%s: %d image(s) in the data folder are not listed and are not audited: %s%s "
            "(all in ingest.json, ignored_files)",
            path,
            len(unlisted),
            ", ".join(unlisted[:3]),
            " ..." if len(unlisted) > 3 else "",
        )
    return SourceListing(df.sort_values("path", ignore_index=True), unlisted, "manifest")


def _unlisted_images(root: Path, listed: set[str], extensions: tuple[str, ...]) -> tuple:
    """Image files under ``root`` that a manifest does not list: reported, never dropped
    silently."""
    wanted = {e.lower() for e in extensions}
    return tuple(
        rel
        for rel, _ in walk_files(root)
        if not any(part.startswith(".") for part in PurePosixPath(rel).parts[:-1])
        and Path(rel).suffix.lower() in wanted
        and rel not in listed
    )


def list_sources(root: Location, params: IngestParams) -> SourceListing:
    if params.manifest and params.layout in ("auto", "manifest"):
        return list_manifest(root, params.manifest, params)
    if is_url(root):
        raise DataError(
            f"data root {root} is a URL: list its images in a manifest (path,label,split) and "
            "set ingest.manifest; listing a bucket as an ImageFolder tree is not supported."
        )
    return list_imagefolder(Path(root), params)


def read_metadata(root: Location, rel: str, known_paths: set[str]) -> pd.DataFrame:
    """Per-image metadata keyed by ``path``; columns may not shadow the manifest's own."""
    path = data_root(join_uri(root, rel))
    df = read_table(path, "ingest.metadata")
    _require_columns(df, ("path",), path)
    clash = [c for c in df.columns if c != "path" and c in RESERVED_COLUMNS]
    if clash:
        raise DataError(
            f"{path}: column(s) {', '.join(clash)} are reserved for the manifest; rename them."
        )
    df["path"] = [
        safe_relpath(root, p, f"{path} line {_line(i)}") for i, p in enumerate(df["path"])
    ]
    dup = df.index[df["path"].duplicated()]
    if len(dup):
        raise DataError(f"{path} line {_line(dup[0])}: {df.at[dup[0], 'path']} appears twice.")
    unmatched = int((~df["path"].isin(known_paths)).sum())
    if unmatched:
        log.warning("%s: %d row(s) name no ingested image", path, unmatched)
    return df


def read_annotations(
    root: Location, rel: str, known_paths: set[str], classes: set[str], missing: tuple[str, ...]
) -> pd.DataFrame:
    """Long-form votes ``path,annotator,label``: one row per annotator per image.

    A row with an empty label is an abstention: skipped and counted, not an error. A vote for a
    class no image carries is refused (a typo would otherwise become a class of its own).
    """
    path = data_root(join_uri(root, rel))
    df = read_table(path, "ingest.annotations")
    _require_columns(df, ("path", *ANNOTATION_COLUMNS), path)
    _require_cells(df, ("path", "annotator"), path)
    abstained = df["label"].str.strip() == ""
    if abstained.any():
        log.warning(
            "%s: %d vote(s) with an empty label skipped (abstentions)", path, int(abstained.sum())
        )
        df = df[~abstained]
    _require_labels(df, "label", path, missing, "vote")
    unknown = df.index[~df["label"].isin(classes)]
    if len(unknown):
        i = unknown[0]
        raise DataError(
            f"{path} line {_line(i)}: vote {df.at[i, 'label']!r} is not a class of the dataset "
            f"({', '.join(sorted(classes)[:10])}{' ...' if len(classes) > 10 else ''}); fix the "
            "vote or the image labels."
        )
    df["path"] = [
        safe_relpath(root, p, f"{path} line {_line(i)}") for i, p in enumerate(df["path"])
    ]
    dup = df.index[df.duplicated(["path", "annotator"])]
    if len(dup):
        raise DataError(
            f"{path} line {_line(dup[0])}: annotator {df.at[dup[0], 'annotator']!r} already voted "
            f"on {df.at[dup[0], 'path']}; keep one vote per annotator per image."
        )
    unmatched = int((~df["path"].isin(known_paths)).sum())
    if unmatched:
        log.warning("%s: %d vote(s) name no ingested image", path, unmatched)
    return df[["path", *ANNOTATION_COLUMNS]]
