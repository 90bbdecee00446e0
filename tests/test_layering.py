"""The import graph of src/brickwork: imports point down the layers, and nothing is a cycle.

Every import counts: top-level, inside functions, under TYPE_CHECKING, and
`importlib.import_module("brickwork....")` with a literal name. docs/architecture.md draws
the same layers; a new subpackage or top-level module goes into LEVELS here and there.
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "brickwork"

# Bottom first. A module may import its own component and components on lower levels only;
# components on one level are independent of each other.
LEVELS = [
    {"errors", "version"},  # the user-error type; the version string
    {"figures", "files", "trust"},  # plain helpers: matplotlib figures, atomic files, trust_code
    {"spec"},  # the YAML/Python schema: pydantic only
    {"layers"},  # layer configs and their torch modules
    {"models", "data"},  # build/save/load models | datasets and preprocessing
    {"runs"},  # run directories on disk (listing, comparing)
    {"train"},  # the engine (fit, evaluate, predict) and its runs
    {"finetune"},  # a run that starts from a trained model
    {"tune"},  # many runs (plain or fine-tuning) under Optuna
    {"generate", "forecast", "export"},  # what a trained model is used for
    {"serve"},  # an HTTP service over predict / generate / forecast
    {"cli"},  # the `brickwork` command
    {"__init__", "__main__"},  # the package root (lazy names) and `python -m brickwork`
]
LEVEL = {name: i for i, names in enumerate(LEVELS) for name in names}

# Edges another engineer's branch removes; each is checked below so it is not forgotten.
PENDING: dict[tuple[str, str], str] = {}  # (importer, imported) -> why it is still there


def module_names() -> dict[str, Path]:
    names = {}
    for path in SRC.rglob("*.py"):
        parts = ("brickwork", *path.relative_to(SRC).with_suffix("").parts)
        names[".".join(parts).removesuffix(".__init__")] = path
    return names


MODULES = module_names()


def _owner(name: str) -> str | None:
    """The module an imported name lives in: the longest prefix that is a module."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(node: ast.AST, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        # `from pkg import sub` imports the submodule; `from pkg import name` the package
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    if (
        isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported brickwork module: line of the first such import}."""
    graph = {}
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for imported in _imported(node, package):
                target = _owner(imported) if imported.startswith("brickwork") else None
                if target and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


GRAPH = import_graph()


def component(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def test_every_component_has_a_level():
    missing = sorted({component(m) for m in MODULES} - set(LEVEL))
    assert not missing, f"place {missing} in LEVELS (and in docs/architecture.md)"


def test_imports_point_down_the_layers():
    upward = [
        f"{MODULES[a].relative_to(SRC.parent)}:{line}: {a} ({component(a)}, level "
        f"{LEVEL.get(component(a))}) imports {b} ({component(b)}, level {LEVEL.get(component(b))})"
        for a, edges in sorted(GRAPH.items())
        for b, line in sorted(edges.items())
        if component(a) != component(b)
        and LEVEL.get(component(b), 99) >= LEVEL.get(component(a), -1)
        and (a, b) not in PENDING
    ]
    assert not upward, "imports that point up or sideways:\n" + "\n".join(upward)


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    part = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        part.append(member)
                        if member == node:
                            break
                    if len(part) > 1:
                        found.append(sorted(part))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_import_graph_has_no_cycle():
    graph = {a: {b: n for b, n in e.items() if (a, b) not in PENDING} for a, e in GRAPH.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}, "e": {}}
    assert cycles(graph) == [["a", "b", "c"]]
