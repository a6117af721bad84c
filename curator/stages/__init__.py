"""One module per dvc.yaml stage; each exposes ``run(params, paths...)``."""

from __future__ import annotations

from pathlib import Path

from curator import artifacts
from curator.checks.base import CheckResult
from curator.io.tables import write_json, write_parquet


def write_check_result(result: CheckResult, audits: Path, stage: str) -> None:
    """The three outputs every checking stage writes, named by the stage: findings/<stage>.parquet,
    <stage>.json (summary + params) and metrics/<stage>.json."""
    write_parquet(result.flags, audits / artifacts.findings(stage))
    write_json(result.summary | {"params": result.params}, audits / artifacts.summary(stage))
    write_json(result.metrics, audits / artifacts.metrics(stage))
