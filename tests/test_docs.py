"""docs/ARCHITECTURE.md says what the code is: every module in the module map (and nothing that
is gone), every stage in the data flow, every exit code in the table."""

import ast
import inspect
import re

import pytest

from curator import errors
from curator.pipeline import STAGES
from tests.conftest import REPO

DOC = REPO / "docs" / "ARCHITECTURE.md"
PACKAGE = REPO / "curator"
FILE = re.compile(r"^[\w.]+\.(py|yaml)$")


def blocks(text: str) -> list[str]:
    return re.findall(r"^```\n(.*?)^```", text, flags=re.S | re.M)


def module_map(text: str) -> set[str]:
    """Paths (relative to curator/) named in the tree that starts with ``curator/``: a folder is
    a name ending in /, a file any name ending in .py or .yaml (several may share a line);
    continuation lines of a description name nothing."""
    tree = next(b for b in blocks(text) if b.startswith("curator/\n"))
    folders: list[str] = []
    named = set()
    for line in tree.splitlines()[1:]:
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        words = line.split()
        if not words:
            continue
        if words[0].endswith("/"):
            folders = [*folders[:depth], words[0].rstrip("/")]
            named.add("/".join(folders))
            continue
        for word in words:
            if not FILE.match(word):
                break
            named.add("/".join([*folders[:depth], word]))
    return named


def has_code(path) -> bool:
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def modules() -> set[str]:
    found = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if has_code(p)}
    return found | {"params.yaml"}


def test_every_module_is_in_the_module_map_and_every_entry_exists():
    named = module_map(DOC.read_text())
    assert modules() - named == set(), "add these to docs/ARCHITECTURE.md's module map"
    gone = {n for n in named if not (PACKAGE / n).exists()}
    assert gone == set(), "docs/ARCHITECTURE.md names modules that are gone"


def test_every_stage_is_in_the_data_flow():
    flow = next(b for b in blocks(DOC.read_text()) if "──ingest──>" in b)
    missing = [s.name for s in STAGES if f"──{s.name}──>" not in flow]
    assert missing == [], "add these stages to docs/ARCHITECTURE.md's data flow"


def test_every_exit_code_is_in_the_table():
    text = DOC.read_text()
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.CuratorError):
            assert f"| {cls.exit_code} | `{name}`" in text, name
    for code in (0, 1, 2):
        assert f"| {code} |" in text


@pytest.mark.parametrize(
    ("planted", "caught"),
    [
        ("    extra.py          a module that is not in the package\n", "gone"),
        ("", "missing"),
    ],
)
def test_the_map_check_catches_a_planted_mismatch(planted, caught):
    text = DOC.read_text()
    line = "    images.py         safe full decode (EXIF, modes, bomb guard) -> facts or a reason\n"
    assert line in text
    named = module_map(text.replace(line, planted))
    if caught == "gone":
        assert "io/extra.py" in named and "io/images.py" not in named
    assert "io/images.py" in modules() - named
