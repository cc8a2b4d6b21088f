"""How the project's modules import each other, read from their source with `ast`.

Imports under `if TYPE_CHECKING:` count: they hide a cycle from the interpreter, not from
the reader or the type checker.
"""

import ast
from pathlib import Path

from tests.conftest import PROJECT_ROOT

PACKAGES = ("ml_assets", "resources", "sensors", "bentos", "benchmarks")
DAGSTER_ADAPTER = PROJECT_ROOT / "ml_assets" / "dagster_private.py"
# Being rewritten elsewhere; they are to import the partition range tags from
# ml_assets.run_tags instead, and then leave this list.
NOT_YET_MOVED = {PROJECT_ROOT / "tests" / "helpers.py", PROJECT_ROOT / "tests" / "test_serving.py"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
    }


def imported_names(path: Path) -> set[str]:
    """Every module or `module.name` an import statement of the file names."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {
        name: {n for n in imported_names(path) if n in modules and n != name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles_between_project_modules() -> None:
    graph = import_graph()
    assert "resources.alert_channels" in graph  # the walk found the project
    assert cycles(graph) == []


def test_dagster_internals_are_imported_in_one_adapter_only() -> None:
    files = [*project_modules().values(), *sorted((PROJECT_ROOT / "tests").glob("*.py"))]
    importing = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in files
        if any(name.startswith("dagster._") for name in imported_names(path))
    }
    assert "ml_assets/dagster_private.py" in importing  # the scan sees such imports
    allowed = {p.relative_to(PROJECT_ROOT).as_posix() for p in {DAGSTER_ADAPTER, *NOT_YET_MOVED}}
    assert importing - allowed == set()
