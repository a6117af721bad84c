"""HTML pages from jinja2 templates (autoescape on: labels, paths and metadata values come from
the data). The pages are single files: inline CSS, figures and thumbnails as data URIs, no
scripts, and a Content-Security-Policy that blocks any network request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from curator.io.sources import UNKNOWN
from curator.reporting import plots


def cell_keys(cells: list[dict], row: str, column: str) -> set[tuple[str, str]]:
    """The flagged cells of a representation table, as keys the crosstab macro looks up."""
    return {(str(c[row]), str(c[column])) for c in cells}


def environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("curator.reporting", "templates"),
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
    env.globals["unknown"] = UNKNOWN
    return env


def render(template: str, context: dict[str, Any]) -> str:
    css = (Path(__file__).parent / "templates" / "report.css").read_text()
    return environment().get_template(template).render(**context, css=Markup(css))
