"""What to fix first: the audit's findings in the order a user should act on them, each with its
count and where to look. `curator summary` prints it and the dataset audit opens with it, so
both say the same thing in the same order.

Most severe first; within a severity, in this order: what makes the model's numbers wrong
(leaks into the evaluated split, the evaluated split not being a test, labels that disagree
between copies, likely wrong labels), then whom the model fails (fairness ratios surely under
the floor, a worst group surely worse), then what makes the numbers not transfer (shift), then
the data's own condition (unreadable files, image conditions, under-represented classes and
groups, annotators). A finding with nothing to report is left out.
"""

from __future__ import annotations

from typing import Any

from curator import artifacts

SEVERITY_ORDER = ("high", "medium", "low")


def _item(
    key: str,
    severity: str,
    count: int,
    what: str,
    where: str,
    anchor: str,
    source: tuple[str, list] | None = None,
) -> dict[str, Any]:
    """``what`` follows the count ("32 images ..."); ``source`` is (audit file, path) of the
    count, so the page can trace it; ``where`` is the file to open, ``anchor`` the report's."""
    return {
        "key": key,
        "severity": severity,
        "count": int(count),
        "what": what,
        "where": where,
        "anchor": anchor,
        "source": source,
    }


def triage(docs: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings to act on, most urgent first, from the audit's JSON summaries (file name
    -> document; a missing one contributes nothing)."""
    out: list[dict[str, Any]] = []
    for finder in (_leaks, _not_a_test, _labels, _fairness, _shift, _data):
        out += finder(docs)
    return sorted(out, key=lambda f: SEVERITY_ORDER.index(f["severity"]))  # stable: the order


def _leaks(docs: dict) -> list[dict]:
    d = docs.get(artifacts.DUPLICATES_SUMMARY)
    if not d:
        return []
    out = []
    for split, v in d["leakage"].items():
        if split != "train" and v["leaked_from_train"]:
            out.append(
                _item(
                    f"leak:{split}",
                    "high",
                    v["leaked_from_train"],
                    f"{split} images have a twin in train: the model has seen them, so "
                    f"{split} numbers are inflated",
                    f"audits/{artifacts.LEAKAGE}",
                    "duplicates",
                    (artifacts.DUPLICATES_SUMMARY, ["leakage", split, "leaked_from_train"]),
                )
            )
    if d.get("n_label_conflict_clusters"):
        out.append(
            _item(
                "duplicate_label_conflict",
                "high",
                d["n_label_conflict_clusters"],
                "clusters of copies of one image carry different labels: one of each is wrong",
                f"audits/{artifacts.DUPLICATES} (label_conflict)",
                "duplicates",
                (artifacts.DUPLICATES_SUMMARY, ["n_label_conflict_clusters"]),
            )
        )
    return out


def _not_a_test(docs: dict) -> list[dict]:
    ev = docs.get(artifacts.EVALUATION)
    if not ev:
        return []
    leaks = ev["data_quality_corrected"]["without_leaks"]
    if leaks["n_excluded"] and not leaks["n_kept"]:
        return [
            _item(
                "all_leaked",
                "high",
                leaks["n_excluded"],
                f"{ev['split']} images, every one, have a twin in train: nothing was measured "
                "on unseen images",
                f"audits/{artifacts.LEAKAGE}",
                "duplicates",
                (artifacts.EVALUATION, ["data_quality_corrected", "without_leaks", "n_excluded"]),
            )
        ]
    if ev.get("split_note"):
        return [
            _item(
                "not_a_test",
                "high",
                ev["n"],
                f"{ev['split']} images are what the model is evaluated on: {ev['split_note']}",
                f"audits/{artifacts.EVALUATION}",
                "labels",
                (artifacts.EVALUATION, ["n"]),
            )
        ]
    return []


def _labels(docs: dict) -> list[dict]:
    out = []
    q = docs.get(artifacts.LABEL_QUALITY_SUMMARY)
    if q and q["evidence"]["supported"] and q["n_label_issues"]:
        low, high = q["estimated_noise_rate_ci"]
        out.append(
            _item(
                "label_issue",
                "high",
                q["n_label_issues"],
                f"images probably carry a wrong label (estimated noise rate "
                f"{q['estimated_noise_rate']:.1%}, {low:.1%} to {high:.1%})",
                f"audits/{artifacts.REVIEW_QUEUE}",
                "labels",
                (artifacts.LABEL_QUALITY_SUMMARY, ["n_label_issues"]),
            )
        )
    elif q and q["n_flagged"]:
        out.append(
            _item(
                "label_review",
                "low",
                q["n_flagged"],
                "images are ranked for a second look at their label; the evidence cannot "
                "support a count of errors (" + "; ".join(q["evidence"]["reasons"]) + ")",
                f"audits/{artifacts.REVIEW_QUEUE}",
                "labels",
                (artifacts.LABEL_QUALITY_SUMMARY, ["n_flagged"]),
            )
        )
    a = docs.get(artifacts.AGREEMENT_SUMMARY)
    if a and a.get("n_votes") and a["n_given_label_differs_from_consensus"]:
        out.append(
            _item(
                "label_differs_from_consensus",
                "medium",
                a["n_given_label_differs_from_consensus"],
                "given labels differ from the annotators' consensus",
                f"audits/{artifacts.CONSENSUS}",
                "agreement",
                (artifacts.AGREEMENT_SUMMARY, ["n_given_label_differs_from_consensus"]),
            )
        )
    return out


def _fairness(docs: dict) -> list[dict]:
    ev = docs.get(artifacts.EVALUATION)
    if not ev:
        return []
    out = []
    floor = ev["params"]["fairness_ratio_floor"]
    below = [
        f"{grouping} (class {cls}: {', '.join(e['below_ratio_floor'])})"
        for grouping, summary in ev["subgroups"].items()
        for cls, e in ((summary.get("fairness") or {}).get("per_class") or {}).items()
        if e["below_ratio_floor"]
    ]
    if below:
        out.append(
            _item(
                "fairness_ratio",
                "high",
                len(below),
                f"fairness ratios lie surely below {floor:g} (evaluate.fairness_ratio_floor): "
                + "; ".join(below),
                "reports/model_card.html#fairness",
                "",
            )
        )
    worst = ev.get("worst_group")
    if worst and worst.get("significant"):
        explained = worst.get("explained_by") or []
        out.append(
            _item(
                "worst_group",
                "medium" if explained else "high",
                worst["n"],
                f"{ev['split']} images of {worst['grouping']}={worst['group']} are surely "
                f"worse served: accuracy {worst['accuracy']:.3f}, "
                f"{worst['accuracy_gap_vs_rest']:.3f} below the rest"
                + (f" (mostly a {' and '.join(explained)} effect)" if explained else ""),
                "reports/model_card.html#analyses",
                "",
                (artifacts.EVALUATION, ["worst_group", "n"]),
            )
        )
    return out


def _shift(docs: dict) -> list[dict]:
    s = docs.get(artifacts.SHIFT_SUMMARY)
    if not s:
        return []
    out = []
    for split, e in s["embedding"].items():
        if e.get("shifted"):
            out.append(
                _item(
                    f"shift:{split}",
                    "medium",
                    e["n"],
                    f"{split} images are not drawn like train (domain AUC {e['auc']:.3f}, "
                    f"p={e['p_value']:.3g}): its numbers may not hold for data like train",
                    f"audits/{artifacts.SHIFT}",
                    "shift",
                    (artifacts.SHIFT_SUMMARY, ["embedding", split, "n"]),
                )
            )
    return out


def _data(docs: dict) -> list[dict]:
    out = []
    i = docs.get(artifacts.INGEST_SUMMARY)
    if i and i["n_unreadable"]:
        out.append(
            _item(
                "corrupt",
                "medium",
                i["n_unreadable"],
                "files cannot be decoded as images (each with its reason)",
                f"audits/{artifacts.findings('ingest')}",
                "files",
                (artifacts.INGEST_SUMMARY, ["n_unreadable"]),
            )
        )
    p = docs.get(artifacts.PROPERTIES_SUMMARY)
    for name in artifacts.CONDITION_ISSUES:
        if p and p["flagged"].get(name):
            out.append(
                _item(
                    name,
                    "low",
                    p["flagged"][name],
                    f"images are {name.replace('_', ' ')} (see each one's measured value)",
                    f"audits/{artifacts.findings('properties')}",
                    "conditions",
                    (artifacts.PROPERTIES_SUMMARY, ["flagged", name]),
                )
            )
    b = docs.get(artifacts.BALANCE_SUMMARY)
    if b:
        for cls, where in b["classes_absent_from_train"].items():
            out.append(
                _item(
                    f"absent:{cls}",
                    "high",
                    sum(where.values()),
                    f"images of class {cls} are in held-out splits but none in train: no "
                    "model trained here can predict it",
                    f"audits/{artifacts.BALANCE_SUMMARY}",
                    "balance",
                )
            )
        groups = [
            f"{a}={v}" for a, s in b["subgroups"].items() for v in s["underrepresented_values"]
        ]
        if b["minority_classes"] or groups:
            out.append(
                _item(
                    "representation",
                    "low",
                    len(b["minority_classes"]) + len(groups),
                    "classes or groups are under-represented: "
                    + ", ".join([f"class {c}" for c in b["minority_classes"]] + groups),
                    f"audits/{artifacts.BALANCE_SUMMARY}",
                    "balance",
                )
            )
    a = docs.get(artifacts.AGREEMENT_SUMMARY)
    if a and a.get("n_votes") and a["unreliable_annotators"]:
        out.append(
            _item(
                "unreliable_annotators",
                "medium",
                len(a["unreliable_annotators"]),
                "annotators label below the reliability bar: "
                + ", ".join(a["unreliable_annotators"]),
                f"audits/{artifacts.ANNOTATORS}",
                "agreement",
            )
        )
    return out
