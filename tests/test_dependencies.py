"""The dependencies pyproject.toml declares are the ones the code imports: every third-party
package curator imports (also lazily) is a runtime dependency (Ray: the ``ray`` extra), and the
packages only the tests use are in the ``dev`` extra."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.conftest import REPO

# imported only to see whether it is installed, never required
OPTIONAL = {"umap"}  # app.visualization: auto uses UMAP when it is installed, else PCA


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    return {normal(re.split(r"[\s\[<>=;!~]", r, maxsplit=1)[0]) for r in requirements}


def imported_tops(folder) -> set[str]:
    tops = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                tops.add(node.module.split(".")[0])
    return tops - set(sys.stdlib_module_names) - {"curator", "tests", "__future__"} - OPTIONAL


def undeclared(folder, allowed: set[str]) -> set[str]:
    """Top-level modules imported under ``folder`` that no allowed distribution provides (a
    namespace several distributions share, like fiftyone, needs one of them)."""
    where = packages_distributions()
    return {
        top
        for top in imported_tops(folder)
        if not {normal(d) for d in where.get(top, [top])} & allowed
    }


PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
RUNTIME = declared(PROJECT["dependencies"])
EXTRAS = {name: declared(reqs) for name, reqs in PROJECT["optional-dependencies"].items()}


def test_every_package_the_code_imports_is_declared():
    assert undeclared(REPO / "curator", RUNTIME | EXTRAS["ray"]) == set()


def test_packages_only_the_tests_import_are_dev_extras_not_runtime():
    assert "krippendorff" not in RUNTIME and "krippendorff" in EXTRAS["dev"]
    assert undeclared(REPO / "tests", RUNTIME | EXTRAS["dev"]) == set()
