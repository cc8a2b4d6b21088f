"""How the project's modules import each other, read from their source with `ast`.

Imports under `if TYPE_CHECKING:` count: they hide a cycle from the interpreter, not from
the reader or the type checker.
"""

import ast
from pathlib import Path

from tests.conftest import PROJECT_ROOT

PACKAGES = ("ml_assets", "resources", "sensors", "bentos", "benchmarks")
DAGSTER_ADAPTER = PROJECT_ROOT / "ml_assets" / "dagster_private.py"
BENTOML_ADAPTER = PROJECT_ROOT / "resources" / "bento_store.py"
# BentoML 1.4 has no public hook for its request metrics' route label: the one patch of
# its HTTP metrics middleware (unknown paths -> one label) lives in this module alone.
BENTOML_METRICS_PATCH = PROJECT_ROOT / "bentos" / "observability.py"
# Nor for a middleware outside its tracing and access log: the load-shedding patch of its
# app factory's middleware list lives in this module alone.
BENTOML_SHEDDING_PATCH = PROJECT_ROOT / "bentos" / "shedding.py"

# The layers, top to bottom: a module may import its own layer and the layers below it,
# never one above (cli -> runs -> definitions -> factory, jobs -> assets/sensors -> lifecycle ->
# resources -> lib). Leaf modules with no project imports of note sit at the bottom.
LAYERS = [
    ("ml_assets.cli",),
    ("ml_assets.runs",),
    ("ml_assets.definitions",),
    ("ml_assets.factory", "ml_assets.jobs"),
    ("ml_assets.assets", "sensors"),
    ("ml_assets.lifecycle",),
    ("resources", "ml_assets.instance_storage"),
    ("ml_assets.keys", "ml_assets.dagster_private", "ml_assets.run_tags"),
    ("ml_assets.environment", "ml_assets.lib", "ml_assets"),
]


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
    assert importing - {DAGSTER_ADAPTER.relative_to(PROJECT_ROOT).as_posix()} == set()


def test_bentoml_internals_are_imported_in_the_three_adapters_only() -> None:
    files = [*project_modules().values(), *sorted((PROJECT_ROOT / "tests").glob("*.py"))]
    importing = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in files
        if any(name.startswith(("bentoml._", "_bentoml")) for name in imported_names(path))
    }
    allowed = {BENTOML_ADAPTER, BENTOML_METRICS_PATCH, BENTOML_SHEDDING_PATCH}
    assert importing == {path.relative_to(PROJECT_ROOT).as_posix() for path in allowed}


def layer(module: str) -> int | None:
    """The index of the layer a module belongs to (longest matching prefix wins)."""
    best: tuple[int, int] | None = None
    for position, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[1]):
                best = (position, len(prefix))
    return best[0] if best else None


def test_imports_flow_one_way_down_the_layers() -> None:
    order = [layer(m) for m in ("ml_assets.cli.main", "ml_assets.factory", "ml_assets.lib.refs")]
    assert order == sorted(order) and None not in order  # the layers resolve as drawn
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        for target in targets
        if (a := layer(source)) is not None and (b := layer(target)) is not None and b < a
    )
    assert upward == []


def test_pure_logic_imports_no_dagster() -> None:
    lib = PROJECT_ROOT / "ml_assets" / "lib"
    offenders = [
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in sorted(lib.rglob("*.py"))
        if any(n == "dagster" or n.startswith("dagster.") for n in imported_names(path))
    ]
    assert offenders == []
