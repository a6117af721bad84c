"""Report stage: reports/dataset_audit.html, reports/model_card.html, reports/model_card.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curator import artifacts
from curator.io.tables import atomic_path, outputs_committed_together, write_json
from curator.params import Params
from curator.report import (
    Numbers,
    caveats,
    dataset_context,
    load_docs,
    model_card_context,
    model_card_json,
    provenance,
    render,
)

DATASET_AUDIT = "dataset_audit.html"
MODEL_CARD = "model_card.html"
MODEL_CARD_JSON = "model_card.json"


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path, reports_dir: Path) -> dict[str, Any]:
    audits, reports = Path(audits_dir), Path(reports_dir)
    docs = load_docs(audits)
    audit_numbers, card_numbers = Numbers(docs), Numbers(docs)
    prov = provenance(data_dir)  # a path or a URL: thumbnails are read through join_uri
    considerations = caveats(card_numbers, params)
    pages = {
        DATASET_AUDIT: render(
            "dataset_audit.html", dataset_context(audit_numbers, audits, data_dir, params, prov)
        ),
        MODEL_CARD: render(
            "model_card.html", model_card_context(card_numbers, params, prov, considerations)
        ),
    }
    card = model_card_json(card_numbers, params, prov, considerations)
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
