"""Report stage: reports/dataset_audit.html, reports/model_card.html, reports/model_card.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curator import artifacts
from curator.checks import checks_for
from curator.io.tables import atomic_path, outputs_committed_together, write_json
from curator.params import Params
from curator.reporting import plots
from curator.reporting.caveats import caveats
from curator.reporting.context import dataset_context, model_card_context, provenance
from curator.reporting.model_card import model_card_json
from curator.reporting.numbers import Numbers, load_docs
from curator.reporting.render import render
from curator.reporting.thumbnails import error_galleries

DATASET_AUDIT = "dataset_audit.html"
MODEL_CARD = "model_card.html"
MODEL_CARD_JSON = "model_card.json"
FIGURES_DIR = "figures"
FIGURES = ("class_counts", "group_accuracy", "confusion", "reliability")


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path, reports_dir: Path) -> dict[str, Any]:
    audits, reports = Path(audits_dir), Path(reports_dir)
    docs = load_docs(audits)
    audit_numbers, card_numbers = Numbers(docs), Numbers(docs)
    # data_dir may be a path or a URL: thumbnails are read through join_uri
    prov = provenance(data_dir, docs[artifacts.INGEST_SUMMARY])
    considerations = caveats(card_numbers, params)
    checks = [
        {"name": c.name, "description": c.description, "issues": c.issues}
        for c in checks_for(params)
    ]
    audit = dataset_context(audit_numbers, audits, data_dir, params, prov, checks)
    size, max_pixels = params.report.thumbnail_size, params.ingest.max_image_pixels
    galleries = error_galleries(docs[artifacts.ERRORS_SUMMARY], audits, data_dir, size, max_pixels)
    model_card = model_card_context(card_numbers, params, prov, considerations, galleries)
    pages = {
        DATASET_AUDIT: render("dataset_audit.html", audit),
        MODEL_CARD: render("model_card.html", model_card),
    }
    card = model_card_json(card_numbers, params, prov, considerations)
    reports.mkdir(parents=True, exist_ok=True)
    for name, html in pages.items():
        with atomic_path(reports / name) as tmp:
            tmp.write_text(html, encoding="utf-8")
    write_json(card, reports / MODEL_CARD_JSON)
    no_groups = "No group or slice was large enough to report (evaluate.min_group_size)."
    figures = {
        "class_counts": audit["class_plot"],
        "group_accuracy": model_card["figures"]["groups"] or plots.message(no_groups),
        "confusion": model_card["figures"]["confusion"],
        "reliability": model_card["figures"]["reliability"],
    }
    for name in FIGURES:  # `dvc plots show` shows these (images render offline)
        with atomic_path(reports / FIGURES_DIR / f"{name}.svg") as tmp:
            tmp.write_bytes(figures[name])
    return {
        "pages": [str(reports / name) for name in pages],
        "card": str(reports / MODEL_CARD_JSON),
        "numbers_traced": {
            DATASET_AUDIT: len(audit_numbers.used),
            MODEL_CARD: len(card_numbers.used),
        },
        "n_performance_metrics": len(card["quantitative_analysis"]["performance_metrics"]),
        "n_considerations": len(card["considerations"]["ethical_considerations"]),
        "evaluation": artifacts.EVALUATION,
    }
