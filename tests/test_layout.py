"""The package's shape: imports run one way (tasks -> areas -> shared), with no cycles,
and what ships to lab hosts imports nothing of the rest."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bench"
AREAS = ("setup", "tune", "measure", "report", "lab")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The bench modules a file imports, lazy imports included."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules} - {module_name(path)}


def graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imports(path, set(files)) for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in AREAS + ("tasks", "standalone") else None


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_what_ships_to_lab_hosts_imports_nothing_of_the_harness():
    for module, targets in graph().items():
        if area(module) == "standalone":
            assert {t for t in targets if area(t) != "standalone"} == set(), module


@pytest.mark.parametrize("name", AREAS)
def test_an_area_uses_other_areas_only_through_their_package(name):
    """Other areas see an area's package (its __init__), never its modules; shared modules never import an area."""
    for module, targets in graph().items():
        mine = area(module)
        for target in targets:
            theirs = area(target)
            if theirs == name and mine not in (name, "tasks"):
                assert target == f"bench.{name}", f"{module} reaches into {target}"
            if mine is None and module != "bench":
                assert theirs in (None, "standalone"), f"shared {module} imports {target}"


def test_tasks_are_imported_by_nothing_in_the_package():
    for module, targets in graph().items():
        if area(module) != "tasks":
            assert not any(area(t) == "tasks" for t in targets), module


def test_no_module_is_much_over_400_lines():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 420}
    assert long == {}
