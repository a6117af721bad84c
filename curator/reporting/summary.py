"""Plain-text digests of an audit: one sentence per stage, and the whole terminal summary.

The stage commands print the same sentence their stage contributes to ``curator summary``, so
a number is worded one way wherever it appears.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curator import artifacts
from curator.evaluation.shift import shifted_properties
from curator.io.tables import read_json, read_parquet
from curator.reporting.numbers import SOURCES
from curator.reporting.triage import triage


def _interval(stat: dict[str, Any]) -> str:
    lo, hi = stat["ci"]
    return "no interval" if lo is None else f"95% CI {lo:.3f} to {hi:.3f}"


def describe_balance(b: dict[str, Any]) -> str:
    homog = b.get("split_label_homogeneity") or {}
    p_value = f"{homog['p_value']:.3g}" if homog else "n/a"
    return (
        f"imbalance ratio {b['overall']['imbalance_ratio']:.2f}, normalised entropy "
        f"{b['overall']['normalized_entropy']:.3f}, minority classes "
        f"{', '.join(b['minority_classes']) or 'none'}; "
        f"label distribution same across splits: {homog.get('same_distribution', 'n/a')} "
        f"(chi-square p={p_value}); {b['n_flagged_samples']} images flagged"
    )


def describe_duplicates(d: dict[str, Any]) -> str:
    leaked = ", ".join(
        f"{split} {v['leaked']}/{v['n']} ({v['leaked_pct']:.1f}%)"
        for split, v in d["leakage"].items()
        if split != "train"
    )
    calibration = d.get("calibration", {})
    ratio = f" at distance ratio {d['max_distance_ratio']:.2f}" if "max_distance_ratio" in d else ""
    found = (
        f"; the near-duplicate rule{ratio} finds {100 * calibration['recall']:.0f}% of the "
        f"edited copies it made of {calibration['n_copies']} of your images (copies people make "
        "are often harder)"
        if calibration.get("n_copies")
        else ""
    )
    if calibration.get("precision") is not None:
        found += f", and an estimated {100 * calibration['precision']:.1f}% of its pairs are right"
    return (
        f"{d['n_pairs']} twin pairs in {d['n_clusters']} clusters "
        f"({d['n_removable']} removable copies); leaked from earlier splits: {leaked or 'none'}"
        f"{found}"
    )


def describe_boxes(s: dict[str, Any], audits_dir: Path) -> str:
    """What `curator boxes` found, a line per part: box findings, label errors (or why not
    checked), the detector's mAP, annotators' agreement."""
    found = ", ".join(f"{n} {issue}" for issue, n in s["by_issue"].items()) or "nothing flagged"
    lines = [
        f"boxes: {s['n_boxes']} boxes of {len(s['classes'])} classes on {s['n_images']} images "
        f"({s['format']}); {found} -> {audits_dir}/{artifacts.BOX_FINDINGS}"
    ]
    errors, scored, agreement = s["label_errors"], s["evaluation"], s["agreement"]
    if isinstance(errors, str):
        lines.append(f"label errors {errors}")
    else:
        counts = ", ".join(f"{n} {issue}" for issue, n in errors["by_issue"].items())
        lines.append(f"label errors from the detector's predictions: {counts}")
    if isinstance(scored, dict):
        m, lo_hi = scored["map"]["value"], scored["map"]["ci"]
        interval = f" ({lo_hi[0]:.3f} to {lo_hi[1]:.3f})" if lo_hi[0] is not None else ""
        lines.append(
            f"detector on {scored['split']}: mAP {m:.3f}{interval} -> "
            f"{audits_dir}/{artifacts.DETECTION_EVALUATION}"
        )
    elif not isinstance(errors, str):
        lines.append(f"detector {scored}")
    if isinstance(agreement, dict):
        alpha = agreement["alpha"]["value"]
        lines.append(
            f"agreement of {len(agreement['annotators'])} annotators on "
            f"{agreement['n_images_shared']} shared images: class alpha "
            f"{'-' if alpha is None else f'{alpha:.3f}'}; {agreement['n_images_disagreeing']} "
            f"images where they disagree -> {audits_dir}/{artifacts.BOX_CONSENSUS}"
        )
    return "\n".join(lines)


def describe_agreement(a: dict[str, Any]) -> str:
    if not a["n_votes"]:
        return "no annotations, nothing measured"
    alpha = a["krippendorff_alpha"]
    value = "n/a" if alpha["value"] is None else f"{alpha['value']:.3f}"
    return (
        f"Krippendorff alpha {value} ({_interval(alpha)}) over {a['n_items']} items from "
        f"{a['n_annotators']} annotators; {describe_reliability(a)}; consensus by "
        f"{describe_aggregation(a['aggregation'])}; "
        f"{a['n_given_label_differs_from_consensus']} labels differ from the consensus"
    )


def describe_reliability(a: dict[str, Any]) -> str:
    """Which annotators are unreliable, and of how many judged: one with fewer votes than
    agreement.min_annotator_votes is not judged, so 'none' is said only of judged ones."""
    least, judged = a["min_annotator_votes"], a["n_annotators_judged"]
    if not judged:
        return (
            f"reliability not judged: every annotator has fewer than {least} votes "
            "(agreement.min_annotator_votes)"
        )
    names = ", ".join(a["unreliable_annotators"]) or "none"
    return f"unreliable: {names} (of {judged} with at least {least} votes)"


def describe_aggregation(g: dict[str, Any]) -> str:
    image = f", image evidence weight {g['image_weight']:g}" if g["image_weight"] else ""
    return f"{g['chosen'].replace('_', ' ')} (temperature {g['temperature']:g}{image})"


def describe_label_quality(q: dict[str, Any]) -> str:
    if q["evidence"].get("measured") is False:
        return f"not measured: {q['evidence']['reasons'][0]}"
    accuracy = q["accuracy_vs_given_labels"]["value"]
    kind = "out-of-fold accuracy" if q["out_of_fold"] else "accuracy against the given labels"
    source = f"{q['pred_probs_source']}, {kind} {accuracy:.1%}"
    evidence = q["evidence"]
    if not evidence["supported"]:
        return (
            f"not enough evidence for a count of label errors ({'; '.join(evidence['reasons'])}"
            f"); {q['n_flagged']} of {q['n_images']} images ranked for review ({source}). "
            f"To fix: {evidence['to_fix']}"
        )
    low, high = q["estimated_noise_rate_ci"]
    return (
        f"{q['n_label_issues']} likely label errors of {q['n_images']} images, estimated noise "
        f"rate {q['estimated_noise_rate']:.1%} ({low:.1%} to {high:.1%}) ({source})"
    )


def describe_embeddings(e: dict[str, Any]) -> str:
    if e["backend"] == "open_clip":
        return f"{e['model']} ({e['weights']})"
    return f"{e['backend']} - {e['fallback_reason']}"


def describe_shift(s: dict[str, Any]) -> str:
    """Per held-out split, the domain classifier's AUC and verdict; the shifted properties."""
    parts = []
    for split, e in s["embedding"].items():
        if "auc" not in e:
            parts.append(f"{split}: {e['skipped']}")
            continue
        verdict = {True: "shifted", False: "drawn like train", None: "no verdict"}[e["shifted"]]
        p = f" (p={e['p_value']:.3g} against random splits)" if "p_value" in e else ""
        parts.append(f"{split} vs train domain AUC {e['auc']:.3f}{p}, {verdict}")
    by_split = shifted_properties(s["properties"]).items()
    shifted = sorted(f"{n} ({split})" for split, names in by_split for n in names)
    parts.append(f"properties shifted: {', '.join(shifted) or 'none'}")
    return "; ".join(parts)


def describe_errors(s: dict[str, Any]) -> str:
    shown = len({x for g in s["galleries"] for x in g["paths"]})
    return (
        f"{s['n_errors']} {s['split']} images misclassified; {len(s['galleries'])} galleries, "
        f"{shown} images with {s['saliency']['method']} maps"
    )


def describe_evaluation(e: dict[str, Any]) -> str:
    o = e["overall"]
    text = f"{e['split']} accuracy {o['accuracy']:.3f}"
    if "accuracy_ci" in o:
        text += f" ({_interval({'ci': o['accuracy_ci']})})"
    text += f", macro-F1 {o['macro_f1']:.3f}, ECE {o['ece']:.3f} on {e['n']} images"
    leaks = e["data_quality_corrected"]["without_leaks"]
    if leaks["n_excluded"] and leaks["clean_accuracy"] is None:
        text += "; every one of them leaked from train: nothing measured on unseen images"
    elif leaks["n_excluded"]:
        text += (
            f"; without the {leaks['n_excluded']} leaked from train {leaks['clean_accuracy']:.3f}"
        )
    worst = e.get("worst_group")
    if worst:
        where = f"{worst['grouping']}={worst['group']}"
        text += f"; worst group {where} {worst['accuracy']:.3f} (n={worst['n']}"
        if "gap_ci" in worst:
            lo, hi = worst["gap_ci"]
            verdict = "a real gap" if worst["significant"] else "not clearly worse"
            text += f", {worst['accuracy_gap_vs_rest']:.3f} below the rest, CI {lo:.3f} to "
            text += f"{hi:.3f}: {verdict}"
        text += ")"
    return text


def describe_review(ingest: dict[str, Any]) -> str:
    c = ingest.get("corrections", {})
    if not c.get("n_answers"):
        return "no reviewer's answers applied (a round: `curator review push`, README step 9)"
    text = (
        f"{c['n_relabelled']} labels corrected, {c['n_confirmed']} confirmed, "
        f"{c['n_conflict']} in conflict, {c['n_stale']} stale ({c['file']})"
    )
    left = c.get("errors_left", {})
    if left.get("measured") and left["wrong_in_sample"] == 0:
        text += (
            f"; none of a random {left['n_sample']} of {left['round']} was wrong: at most about "
            f"{left['left_ci'][1]:,.0f} wrong labels left among the {left['pool']:,} no one had "
            "reviewed"
        )
    elif left.get("measured"):
        lo, hi = left["left_ci"]
        text += (
            f"; about {left['left']:,.0f} ({lo:,.0f} to {hi:,.0f}) wrong labels left among the "
            f"{left['pool']:,} no one had reviewed ({left['wrong_in_sample']} wrong in a random "
            f"{left['n_sample']} of {left['round']}, {left['fixed_since']} fixed since)"
        )
    elif left:
        text += f"; wrong labels left: not estimated ({left['why']})"
    band = c.get("next_queue_band", {})
    if band.get("measured"):
        lo, hi = band["would_fix_ci"]
        text += (
            f"; the queue's next images would fix about {band['would_fix']:.0f} in "
            f"{band['next']} ({lo:.0f} to {hi:.0f}; wrong down the last round: "
            f"{', '.join(f'{w}/{n}' for w, n in band['per_band'])})"
        )
    return text


# (heading, summary file, command that writes it, sentence)
DIGEST = (
    ("Balance", artifacts.BALANCE_SUMMARY, "curator balance", describe_balance),
    ("Duplicates", artifacts.DUPLICATES_SUMMARY, "curator duplicates", describe_duplicates),
    ("Agreement", artifacts.AGREEMENT_SUMMARY, "curator agreement", describe_agreement),
    ("Labels", artifacts.LABEL_QUALITY_SUMMARY, "curator label-quality", describe_label_quality),
    ("Review", artifacts.INGEST_SUMMARY, "curator ingest", describe_review),
    ("Embeddings", artifacts.EMBED_SUMMARY, "curator embed", describe_embeddings),
    ("Shift", artifacts.SHIFT_SUMMARY, "curator shift", describe_shift),
    ("Model", artifacts.EVALUATION, "curator evaluate", describe_evaluation),
    ("Errors", artifacts.ERRORS_SUMMARY, "curator errors", describe_errors),
)


def render_summary(audits_dir: Path, files: bool = False) -> str:
    """What to fix first (reporting/triage.py, the dataset audit's opening list), one line per
    stage, where the reports are; every output file only with ``files``."""
    audits = Path(audits_dir)
    ingest = read_json(audits / artifacts.INGEST_SUMMARY, "curator ingest")
    splits = ", ".join(f"{s} {n:,}" for s, n in sorted(ingest["by_split"].items()))
    lines = [
        f"Dataset {ingest['data_dir']}: {ingest['n_files']:,} files ({ingest['n_readable']:,} "
        f"readable), {ingest['n_classes']} classes; {splits}",
        "",
        "What to fix first:",
    ]
    found = triage(load_present(audits))
    width = len(f"{max((f['count'] for f in found), default=0):,}")
    for k, f in enumerate(found, 1):
        lines.append(f"  {k:>2}. {f['severity']:<6} {f['count']:>{width},} {f['what']}")
        lines.append(f"      {'':<6} {'':>{width}} -> {f['where']}")
    if not found:
        lines.append("  nothing: no finding to act on (each stage's line below says what it saw)")
    lines += ["", "Each stage:"]
    for heading, name, command, describe in DIGEST:
        if (audits / name).exists():
            lines.append(f"  {heading}: {describe(read_json(audits / name, command))}")
            if describe is describe_review:
                lines += _short_queue(audits, ingest)
    pages = sorted((audits.parent / "reports").glob("*.html"))
    lines.append("")
    if pages:
        lines.append(f"Reports (open in a browser): {', '.join(map(str, pages))}")
    lines.append(
        f"Every finding: {audits / artifacts.ISSUES}; images to relabel, most urgent first: "
        f"{audits / artifacts.REVIEW_QUEUE}"
    )
    if files:
        lines += ["", "Outputs:"]
        lines += [
            f"  {path}"
            for path in sorted(audits.rglob("*"))
            if path.is_file() and not path.name.startswith(".")
        ]
    else:
        lines.append("Every output file: curator summary --files")
    return "\n".join(lines)


def _short_queue(audits: Path, ingest: dict[str, Any]) -> list[str]:
    """The band's rate is per ``next`` images of the queue: when the re-ranked queue holds
    fewer, say so, or 'would fix about 74 in 100' reads as 74 fixes still to be had."""
    band = ingest.get("corrections", {}).get("next_queue_band", {})
    if not band.get("measured") or not (audits / artifacts.REVIEW_QUEUE).exists():
        return []
    left = len(read_parquet(audits / artifacts.REVIEW_QUEUE, "curator issues", ["path"]))
    if left >= band["next"]:
        return []
    return [
        f"  Review queue: now {left} image(s), fewer than the {band['next']} that rate is per: "
        f"at most {left} more fix(es) can come from it"
    ]


def load_present(audits: Path) -> dict[str, Any]:
    """The audit's JSON summaries that exist (a stage not run yet contributes nothing)."""
    return {
        name: read_json(audits / name, command)
        for name, command in SOURCES.items()
        if (audits / name).exists()
    }
