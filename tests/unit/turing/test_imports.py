"""The reader-study kit sits after synthesis in the flow (DESIGN.md §1): it reads scans,
synthesizes tumors and draws crops, and never touches models, runs or reports. Read with
`ast`, so nothing is imported. (tests/unit/test_layering.py needs the same rule as
ALLOWED["turing"].)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "robustbench_liver"
ALLOWED = {"turing", "errors", "types", "io", "synthesis", "scenarios", "display"}
FORBIDDEN = {"torch", "monai"}
FILES = sorted((PACKAGE / "turing").glob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_turing_imports_only_what_comes_before_it(path):
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
            if node.module == "robustbench_liver":
                names = [f"robustbench_liver.{alias.name}" for alias in node.names]
        for name in names:
            top, _, rest = name.partition(".")
            assert top not in FORBIDDEN, f"{path.name} imports {name}"
            part = rest.split(".")[0]
            if top == "robustbench_liver" and part != "__version__":
                assert part in ALLOWED, f"{path.name} imports {name}"


def test_the_check_sees_files():
    assert len(FILES) >= 10
