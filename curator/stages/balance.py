"""Balance stage: class and subgroup statistics from the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curator import artifacts
from curator.checks import CheckInputs, run_check
from curator.io.tables import read_parquet, write_json, write_parquet
from curator.params import Params


def run(params: Params, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    result = run_check("balance", CheckInputs(manifest=manifest), params)
    write_parquet(result.flags, audits / artifacts.findings("balance"))
    write_json(result.summary | {"params": result.params}, audits / artifacts.BALANCE_SUMMARY)
    write_json(result.metrics, audits / artifacts.metrics("balance"))
    return result.summary
