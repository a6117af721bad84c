"""The registry of checks: name -> entry point and the params section it reads.

Adding a check means one module in this package and one line below. The registry is a
read-only mapping so no caller can change it behind another's back.
"""

from __future__ import annotations

from types import MappingProxyType

from curator.checks import agreement, balance, duplicates, integrity, label_quality, properties
from curator.checks.base import Check, CheckInputs, CheckResult
from curator.errors import ConfigError

REGISTRY = MappingProxyType(
    {
        c.name: c
        for c in (
            Check("integrity", integrity.run, None, "files that cannot be decoded as images"),
            Check("balance", balance.run, "balance", "class imbalance and subgroup representation"),
            Check("properties", properties.run, "properties", "dark, blurry, blank, odd-sized"),
            Check("duplicates", duplicates.run, "duplicates", "exact/near duplicates and leakage"),
            Check("agreement", agreement.run, "agreement", "annotator agreement and consensus"),
            Check("label_quality", label_quality.run, "label_quality", "likely label errors"),
        )
    }
)


def run_check(name: str, inputs: CheckInputs, params: object) -> CheckResult:
    """Run a registered check with its params section taken from the full ``Params``."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown check {name!r}; known: {', '.join(REGISTRY)}")
    check = REGISTRY[name]
    if check.params_section is None:
        return check.run(inputs)
    return check.run(inputs, getattr(params, check.params_section))


__all__ = ["REGISTRY", "Check", "CheckInputs", "CheckResult", "run_check"]
