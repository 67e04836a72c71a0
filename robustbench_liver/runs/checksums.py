"""RUNDIR/parts.sha256: the sha256 of every part file and of the two tables, in the format of
`sha256sum` (so `cd RUNDIR && sha256sum -c parts.sha256` checks a run folder by hand).

The runner writes it each time it builds the tables. A part whose bytes no longer match its
line was edited after the run wrote it: `run` refuses to go on, `leaderboard --verify` names
the file, and building the tables again never records the edited bytes in its place.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.io.atomic import atomic_write_bytes

NAME = "parts.sha256"
_LINE = re.compile(r"([0-9a-f]{64}) [ *](\S.*)")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read(root: Path) -> dict[str, str] | None:
    """Relative path -> sha256 hex; None when the run folder has no parts.sha256 (written by
    a version before it, or never finished)."""
    path = root / NAME
    if not path.exists():
        return None
    recorded: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise RobustBenchError(
                f"{path}, line {number}: not a sha256sum line ({line[:80]!r}); the file was "
                "edited by hand: restore it, or run into a new --out"
            )
        recorded[match.group(2)] = match.group(1)
    return recorded


def write(root: Path, digests: dict[str, str]) -> None:
    text = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(digests.items()))
    atomic_write_bytes(root / NAME, text.encode("utf-8"))


def edited(root: Path, recorded: dict[str, str], only: set[str] | None = None) -> list[str]:
    """Recorded files (those in `only`, when given) whose bytes changed: 'path: ...' lines.
    Missing files are not edits (a deleted part is run again)."""
    out = []
    for rel, digest in sorted(recorded.items()):
        path = root / rel
        if (only is not None and rel not in only) or not path.exists():
            continue
        now = sha256_file(path)
        if now != digest:
            out.append(
                f"{rel}: edited after the run wrote it (sha256 {now[:12]}, recorded {digest[:12]})"
            )
    return out
