"""The layers of docs/design.md, held against the code: no module imports from a layer above its own, and the
package's import graph has no circle. Every import counts: at the top, inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "newsarchive"

# Bottom to top, as docs/design.md lists them; a name covers the module and, with a trailing dot, a package.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        ("version", "errors", "times", "durations", "models", "html", "sources", "config", "fetch_paths", "fetch_net", "processes"),
    ),
    ("format", ("store.layout", "store.fileformat", "store.atomic", "parse", "normalise")),
    ("index", ("index.",)),
    ("store", ("store.",)),
    (
        "features",
        (
            "fetch",
            "worker",
            "cluster",
            "fulltext",
            "due",
            "media",
            "recheck",
            "health",
            "diff",
            "export",
            "check",
            "save",
            "outlets",
            "pipeline",
        ),
    ),
    ("readers", ("web.", "publish.")),
    ("façade", ("archive", "scheduler", "demo", "doctor", "migrate")),
    ("entry", ("cli.", "__main__", "")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The layer of a module (without the ``newsarchive.`` prefix); the most specific name that covers it wins."""
    best: tuple[int, int] | None = None  # (length of the matching name, layer)
    for number, (_, names) in enumerate(LAYERS):
        for name in names:
            covers = module == name.rstrip(".") or (name.endswith(".") and module.startswith(name)) or (name == "" and module == "")
            if covers and (best is None or len(name) > best[0]):
                best = (len(name), number)
    if best is None:
        raise AssertionError(f"newsarchive.{module} is in no layer: add it to LAYERS here and to docs/design.md")
    return best[1]


def imports_of(own: str, is_package: bool, text: str, modules: set[str]) -> set[str]:
    """The package's modules that the module ``own`` (whose source is ``text``) imports, anywhere in it."""
    package = own.split(".") if is_package else own.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name.removeprefix("newsarchive").lstrip(".") for alias in node.names if alias.name.startswith("newsarchive")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "newsarchive":
                stem = node.module.removeprefix("newsarchive").lstrip(".")
            else:
                continue
            names = [f"{stem}.{alias.name}".lstrip(".") for alias in node.names]
        for name in names:
            while name not in modules and "." in name:
                name = name.rpartition(".")[0]
            if name not in modules:
                name = ""  # the package itself
            if name != own:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        module: imports_of(module, path.name == "__init__.py", path.read_text(encoding="utf-8"), set(files))
        for module, path in files.items()
    }


def test_no_module_imports_from_a_layer_above_its_own(graph: dict[str, set[str]]) -> None:
    climbing = [
        f"newsarchive.{module} ({LAYERS[layer_of(module)][0]}) imports newsarchive.{target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert not climbing, "\n".join(climbing)


def test_the_import_graph_has_no_circle(graph: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}  # 1: being visited, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (circle := visit(target)):
                return circle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (circle := visit(module)):
            pytest.fail("import circle: " + " -> ".join(f"newsarchive.{name}".rstrip(".") for name in circle))


def test_the_layers_are_those_the_design_describes() -> None:
    design = (SRC.parent / "docs" / "design.md").read_text(encoding="utf-8")
    for name, modules in LAYERS:
        row = next((line for line in design.splitlines() if line.startswith("| ") and f" {name} |" in line), None)
        assert row is not None, f"docs/design.md has no row for the layer {name!r}"
        for module in modules:
            shown = module.rstrip(".") + (".*" if module.endswith(".") else "")
            assert module == "" or f"`{shown}`" in row, f"docs/design.md's row of {name!r} does not name `{shown}`"


@pytest.mark.parametrize(
    ("source", "climbs"),
    [
        ("from ..pipeline import update\n", True),  # in store/: a feature
        ("def f():\n    from ..web import app\n", True),  # inside a function counts
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..archive import Archive\n", True),
        ("from ..index.rows import ArticleRow\n", False),
        ("from . import layout\n", False),
    ],
)
def test_the_check_sees_an_import_that_climbs(source: str, climbs: bool) -> None:
    """The rule itself: a store module importing a feature (anywhere in the file) is caught; downward is not."""
    files = {module_name(path) for path in PACKAGE.rglob("*.py")}
    found = imports_of("store.probe", False, source, files)
    assert any(layer_of(target) > layer_of("store.probe") for target in found) is climbs
