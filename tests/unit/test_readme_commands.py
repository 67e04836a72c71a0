"""README's shell examples name verbs and flags the CLI has (parsed, never run)."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from robustbench_liver.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]


def readme_commands(text: str) -> list[tuple[int, str]]:
    """(line number, command) for each `robustbench-liver` line of a ```sh block or an
    indented code block, with its backslash continuations joined."""
    lines = text.splitlines()
    out: list[tuple[int, str]] = []
    block: str | None = None  # the open fence's language, None outside fences
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            block = line.strip()[3:].strip() if block is None else None
            i += 1
            continue
        in_sh = block in ("sh", "bash", "shell")
        # indented blocks may sit under a list item; `nice -n 10` is not part of the command
        code = in_sh or (block is None and line.startswith("    "))
        command = re.sub(r"^nice -n \d+ ", "", line.strip()) if code else ""
        if not command.startswith("robustbench-liver"):
            i += 1
            continue
        start = i + 1
        while command.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command.rstrip()[:-1] + " " + lines[i].strip()
        out.append((start, command))
        i += 1
    return out


COMMANDS = readme_commands((ROOT / "README.md").read_text())


def test_the_readme_has_shell_examples_to_check():
    verbs = {shlex.split(c, comments=True)[1] for _, c in COMMANDS}
    assert len(COMMANDS) >= 10
    assert {"run", "report", "leaderboard", "evaluate"} <= verbs


@pytest.mark.parametrize(("line", "command"), COMMANDS, ids=[f"L{n}" for n, _ in COMMANDS])
def test_a_readme_command_parses(line, command):
    argv = shlex.split(command, comments=True)[1:]
    parser = build_parser()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit:
        pytest.fail(f"README.md:{line}: {command!r} does not parse: {err.getvalue().strip()}")
    assert isinstance(args, argparse.Namespace) and getattr(args, "func", None), command


def test_commands_are_found_in_both_kinds_of_block():
    text = (
        "```sh\nrobustbench-liver run a.yaml \\\n    --out r  # note\n```\n"
        "```python\nrobustbench-liver not-a-command\n```\n"
        "    robustbench-liver report r\n"
        "      nice -n 10 robustbench-liver train --out t\n"
        "robustbench-liver in prose is not a command\n"
    )
    found = readme_commands(text)
    assert [c for _, c in found] == [
        "robustbench-liver run a.yaml  --out r  # note",
        "robustbench-liver report r",
        "robustbench-liver train --out t",
    ]
    assert [n for n, _ in found] == [2, 8, 9]
