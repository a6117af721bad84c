"""Which data a result came from: the md5 that DVC records for the data folder.

(Deliberately not HEAD's git commit: outputs that embed it change with every commit, so
`dvc repro` on a fresh clone could never reproduce the committed lock. DVC's lock file already
ties every output to the hashes of the code it was built from. Reports name the commit that last
changed data.dvc instead, which is stable.)
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml


def data_version(data_dir: Path | str) -> dict[str, Any]:
    """The md5 DVC records for the data folder in ``<data_dir>.dvc`` (None when the folder is
    not tracked), and whether that record describes the folder as it is: DVC's file count and
    total size against the folder's (a dataset copied over a tracked folder without `dvc add`
    keeps the old record; None when a .dvcignore rule makes the count unknowable)."""
    data_dir = Path(data_dir)
    dvc_file = data_dir.with_name(data_dir.name + ".dvc")
    if not dvc_file.exists():
        return {"data_dvc_md5": None, "dvc_file_describes_data": None}
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
    record = outs[0]
    return {
        "data_dvc_md5": record.get("md5"),
        "dvc_file_describes_data": _describes(data_dir, record.get("nfiles"), record.get("size")),
    }


def _describes(data_dir: Path, nfiles: int | None, size: int | None) -> bool | None:
    ignore = data_dir.parent / ".dvcignore"
    rules = ignore.exists() and any(
        line.strip() and not line.startswith("#") for line in ignore.read_text().splitlines()
    )
    if nfiles is None or size is None or rules or not data_dir.is_dir():
        return None
    n = total = 0
    for folder, _, names in os.walk(data_dir):
        for name in names:
            n += 1
            total += os.lstat(os.path.join(folder, name)).st_size
    return n == nfiles and total == size


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
