"""Which data a result came from: the md5 that DVC records for the data folder.

(Deliberately not HEAD's git commit: outputs that embed it change with every commit, so
`dvc repro` on a fresh clone could never reproduce the committed lock. DVC's lock file already
ties every output to the hashes of the code it was built from. Reports name the commit that last
changed data.dvc instead, which is stable.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml


def data_version(data_dir: Path | str) -> dict[str, Any]:
    """``{"data_dvc_md5": ...}`` from ``<data_dir>.dvc`` (None when the folder is not tracked)."""
    data_dir = Path(data_dir)
    dvc_file = data_dir.with_name(data_dir.name + ".dvc")
    md5 = None
    if dvc_file.exists():
        outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
        md5 = outs[0].get("md5")
    return {"data_dvc_md5": md5}


def data_commit(data_dir: Path | str) -> dict[str, Any]:
    """The git commit that last changed ``<data_dir>.dvc``, its date, and whether the file has
    changed since. Stable across clones and re-runs (unlike HEAD, which every commit moves), so
    a report that names it stays byte-identical until the data version itself changes."""
    dvc_file = Path(data_dir).with_name(Path(data_dir).name + ".dvc")
    cwd = dvc_file.parent.resolve()

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    found = git("log", "-1", "--format=%H %cs", "--", dvc_file.name) if dvc_file.exists() else None
    if not found:
        return {"commit": None, "date": None, "dvc_file_modified": None}
    commit, date = found.split()
    status = git("status", "--porcelain", "--", dvc_file.name)
    return {"commit": commit, "date": date, "dvc_file_modified": bool(status)}
