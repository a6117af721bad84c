"""The audit's JSON files, and the one way a report prints a number from them.

Every number on a page is printed by ``Numbers.num``, which reads it from an audits/ file at a
named path and tags it with that source (``data-src``), so a test can trace each one back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from curator import artifacts
from curator.io.tables import read_json

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
