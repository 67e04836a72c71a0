"""Data flows one way (DESIGN.md §1): each part imports only the parts to its left.

Read with `ast`, so nothing is imported. A new top-level module must be added here, with the
parts it may use; that is deliberate.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "robustbench_liver"

BASE = {"errors", "types"}
# part -> package parts it may import (besides itself)
ALLOWED: dict[str, set[str] | None] = {
    "__init__": set(),
    "__main__": {"cli"},
    "errors": set(),
    "types": {"errors"},
    "display": set(),
    "numerics": set(),
    "io": BASE,
    # sources.liver_from runs a model that finds the liver in unlabelled CT (models never
    # import sources, so no cycle)
    "sources": BASE | {"io", "numerics", "models"},
    "synthesis": BASE | {"numerics"},
    "metrics": BASE,
    "stats": BASE,
    "scenarios": BASE | {"io", "sources", "synthesis", "metrics", "stats"},
    "inference": BASE,
    "models": BASE | {"io", "inference"},
    "training": BASE | {"io", "sources", "synthesis", "models", "inference", "numerics"},
    "runs": BASE
    | {"io", "sources", "synthesis", "scenarios", "models", "inference", "metrics", "stats"},
    "report": BASE | {"stats", "display", "runs", "scenarios", "metrics"},
    # calibration runs models through the runner's isolation and scores with metrics
    "fidelity": BASE
    | {"io", "sources", "synthesis", "scenarios", "metrics", "stats", "runs", "display"},
    "turing": BASE | {"io", "sources", "synthesis", "scenarios", "display"},
    "cli": None,  # the command line may use everything
}
# third-party packages a part must never import (stats and report stay light and model-free)
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "types": {"torch", "monai"},
    "io": {"torch", "monai"},
    "sources": {"torch", "monai"},
    "synthesis": {"torch", "monai"},
    "metrics": {"torch", "monai"},
    "stats": {"torch", "monai"},
    "scenarios": {"torch", "monai"},
    "report": {"torch", "monai"},
    "fidelity": {"torch", "monai"},
    "turing": {"torch", "monai"},
}


def _imports(path: Path) -> set[str]:
    return _parse(path.read_text(), path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _parse(source: str, module: tuple[str, ...]) -> set[str]:
    """Dotted names of every import in a module (relative imports resolved to the package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module[: len(module) - node.level]
                names.add(".".join((*base, node.module or "")).rstrip("."))
            elif node.module:
                names.add(node.module)
    return names


def _part(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


FILES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_flow(path: Path):
    part = _part(path)
    assert part in ALLOWED, f"{part!r} is a new part of the package: add it to ALLOWED"
    allowed = ALLOWED[part]
    for name in _imports(path):
        top, _, rest = name.partition(".")
        if top == "robustbench_liver" and rest and allowed is not None:
            used = rest.split(".")[0]
            assert used == part or used in allowed, f"{path.name} imports {name}"
        assert top not in FORBIDDEN_THIRD_PARTY.get(part, set()), f"{path.name} imports {top}"


def test_the_reader_sees_absolute_and_relative_imports():
    source = "from robustbench_liver.models import get_model\nimport torch\nfrom ..io import x\n"
    names = _parse(source, ("robustbench_liver", "stats", "probe"))
    assert {"robustbench_liver.models", "torch", "robustbench_liver.io"} <= names


# A report reads the run folder and nothing else (STYLE.md): it never loads or runs a model,
# so no part of report/ may reach the code that does, not even to redraw a picture.
REPORT_NEVER = ("robustbench_liver.runs.work", "robustbench_liver.models")


def _imported_names(source: str, module: tuple[str, ...]) -> set[str]:
    """Like `_parse`, plus each name taken from a module ('from a.b import c' -> 'a.b.c'),
    so 'from robustbench_liver.runs import work' counts as importing runs.work."""
    names = _parse(source, module)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


REPORT_FILES = [p for p in FILES if _part(p) == "report"]


@pytest.mark.parametrize("path", REPORT_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_reports_never_import_model_code(path: Path):
    module = path.relative_to(PACKAGE.parent).with_suffix("").parts
    for name in _imported_names(path.read_text(), module):
        for banned in REPORT_NEVER:
            assert not (name == banned or name.startswith(banned + ".")), (
                f"{path.name} imports {name}: a report draws from the run folder only"
            )


def test_the_report_rule_sees_every_spelling():
    module = ("robustbench_liver", "report", "probe")
    for source in (
        "from robustbench_liver.runs import work\n",
        "from robustbench_liver.runs.work import load_model\n",
        "import robustbench_liver.models.unet\n",
    ):
        names = _imported_names(source, module)
        assert any(n.startswith(REPORT_NEVER) for n in names), source
    assert REPORT_FILES, "no report modules found"
