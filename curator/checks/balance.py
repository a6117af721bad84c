"""Balance: class imbalance, subgroup representation and drift between splits.

The statistics are the ones a reviewer asks for: counts per split, imbalance ratio (largest /
smallest class), normalised entropy (1 = uniform), the effective number of samples per class
and the class-balanced weights of Cui et al. (CVPR 2019), and chi-square tests that the label
and subgroup distributions are the same in every split. A subgroup x class cell, and a
combination of two subgroup attributes (race x gender), is under-represented when it holds
fewer than ``min_cell_count`` images or fewer than ``min_representation_ratio`` times what
independence of the two would predict.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from curator.checks.base import CheckInputs, CheckResult, make_flags, require_subgroups
from curator.errors import DataError
from curator.io.sources import known_values
from curator.params import BalanceParams


def normalized_entropy(counts: np.ndarray) -> float:
    """Shannon entropy of the distribution over ``len(counts)`` categories, divided by log K."""
    counts = np.asarray(counts, dtype=float)
    k = len(counts)
    total = counts.sum()
    if k < 2 or total == 0:
        return 1.0
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum() / math.log(k))


def imbalance_ratio(counts: np.ndarray) -> float:
    """Largest class count over smallest; infinite when a class is absent."""
    counts = np.asarray(counts, dtype=float)
    if len(counts) == 0 or counts.max() == 0:
        return 1.0
    return math.inf if counts.min() == 0 else float(counts.max() / counts.min())


def effective_number(n: np.ndarray, beta: float) -> np.ndarray:
    """Cui et al.'s effective number of samples (1 - beta^n) / (1 - beta)."""
    n = np.asarray(n, dtype=float)
    if beta == 0:
        return np.minimum(n, 1.0)
    return (1.0 - np.power(beta, n)) / (1.0 - beta)


def class_balanced_weights(n: np.ndarray, beta: float) -> np.ndarray:
    """Weights proportional to 1 / effective number, scaled to sum to the number of classes.

    A class with no samples gets weight 0 (there is nothing to weight).
    """
    eff = effective_number(n, beta)
    inv = np.divide(1.0, eff, out=np.zeros_like(eff), where=eff > 0)
    return inv * (len(inv) / inv.sum()) if inv.sum() > 0 else inv


def homogeneity_test(table: pd.DataFrame) -> dict[str, Any] | None:
    """Chi-square test that every row of ``table`` has the same distribution over columns."""
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None
    chi2, p, dof, _ = chi2_contingency(table.to_numpy())
    n = table.to_numpy().sum()
    cramers_v = math.sqrt(chi2 / (n * (min(table.shape) - 1)))
    return {"chi2": float(chi2), "dof": int(dof), "p_value": float(p), "cramers_v": cramers_v}


def representation_cells(table: pd.DataFrame, params: BalanceParams) -> pd.DataFrame:
    """Observed vs expected-under-independence count for every cell, with the flag."""
    n = table.to_numpy().sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n if n else np.zeros(table.shape)
    cells = pd.DataFrame(
        {
            "row": np.repeat(table.index.to_numpy(), table.shape[1]),
            "column": np.tile(table.columns.to_numpy(), table.shape[0]),
            "count": table.to_numpy().ravel(),
            "expected": expected.ravel(),
        }
    )
    cells["ratio"] = np.where(cells["expected"] > 0, cells["count"] / cells["expected"], 1.0)
    cells["flagged"] = (cells["count"] < params.min_cell_count) | (
        cells["ratio"] < params.min_representation_ratio
    )
    return cells


def _shares(counts: pd.Series) -> pd.Series:
    return counts / counts.sum() if counts.sum() else counts.astype(float)


def _split_stats(table: pd.DataFrame) -> dict[str, Any]:
    out = {}
    for split, row in table.iterrows():
        counts = row.to_numpy()
        out[str(split)] = {
            "n": int(counts.sum()),
            "imbalance_ratio": imbalance_ratio(counts),
            "normalized_entropy": normalized_entropy(counts),
            "absent_classes": [str(c) for c, v in row.items() if v == 0],
        }
    return out


def _subgroup_report(
    df: pd.DataFrame, attribute: str, params: BalanceParams, flags: dict
) -> dict[str, Any]:
    """Counts, shares and flags for one subgroup attribute; adds per-sample flags to ``flags``."""
    values = _values(df, attribute)
    counts = values.value_counts().sort_index()
    uniform = 1.0 / max(len(counts), 1)
    rare = [
        v for v, share in _shares(counts).items() if share < params.minority_class_ratio * uniform
    ]
    for value in rare:
        share = counts[value] / counts.sum()
        detail = (
            f"{attribute}={value} is {share:.1%} of images "
            f"(uniform share {uniform:.1%}): under-represented group"
        )
        for idx in df.index[(values == value).fillna(False)]:
            flags.setdefault((idx, "underrepresented_group"), []).append(
                (1.0 - share / uniform, detail)
            )
    by_class = pd.crosstab(values, df["label"])
    cells = representation_cells(by_class, params)
    _flag_cells(df, cells, (attribute, values), ("class", df["label"]), params, flags)
    by_split = pd.crosstab(values, df["split"])
    split_cells = representation_cells(by_split, params)
    return {
        "n_unknown": int(values.isna().sum()),  # no value: in no group, and not in the shares
        "counts": counts.to_dict(),
        "shares": _shares(counts).to_dict(),
        "underrepresented_values": rare,
        "by_class": by_class.to_dict(orient="index"),
        "underrepresented_cells": cells[cells["flagged"]]
        .rename(columns={"row": "value", "column": "class"})
        .drop(columns="flagged")
        .to_dict(orient="records"),
        "by_split": by_split.to_dict(orient="index"),
        "shares_by_split": {str(s): _shares(by_split[s]).to_dict() for s in by_split.columns},
        "underrepresented_split_cells": split_cells[split_cells["flagged"]]
        .rename(columns={"row": "value", "column": "split"})
        .drop(columns="flagged")
        .to_dict(orient="records"),
        "split_drift": homogeneity_test(by_split.T),
        "class_dependence": homogeneity_test(by_class),
    }


def _values(df: pd.DataFrame, attribute: str) -> pd.Series:
    return known_values(df[attribute])


def _flag_cells(df, cells: pd.DataFrame, rows: tuple, columns: tuple, params, flags) -> None:
    """Flag every image in a cell below the thresholds; ``rows``/``columns``: (name, values)."""
    (row_name, row_values), (col_name, col_values) = rows, columns
    for cell in cells[cells["flagged"]].itertuples():
        score = max(1.0 - cell.ratio, 1.0 - cell.count / max(params.min_cell_count, 1))
        detail = (
            f"{row_name}={cell.row} x {col_name}={cell.column}: {cell.count} images "
            f"(expected {cell.expected:.1f} if independent; ratio {cell.ratio:.2f})"
        )
        inside = ((row_values == cell.row) & (col_values == cell.column)).fillna(False)
        for idx in df.index[inside]:
            flags.setdefault((idx, "underrepresented_group"), []).append((score, detail))


def _intersection_report(df: pd.DataFrame, a: str, b: str, params: BalanceParams, flags) -> dict:
    """Counts of every a x b combination (e.g. race x gender) against the count independence
    would give: a combination far rarer than its two attributes predict is a finding even when
    each attribute alone is well represented."""
    va, vb = _values(df, a), _values(df, b)
    table = pd.crosstab(va, vb)
    cells = representation_cells(table, params)
    _flag_cells(df, cells, (a, va), (b, vb), params, flags)
    return {
        "rows": a,
        "columns": b,
        "counts": table.to_dict(orient="index"),
        "underrepresented_cells": cells[cells["flagged"]]
        .rename(columns={"row": a, "column": b})
        .drop(columns="flagged")
        .to_dict(orient="records"),
        "dependence": homogeneity_test(table),
    }


def _absent_from_train(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Classes with images in other splits but none in train (when there is a train split):
    more than a minority, a class the model never sees."""
    if "train" not in table.index:
        return {}
    others = table.drop(index="train")
    return {
        str(c): {str(s): int(n) for s, n in others[c].items() if n > 0}
        for c in table.columns
        if table.at["train", c] == 0 and others[c].sum() > 0
    }


def run(inputs: CheckInputs, params: BalanceParams) -> CheckResult:
    df = inputs.manifest[inputs.manifest["readable"]]
    if df.empty:
        raise DataError(
            "balance: the manifest has no readable images; see the 'corrupt' findings in "
            "audits/findings/ingest.parquet for why each file failed."
        )
    require_subgroups(df, params.subgroups, "balance.subgroups")
    table = pd.crosstab(df["split"], df["label"])
    overall = table.sum(axis=0)
    k = len(overall)
    shares = _shares(overall)
    minority = [str(c) for c, s in shares.items() if s < params.minority_class_ratio / k]
    basis = "train" if "train" in table.index else "all"
    basis_counts = table.loc["train"] if basis == "train" else overall
    flags: dict[tuple[int, str], list[tuple[float, str]]] = {}
    for cls in minority:
        detail = (
            f"class {cls} is {shares[cls]:.1%} of images (uniform share {1 / k:.1%}; "
            f"largest class / this class = {overall.max() / overall[cls]:.1f})"
        )
        for idx in df.index[df["label"] == cls]:
            flags[(idx, "minority_class")] = [(1.0 - shares[cls] * k, detail)]
    absent = _absent_from_train(table)
    for cls, where in absent.items():
        held = ", ".join(f"{n} in {split}" for split, n in where.items())
        detail = (
            f"class {cls} has no train image ({held}): no model trained here can predict it; "
            "add train images of it or drop it from the evaluation splits"
        )
        for idx in df.index[df["label"] == cls]:
            flags[(idx, "class_absent_from_train")] = [(1.0, detail)]
    subgroups = {a: _subgroup_report(df, a, params, flags) for a in params.subgroups}
    intersections = {
        f"{a} x {b}": _intersection_report(df, a, b, params, flags)
        for a, b in combinations(params.subgroups, 2)
    }
    rows = [
        {
            "sample_id": df.at[idx, "sample_id"],
            "path": df.at[idx, "path"],
            "issue": issue,
            "score": float(np.clip(max(s for s, _ in found), 0.0, 1.0)),
            "detail": "; ".join(d for _, d in found),
        }
        for (idx, issue), found in flags.items()
    ]
    test = homogeneity_test(table)
    summary = {
        "n_images": len(df),
        "n_classes": k,
        "classes": [str(c) for c in overall.index],
        "class_counts": {str(s): row.to_dict() for s, row in table.iterrows()}
        | {"all": overall.to_dict()},
        "overall": {
            "imbalance_ratio": imbalance_ratio(overall.to_numpy()),
            "normalized_entropy": normalized_entropy(overall.to_numpy()),
        },
        "per_split": _split_stats(table),
        "minority_classes": minority,
        "classes_absent_from_train": absent,
        "effective_number": dict(
            zip(
                map(str, basis_counts.index),
                effective_number(basis_counts.to_numpy(), params.effective_number_beta),
                strict=True,
            )
        ),
        "class_weights": dict(
            zip(
                map(str, basis_counts.index),
                class_balanced_weights(basis_counts.to_numpy(), params.effective_number_beta),
                strict=True,
            )
        ),
        "class_weights_basis": basis,
        "split_label_homogeneity": None
        if test is None
        else test | {"same_distribution": test["p_value"] >= params.chi2_alpha},
        "subgroups": subgroups,
        "intersections": intersections,
        "n_flagged_samples": len({idx for idx, _ in flags}),
    }
    return CheckResult("balance", make_flags(rows), summary, headline(summary), vars(params))


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The numbers worth diffing between dataset versions (`dvc metrics`: a few per stage, so
    the table fits a screen; balance.json has the rest)."""
    return {
        "imbalance": summary["overall"]["imbalance_ratio"],
        "minority": len(summary["minority_classes"]),
    }
