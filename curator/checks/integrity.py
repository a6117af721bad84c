"""Integrity: files that are listed but cannot be used as images.

Ingest decodes every file fully and records why a file failed; this check turns those reasons
into findings so a corrupt image is a row in the audit, never a silent drop or a crash.
"""

from __future__ import annotations

from curator.checks.base import CheckInputs, CheckResult, make_flags


def run(inputs: CheckInputs) -> CheckResult:
    manifest = inputs.manifest
    bad = manifest[~manifest["readable"]]
    rows = [
        {
            "sample_id": r.sample_id,
            "path": r.path,
            "issue": "corrupt",
            "score": 1.0,
            "detail": r.error,
        }
        for r in bad.itertuples()
    ]
    n = len(manifest)
    summary = {
        "n_files": n,
        "n_unreadable": len(bad),
        "unreadable_rate": len(bad) / n if n else 0.0,
        "unreadable_by_split": {str(k): int(v) for k, v in bad.groupby("split").size().items()},
    }
    metrics = {"unreadable": summary["n_unreadable"]}
    return CheckResult("integrity", make_flags(rows), summary, metrics)
