"""The package's import graph: no cycles between lapor modules, and nothing at runtime imports lapor.dev.

Every module under plugins/lapor is parsed (not imported) and every import is taken, those
inside functions too: a lazy import is still a dependency, and a cycle through one only waits
for the first call to bite. `lapor.dev` (the sample generator, the benchmark, the sample
export server) is for developing and demonstrating the pipeline: the one module outside it
that may import it is `lapor.cli`, and only inside the functions of its `demo`,
`generate-sample` and `bench` commands, never at its top level.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lapor.settings import PACKAGE_DIR

PACKAGE = "lapor"
DEV = "lapor.dev"
# The one module outside lapor.dev allowed to import it, inside functions only.
DEV_IMPORT_ALLOWED = {"lapor.cli"}
# Known, owned elsewhere and being removed: each must disappear (then strict xfail turns red:
# delete the entry).
KNOWN_CYCLES: dict[tuple[str, ...], str] = {}
KNOWN_DEV_IMPORTERS: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


class Import:
    def __init__(self, target: str, line: int, top_level: bool):
        self.target, self.line, self.top_level = target, line, top_level


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    """The lapor modules `name` imports: `import a.b`, `from a import b` (b a module or a name
    in a), relative imports; each with its line and whether it runs when the module loads."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def resolve(candidate: str) -> str | None:
        while candidate and candidate not in known:  # `from lapor.x import name`: the module lapor.x
            candidate = candidate.rpartition(".")[0]
        return candidate or None

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top_level and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == PACKAGE and (target := resolve(alias.name)):
                        found.append(Import(target, child.lineno, top_level))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".")
                    base = base[:len(base) - child.level + (1 if is_package else 0)]
                    stem = ".".join(base + ([child.module] if child.module else []))
                else:
                    stem = child.module or ""
                if stem.split(".")[0] != PACKAGE:
                    continue
                for alias in child.names:
                    target = resolve(f"{stem}.{alias.name}") if alias.name != "*" else resolve(stem)
                    if target:
                        found.append(Import(target, child.lineno, top_level))
            visit(child, inner)

    visit(tree, True)
    return [i for i in found if i.target != name]


def graph() -> dict[str, list[Import]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """One cycle per strongly connected component of more than one module (Tarjan), as a path
    from its alphabetically first module back to it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    found = []
    for component in components:
        start = min(component)
        # the shortest way back to start inside the component (breadth first)
        paths = {start: (start,)}
        frontier = [start]
        cycle = None
        while frontier and cycle is None:
            nxt = []
            for v in frontier:
                for w in sorted(edges[v] & component):
                    if w == start:
                        cycle = paths[v]
                        break
                    if w not in paths:
                        paths[w] = paths[v] + (w,)
                        nxt.append(w)
                if cycle:
                    break
            frontier = nxt
        found.append(cycle)
    return sorted(found)


def canonical(cycle: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(cycle))


@pytest.fixture(scope="module")
def imports() -> dict[str, list[Import]]:
    return graph()


def test_the_graph_sees_the_package(imports):
    """The walk finds the modules and the imports, lazy ones included (guards the test itself)."""
    assert {"lapor.cli", "lapor.pipeline", "lapor.dev.generate", "lapor.readers"} <= set(imports)
    cli = {i.target: i for i in imports["lapor.cli"]}
    assert "lapor.dev.bench" in cli and not cli["lapor.dev.bench"].top_level
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]


def test_no_import_cycle_between_lapor_modules(imports):
    edges = {name: {i.target for i in found} for name, found in imports.items()}
    new = [c for c in cycles(edges) if canonical(c) not in {canonical(k) for k in KNOWN_CYCLES}]
    assert not new, "import cycles: " + "; ".join(" -> ".join((*c, c[0])) for c in new)


@pytest.mark.parametrize("cycle", [pytest.param(c, id=" <-> ".join(c), marks=pytest.mark.xfail(
    strict=True, reason=f"known cycle {' -> '.join((*c, c[0]))}: {why}")) for c, why in KNOWN_CYCLES.items()])
def test_known_cycle_is_gone(imports, cycle):
    edges = {name: {i.target for i in found} for name, found in imports.items()}
    assert canonical(cycle) not in {canonical(c) for c in cycles(edges)}


def dev_imports(imports) -> list[str]:
    """Imports of lapor.dev from outside it, except lapor.cli's inside functions."""
    bad = []
    for name, found in imports.items():
        if name == DEV or name.startswith(DEV + "."):
            continue
        for i in found:
            if i.target == DEV or i.target.startswith(DEV + "."):
                if name in DEV_IMPORT_ALLOWED and not i.top_level:
                    continue
                bad.append(f"{name} imports {i.target} (line {i.line}"
                           f"{', at the top level' if i.top_level else ''})")
    return bad


def test_nothing_at_runtime_imports_lapor_dev(imports):
    bad = [b for b in dev_imports(imports) if b.split(" ")[0] not in KNOWN_DEV_IMPORTERS]
    assert not bad, "only lapor.cli's command functions may import lapor.dev: " + "; ".join(bad)


@pytest.mark.parametrize("module", [pytest.param(m, marks=pytest.mark.xfail(
    strict=True, reason=f"known: {m} imports lapor.dev ({why})")) for m, why in KNOWN_DEV_IMPORTERS.items()])
def test_known_dev_importer_is_gone(imports, module):
    assert not [b for b in dev_imports(imports) if b.split(" ")[0] == module]


def test_docs_architecture_names_only_files_and_models_that_exist():
    """docs/architecture.md's "rule → where it lives" table points at real homes."""
    import re

    root = PACKAGE_DIR.parent.parent
    text = (root / "docs" / "architecture.md").read_text()
    table = text[text.index("## Rule → where it lives"):text.index("## Where to change what")]
    names = set(re.findall(r"`([^`]+)`", table))
    models = {p.stem for p in (root / "dbt_project").rglob("*.sql")}
    checked = 0
    for name in sorted(names):
        for word in re.split(r"[ ,()→]+", name):
            if word.endswith((".py", ".sql", ".csv", ".json", ".yml", ".j2")) or word.endswith("/"):
                hits = list(root.glob(f"**/{word.rstrip('/')}"))
                assert any(".venv" not in str(h.relative_to(root)) for h in hits), f"{word} does not exist"
                checked += 1
            elif re.fullmatch(r"(marts|intermediate)\.[a-z_]+", word):
                assert word.split(".")[1] in models, f"{word} is no dbt model"
                checked += 1
            elif re.fullmatch(r"(fct|agg|dim|int|stg)_[a-z_]+", word) or word == "agency_scorecard":
                assert word in models, f"{word} is no dbt model"
                checked += 1
    assert checked >= 15
