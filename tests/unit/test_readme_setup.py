"""A newcomer's set-up: what README and Makefile say works on a machine that is not ours."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_says_how_to_reach_the_installed_command():
    text = (ROOT / "README.md").read_text()
    setup = text[text.index("## Two commands") : text.index("## A worked example")]
    assert ". .venv/bin/activate" in setup and ".venv/bin/robustbench-liver" in setup


def test_the_readme_points_at_no_folder_outside_the_repository():
    text = (ROOT / "README.md").read_text()
    assert "../shared" not in text  # a user's clone has no sibling shared/ folder


def test_the_makefile_finds_a_python_instead_of_naming_one(tmp_path):
    makefile = (ROOT / "Makefile").read_text()
    assert not re.search(r"^PYTHON \?= python3\.\d+\s*$", makefile, re.M)
    probe = tmp_path / "Makefile"
    probe.write_text(makefile + '\nshow-python:\n\t@echo "$(PYTHON)"\n')
    found = subprocess.run(
        ["make", "-s", "-f", str(probe), "show-python"], capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    version = subprocess.run(
        [found, "-c", "import sys; print(sys.version_info >= (3, 10))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert version == "True"
