"""The package's shape (docs/architecture.md) holds: layers, no import cycle, size limits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "invoke_checkpoints"
#: What each layer may import from the package (besides itself and ``errors``).
ALLOWED = {
    "store": set(),
    "run": {"store", "plugins"},
    "plugins": {"store", "run"},
    "cli": {"store", "run", "plugins"},
}
#: The only modules of ``run`` that plugins may use: the types a hook receives.
PLUGIN_VIEW_OF_RUN = {"run.context", "run.definition"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Package modules imported by ``name`` anywhere in it (lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            if node.level > 1:
                base = base[: len(base) - (node.level - 1)]
            if node.module:
                found.add(".".join([*base, node.module]))
            else:
                found.update(".".join([*base, a.name]) for a in node.names)
    return found


MODULES = _modules()
GRAPH = {
    name: {d for d in _imports(name, path) if d in MODULES and d != name}
    for name, path in MODULES.items()
}


def test_no_import_cycle() -> None:
    """No module imports, directly or not, one that imports it back."""
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(dep) :], dep]))
            if dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(m for m in MODULES if "." in m))
def test_layers_import_only_downwards(module: str) -> None:
    """store imports no other layer; run uses store (and the plugin host); cli is on top."""
    layer = module.split(".", maxsplit=1)[0]
    for dep in GRAPH[module]:
        other = dep.split(".")[0]
        if other in (layer, "errors"):
            continue
        assert other in ALLOWED.get(layer, set()), f"{module} imports {dep}"
        if layer == "plugins" and other == "run":
            assert dep in PLUGIN_VIEW_OF_RUN, f"{module} imports {dep}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_size_limits(module: str) -> None:
    """Modules of at most ~400 lines, functions of ~80, classes of ~300."""
    source = MODULES[module].read_text()
    assert len(source.splitlines()) <= 420, f"{module} is too long"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            limit = 300 if isinstance(node, ast.ClassDef) else 80
            assert length <= limit, f"{module}.{node.name} has {length} lines"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_imported_from_another_module(module: str) -> None:
    """A name with a leading underscore stays in the module that defines it."""
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                assert not private, f"{module} imports {alias.name} from {node.module}"


def test_public_api_is_the_facade() -> None:
    """Everything in ``__all__`` resolves; every layer package says it is internal."""
    import invoke_checkpoints

    for name in invoke_checkpoints.__all__:
        assert getattr(invoke_checkpoints, name) is not None, name
    for layer in ALLOWED:
        doc = (PACKAGE / layer / "__init__.py").read_text()
        assert "Internal" in doc, layer
