"""An audit as it was: a folder of stage outputs, or the audits folder of a git revision or a
DVC experiment, read through DVC (parquet tables from its cache, JSON summaries from git).

`curator diff` compares two of these. Reading a revision never checks it out: the workspace,
the data folder and the user's uncommitted work stay as they are.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from curator import artifacts
from curator.errors import CuratorError, MissingArtifactError

# what a diff needs of each audit: the tables and summaries it compares
REQUIRED = (artifacts.MANIFEST, artifacts.ISSUES)
MODEL = (artifacts.EVALUATION, artifacts.PREDICTIONS, artifacts.EVALUATED_GROUPS)


@dataclass(frozen=True)
class Audit:
    """The outputs of one audit; the model's are None when that audit did not evaluate one."""

    name: str  # as the user named it
    where: str  # what it resolved to: a folder, or a commit
    manifest: pd.DataFrame
    issues: pd.DataFrame
    evaluation: dict[str, Any] | None
    predictions: pd.DataFrame | None
    groups: pd.DataFrame | None
    ingest: dict[str, Any] | None


def open_audit(spec: str, repo: Path = Path("."), audits_dir: str = "audits") -> Audit:
    """``spec``: a folder holding an audit (its manifest.parquet, or an ``audits_dir`` inside
    it), else a git revision or DVC experiment name of the repository at ``repo``."""
    folder = Path(spec)
    if folder.is_dir():
        for candidate in (folder, folder / audits_dir):
            if (candidate / artifacts.MANIFEST).is_file():
                return _read(spec, f"folder {candidate}", _folder_reader(candidate))
        raise MissingArtifactError(
            f"{spec} is a folder but holds neither {artifacts.MANIFEST} nor "
            f"{audits_dir}/{artifacts.MANIFEST}: name an audits folder, or a git revision."
        )
    sha, read = _revision_reader(spec, repo, audits_dir)
    return _read(spec, f"commit {sha[:9]}", read)


def _read(spec: str, where: str, reader: Callable[[str], bytes | None]) -> Audit:
    read = functools.cache(reader)

    def table(name: str) -> pd.DataFrame | None:
        raw = read(name)
        return None if raw is None else pd.read_parquet(io.BytesIO(raw))

    def doc(name: str) -> dict[str, Any] | None:
        raw = read(name)
        return None if raw is None else json.loads(raw)

    missing = [name for name in REQUIRED if read(name) is None]
    if missing:
        raise MissingArtifactError(
            f"{spec} ({where}) has no {', '.join(missing)}: that audit never ran ingest and "
            "issues (run `dvc repro` there), or its outputs were not committed "
            "(`git add dvc.lock audits` after `dvc repro`)."
        )
    model = [table(n) if n.endswith(".parquet") else doc(n) for n in MODEL]
    if any(part is None for part in model):
        model = [None, None, None]
    evaluation, predictions, groups = model
    return Audit(
        name=spec,
        where=where,
        manifest=table(artifacts.MANIFEST),  # type: ignore[arg-type]
        issues=table(artifacts.ISSUES),  # type: ignore[arg-type]
        evaluation=evaluation,  # type: ignore[arg-type]
        predictions=predictions,  # type: ignore[arg-type]
        groups=groups,  # type: ignore[arg-type]
        ingest=doc(artifacts.INGEST_SUMMARY),
    )


def _folder_reader(folder: Path) -> Callable[[str], bytes | None]:
    def read(name: str) -> bytes | None:
        path = folder / name
        return path.read_bytes() if path.is_file() else None

    return read


def _revision_reader(
    spec: str, repo: Path, audits_dir: str
) -> tuple[str, Callable[[str], bytes | None]]:
    """The commit ``spec`` names (a branch, tag, sha, ``HEAD~1`` or an experiment's name) and a
    reader of its audit files; a file that revision does not have reads as None."""
    from dvc.api import DVCFileSystem
    from dvc.exceptions import DvcException, NotDvcRepoError
    from dvc.repo import Repo
    from dvc.scm import RevError, resolve_rev

    try:
        with Repo(str(repo)) as dvc_repo:
            sha = resolve_rev(dvc_repo.scm, spec)
    except NotDvcRepoError as exc:
        raise MissingArtifactError(
            f"{spec} is not a folder, and {repo.resolve()} is not a DVC repository whose "
            "revisions it could name: give two audits folders, or run in your repository."
        ) from exc
    except RevError as exc:
        raise MissingArtifactError(
            f"{spec} is neither a folder nor a git revision or DVC experiment of "
            f"{repo.resolve()} ({exc}); `git log --oneline` and `dvc exp list` show the names."
        ) from exc
    fs = DVCFileSystem(str(repo), rev=sha)

    def read(name: str) -> bytes | None:
        path = f"{audits_dir}/{name}"
        if not fs.exists(path):
            return None
        try:
            return fs.read_bytes(path)
        except (FileNotFoundError, DvcException) as exc:
            raise CuratorError(
                f"{spec} (commit {sha[:9]}): {path} is tracked but its content is not in the "
                f"DVC cache ({exc}); fetch it with `dvc fetch --all-commits` or `dvc exp pull "
                f"<remote> {spec}`, or compare two audits folders instead."
            ) from exc

    return sha, read
