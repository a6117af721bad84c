"""Imports run down the layers. Each package (or root module) sits on a layer and imports only
from lower layers and from itself: io and features know nothing of what uses them; evaluation
and learn never import checks, stages or reporting; checks and reporting never import each other
or the stages; only the app and the CLI sit above the stages. Every import counts, also one
inside a function and ``from curator import X``."""

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "curator"
LAYERS = {  # module or package -> layer; a module may import only lower layers and its own package
    "curator": 0,  # the package itself: __version__
    "curator.errors": 0,
    "curator.artifacts": 0,
    "curator.torch_compat": 0,
    "curator.params": 1,
    "curator.io": 2,
    "curator.demo": 2,
    "curator.features": 3,
    "curator.pipeline": 3,
    "curator.engine": 4,
    "curator.evaluation": 4,
    "curator.learn": 4,
    "curator.checks": 5,
    "curator.review": 5,
    "curator.reporting": 5,
    "curator.stages": 6,
    "curator.app": 7,
    "curator.cli": 8,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The LAYERS entry a module belongs to (its package, or itself for a root module)."""
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in LAYERS:
            return ".".join(parts[:k])
    raise KeyError(module)


def is_module(name: str) -> bool:
    where = PACKAGE.parent / name.replace(".", "/")
    return where.with_suffix(".py").exists() or where.is_dir()


def imported(source: str, module: str, is_package: bool) -> set[str]:
    """Every curator module ``source`` imports, ``from curator import X`` resolved to
    ``curator.X`` when X is a module or package, and relative imports resolved."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                names.add(target if is_module(target) else base)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n == "curator" or n.startswith("curator.")}


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    mine = unit(module)
    out = []
    for target in sorted(imported(source, module, is_package)):
        theirs = unit(target)
        if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
            out.append(f"{module} imports {target} (layer {LAYERS[theirs]} >= {LAYERS[mine]})")
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_import_runs_up_the_layers(path):
    module = module_name(path)
    assert not violations(path.read_text(), module, path.name == "__init__.py")


def test_every_module_has_a_layer():
    """A new root module or package must be placed in LAYERS (where it sits is a decision)."""
    for path in MODULES:
        unit(module_name(path))  # KeyError names the module


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("curator.io.tables", "from curator import checks, stages"),
        ("curator.io.tables", "def f():\n    from curator.stages import ingest"),
        ("curator.evaluation.metrics", "import curator.checks.base"),
        ("curator.learn.model", "from curator.reporting import plots"),
        ("curator.reporting.context", "from curator.checks import REGISTRY"),
        ("curator.reporting.context", "from curator import stages"),
        ("curator.checks.balance", "from curator.reporting.numbers import Numbers"),
        ("curator.evaluation.metrics", "from curator.learn import model"),
        ("curator.features.edges", "from ..checks import base"),
    ],
)
def test_a_planted_upward_import_is_caught(module, source):
    assert violations(source, module)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("curator.io.tables", "from curator import __version__, artifacts"),
        ("curator.checks.balance", "from curator.evaluation.intervals import jeffreys_interval"),
        ("curator.stages.report", "from curator.reporting import plots"),
        ("curator.reporting.context", "from . import plots"),
    ],
)
def test_a_downward_import_passes(module, source):
    assert not violations(source, module)
