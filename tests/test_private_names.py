"""Tests go through each module's public names: a private name may change without notice."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def private_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "qa":
            found += [f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_")]
    return found


def test_no_test_imports_a_private_name_of_qa():
    assert private_imports("from qa.query.answering import _hidden, shown") == ["qa.query.answering._hidden"]
    found = {path.name: private_imports(path.read_text(encoding="utf-8")) for path in TESTS.glob("*.py")}
    assert {name: names for name, names in found.items() if names} == {}
