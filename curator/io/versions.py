"""Which data a result came from: the md5 that DVC records for the data folder.

(Deliberately not the git commit: outputs that embed it change with every commit, so
`dvc repro` on a fresh clone could never reproduce the committed lock. DVC's lock file already
ties every output to the hashes of the code it was built from.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def data_version(data_dir: Path) -> dict[str, Any]:
    """``{"data_dvc_md5": ...}`` from ``<data_dir>.dvc`` (None when the folder is not tracked)."""
    data_dir = Path(data_dir)
    dvc_file = data_dir.with_name(data_dir.name + ".dvc")
    md5 = None
    if dvc_file.exists():
        outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
        md5 = outs[0].get("md5")
    return {"data_dvc_md5": md5}
