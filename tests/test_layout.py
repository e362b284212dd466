"""The code's shape, read from the source with `ast` (nothing is imported): who may import what, no import cycle
inside the engine, short files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
MAX_STUDIO_LINES = 200


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(package: str) -> dict[str, Path]:
    """Module name -> file, for every .py file of `package`."""
    return {module_name(path): path for path in sorted((ROOT / package).rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, typing_too: bool = False) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement that can run (module level, in functions, in classes; under `if TYPE_CHECKING:` only
    with `typing_too`), with whether it sits at module level."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child.test) and not typing_too:
                for other in child.orelse:
                    visit_one(other, top)
                continue
            visit_one(child, top)

    def visit_one(node: ast.AST, top: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append((node, top))
        nested = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
        visit(node, top and not nested)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), True)
    return found


def absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module a `from ... import` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(path: Path, importer: str, known: set[str], typing_too: bool = True) -> set[str]:
    """The modules `path` imports, type-only imports included unless told otherwise (a loop a reader must hold in
    their head is a loop); `from package import name` counts `package.name` when that is a module."""
    targets: set[str] = set()
    for node, _ in imports(path, typing_too):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        source = absolute(node, importer, path.name == "__init__.py")
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            targets.add(submodule if submodule in known else source)
    return targets


def top_package(name: str) -> str:
    return name.split(".")[0]


def engine_graph() -> dict[str, set[str]]:
    modules = sources("engine")
    known = set(modules)
    return {name: imported_modules(path, name, known) & known for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = walk(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = walk(start)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_cycles_and_resolves_relative_imports(tmp_path: Path) -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    code = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\nfrom . import sibling\n"
            "from ..up import thing\nif TYPE_CHECKING:\n    from engine.typing_only import T\n"
            "def later():\n    import engine.lazy\n")
    (tmp_path / "mod.py").write_text(code)
    statements = imports(tmp_path / "mod.py")
    assert [top for _, top in statements] == [True, True, True, True, False]
    known = {"engine.pkg.sibling", "engine.up", "engine.lazy"}
    assert imported_modules(tmp_path / "mod.py", "engine.pkg.mod", known, typing_too=False) == {
        "__future__", "typing", "engine.pkg.sibling", "engine.up", "engine.lazy"}
    assert "engine.typing_only" in imported_modules(tmp_path / "mod.py", "engine.pkg.mod", known | {"engine.typing_only"})


def imported_names(node: ast.Import | ast.ImportFrom, importer: str, path: Path) -> list[str]:
    """The modules one import statement names (for `from x import y`: x, resolved if relative)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [absolute(node, importer, path.name == "__init__.py")]


def test_the_engine_never_imports_gradio() -> None:
    offenders = [f"{name} imports {imported}" for name, path in sources("engine").items()
                 for node, _ in imports(path) for imported in imported_names(node, name, path)
                 if top_package(imported) == "gradio"]
    assert not offenders, offenders


def test_the_engine_has_no_import_cycle() -> None:
    graph = engine_graph()
    assert "engine.studio" in graph and graph["engine.studio"], "the graph should see the studio's imports"
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_ui_uses_the_engine_only_through_its_public_face() -> None:
    problems = []
    for name, path in sources("ui").items():
        for node, top in imports(path):
            for imported in imported_names(node, name, path):
                if top_package(imported) in ("torch", "diffusers"):
                    problems.append(f"{name} imports {imported}")
                elif top_package(imported) == "engine":
                    if imported != "engine":
                        problems.append(f"{name} imports {imported} (use `from engine import ...`)")
                    elif not top:
                        problems.append(f"{name} imports the engine inside a function (import it at the top)")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("package", ["engine", "ui"])
def test_files_are_short(package: str) -> None:
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in sources(package).items()}
    assert lengths, f"no source found in {package}/"
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not too_long, f"over {MAX_LINES} lines: {too_long}"
    if package == "engine":
        assert lengths["engine.studio"] <= MAX_STUDIO_LINES, lengths["engine.studio"]


def private_names(package: str) -> set[str]:
    """Names `package` keeps to itself: `_name` functions, classes, module globals and attributes it assigns."""
    names: set[str] = set()
    for path in sources(package).values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_uses(path: Path, private: set[str]) -> list[str]:
    """Where `path` reads one of `private` as an attribute or imports it from the engine."""
    found = []
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in private:
            found.append(f"{where}:{node.lineno} .{node.attr}")
        if isinstance(node, ast.ImportFrom) and top_package(node.module or "") == "engine":
            found += [f"{where}:{node.lineno} imports {a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_the_private_name_finder_finds_private_names(tmp_path: Path) -> None:
    code = "from engine.x import _hidden\nstudio._runs.add(1)\nstudio.running\n"
    (tmp_path / "use.py").write_text(code)
    uses = private_uses(tmp_path / "use.py", {"_runs"})
    assert [u.split(" ", 1)[1] for u in uses] == ["imports _hidden", "._runs"]
    assert "_runs" in private_names("engine")


def test_tests_and_benches_use_only_public_names_of_the_engine() -> None:
    private = private_names("engine")
    found = [use for folder in ("tests", "bench") for path in sorted((ROOT / folder).rglob("*.py"))
             for use in private_uses(path, private)]
    assert not found, "make these public (or a fixture) instead:\n" + "\n".join(found)
