"""The Model Card as JSON, in the Model Card Toolkit schema (v0.0.2 field names)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curator import __version__, artifacts
from curator.evaluation import fairness
from curator.params import Params
from curator.reporting.numbers import Numbers

SCHEMA = Path(__file__).parent / "schemas" / "model_card.schema.json"


HEADLINE_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro-F1",
    "top_k_accuracy": "Top-k accuracy",
    "ece": "Expected calibration error",
}


def model_name(params: Params) -> str:
    return params.report.model_name or "Image classifier (name it in report.model_name)"


def model_card_json(
    numbers: Numbers, params: Params, prov: dict, considerations: list[dict]
) -> dict[str, Any]:
    """The card in the Model Card Toolkit schema (v0.0.2 field names), every metric with its
    slice and interval. Validated against curator/reporting/schemas/model_card.schema.json."""
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
