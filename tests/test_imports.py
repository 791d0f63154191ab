"""The import graph of core/ and demo/ (read with `ast`, lazy imports inside functions included)
has no cycle and runs downward through the layers of the architecture, and no file of the project
adds to sys.path."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "demo")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (anywhere in the file)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from pkg import name`: the submodule pkg.name if there is one, else pkg itself
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:  # `import core.analysis.vae as x` etc.
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


# The architecture, bottom to top: a module may import its own layer and those below, never above.
LAYERS = (
    ("core", "core.paths", "core.metrics"),   # the package itself and what everything uses
    ("core.data",),
    ("core.models",),                          # classes, registry, checkpoints, training configs
    ("core.cache", "core.training"),
    ("core.denoising",),
    ("core.analysis",),
    ("core.plots",),
    ("core.report",),
    ("demo",),
)


def layer(module: str) -> int:
    """Index in LAYERS of the longest name that is `module` or a package holding it ("core" itself
    holds only the package's own __init__)."""
    matches = [(len(name), i) for i, names in enumerate(LAYERS) for name in names
               if module == name or (name != "core" and module.startswith(name + "."))]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a))


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_core_and_demo_import_graph_has_no_cycle():
    graph = import_graph()
    assert {"core.models", "core.training.train", "core.report.summary", "demo.app"} <= set(graph)
    assert "core.analysis.latent" in graph["core.report.summary"]  # a plain import, no importlib
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_run_downward_through_the_layers():
    assert upward_imports({"core.models.vae": {"core.denoising.denoise"}}) == ["core.models.vae -> core.denoising.denoise"]
    assert upward_imports({"core.denoising.denoise": {"core.models.vae", "core.data.mnist", "core.paths"}}) == []
    graph = import_graph()
    assert {layer(m) for m in graph} == set(range(len(LAYERS)))  # every layer is still there
    assert upward_imports(graph) == []


def test_no_file_adds_to_sys_path():
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if ".venv" not in p.parts and p.name != "test_imports.py" and "sys.path" in p.read_text()]
    assert not offenders, f"use the editable install (pyproject.toml) instead: {offenders}"


def test_no_python_file_of_the_package_demo_or_benchmarks_outgrows_400_lines():
    """A job that outgrows ~400 lines becomes a folder split by family (the house style)."""
    long = {str(p.relative_to(ROOT)): n for pkg in ("core", "demo", "bench") for p in (ROOT / pkg).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
