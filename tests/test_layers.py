"""Imports run down the layers: io and features know nothing of checks or stages, checks
nothing of stages, and only the CLI and the app (which sit above the stages) import stages."""

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "curator"
ABOVE_IO = ("curator.checks", "curator.stages", "curator.report", "curator.app", "curator.cli")
FORBIDDEN = {
    "curator/io/": ABOVE_IO,
    "curator/features/": ABOVE_IO,
    "curator/checks/": ABOVE_IO[1:],
}
MAY_IMPORT_STAGES = ("curator/cli.py", "curator/app.py", "curator/stages/")


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_import_runs_up_the_layers(path):
    rel = path.relative_to(REPO).as_posix()
    names = imported(path)
    for prefix, above in FORBIDDEN.items():
        if rel.startswith(prefix):
            assert not {n for n in names if n.startswith(above)}, rel
    if not rel.startswith(MAY_IMPORT_STAGES):
        assert not {n for n in names if n.startswith("curator.stages")}, rel
