"""The reviewer's reports: the dataset audit and the Model Card (HTML), and the card as JSON.

Every number on a page is printed by ``Numbers.num``, which reads it from an audits/ file at a
named path and tags it with that source (``data-src``), so a test can trace each one back. The
pages are single files: inline CSS, figures and thumbnails as data URIs, no scripts, and a
Content-Security-Policy that blocks any network request. jinja2 autoescapes everything that came
from the data (labels, paths, metadata values).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from curator import __version__, artifacts, fairness, plots, saliency
from curator.io.images import open_rgb
from curator.io.tables import read_json, read_parquet
from curator.io.uris import join_uri, read_uri
from curator.io.versions import data_commit, data_version
from curator.params import Params
from curator.shift import shifted_properties
from curator.subgroups import CONDITION_PREFIX

SCHEMA = Path(__file__).parent / "schemas" / "model_card.schema.json"
# summary file -> the command that writes it (named in the error when it is missing)
SOURCES = {
    artifacts.INGEST_SUMMARY: "curator ingest",
    artifacts.BALANCE_SUMMARY: "curator balance",
    artifacts.PROPERTIES_SUMMARY: "curator properties",
    artifacts.EMBED_SUMMARY: "curator embed",
    artifacts.SHIFT_SUMMARY: "curator shift",
    artifacts.DUPLICATES_SUMMARY: "curator duplicates",
    artifacts.AGREEMENT_SUMMARY: "curator agreement",
    artifacts.LABEL_QUALITY_SUMMARY: "curator label-quality",
    artifacts.EVALUATION: "curator evaluate",
    artifacts.ERRORS_SUMMARY: "curator errors",
    f"{artifacts.MODEL_DIR}/model.json": "curator train",
}
HEADLINE_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro-F1",
    "top_k_accuracy": "Top-k accuracy",
    "ece": "Expected calibration error",
}


@dataclass
class Numbers:
    """The audit's JSON files, and the one way a template prints a number from them."""

    docs: dict[str, Any]
    used: list[tuple[str, list]] = field(default_factory=list)

    def value(self, source: str, path: list | str) -> Any:
        node = self.docs[source]
        for key in [path] if isinstance(path, str) else path:
            if node is None:
                return None
            node = node[int(key)] if isinstance(node, list) else node.get(key)
        return node

    def num(self, source: str, path: list | str, fmt: str = ".3f", suffix: str = "") -> Markup:
        """``<span class="num" data-src="file path">formatted</span>``; a dash when undefined."""
        path = [path] if isinstance(path, str) else list(path)
        value = self.value(source, path)
        if value is None:
            return Markup('<span class="na" title="not defined">&ndash;</span>')
        self.used.append((source, path))
        src = f"{source} {json.dumps(path)}"
        return Markup('<span class="num" data-src="{}">{}{}</span>').format(
            src, format(value, fmt), suffix
        )


def load_docs(audits: Path) -> dict[str, Any]:
    return {name: read_json(audits / name, cmd) for name, cmd in SOURCES.items()}


def _open(data_dir: Path | str, path: str, max_pixels: int):
    """The decoded image, or None if it cannot be read (an unreadable file is already a
    finding: it is listed, without a picture)."""
    try:
        return open_rgb(read_uri(join_uri(data_dir, path)), max_pixels)[0]
    except (OSError, ValueError):
        return None


def _png_uri(img) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _thumb_uri(img, size: int) -> str:
    img = img.copy()
    img.thumbnail((size, size))
    return _png_uri(img)


def thumbnail(data_dir: Path | str, path: str, size: int, max_pixels: int) -> str | None:
    """A PNG data URI of the image at ``size`` px (longest side), or None."""
    img = _open(data_dir, path, max_pixels)
    return None if img is None else _thumb_uri(img, size)


def error_galleries(
    summary: dict[str, Any], audits: Path, data_dir: Path | str, size: int, max_pixels: int
) -> list[dict[str, Any]]:
    """The errors stage's galleries (``summary``: errors.json), each image as a thumbnail and
    its saliency overlay, decoded once."""
    import numpy as np

    table = read_parquet(audits / artifacts.ERRORS, "curator errors").set_index("path")
    out = []
    for gallery in summary["galleries"]:
        items = []
        for path in gallery["paths"]:
            row = table.loc[path]
            img = _open(data_dir, path, max_pixels)
            heat = np.asarray(row["saliency"], float).reshape(row["saliency_shape"])
            items.append(
                {"path": path, "label": row["label"], "predicted": row["predicted"]}
                | {"confidence": row["confidence"]}
                | {
                    "thumb": None if img is None else _thumb_uri(img, size),
                    "overlay": None if img is None else _png_uri(saliency.overlay(img, heat, size)),
                }
            )
        out.append(gallery | {"items": items})
    return out


def provenance(data_dir: Path | str, ingest: dict[str, Any]) -> dict[str, Any]:
    """Which data the reports describe. The version and date are DVC's (data.dvc's md5 and the
    date of the commit that recorded it) only when that record is committed, unchanged and
    describes the audited folder; otherwise the version is the audited files' own content
    digest, there is no date, and ``unversioned`` says why."""
    p = {
        **data_version(data_dir),
        **data_commit(data_dir),
        "curator_version": __version__,
        "data_dir": str(data_dir),
        "data_digest": ingest["data_digest"],
        "n_files": ingest["n_files"],
    }
    if p["data_dvc_md5"] is None:
        why = f"not tracked by DVC: `dvc add {data_dir}` and commit {data_dir}.dvc"
    elif p["dvc_file_describes_data"] is False:
        why = (
            f"{data_dir}.dvc (md5 {p['data_dvc_md5']}) does not describe the audited folder "
            f"(it changed without `dvc add`): run `dvc add {data_dir}` and commit"
        )
    elif p["commit"] is None:
        why = f"{data_dir}.dvc is not committed to git: commit it"
    elif p["dvc_file_modified"]:
        why = f"{data_dir}.dvc has uncommitted changes: commit them"
    else:
        why = None
    p["unversioned"] = why
    p["version"] = f"sha256:{p['data_digest'][:16]}" if why else p["data_dvc_md5"]
    if why:
        p["date"] = None
    return p


EXACT_LISTED = 50  # exact copies listed by path (no thumbnails: nothing to judge)


def dataset_context(
    numbers: Numbers, audits: Path, data_dir: Path | str, params: Params, prov: dict
) -> dict:
    docs, r = numbers.docs, params.report

    def thumb(path: str) -> str | None:
        return thumbnail(data_dir, path, r.thumbnail_size, params.ingest.max_image_pixels)

    pairs = read_parquet(audits / artifacts.DUPLICATES, "curator duplicates")
    # near pairs are the ones a person must look at: shown first, with thumbnails and evidence;
    # exact copies need no eye and are summarised
    near = pairs[pairs["kind"] == "near"]
    near = near.sort_values(["cross_split", "score"], ascending=[False, False])
    exact = pairs[pairs["kind"] != "near"]
    exact = exact.sort_values(["cross_split", "path_a"], ascending=[False, True])
    label_issues = read_parquet(audits / artifacts.LABEL_ISSUES, "curator label-quality")
    label_issues = label_issues[label_issues["is_label_issue"]].sort_values("label_quality")
    queue = read_parquet(audits / artifacts.REVIEW_QUEUE, "curator issues").head(r.thumbnails)
    issues = read_parquet(audits / artifacts.ISSUES, "curator issues")
    corrupt = issues[issues["issue"] == "corrupt"]
    conditions = issues[issues["issue"].isin(artifacts.CONDITION_ISSUES)]
    balance = docs[artifacts.BALANCE_SUMMARY]
    return {
        "numbers": numbers,
        "provenance": prov,
        "ingest": docs[artifacts.INGEST_SUMMARY],
        "balance": balance,
        "embed": docs[artifacts.EMBED_SUMMARY],
        "duplicates": docs[artifacts.DUPLICATES_SUMMARY],
        "agreement": docs[artifacts.AGREEMENT_SUMMARY],
        "labels": docs[artifacts.LABEL_QUALITY_SUMMARY],
        "finding_counts": issues.groupby("issue")["path"].nunique().to_dict(),
        "corrupt": corrupt.to_dict("records"),
        "conditions": docs[artifacts.PROPERTIES_SUMMARY],
        "condition_examples": {
            name: [
                row | {"thumb": thumb(row["path"])}
                for row in group.sort_values(["score", "path"], ascending=[False, True])
                .head(r.thumbnails)
                .to_dict("records")
            ]
            for name, group in conditions.groupby("issue")
        },
        "shift": docs[artifacts.SHIFT_SUMMARY],
        "shift_examples": {
            split: [
                row | {"thumb": thumb(row["path"])} for row in e["most_shifted"][: r.thumbnails]
            ]
            for split, e in docs[artifacts.SHIFT_SUMMARY]["embedding"].items()
            if e.get("most_shifted")
        },
        "class_plot": plots.class_counts(balance["class_counts"], list(params.ingest.splits)),
        "near_pairs": [
            row | {"thumb_a": thumb(row["path_a"]), "thumb_b": thumb(row["path_b"])}
            for row in near.head(r.thumbnails).to_dict("records")
        ],
        "n_near_pairs": len(near),
        "exact_summary": [
            {
                "kind": kind.replace("_", " "),
                "n": len(group),
                "cross_split": int(group["cross_split"].sum()),
                "label_conflict": int(group["label_conflict"].sum()),
            }
            for kind, group in exact.groupby("kind")
        ],
        "exact_pairs": exact.head(EXACT_LISTED).to_dict("records"),
        "n_exact_pairs": len(exact),
        "attribute_conflicts": issues[issues["issue"] == "duplicate_attribute_conflict"]
        .sort_values(["score", "path"], ascending=[False, True])
        .head(r.thumbnails)
        .to_dict("records"),
        "label_issues": [
            row | {"thumb": thumb(row["path"])}
            for row in label_issues.head(r.thumbnails).to_dict("records")
        ],
        "n_label_issue_rows": len(label_issues),
        "queue": [row | {"thumb": thumb(row["path"])} for row in queue.to_dict("records")],
        "thresholds": _thresholds(params),
    }


def _thresholds(params: Params) -> dict[str, dict[str, Any]]:
    sections = (
        "ingest",
        "balance",
        "hash",
        "properties",
        "embed",
        "duplicates",
        "agreement",
        "label_quality",
        "train",
        "evaluate",
    )
    return {s: dict(vars(getattr(params, s))) for s in sections}


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
    worst = ev.get("worst_group")
    if worst and worst.get("significant"):
        add(
            "high",
            f"The model is worse for {worst['grouping']}={worst['group']}: accuracy "
            f"{worst['accuracy']:.3f}, {worst['accuracy_gap_vs_rest']:.3f} below the "
            f"rest (interval {worst['gap_ci'][0]:.3f} to {worst['gap_ci'][1]:.3f}).",
            "Investigate the group's data (quality, quantity, labels); do not deploy for it "
            "without a group-specific evaluation.",
        )
    for grouping, summary in ev["subgroups"].items():  # only recorded groupings have them
        _parity(grouping, summary, ev["params"]["fairness_ratio_floor"], add)
    leaks = ev["data_quality_corrected"]["without_leaks"]
    if leaks["n_excluded"]:
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


def group_rows(ev: dict) -> list[dict]:
    """Groups with a reportable accuracy, for the per-group figure (worst group marked). Of an
    image property's bins only the two extremes and its worst bin are drawn (the tables hold
    every bin): ten bins of five properties would bury the metadata groups."""
    worst = ev.get("worst_group") or {}
    rows = []
    for grouping, summary in ev["subgroups"].items():
        names = sorted(summary["groups"])
        shown = set(names)
        if grouping.startswith(CONDITION_PREFIX):
            shown = {names[0], names[-1], (summary.get("worst_group") or {}).get("group")}
        for name, g in summary["groups"].items():
            if "accuracy" in g and name in shown:
                rows.append(
                    {
                        "label": f"{grouping}={name}",
                        "n": g["n"],
                        "accuracy": g["accuracy"],
                        "ci": g["accuracy_ci"],
                        "worst": grouping == worst.get("grouping") and name == worst.get("group"),
                    }
                )
    return rows


def model_card_context(
    numbers: Numbers,
    params: Params,
    prov: dict,
    considerations: list[dict],
    galleries: list[dict],
) -> dict:
    ev = numbers.docs[artifacts.EVALUATION]
    model = numbers.docs[f"{artifacts.MODEL_DIR}/model.json"]
    groups = group_rows(ev)
    figures = {
        "groups": plots.group_accuracy(groups, ev["overall"]["accuracy"]) if groups else None,
        "confusion": plots.confusion(ev["overall"]["confusion_matrix"], ev["classes"]),
        "reliability": plots.reliability(ev["overall"]["calibration"]),
    }
    return {
        "numbers": numbers,
        "provenance": prov,
        "model": model,
        "ev": ev,
        "duplicates": numbers.docs[artifacts.DUPLICATES_SUMMARY],
        "embed": numbers.docs[artifacts.EMBED_SUMMARY],
        "shift": numbers.docs[artifacts.SHIFT_SUMMARY],
        "shifted_properties": shifted_properties(
            numbers.docs[artifacts.SHIFT_SUMMARY]["properties"]
        ),
        "balance": numbers.docs[artifacts.BALANCE_SUMMARY],
        "ingest": numbers.docs[artifacts.INGEST_SUMMARY],
        "r": params.report,
        "name": model_name(params),
        "caveats": considerations,
        "galleries": galleries,
        "errors": numbers.docs[artifacts.ERRORS_SUMMARY],
        "figures": figures,
        "headline": HEADLINE_NAMES,
        "label_evidence_supported": numbers.docs[artifacts.LABEL_QUALITY_SUMMARY]["evidence"][
            "supported"
        ],
    }


def model_name(params: Params) -> str:
    return params.report.model_name or "Image classifier (name it in report.model_name)"


def model_card_json(
    numbers: Numbers, params: Params, prov: dict, considerations: list[dict]
) -> dict[str, Any]:
    """The card in the Model Card Toolkit schema (v0.0.2 field names), every metric with its
    slice and interval. Validated against curator/schemas/model_card.schema.json."""
    ev = numbers.docs[artifacts.EVALUATION]
    model = numbers.docs[f"{artifacts.MODEL_DIR}/model.json"]
    r = params.report
    metrics = []

    def add(kind: str, entry: dict, slice_name: str | None = None) -> None:
        if entry.get(kind) is None:
            return
        metric = {"type": kind, "value": entry[kind]}
        if slice_name:
            metric["slice"] = slice_name
        ci = entry.get(f"{kind}_ci")
        if ci and None not in ci:
            metric["confidence_interval"] = {"lower_bound": ci[0], "upper_bound": ci[1]}
        metrics.append(metric)

    for kind in HEADLINE_NAMES:
        add(kind, ev["overall"])
    for grouping, summary in ev["subgroups"].items():
        for name, g in summary["groups"].items():
            for kind in HEADLINE_NAMES:
                add(kind, g, f"{grouping}={name}")
    for grouping, summary in ev["subgroups"].items():
        for cls, entry in (summary.get("fairness") or {}).get("per_class", {}).items():
            for kind in fairness.FAIRNESS_METRICS:
                add(kind, entry, f"{grouping} (class {cls}, one-vs-rest)")
    for variant, entry in ev["data_quality_corrected"].items():
        add("clean_accuracy", entry, variant)
    not_stated = "Not stated: fill report.{} in params.yaml."

    def describe(items: tuple[str, ...], key: str) -> list[dict[str, str]]:
        return [{"description": d} for d in items] or [{"description": not_stated.format(key)}]

    card = {
        "schema_version": "0.0.2",
        "model_details": {
            "name": model_name(params),
            "overview": r.overview or not_stated.format("overview"),
            "documentation": (
                f"A {model['architecture']} head on {model['embedding']['backend']} embeddings "
                f"({model['embedding']['model'] or 'no CLIP model'}), trained by curator "
                f"{__version__} on data version {prov['version']}."
            ),
            "owners": [{"name": o} for o in r.owners],
            "version": {"name": str(prov["version"])}
            | ({"date": prov["date"]} if prov["date"] else {}),
            "licenses": [{"identifier": r.license}]
            if r.license
            else [{"custom_text": not_stated.format("license")}],
            "path": f"audits/{artifacts.MODEL_DIR}/model.safetensors",
        },
        "model_parameters": {
            "model_architecture": model["architecture"],
            "data": [
                {
                    "name": "train",
                    "description": f"{model['n_train']} images "
                    f"({model['n_excluded']} excluded by "
                    f"train.exclude)",
                },
                {"name": ev["split"], "description": f"{ev['n']} images (evaluation)"},
            ],
            "input_format": "image file (decoded to RGB; embedded by the backbone)",
            "output_format": f"probabilities over {len(ev['classes'])} classes",
        },
        "quantitative_analysis": {"performance_metrics": metrics},
        "considerations": {
            "users": describe(r.intended_users, "intended_users"),
            "use_cases": describe(r.intended_uses, "intended_uses"),
            "limitations": [{"description": f"Out of scope: {u}"} for u in r.out_of_scope_uses]
            or [{"description": not_stated.format("out_of_scope_uses")}],
            "ethical_considerations": [
                {
                    "name": f"[{c['severity']}] {c['name']}",
                    "mitigation_strategy": c["mitigation_strategy"],
                }
                for c in considerations
            ],
        },
    }
    validate_card(card)
    return card


def validate_card(card: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(card, schema, format_checker=jsonschema.FormatChecker())


def cell_keys(cells: list[dict], row: str, column: str) -> set[tuple[str, str]]:
    """The flagged cells of a representation table, as keys the crosstab macro looks up."""
    return {(str(c[row]), str(c[column])) for c in cells}


def environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("curator", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda x: "–" if x is None else f"{x:.1%}"
    env.filters["data_uri"] = plots.data_uri
    env.tests["startingwith"] = str.startswith
    env.globals["cell_keys"] = cell_keys
    env.globals["escape"] = escape
    return env


def render(template: str, context: dict[str, Any]) -> str:
    css = (Path(__file__).parent / "templates" / "report.css").read_text()
    return environment().get_template(template).render(**context, css=Markup(css))
