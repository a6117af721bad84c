"""Which data and which code a result came from: the DVC hash of the data and the git commit."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml


def data_version(data_dir: Path) -> dict[str, Any]:
    """The md5 that ``<data_dir>.dvc`` records (if any) and the current git commit (if any)."""
    data_dir = Path(data_dir)
    dvc_file = data_dir.with_name(data_dir.name + ".dvc")
    md5 = None
    if dvc_file.exists():
        outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
        md5 = outs[0].get("md5")
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=data_dir.parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        commit = done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        commit = None
    return {"data_dvc_md5": md5, "git_commit": commit}
