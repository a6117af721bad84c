"""The HTML page of `curator diff`: the same look and safety rules as the two reports
(autoescape, no scripts, no network), every number traced to a field of the diff's JSON."""

from __future__ import annotations

from typing import Any

from curator.io.tables import to_jsonable
from curator.reporting.numbers import Numbers
from curator.reporting.render import render

SOURCE = "diff.json"


def page(result: dict[str, Any]) -> str:
    doc = to_jsonable(result)
    context = {
        "result": doc,
        "numbers": Numbers({SOURCE: doc}),
        "provenance": {"curator_version": doc["curator_version"]},
    }
    return render("diff.html", context)
