"""One review round: push images with their evidence to reviewers, pull their answers into the
corrections file. What `curator review push` and `curator review pull` run.

The images pushed are the top of the review queue, or any list of paths (a saved view exported,
the stale answers of the last round). Pulling hashes each answered image as it is now, so an
answer about bytes that have since changed is set aside, not applied to a different picture.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from curator import artifacts
from curator.errors import DataError
from curator.io.tables import read_parquet
from curator.io.uris import join_uri, read_uri
from curator.review import app_tool, corrections, errors_left, file_tool, label_studio


def _optional(path: Path) -> pd.DataFrame | None:
    return read_parquet(path, "dvc repro") if path.exists() else None


def select(
    audits: Path,
    top: int | None,
    paths: list[str] | None,
    random: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """The rows to push, each saying how it was ``drawn``: the queue's first ``top`` (the
    whole queue when neither ``top``, ``paths`` nor ``random`` is given), or the images of
    ``paths`` in their order; then ``random`` images drawn uniformly (``seed``) from the readable
    images no one has reviewed and not pushed here: the sample that estimates the wrong labels
    left (errors_left.py)."""
    queue = read_parquet(audits / artifacts.REVIEW_QUEUE, "curator issues")
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    if paths is not None:
        rows = _by_paths(queue, manifest, paths)
    elif top is not None or not random:
        rows = (queue.head(top) if top is not None else queue).assign(drawn="queue")
    else:
        rows = queue.head(0).assign(drawn="queue")
    if not random:
        return rows
    unreviewed = manifest["readable"] & ~manifest["path"].isin(rows["path"])
    if "review" in manifest:
        unreviewed &= manifest["review"] == ""
    pool = manifest.loc[unreviewed, "path"].sort_values()
    if len(pool) < random:
        raise DataError(
            f"--random {random}: only {len(pool)} readable images are unreviewed and not "
            "pushed here; ask for fewer."
        )
    drawn = np.random.default_rng(seed).choice(pool.to_numpy(), size=random, replace=False)
    sample = pd.DataFrame({"path": drawn}).merge(queue, on="path", how="left")
    sample = sample.assign(
        drawn="random",
        evidence=errors_left.random_evidence(len(pool)),
        reasons=f"drawn at random (seed {seed}) from the {len(pool)} images no one has "
        "reviewed, to estimate the wrong labels left",
        signals=sample["signals"].fillna(""),
    )
    return pd.concat([rows, sample], ignore_index=True)


def read_paths(listing: Path, data_root: str) -> list[str]:
    """The images a file names: one path per line, or a CSV with a ``path`` column or a
    ``filepath`` column of absolute paths (what `curator export --format csv` writes from a
    saved view of the app); paths under ``data_root`` become relative to it."""
    if listing.suffix.lower() != ".csv":
        return [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    table = pd.read_csv(listing, dtype=str, keep_default_na=False)
    if "path" in table:
        return table["path"].tolist()
    if "filepath" not in table:
        raise DataError(
            f"{listing}: a CSV of images needs a 'path' column (relative to the data folder) "
            "or a 'filepath' column (as `curator export --format csv` writes)."
        )
    root = Path(data_root).resolve()
    out = []
    for line, name in enumerate(table["filepath"], start=2):
        try:
            out.append(Path(name).resolve().relative_to(root).as_posix())
        except ValueError as exc:
            raise DataError(
                f"{listing} line {line}: {name} is not under the data folder {root}; export "
                "the view from an audit of this data, or pass --data."
            ) from exc
    return out


def _by_paths(queue: pd.DataFrame, manifest: pd.DataFrame, paths: list[str]) -> pd.DataFrame:
    """The queue rows of ``paths`` in their order; an image not in the queue gets a row with
    no evidence (a person asked for it)."""
    unknown = sorted(set(paths) - set(manifest["path"]))
    if unknown:
        raise DataError(
            f"{len(unknown)} path(s) to push are not in the audited data, e.g. {unknown[0]!r}; "
            "give paths relative to the data folder, as audits/manifest.parquet lists them."
        )
    listed = pd.DataFrame({"path": list(dict.fromkeys(paths))})
    rows = listed.merge(queue, on="path", how="left").assign(drawn="paths")
    return rows.fillna({"signals": "", "reasons": "asked for by path", "evidence": ""})


@dataclass
class Server:
    """A Label Studio server to push to: its URL and API key, and where it finds the images
    (``image_url``/path; None: its own local files, as a server `curator review serve`
    started serves the data folder)."""

    url: str
    api_key: str
    image_url: str | None = None


def server(url: str | None, api_key: str | None, image_url: str | None) -> Server:
    """The server to push to: ``url`` with ``api_key``, or the one `curator review serve`
    started here (its URL and key from its state file)."""
    if url is None:
        state = label_studio.local_state(LOCAL_STATE)
        if state is None:
            raise DataError(
                "no Label Studio server given and none started here: pass --url and --api-key "
                "(or CURATOR_LABEL_STUDIO_API_KEY), or start one with `curator review serve`."
            )
        url = state["url"]
    return Server(url, api_key or _local_key(url), image_url)


@dataclass
class Pushed:
    out: Path
    n_tasks: int
    project: int | None = None


def classes_of(manifest: pd.DataFrame) -> list[str]:
    """Every class the data has, before and after corrections."""
    labels = set(manifest["label"].dropna())
    if "original_label" in manifest:
        labels |= set(manifest["original_label"].dropna())
    return sorted(labels)


def push(
    audits: Path,
    data_root: str,
    out: Path,
    rows: pd.DataFrame,
    force: bool,
    server: Server | None = None,
    app_dataset: str | None = None,
) -> Pushed:
    """Send ``rows`` to reviewers: a tasks file at ``out``, or a Label Studio project
    (``server``) or the FiftyOne dataset ``app_dataset`` whose push record is ``out``. An
    existing ``out`` (maybe half answered) is replaced only with ``force``."""
    if out.exists() and not force:
        raise DataError(
            f"{out} already exists and may hold answers: pull it first "
            f"(`curator review pull --answers {out}`), or pass --force to replace it."
        )
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    table = file_tool.tasks(
        _with_votes(rows, _optional(audits / artifacts.ANNOTATIONS)),
        manifest,
        _optional(audits / artifacts.LABEL_ISSUES),
        _optional(audits / artifacts.CONSENSUS),
        _optional(audits / artifacts.DUPLICATES),
        str(data_root),
    )
    if app_dataset is not None:
        n = app_tool.push(table, app_dataset, str(data_root), out, classes_of(manifest))
        return Pushed(out, n)
    if server is None:
        file_tool.write_tasks(table, out)
        return Pushed(out, len(table))
    client = label_studio.Client(server.url, server.api_key)
    record = label_studio.push(
        client,
        table,
        classes_of(manifest),
        f"curator {out.stem}",
        server.image_url,
        str(Path(data_root).resolve()),
    )
    record.write(out)
    return Pushed(out, len(table), record.project)


def _with_votes(rows: pd.DataFrame, annotations: pd.DataFrame | None) -> pd.DataFrame:
    """Each task's evidence names the annotators' votes it shows (their consensus): those
    votes, seen by the reviewer, do not send the image back to the queue later."""
    votes = {} if annotations is None else corrections.annotator_votes(annotations).to_dict()
    evidence = [
        ";".join(
            sorted(
                {t for t in str(e).split(";") if t and not t.startswith(artifacts.VOTES_EVIDENCE)}
                | {artifacts.votes_token(votes.get(p, 0))}
            )
        )
        for p, e in zip(rows["path"], rows["evidence"].fillna(""), strict=True)
    ]
    return rows.assign(evidence=evidence)


@dataclass
class Pulled:
    corrections: Path
    n_added: int
    n_already: int
    n_open: int
    set_aside: list[str] = field(default_factory=list)


def current_ids(data_root: str, paths: pd.Series) -> pd.Series:
    """Each path's SHA-256 as the file is now (NA when it is gone): the manifest may be older
    than the reviewer's answer."""
    ids = {}
    for path in paths.unique():
        try:
            ids[path] = hashlib.sha256(read_uri(join_uri(data_root, path))).hexdigest()
        except OSError:
            ids[path] = pd.NA
    return paths.map(ids)


def pull(
    audits: Path,
    data_root: str,
    answers_file: Path,
    corrections_file: Path,
    api_key: str | None = None,
    reviewer: str | None = None,
) -> Pulled:
    """Add the answers behind ``answers_file`` (a tasks file, or a Label Studio or app push
    record) to ``corrections_file`` (atomically; answers already there are not added again).
    Answers about bytes that are no longer the file's are set aside, one line each. ``reviewer``
    names who answered in the app (it has no accounts)."""
    classes = set(classes_of(read_parquet(audits / artifacts.MANIFEST, "curator ingest")))
    tool = _record_tool(answers_file)
    if tool == app_tool.TOOL:
        record = json.loads(answers_file.read_text())
        got = app_tool.answers(record, str(answers_file), classes, reviewer or getpass.getuser())
    elif tool is not None:
        record = label_studio.Record.read(answers_file)
        client = label_studio.Client(record.url, api_key or _local_key(record.url))
        got = label_studio.answers(client, record, str(answers_file), classes)
    else:
        got = file_tool.answers(answers_file, classes)
    table = got.table
    now = current_ids(data_root, table["path"])
    keep = (now == table["sample_id"]).fillna(False).astype(bool)
    set_aside = got.gone + [
        f"{answers_file} {name} (task {table.at[name, 'task']}): "
        + ("the image is no longer in the data" if pd.isna(now[name]) else "its bytes changed")
        + " since the push; push it again to review it as it is"
        for name in table.index[~keep]
    ]
    existing = corrections.read(corrections_file, classes)
    merged, added, already = corrections.merge(existing, table[keep].reset_index(drop=True))
    if added:
        corrections.write(merged, corrections_file)
    return Pulled(corrections_file, added, already, got.n_open, set_aside)


def _record_tool(path: Path) -> str | None:
    """The tool a push record names (None: a tasks file a reviewer edited)."""
    if path.suffix != ".json":
        return None
    try:
        return str(json.loads(path.read_text()).get("tool", "label-studio"))
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(
            f"{path}: not a push record curator wrote ({type(exc).__name__}: {exc}); pull the "
            "file `curator review push` wrote."
        ) from exc


LOCAL_STATE = Path(".curator/label-studio")  # `curator review serve` keeps its server here


def _local_key(url: str) -> str:
    state = label_studio.local_state(LOCAL_STATE)
    if state is None or state["url"] != url:
        raise DataError(
            f"no API key for Label Studio at {url}: pass --api-key or set "
            "CURATOR_LABEL_STUDIO_API_KEY (your personal access token, Account & Settings)."
        )
    return state["api_key"]
