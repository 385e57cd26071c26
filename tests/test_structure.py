"""The layout's rules, read from the source: imports run one way (command lines -> vinet/ -> the root modules),
no import cycles, nothing imports a command line, and every file under its size mark."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMAND_LINES = {"generate_result", "generate_result_audio_visual", "train", "evaluate", "reframe", "export",
                 "benchmark", "demo", "hubconf"}
SIZE_MARKS = {"model": 700, "train": 450}   # lines; command lines 300, every other module 500


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the project (the root's, vinet/'s, extras/'s) by dotted name; tests and the venv left out."""
    files = [*root.glob("*.py"), *root.glob("vinet/**/*.py"), *root.glob("extras/**/*.py")]
    return {dotted_name(path.relative_to(root)): path for path in files}


def dotted_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name a module imports, at the top or inside a function, relative imports resolved."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project's modules it imports."""
    return {name: {other for other in imported_names(name, path) if other in modules and other != name}
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of modules, or [] when there is none."""
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> list[str]:
        state[module] = "open"
        path = path + [module]
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                return path[path.index(other):] + [other]
            if other not in state and (cycle := visit(other, path)):
                return cycle
        state[module] = "done"
        return []

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [])):
            return cycle
    return []


def layer(module: str) -> int:
    """0: the root modules (networks, data, media); 1: the library (vinet/); 2: extras/' tools; 3: the command
    lines."""
    if module in COMMAND_LINES:
        return 3
    return {"vinet": 1, "extras": 2}.get(module.split(".")[0], 0)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a higher layer, and of one command line by another."""
    return sorted(f"{module} imports {other}" for module, others in graph.items() for other in others
                  if layer(other) > layer(module) or layer(other) == 3)


def files_over_their_mark(root: Path = ROOT) -> list[str]:
    over = []
    for name, path in module_files(root).items():
        mark = SIZE_MARKS.get(name, 300 if name in COMMAND_LINES else 500)
        if (lines := len(path.read_text().splitlines())) > mark:
            over.append(f"{path.relative_to(root)}: {lines} > {mark}")
    return over


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(module_files())


def test_the_graph_sees_the_layout(graph):
    assert COMMAND_LINES <= set(graph)
    assert {"model", "media", "vinet", "vinet.cli", "vinet.engine.predictor", "extras.docs_tables"} <= set(graph)
    assert "vinet.loading" in graph["vinet.cli"] and "model" in graph["registry"]


def test_no_import_cycles(graph):
    assert find_cycle(graph) == []


def test_only_command_lines_import_the_flags(graph):
    assert {module for module, others in graph.items() if "vinet.cli" in others} <= COMMAND_LINES


def test_imports_run_one_way_downwards(graph):
    assert upward_imports(graph) == []


def test_every_file_is_under_its_size_mark():
    assert files_over_their_mark() == []


def test_the_checks_catch_what_they_guard(tmp_path):
    """A cycle, an upward import and an oversized file, made on purpose, are each found."""
    (tmp_path / "vinet").mkdir()
    (tmp_path / "vinet" / "__init__.py").write_text("from .a import x\n")
    (tmp_path / "vinet" / "a.py").write_text("from vinet.b import y\nx = 1\n")
    (tmp_path / "vinet" / "b.py").write_text("def f():\n    from . import a\ny = 2\n")
    (tmp_path / "media.py").write_text("import vinet.a\n" + "\n" * 600)
    (tmp_path / "demo.py").write_text("import media\n")
    graph = import_graph(module_files(tmp_path))
    cycle = find_cycle(graph)
    assert cycle[0] == cycle[-1] and {"vinet.a", "vinet.b"} <= set(cycle)
    assert upward_imports(graph) == ["media imports vinet.a"]
    assert files_over_their_mark(tmp_path) == ["media.py: 601 > 500"]
    (tmp_path / "vinet" / "b.py").write_text("y = 2\n")
    assert find_cycle(import_graph(module_files(tmp_path))) == []
