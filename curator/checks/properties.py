"""Image conditions: dark, overexposed, blurry, near-blank and oddly sized images.

Each readable image's properties (features/properties.py) are judged once per distinct content
and every path holding that content is flagged. dark and overexposed use absolute
thresholds (a property of the image); blurry and low_information compare an image's log
sharpness and entropy with the dataset's own median in robust standard deviations (1.4826 x
MAD; low_information also needs an entropy below an absolute floor), and odd_size its shorter
side and aspect with the dataset's medians, because these depend on what and how the dataset
captures. Every flag's detail gives the measured value and the threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator.artifacts import CONDITION_ISSUES
from curator.checks.base import CheckInputs, CheckResult, make_flags
from curator.features.properties import PROPERTY_NAMES
from curator.params import PropertiesParams

QUANTILES = (0.01, 0.1, 0.5, 0.9, 0.99)


def robust_z(values: np.ndarray, floor: float = 1e-6) -> tuple[np.ndarray, float, float]:
    """(values - median) / (1.4826 x MAD), the spread at least ``floor``; and the median and
    the spread (before the floor)."""
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    return (values - median) / max(spread, floor), median, spread


def _judge(items: pd.DataFrame, p: PropertiesParams) -> tuple[list[tuple], dict[str, Any]]:
    """(issue, row index, score, detail) for every condition found, and the references used."""
    found = []
    for i in np.flatnonzero(items["luma_p99"] < p.dark_max_luma_p99):
        v = items["luma_p99"].iat[i]
        detail = f"brightest 1% of pixels at {v:.2f} of full scale (< {p.dark_max_luma_p99})"
        found.append(("dark", i, 1 - v / p.dark_max_luma_p99, detail))
    for i in np.flatnonzero(items["luma_p01"] > p.overexposed_min_luma_p01):
        v = items["luma_p01"].iat[i]
        floor = p.overexposed_min_luma_p01
        detail = f"darkest 1% of pixels at {v:.2f} of full scale (> {floor})"
        found.append(("overexposed", i, (v - floor) / (1 - floor), detail))
    ez, entropy_median, _ = robust_z(items["entropy"].to_numpy())
    blank = (items["entropy"] < p.min_entropy).to_numpy() & (ez < -p.outlier_z)
    for i in np.flatnonzero(blank):
        v = items["entropy"].iat[i]
        detail = (
            f"luma entropy {v:.2f} bits (< {p.min_entropy}; this dataset's median "
            f"{entropy_median:.2f}): nearly blank"
        )
        found.append(("low_information", i, 1 - v / max(entropy_median, 1e-6), detail))
    z, median, spread = robust_z(np.log(items["sharpness"].to_numpy() + 1e-6))
    for i in np.flatnonzero((z < -p.outlier_z) & ~blank):  # a blank image has no edges to blur
        detail = (
            f"sharpness {items['sharpness'].iat[i]:.3g}, {-z[i]:.1f} robust SDs below this "
            f"dataset's median {np.exp(median):.3g} (threshold {p.outlier_z})"
        )
        found.append(("blurry", i, min(1.0, -z[i] / (2 * p.outlier_z)), detail))
    side = np.minimum(items["width"], items["height"]).to_numpy(float)
    aspect = (items["width"] / items["height"]).to_numpy(float)
    median_side, median_aspect = float(np.median(side)), float(np.median(aspect))
    off = np.maximum(aspect / median_aspect, median_aspect / aspect)
    small = side < p.min_side_ratio * median_side
    for i in np.flatnonzero(small | (off > p.max_aspect_ratio)):
        w, h = int(items["width"].iat[i]), int(items["height"].iat[i])
        why = (
            f"shorter side {int(side[i])} px < {p.min_side_ratio} x the median {median_side:g}"
            if small[i]
            else f"aspect {aspect[i]:.2f} is {off[i]:.1f}x the median {median_aspect:.2f}"
        )
        score = 1 - side[i] / median_side if small[i] else 1 - p.max_aspect_ratio / off[i]
        found.append(("odd_size", i, score, f"{w}x{h}: {why}"))
    references = {
        "log_sharpness_median": median,
        "log_sharpness_robust_sd": spread,
        "entropy_median": entropy_median,
        "median_shorter_side": median_side,
        "median_aspect": median_aspect,
    }
    return found, references


def run(inputs: CheckInputs, params: PropertiesParams) -> CheckResult:
    assert inputs.properties is not None  # declared in the registry; run_check saw to it
    readable = inputs.manifest[inputs.manifest["readable"]]
    contents = readable.drop_duplicates("sample_id")[["sample_id", "split", "width", "height"]]
    items = contents.merge(inputs.properties, on="sample_id", how="inner").reset_index(drop=True)
    found, references = _judge(items, params) if len(items) else ([], {})
    paths = readable.groupby("sample_id")["path"].apply(list)
    rows = [
        {
            "sample_id": items["sample_id"].iat[i],
            "path": path,
            "issue": issue,
            "score": float(np.clip(score, 0, 1)),
            "detail": detail,
        }
        for issue, i, score, detail in found
        for path in paths[items["sample_id"].iat[i]]
    ]
    flags = make_flags(rows)
    counts = flags.groupby("issue")["path"].nunique().to_dict() if len(flags) else {}
    summary = {
        "n_images": len(items),
        "flagged": {k: int(counts.get(k, 0)) for k in CONDITION_ISSUES},
        "references": references,
        "quantiles": {
            name: {str(q): float(items[name].quantile(q)) for q in QUANTILES}
            for name in PROPERTY_NAMES
        }
        if len(items)
        else {},
    }
    metrics = {"conditions": int(flags["path"].nunique()) if len(flags) else 0}
    return CheckResult("properties", flags, summary, metrics, vars(params))
