"""The README's worked example, 'Evaluate your model' (every way to bring a model) and 'Your
own CT' run as written, in order, in a copy of the repository that stands in for a fresh clone.

What runs: every fenced block of those parts, in README order, from the copy's root, with
this virtual environment's `bin` first on PATH (its `robustbench-liver` is the installed
command the README tells you to put there), no PYTHONPATH and a case cache of its own. The
copy holds the tracked files only, so nothing left over here (runs/, mymodels/, caches) can
help. The package imported is mostly the install's (this working tree), but `run` puts its
working folder first on sys.path for `module:factory` models, so model processes import the
copy's: a tracked file that imports a module not yet `git add`ed fails, as in a fresh clone.
- a block whose first line is `# save as PATH` is a file: its text (that line included) is
  written to PATH, whatever its language; this is how the README gives `mymodels/dark.py`,
  the command tool and its spec;
- ```sh / ```bash blocks otherwise run with `set -e`; ```console blocks run their `$ ` lines;
- ```python blocks run as a script (blocks/readme_L<fence line>.py) from the copy's root;
- other ```yaml blocks (the layouts of 'Your own CT', alternatives rather than a file) are
  parsed with yaml.safe_load.

`robustbench-liver run` exits with 3 when some cases failed, and the README says the run goes
on with failed rows: the block goes on too, and the test then fails naming those rows (on the
README's inputs every case must be scored).

What does not run: install lines (`pip install`, `python -m venv`, `make install`,
`make demo`). The environment exists already; the set-up is tests/unit/test_readme_setup.py's.

Small inputs: SUBSTITUTIONS shrinks the README's commands by exact text replacements (each
must match exactly once, or the test fails, so README and test cannot drift apart), and
FIXTURES are the folders the README presumes you have. Both are printed with any failure.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv running the tests: its robustbench-liver
BLOCK_TIMEOUT_S = 900


@dataclass(frozen=True)
class Substitution:
    part: str
    old: str
    new: str
    why: str


SUBSTITUTIONS = (
    Substitution(
        "A worked example",
        "--out runs/intensity --workers 2",
        "--out runs/intensity --workers 2 --limit 1",
        "7 contrasts on 60 phantom patients (132 cases x 2 models) -> 8 cases",
    ),
    Substitution(
        "A worked example",
        "--data-root DIR",
        "--data-root ../shared/data",
        "DIR is the reader's CT folder; the project's is ../shared/data (see FIXTURES)",
    ),
    Substitution(
        "Evaluate your model",
        "--out runs/own --workers 2",
        "--out runs/own --workers 2 --limit 1",
        "quickstart's 11 cases x 3 models -> 4 cases",
    ),
    Substitution(
        "Evaluate your model",
        "--out runs/bundle",
        "--out runs/bundle --limit 1",
        "quickstart's 11 cases -> 4 cases",
    ),
    Substitution(
        "Your own CT",
        "--data-root DIR --out healthy/testset",
        "--data-root ../shared/data --out healthy/testset",
        "DIR is the reader's CT folder; the project's is ../shared/data (see FIXTURES)",
    ),
    Substitution(
        "Your own CT",
        "--data-root DIR --model hu-threshold",
        "--data-root ../shared/data --model hu-threshold",
        "DIR is the reader's CT folder; the project's is ../shared/data (see FIXTURES)",
    ),
)

FIXTURES = (
    ("../shared/data", "a symlink to the real scans (conftest's shared_data), read in place"),
    ("case01", "-> ../shared/data/totalseg-small: 'Your own CT's NIfTI case (ct, labels)"),
    ("case02", "-> ../shared/data/totalseg-dicom: 'Your own CT's DICOM case (dicom/, labels)"),
)

INSTALL = re.compile(
    r"^\s*(pip3? install|python[\d.]* -m (pip install|venv)|make (\S+=\S+ )*(install|demo)\b)"
)
SAVE_AS = re.compile(r"^# save as (\S+)\s*$")


@dataclass(frozen=True)
class Block:
    part: str
    line: int  # of the opening fence in README.md
    lang: str
    text: str

    @property
    def save_as(self) -> str | None:
        first = self.text.splitlines()[0] if self.text else ""
        match = SAVE_AS.match(first)
        return match.group(1) if match else None


def part_lines(text: str) -> dict[str, tuple[int, list[str]]]:
    """The README parts this test runs, in README order: name -> (first line, lines)."""
    lines = text.splitlines()

    def find(prefix: str, start: int = 0) -> int:
        for i in range(start, len(lines)):
            if lines[i].startswith(prefix):
                return i
        raise AssertionError(f"README.md has no line starting with {prefix!r} (after {start})")

    def section_end(start: int) -> int:
        for i in range(start + 1, len(lines)):
            if lines[i].startswith("## "):
                return i
        return len(lines)

    worked = find("## A worked example")
    evaluate = find("## Evaluate your model")
    own_ct = find("## Your own CT")
    parts = {
        "A worked example": (worked, section_end(worked)),
        "Evaluate your model": (evaluate, section_end(evaluate)),
        "Your own CT": (own_ct, section_end(own_ct)),
    }
    return {name: (a + 1, lines[a:b]) for name, (a, b) in parts.items()}


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of the parts, in README order."""
    out: list[Block] = []
    for part, (first, lines) in part_lines(text).items():
        fence: tuple[int, str] | None = None  # (README line, language) of the open fence
        body: list[str] = []
        for n, line in enumerate(lines, start=first):
            if not line.lstrip().startswith("```"):
                if fence is not None:
                    body.append(line)
                continue
            if fence is None:
                fence, body = (n, line.strip()[3:].strip().lower()), []
            else:
                out.append(Block(part, fence[0], fence[1], textwrap.dedent("\n".join(body))))
                fence = None
        assert fence is None, f"README.md:{fence[0]}: fence never closed"
    return sorted(out, key=lambda b: b.line)


def substituted(
    blocks: list[Block], substitutions: tuple[Substitution, ...] = SUBSTITUTIONS
) -> list[Block]:
    """The blocks with the substitutions applied; an `old` text that does not occur exactly
    once in its part's blocks fails the test."""
    blocks, problems = list(blocks), []
    for sub in substitutions:
        hits = [b for b in blocks if b.part == sub.part and sub.old in b.text]
        count = sum(b.text.count(sub.old) for b in hits)
        if count != 1:
            problems.append(f"{sub.old!r} occurs {count} times in {sub.part!r}, not once")
            continue
        i = blocks.index(hits[0])
        blocks[i] = Block(
            sub.part, hits[0].line, hits[0].lang, hits[0].text.replace(sub.old, sub.new)
        )
    if problems:
        pytest.fail(
            "the README no longer matches this test's substitutions:\n  "
            + "\n  ".join(problems)
            + "\nUpdate SUBSTITUTIONS in tests/integration/test_readme_runs.py with the README.\n"
            + _tables(substitutions)
        )
    return blocks


def _tables(substitutions: tuple[Substitution, ...] = SUBSTITUTIONS) -> str:
    subs = "\n".join(f"  {s.part}: {s.old!r} -> {s.new!r} ({s.why})" for s in substitutions)
    fixtures = "\n".join(f"  {path} {what}" for path, what in FIXTURES)
    return f"substitutions:\n{subs}\nfixtures beside/in the copy:\n{fixtures}"


def shell_script(block: Block) -> tuple[str, list[str]]:
    """The block as a bash script, and the install lines left out of it."""
    lines = block.text.splitlines()
    if block.lang == "console":  # `$ ` lines are commands, their continuations follow
        commands, going_on = [], False
        for line in lines:
            if line.startswith("$ ") or going_on:
                commands.append(line[2:] if line.startswith("$ ") else line)
                going_on = line.rstrip().endswith("\\")
        lines = commands
    skipped = [line for line in lines if INSTALL.match(line)]
    kept = [
        f": skipped install line: {shlex.quote(line)}" if INSTALL.match(line) else line
        for line in lines
    ]
    return "\n".join(kept) + "\n", skipped


# `run` exits 3 when some cases failed; the README's run goes on, so does the block: the
# command line is logged and its failed rows are reported after the block.
RUN_EXIT_3 = """\
set -e
robustbench-liver() {
    local rc=0
    command robustbench-liver "$@" || rc=$?
    if [ "$rc" -eq 3 ] && [ "${1-}" = run ]; then
        printf '%s\\n' "$*" >> "$RBL_README_EXIT3"
        return 0
    fi
    return "$rc"
}
"""


def make_clone(where: Path, shared_data: Path) -> Path:
    """The working tree's tracked files (uncommitted edits included, untracked files left
    out) copied to where/<repo name>, with where/shared/data linked to the real scans."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, text=True
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout ({listed.stderr.strip()}): no fresh clone to copy")
    clone = where / ROOT.name
    for name in filter(None, listed.stdout.split("\0")):
        source = ROOT / name
        if source.is_file() or source.is_symlink():  # a file deleted in the tree is gone
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name, follow_symlinks=False)
    (where / "shared").mkdir()
    (where / "shared" / "data").symlink_to(shared_data.resolve(), target_is_directory=True)
    (clone / "case01").symlink_to(Path("..", "shared", "data", "totalseg-small"))
    (clone / "case02").symlink_to(Path("..", "shared", "data", "totalseg-dicom"))
    return clone


def run_block(block: Block, clone: Path, env: dict[str, str]) -> str | None:
    """Save, parse or run one block; None when it went as the README says, else why not.
    Python blocks are written beside the copy, so that they import the installed package."""
    if block.save_as:
        path = clone / block.save_as
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text + "\n")
        return None
    if block.lang in ("yaml", "yml"):
        try:
            yaml.safe_load(block.text)
        except yaml.YAMLError as err:
            return f"not valid YAML: {err}"
        return None
    scripts = clone.parent / "blocks"
    scripts.mkdir(exist_ok=True)
    if block.lang in ("sh", "bash", "shell", "console"):
        script = scripts / f"readme_L{block.line}.sh"
        script.write_text(RUN_EXIT_3 + shell_script(block)[0])
        argv = ["bash", str(script)]
    elif block.lang in ("python", "py"):
        script = scripts / f"readme_L{block.line}.py"
        script.write_text(block.text + "\n")
        argv = [sys.executable, str(script)]
    else:
        return None  # text, markdown, tables: nothing to run
    try:
        done = subprocess.run(
            argv,
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as err:
        return f"still running after {BLOCK_TIMEOUT_S} s\n{_tail(err.stdout, err.stderr)}"
    if done.returncode != 0:
        return f"exit code {done.returncode}\n{_tail(done.stdout, done.stderr)}"
    return None


def _tail(stdout: str | bytes | None, stderr: str | bytes | None, lines: int = 30) -> str:
    def last(text: str | bytes | None) -> str:
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        return "\n".join((text or "").rstrip().splitlines()[-lines:])

    return f"--- stdout (tail) ---\n{last(stdout)}\n--- stderr (tail) ---\n{last(stderr)}"


def failed_rows(clone: Path, logged: Path) -> list[str]:
    """The failed (model, case) rows of every run that exited with 3."""
    out = []
    for command in logged.read_text().splitlines() if logged.exists() else []:
        argv = shlex.split(command)
        table = clone / argv[argv.index("--out") + 1] / "cases.parquet" if "--out" in argv else None
        if table is None or not table.exists():
            out.append(f"robustbench-liver {command}: exit code 3 and no {table}")
            continue
        cases = pd.read_parquet(table)
        for row in cases[cases["status"] != "ok"].itertuples():
            error = str(row.error).strip()
            error = error if len(error) < 600 else f"...{error[-600:]}"  # its end says why
            out.append(f"robustbench-liver {command}: {row.model} {row.case_id}: {error}")
    return out


def test_the_readme_parts_run_in_order(tmp_path, shared_data):
    blocks = substituted(fenced_blocks((ROOT / "README.md").read_text()))
    assert (BIN / "robustbench-liver").exists(), f"no robustbench-liver in {BIN}"
    clone = make_clone(tmp_path, shared_data)
    logged = tmp_path / "run-exit-3.txt"
    # no PYTHONPATH (the README says `mymodels/` needs none); the README passes --data-root
    hidden = ("PYTHONPATH", "ROBUSTBENCH_LIVER_DATA")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env |= {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "RBL_README_EXIT3": str(logged)}
    env["MPLBACKEND"] = "Agg"
    for block in blocks:
        problem = run_block(block, clone, env)
        rows = failed_rows(clone, logged)
        if problem or rows:
            pytest.fail(
                f"README.md:{block.line} ({block.part!r}, ```{block.lang}) did not run as "
                f"written: {problem or 'some cases failed'}\n"
                + "".join(f"{row}\n" for row in rows[:10])
                + (f"... and {len(rows) - 10} more failed rows\n" if len(rows) > 10 else "")
                + f"--- the block as run ---\n{block.text}\n"
                + _tables(),
                pytrace=False,
            )


def test_each_part_has_blocks_and_every_way_is_there():
    blocks = fenced_blocks((ROOT / "README.md").read_text())
    runnable = {b.part for b in blocks if b.lang in ("sh", "bash", "console", "python")}
    assert runnable == {"A worked example", "Evaluate your model", "Your own CT"}
    own = "\n".join(b.text for b in blocks if b.part == "Evaluate your model")
    assert re.search(r"--model [\w.]+:\w+", own), "no module:factory model"
    for way in ("torchscript", "adapter: command", "adapter: monai-bundle", "adapter: nnunet"):
        assert way in own, f"'Evaluate your model' does not show the {way} way"
    # each way ends in a report
    reports = re.findall(r"robustbench-liver report (\S+)", own)
    runs = re.findall(r"--out (\S+)", own)
    assert runs and set(runs) <= set(reports), (runs, reports)
    ct = "\n".join(b.text for b in blocks if b.part == "Your own CT")
    assert "liver_from:" in ct, "'Your own CT' does not show a liver mask from a model"


README_SAMPLE = """\
## A worked example

```sh
pip install robustbench-liver
robustbench-liver run a.yaml --out runs/intensity --workers 2   # note
```

## Evaluate your model

Prose.

```python
# save as mymodels/x.py
X = 1
```

```console
$ robustbench-liver run q.yaml \\
    --out runs/own --workers 2
output line
```

## Metrics

```sh
not in a part
```

## Your own CT

```yaml
a: [1, 2]
```
"""


def test_blocks_saves_installs_and_console_prompts_are_told_apart():
    blocks = fenced_blocks(README_SAMPLE)
    assert [(b.part, b.line, b.lang) for b in blocks] == [
        ("A worked example", 3, "sh"),
        ("Evaluate your model", 12, "python"),
        ("Evaluate your model", 17, "console"),
        ("Your own CT", 31, "yaml"),
    ]
    assert blocks[1].save_as == "mymodels/x.py" and blocks[0].save_as is None
    script, skipped = shell_script(blocks[0])
    assert skipped == ["pip install robustbench-liver"]
    assert script.startswith(": skipped install line:")
    script, _ = shell_script(blocks[2])
    assert script == "robustbench-liver run q.yaml \\\n    --out runs/own --workers 2\n"


def test_a_substitution_the_readme_no_longer_matches_fails():
    blocks = fenced_blocks(README_SAMPLE.replace("--workers 2   # note", "--workers 4"))
    assert "--limit 1" in substituted(blocks, SUBSTITUTIONS[2:3])[2].text
    with pytest.raises(pytest.fail.Exception, match="occurs 0 times in 'A worked example'"):
        substituted(blocks, SUBSTITUTIONS[:1])


FAKE_CLI = """\
#!/bin/sh
echo "robustbench-liver $*"
echo "oops from $1" >&2
[ "$1" = run ] && exit 3
[ "$1" = validate ] && exit 1
exit 0
"""


def test_a_block_goes_on_after_run_exits_3_and_a_failing_one_says_why(tmp_path):
    """The shell harness with a stand-in CLI: `run`'s exit 3 is logged and its failed rows
    named; any other non-zero exit stops the block with the tail of its output."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "robustbench-liver").write_text(FAKE_CLI)
    (tmp_path / "bin" / "robustbench-liver").chmod(0o755)
    clone, logged = tmp_path / "clone", tmp_path / "exit3.txt"
    (clone / "runs" / "r").mkdir(parents=True)
    failed = {"model": ["m"], "case_id": ["c1"], "status": ["failed"], "error": ["boom"]}
    pd.DataFrame(failed).to_parquet(clone / "runs" / "r" / "cases.parquet")
    env = dict(os.environ, RBL_README_EXIT3=str(logged))
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"

    block = Block("A worked example", 7, "sh", "robustbench-liver run s.yaml --out runs/r\ntrue")
    assert run_block(block, clone, env) is None
    assert failed_rows(clone, logged) == ["robustbench-liver run s.yaml --out runs/r: m c1: boom"]

    block = Block("A worked example", 9, "sh", "robustbench-liver validate s.yaml\necho never")
    problem = run_block(block, clone, env)
    assert problem is not None and problem.startswith("exit code 1")
    assert "oops from validate" in problem and "never" not in problem
