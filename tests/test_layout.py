"""The layout is the pipeline: each stage imports only the stages below it, no two modules import
each other (directly or round a longer cycle), and nothing outside qa.web imports a web framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qa"
# A stage may import its own rank and those below it.
RANKS = {
    "qa.errors": 0,
    "qa.config": 0,
    "qa.records": 0,
    "qa.text": 1,
    "qa.index": 2,
    "qa.ingest": 3,
    "qa.query": 4,
    "qa.eval": 5,
    "qa.web": 5,
    "qa.cli": 6,
    "qa.__main__": 7,
}
WEB_FRAMEWORKS = ("fastapi", "fastapi_offline", "starlette", "gradio", "uvicorn", "sse_starlette")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module imported anywhere in the file, function-level imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def rank(module: str) -> int | None:
    for prefix, value in sorted(RANKS.items(), key=lambda item: -len(item[0])):
        if module == prefix or module.startswith(prefix + "."):
            return value
    return None


def internal(imported: set[str]) -> set[str]:
    return {name for name in imported if name in MODULES and name != "qa"}


def test_every_module_has_a_stage() -> None:
    assert [name for name in MODULES if name != "qa" and rank(name) is None] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_stage_imports_only_stages_below_it(module: str) -> None:
    if module == "qa":
        return
    upward = sorted(name for name in internal(MODULES[module]) if rank(name) > rank(module))
    assert upward == [], f"{module} (rank {rank(module)}) imports a higher stage"


def test_eval_and_web_do_not_import_each_other() -> None:
    crossing = [
        (module, name)
        for module, imported in MODULES.items()
        for name in internal(imported)
        if {module.split(".")[1], name.split(".")[1]} == {"eval", "web"}
    ]
    assert crossing == []


def test_no_import_cycles() -> None:
    graph = {module: internal(imported) - {module} for module, imported in MODULES.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt])
                return True
            if nxt not in state and visit(nxt, [*path, nxt]):
                return True
        state[node] = 2
        return False

    for module in sorted(graph):
        if module not in state and visit(module, [module]):
            break
    assert cycle == []


@pytest.mark.parametrize(
    "module", sorted(name for name in MODULES if rank(name) is not None and rank(name) < 5)
)
def test_the_core_imports_no_web_framework(module: str) -> None:
    frameworks = sorted(name for name in MODULES[module] if name.split(".")[0] in WEB_FRAMEWORKS)
    assert frameworks == [], f"{module} imports {frameworks}"
