"""The Model Card's ethical considerations and caveats, written from the findings."""

from __future__ import annotations

from curator import artifacts
from curator.params import Params
from curator.reporting.numbers import Numbers

SEVERITIES = ("high", "medium", "low")


def caveats(numbers: Numbers, params: Params) -> list[dict[str, str]]:
    """Ethical considerations and caveats generated from the findings (name, mitigation,
    severity), most severe first. High: the numbers are wrong for someone or inflated (a group
    surely worse, a parity ratio surely under the floor, leaks that measurably inflate,
    measured label noise). Medium: the numbers rest on weaker ground. Low: groups too small to
    judge, merged into one line so they do not bury the rest."""
    docs, ev = numbers.docs, numbers.docs[artifacts.EVALUATION]
    out: list[dict[str, str]] = []

    def add(severity: str, name: str, mitigation: str) -> None:
        out.append({"name": name, "mitigation_strategy": mitigation, "severity": severity})

    embed = docs[artifacts.EMBED_SUMMARY]
    if embed["backend"] != "open_clip":
        add(
            "medium",
            f"The model runs on the {embed['backend']} descriptor, not CLIP: "
            f"{embed['fallback_reason']}",
            "Provide the CLIP weights (`curator weights pull`, or embed.checkpoint) and re-run; "
            "expect different, likely better, numbers.",
        )
    if ev.get("split_note"):
        add(
            "high",
            ev["split_note"][0].upper() + ev["split_note"][1:] + ".",
            "Add a held-out test split to the data and re-run the audit.",
        )
    worst = ev.get("worst_group")
    if worst and worst.get("significant"):
        add(
            "high",
            f"The model is worse for {worst['grouping']}={worst['group']}: accuracy "
            f"{worst['accuracy']:.3f}, {worst['accuracy_gap_vs_rest']:.3f} below the "
            f"rest (interval {worst['gap_ci'][0]:.3f} to {worst['gap_ci'][1]:.3f})"
            + _explained(worst)
            + ".",
            "Investigate the group's data (quality, quantity, labels); do not deploy for it "
            "without a group-specific evaluation.",
        )
    for grouping, summary in ev["subgroups"].items():  # only recorded groupings have them
        _parity(grouping, summary, ev["params"]["fairness_ratio_floor"], add)
    leaks = ev["data_quality_corrected"]["without_leaks"]
    if leaks["n_excluded"] and not leaks["n_kept"]:
        add(
            "high",
            f"Every {ev['split']} image ({leaks['n_excluded']}) has a twin in train: the model "
            "has not been measured on a single image it did not train on.",
            "Hold out images with no twin in train (audits/leakage.parquet lists the leaks) "
            "before quoting any number from this card.",
        )
    elif leaks["n_excluded"]:
        share = leaks["n_excluded"] / ev["n"]
        inflation_low = (leaks.get("inflation_accuracy_ci") or [None])[0]
        add(
            "high" if inflation_low is not None and inflation_low > 0 else "medium",
            f"{share:.1%} of {ev['split']} images ({leaks['n_excluded']}) leak from "
            f"train; accuracy without them is {leaks['clean_accuracy']:.3f} against "
            f"{leaks['raw_accuracy']:.3f} raw.",
            "Quote the leakage-corrected number; remove the leaked images from the test split "
            "(audits/leakage.parquet).",
        )
    labels = docs[artifacts.LABEL_QUALITY_SUMMARY]
    evidence = labels["evidence"]
    if evidence["supported"] and labels["n_label_issues"]:
        low, high = labels["estimated_noise_rate_ci"]
        add(
            "high",
            f"{labels['n_label_issues']} images probably carry a wrong label "
            f"(estimated noise rate {labels['estimated_noise_rate']:.1%}, interval "
            f"{low:.1%} to {high:.1%}).",
            "Relabel from audits/review_queue.parquet; metrics on noisy test labels are biased.",
        )
    elif not evidence["supported"]:
        add(
            "medium",
            "Label noise could not be measured: not enough evidence ("
            + "; ".join(evidence["reasons"])
            + f"). {labels['n_flagged']} images are ranked for review, not counted as errors.",
            f"To fix: {evidence['to_fix']}.",
        )
    unreliable = docs[artifacts.AGREEMENT_SUMMARY].get("unreliable_annotators") or []
    if unreliable:
        add(
            "medium",
            f"Annotator(s) {', '.join(unreliable)} label below the reliability threshold.",
            "Their votes are down-weighted in the consensus; review their labels.",
        )
    minority = docs[artifacts.BALANCE_SUMMARY]["minority_classes"]
    if minority:
        add(
            "medium",
            f"Minority class(es) {', '.join(minority)}: fewer examples, noisier per-class metrics.",
            "Check their per-class recall and interval; consider train.class_weights: balanced.",
        )
    _small_groups(ev, params, add)
    return sorted(out, key=lambda c: SEVERITIES.index(c["severity"]))


def _explained(worst: dict) -> str:
    """', mostly an age effect: ...' when another factor explains most of the gap."""
    if not worst.get("explained_by"):
        return ""
    other = worst["explained_by"][0]
    a = worst["adjusted_for"][other]
    low, high = a["adjusted_gap_ci"]
    return (
        f"; most of it is {other}: the group holds more of the {other} levels the model finds "
        f"hard, and within each level its gap is {a['adjusted_gap']:+.3f} (interval "
        f"{low:+.3f} to {high:+.3f}) against {a['raw_gap']:+.3f} raw"
    )


def _parity(grouping: str, summary: dict, floor: float, add) -> None:
    """One line per grouping whose parity ratios lie surely below the floor: equalized odds
    (errors fall unequally) is high; demographic parity alone is medium, with the spread of the
    classes' true rates beside it, since unequal selection can mirror unequal base rates."""
    per_class = (summary.get("fairness") or {}).get("per_class", {})
    for metric, severity in (
        ("equalized_odds_ratio", "high"),
        ("demographic_parity_ratio", "medium"),
    ):
        below = {c: e for c, e in per_class.items() if metric in e["below_ratio_floor"]}
        if not below:
            continue
        cls = min(below, key=lambda c: below[c][metric])
        e = below[cls]
        ci = e.get(f"{metric}_ci") or [None, None]
        name = (
            f"{grouping}: {metric.replace('_', ' ')} surely below {floor:g} "
            f"(evaluate.fairness_ratio_floor) for class(es) {', '.join(below)}; lowest class "
            f"{cls}: {e[metric]:.2f}"
            + (f" (interval {ci[0]:.2f} to {ci[1]:.2f})" if ci[0] is not None else "")
        )
        if metric == "demographic_parity_ratio":
            name += (
                f"; the class's true share differs by {e['base_rate_difference']:.2f} among the "
                f"same groups (selection-rate difference {e['demographic_parity_difference']:.2f})"
            )
        add(
            severity,
            name + ".",
            "Compare the per-group selection, true- and false-positive rates in the card; "
            "decide whether this disparity is acceptable for the intended use.",
        )


def _small_groups(ev: dict, params: Params, add) -> None:
    """One line for every group too small to report, one for those barely large enough."""
    minimum = params.evaluate.min_group_size
    too_few, unreliable = [], []
    for grouping, summary in ev["subgroups"].items():
        for name, g in summary["groups"].items():
            if "accuracy" not in g:
                too_few.append(f"{grouping}={name} (n={g['n']})")
            # k-means slices and property bins are sized by construction: intervals say enough
            elif g["n"] < 2 * minimum and summary["recorded"]:
                low, high = g["accuracy_ci"]
                unreliable.append(f"{grouping}={name} (n={g['n']}, {low:.2f} to {high:.2f})")
    if too_few:
        add(
            "low",
            f"{len(too_few)} group(s) have fewer than {minimum} {ev['split']} samples, too few "
            f"to report their metrics: " + ", ".join(too_few) + ".",
            "Collect more evaluation data for these groups before relying on the model for them.",
        )
    if unreliable:
        add(
            "low",
            f"{len(unreliable)} group(s) have fewer than {2 * minimum} {ev['split']} samples; "
            f"their metrics are unreliable (accuracy intervals): " + ", ".join(unreliable) + ".",
            "Read their intervals, not their point values.",
        )
