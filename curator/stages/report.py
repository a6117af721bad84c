"""Report stage: reports/dataset_audit.html, reports/model_card.html, reports/model_card.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curator import artifacts
from curator.io.tables import atomic_path, write_json
from curator.params import Params
from curator.report import (
    Numbers,
    dataset_context,
    load_docs,
    model_card_context,
    model_card_json,
    render,
)

DATASET_AUDIT = "dataset_audit.html"
MODEL_CARD = "model_card.html"
MODEL_CARD_JSON = "model_card.json"


def run(params: Params, data_dir: Path, audits_dir: Path, reports_dir: Path) -> dict[str, Any]:
    audits, reports = Path(audits_dir), Path(reports_dir)
    docs = load_docs(audits)
    audit_numbers, card_numbers = Numbers(docs), Numbers(docs)
    pages = {
        DATASET_AUDIT: render(
            "dataset_audit.html", dataset_context(audit_numbers, audits, Path(data_dir), params)
        ),
        MODEL_CARD: render("model_card.html", model_card_context(card_numbers, data_dir, params)),
    }
    card = model_card_json(Numbers(docs), Path(data_dir), params)
    reports.mkdir(parents=True, exist_ok=True)
    for name, html in pages.items():
        with atomic_path(reports / name) as tmp:
            tmp.write_text(html, encoding="utf-8")
    write_json(card, reports / MODEL_CARD_JSON)
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
