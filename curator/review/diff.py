"""Two audits side by side: what changed in the data, which findings were resolved or are new,
and whether the model got better, with paired intervals on the images both evaluated.

What `curator diff A B` prints (text), writes (JSON, and the HTML page reporting renders from
it) and gates CI on (``check_rules``). The model comparison scores both audits' predictions
against B's labels on the test images the two share byte for byte: a relabelled test image
would otherwise count as a model change, and a changed test set as an improvement.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator import __version__, artifacts
from curator.errors import ConfigError
from curator.evaluation import paired
from curator.evaluation.intervals import interval_or_none
from curator.evaluation.metrics import Scored
from curator.review.snapshots import Audit

EXAMPLES = 20  # images listed per kind of change
RULES = {
    "new-leaks": "an image leaked across splits that A did not have",
    "accuracy-drop": "accuracy lower in B, McNemar's exact test significant at the audit's level",
    "worst-group": "the gap between a grouping's best and worst group wider in B, its interval "
    "(Bonferroni over the groupings compared) above 0",
    "new:<issue>": "any finding of that kind that A did not have (e.g. new:label_issue)",
}


def compare(a: Audit, b: Audit) -> dict[str, Any]:
    """The whole comparison, as JSON stores it. Intervals use B's evaluate params (level,
    resamples, seed), so the same two audits always give the same numbers."""
    params = ((b.evaluation or {}).get("params")) or {}
    level = float(params.get("ci_level", 0.95))
    return {
        "curator_version": __version__,
        "a": {"name": a.name, "where": a.where},
        "b": {"name": b.name, "where": b.where},
        "ci_level": level,
        "data": data_changes(a.manifest, b.manifest),
        "findings": finding_changes(a, b),
        "errors_left": {side: _errors_left(x) for side, x in (("a", a), ("b", b))},
        "model": model_changes(
            a, b, level, int(params.get("n_bootstrap", 1000)), int(params.get("seed", 0))
        ),
    }


def data_changes(ma: pd.DataFrame, mb: pd.DataFrame) -> dict[str, Any]:
    """Files added, removed, with changed bytes (same path), moved between splits, and
    relabelled (same bytes, another label: by a reviewer's correction or in the given data)."""
    ja, jb = ma.set_index("path"), mb.set_index("path")
    both = ja.index.intersection(jb.index)
    changed = both[ja.loc[both, "sample_id"].to_numpy() != jb.loc[both, "sample_id"].to_numpy()]
    same = both.difference(changed)
    old, new = ja.loc[same, "label"].astype(str), jb.loc[same, "label"].astype(str)
    relabelled = same[(old != new).to_numpy()]
    source = jb["label_source"] if "label_source" in jb else pd.Series("given", index=jb.index)
    by_review = relabelled[(source.loc[relabelled] == "review").to_numpy()]
    resplit = same[(ja.loc[same, "split"] != jb.loc[same, "split"]).to_numpy()]
    classes = sorted(set(ja["label"].astype(str)) | set(jb["label"].astype(str)))
    counts = {
        c: [int((ja["label"].astype(str) == c).sum()), int((jb["label"].astype(str) == c).sum())]
        for c in classes
    }
    return {
        "n_images": [len(ja), len(jb)],
        "added": _paths(jb.index.difference(ja.index)),
        "removed": _paths(ja.index.difference(jb.index)),
        "bytes_changed": _paths(changed),
        "split_changed": _paths(resplit),
        "relabelled": {
            "n": len(relabelled),
            "by_review": len(by_review),
            "examples": [
                {"path": p, "from": old.loc[p], "to": new.loc[p], "by_review": p in by_review}
                for p in sorted(relabelled)[:EXAMPLES]
            ],
        },
        "class_counts": counts,
    }


def _paths(index: pd.Index) -> dict[str, Any]:
    return {"n": len(index), "examples": sorted(map(str, index))[:EXAMPLES]}


def finding_changes(a: Audit, b: Audit) -> dict[str, Any]:
    """Per kind of finding: resolved (in A, not in B: of those, how many because the file is
    gone or its bytes changed), new, persisting. A finding is one (file, bytes, issue)."""
    key = ["path", "sample_id", "issue"]
    fa, fb = (x.issues.drop_duplicates(key) for x in (a, b))
    merged = fa.merge(fb, on=key, how="outer", indicator=True, suffixes=("_a", "_b"))
    still_there = set(zip(b.manifest["path"], b.manifest["sample_id"], strict=True))
    gone = ~pd.Series(
        [(p, s) in still_there for p, s in zip(merged["path"], merged["sample_id"], strict=True)],
        index=merged.index,
    )
    kinds = {}
    for issue, rows in merged.groupby("issue", sort=True):
        state = rows["_merge"]
        kinds[issue] = {
            "a": int((state != "right_only").sum()),
            "b": int((state != "left_only").sum()),
            "resolved": int((state == "left_only").sum()),
            "resolved_by_removal": int(((state == "left_only") & gone.loc[rows.index]).sum()),
            "new": int((state == "right_only").sum()),
            "persisting": int((state == "both").sum()),
            "new_examples": _findings(rows[state == "right_only"], "b"),
            "resolved_examples": _findings(rows[state == "left_only"], "a"),
        }
    return {"by_kind": kinds}


def _findings(rows: pd.DataFrame, side: str) -> list[dict[str, Any]]:
    rows = rows.sort_values([f"score_{side}", "path"], ascending=[False, True]).head(EXAMPLES)
    return [
        {"path": p, "score": float(s), "detail": str(d)}
        for p, s, d in zip(rows["path"], rows[f"score_{side}"], rows[f"detail_{side}"], strict=True)
    ]


def _errors_left(audit: Audit) -> dict[str, Any] | None:
    """The audit's estimate of wrong labels left among unreviewed images, when it made one."""
    left = ((audit.ingest or {}).get("corrections") or {}).get("errors_left") or {}
    return left if left.get("measured") else None


def model_changes(a: Audit, b: Audit, level: float, n_boot: int, seed: int) -> dict[str, Any]:
    """Both models on the test images the two audits share (same path, same bytes), scored
    against B's labels: every metric's paired change with its interval, McNemar's test of
    accuracy, each group's change and the worst group's."""
    if a.evaluation is None or b.evaluation is None:
        which = " and ".join(x.name for x in (a, b) if x.evaluation is None)
        return {"compared": False, "why": f"{which} evaluated no model (run `dvc repro`)"}
    classes = [str(c) for c in b.evaluation["classes"]]
    key = ["path", "sample_id"]
    pa, pb = (
        _evaluated(x).rename(columns=lambda c, s=side: c if c in key else f"{c}{s}")
        for x, side in ((a, "_a"), (b, "_b"))
    )
    both = pa.merge(pb, on=key)  # every other column suffixed, also one only a side has
    base = {
        "n_evaluated": [len(pa), len(pb)],
        "n_common": len(both),
        "split": [a.evaluation["split"], b.evaluation["split"]],
        "reported_accuracy": [
            a.evaluation["overall"]["accuracy"],
            b.evaluation["overall"]["accuracy"],
        ],
    }
    if len(both) < 2:
        return base | {"compared": False, "why": "the two audits evaluated no image in common"}
    y = both["label_b"].astype(str).map({c: k for k, c in enumerate(classes)}).to_numpy()
    params = b.evaluation["params"]
    top_k, bins = min(int(params["top_k"]), len(classes)), int(params["calibration_bins"])
    sa = Scored(y, _probs(both, classes, "_a"), top_k, bins)
    sb = Scored(y, _probs(both, classes, "_b"), top_k, bins)
    overall = paired.paired_metrics(sa, sb, np.zeros(len(y), int), 1, n_boot, seed)
    correct_a, correct_b = sa.pred == y, sb.pred == y
    a_classes = {str(c) for c in a.evaluation["classes"]}
    return base | {
        "compared": True,
        "labels_changed": int((both["label_a"].astype(str) != both["label_b"].astype(str)).sum()),
        "classes_missing_in_a": sorted(set(classes) - a_classes),
        "metrics": {m: _change(overall, m, 0, level) for m in paired.COMPARED},
        "mcnemar": paired.mcnemar(correct_a, correct_b),
        "groupings": _groupings(b, both, sa, sb, level, n_boot, seed),
    }


def _evaluated(audit: Audit) -> pd.DataFrame:
    """The audit's evaluated images: its predictions on the evaluated split, in its groups."""
    preds = audit.predictions
    assert preds is not None and audit.groups is not None and audit.evaluation is not None
    rows = preds[preds["split"] == audit.evaluation["split"]]
    return rows[rows["path"].isin(audit.groups["path"])]


def _probs(both: pd.DataFrame, classes: list[str], side: str) -> np.ndarray:
    """Probabilities over B's classes; a class A's model did not know has probability 0 there
    (rows renormalised)."""
    cols = [
        both[f"p_{c}{side}"] if f"p_{c}{side}" in both else pd.Series(0.0, both.index)
        for c in classes
    ]
    probs = np.column_stack([c.to_numpy(float) for c in cols])
    total = probs.sum(axis=1, keepdims=True)
    return np.where(total > 0, probs / np.where(total > 0, total, 1), 1 / len(classes))


def _change(pm: paired.PairedMetrics, metric: str, g: int, level: float) -> dict[str, Any]:
    point, boot = pm.change(metric)
    return {
        "a": float(pm.a[metric][g]),
        "b": float(pm.b[metric][g]),
        "change": float(point[g]),
        "change_ci": interval_or_none(boot[:, g], level),
    }


def _groupings(b: Audit, both, sa: Scored, sb: Scored, level, n_boot, seed) -> dict[str, Any]:
    """Every grouping B evaluated (its groups, on the shared images): each group's accuracy
    change, and the worst group's accuracy and the best-to-worst gap, A against B."""
    assert b.groups is not None and b.evaluation is not None
    groups = b.groups.set_index("path").loc[both["path"]]
    min_n = int(b.evaluation["params"]["min_group_size"])
    names = [g for g in groups.columns if g in b.evaluation["subgroups"]]
    compared = {}
    for name in names:
        codes, labels = pd.factorize(groups[name], sort=True)  # missing -> -1
        pm = paired.paired_metrics(sa, sb, codes, len(labels), n_boot, seed)
        n = np.bincount(codes[codes >= 0], minlength=len(labels))
        eligible = n >= min_n
        entry: dict[str, Any] = {
            "recorded": bool(b.evaluation["subgroups"][name].get("recorded", False)),
            "groups": {
                str(label): {"n": int(n[g]), "eligible": bool(eligible[g])}
                | _change(pm, "accuracy", g, level)
                for g, label in enumerate(labels)
            },
        }
        if eligible.sum() >= 2:
            entry["worst"] = _worst(pm, eligible, labels)
        compared[name] = entry
    k = sum("worst" in e for e in compared.values())
    adjusted = 1 - (1 - level) / max(k, 1)  # Bonferroni: one false alarm in all groupings
    for entry in compared.values():
        if "worst" in entry:
            w = entry["worst"]
            w["ci_level"] = adjusted
            for stat in ("accuracy", "gap"):
                w[stat]["change_ci"] = interval_or_none(w[stat].pop("boot"), adjusted)
    return compared


def _worst(pm: paired.PairedMetrics, eligible: np.ndarray, labels) -> dict[str, Any]:
    w = paired.worst_group_change(pm, eligible)
    return {
        "group": [str(labels[w["worst_group_a"]]), str(labels[w["worst_group_b"]])],
        "accuracy": {
            "a": w["worst_a"],
            "b": w["worst_b"],
            "change": w["worst_b"] - w["worst_a"],
            "boot": w["worst_boot_b"] - w["worst_boot_a"],
        },
        "gap": {
            "a": w["gap_a"],
            "b": w["gap_b"],
            "change": w["gap_b"] - w["gap_a"],
            "boot": w["gap_boot_b"] - w["gap_boot_a"],
        },
    }


def validate_rules(rules: tuple[str, ...]) -> None:
    """Refuse a misspelt --fail-on rule before any work."""
    unknown = [r for r in rules if r not in RULES and not r.startswith("new:")]
    unknown += [r for r in rules if r.startswith("new:") and r[4:] not in artifacts.ISSUE_NAMES]
    if unknown:
        raise ConfigError(
            f"--fail-on {', '.join(unknown)}: not a rule; use "
            + "; ".join(f"{name} ({what})" for name, what in RULES.items())
            + f"; issues: {', '.join(sorted(artifacts.ISSUE_NAMES))}."
        )


def check_rules(result: dict[str, Any], rules: tuple[str, ...]) -> list[str]:
    """The --fail-on rules the comparison breaks, one line each. A rule that cannot be
    checked (no model compared) breaks too: a CI gate must not pass on missing evidence."""
    validate_rules(rules)
    kinds, model = result["findings"]["by_kind"], result["model"]
    broken = []
    for rule in rules:
        if rule == "new-leaks" or rule.startswith("new:"):
            issue = "leak" if rule == "new-leaks" else rule.removeprefix("new:")
            n = kinds.get(issue, {}).get("new", 0)
            if n:
                broken.append(f"{rule}: {n} new {issue} finding(s)")
        elif not model["compared"]:
            broken.append(f"{rule}: cannot be checked: {model['why']}")
        elif rule == "accuracy-drop":
            acc, test = model["metrics"]["accuracy"], model["mcnemar"]
            if acc["change"] < 0 and test["p_value"] < 1 - result["ci_level"]:
                broken.append(
                    f"accuracy-drop: {acc['a']:.3f} -> {acc['b']:.3f} "
                    f"(McNemar p={test['p_value']:.3g})"
                )
        else:
            for name, entry in model["groupings"].items():
                gap = entry.get("worst", {}).get("gap")
                if gap and gap["change_ci"][0] is None:
                    broken.append(
                        f"worst-group: {name}: cannot be checked: the gap's change has no "
                        "interval (B's evaluate.n_bootstrap is 0)"
                    )
                elif gap and gap["change_ci"][0] > 0:
                    broken.append(
                        f"worst-group: {name}: gap {gap['a']:.3f} -> {gap['b']:.3f} "
                        f"(change {_interval(gap['change_ci'])})"
                    )
    return broken


def _interval(ci: list[float | None]) -> str:
    return "not defined" if ci[0] is None else f"{ci[0]:+.3f} to {ci[1]:+.3f}"


def text(result: dict[str, Any]) -> str:
    """What the terminal shows: one line per part, the changes that matter first."""
    a, b, data = result["a"], result["b"], result["data"]
    lines = [f"diff: A = {a['name']} ({a['where']}), B = {b['name']} ({b['where']})"]
    rel = data["relabelled"]
    lines.append(
        f"Data: {data['n_images'][0]} -> {data['n_images'][1]} images; "
        f"{data['added']['n']} added, {data['removed']['n']} removed, "
        f"{data['bytes_changed']['n']} with changed bytes, {data['split_changed']['n']} moved "
        f"to another split, {rel['n']} relabelled ({rel['by_review']} by review)."
    )
    kinds = result["findings"]["by_kind"]
    lines.append("Findings (A -> B: resolved / new / persisting):")
    for issue, k in kinds.items():
        removal = f", {k['resolved_by_removal']} by removal" if k["resolved_by_removal"] else ""
        lines.append(
            f"  {issue:<30} {k['a']:>5} -> {k['b']:<5} {k['resolved']} resolved{removal} / "
            f"{k['new']} new / {k['persisting']} persisting"
        )
    left = result["errors_left"]
    if left["a"] or left["b"]:
        lines.append(
            "Wrong labels left (estimated): "
            + " -> ".join(
                "not estimated"
                if e is None
                else f"{e['left']:.0f} ({e['left_ci'][0]:.0f} to {e['left_ci'][1]:.0f})"
                for e in (left["a"], left["b"])
            )
        )
    lines += _model_lines(result["model"], result["ci_level"])
    return "\n".join(lines)


def _model_lines(model: dict[str, Any], level: float) -> list[str]:
    if not model["compared"]:
        return [f"Model: not compared: {model['why']}."]
    acc, test = model["metrics"]["accuracy"], model["mcnemar"]
    lines = [
        f"Model, on the {model['n_common']} test images both evaluated (of "
        f"{model['n_evaluated'][0]} and {model['n_evaluated'][1]}), scored against B's labels "
        f"({model['labels_changed']} of them relabelled since A; each audit's own accuracy "
        f"{model['reported_accuracy'][0]:.3f} -> {model['reported_accuracy'][1]:.3f}):",
        f"  accuracy {acc['a']:.3f} -> {acc['b']:.3f}, change {acc['change']:+.3f} "
        f"({_interval(acc['change_ci'])}, {level:.0%}); McNemar: {test['only_b']} right only "
        f"in B, {test['only_a']} only in A, p={test['p_value']:.3g}",
    ]
    for m in ("balanced_accuracy", "macro_f1", "ece"):
        c = model["metrics"][m]
        lines.append(
            f"  {m} {c['a']:.3f} -> {c['b']:.3f}, change {c['change']:+.3f} "
            f"({_interval(c['change_ci'])})"
        )
    for name, entry in model["groupings"].items():
        if "worst" not in entry:
            continue
        w = entry["worst"]
        lines.append(
            f"  {name}: worst group {w['group'][0]} {w['accuracy']['a']:.3f} -> "
            f"{w['group'][1]} {w['accuracy']['b']:.3f} "
            f"({_interval(w['accuracy']['change_ci'])}); gap {w['gap']['a']:.3f} -> "
            f"{w['gap']['b']:.3f} ({_interval(w['gap']['change_ci'])})"
        )
    return lines
