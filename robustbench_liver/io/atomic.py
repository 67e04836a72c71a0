"""Atomic file writes whose files get the usual mode (0666 & ~umask), like a plain open().

`tempfile.mkstemp` creates its file 0600 and os.replace keeps that mode, so run folders on a
shared disk were unreadable to colleagues; the temporary file here is created the way open()
creates one, so the kernel applies the umask (and any default ACL) as usual.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_ATTEMPTS = 100


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A new empty file next to `path` to write; moved onto `path` when the block succeeds,
    removed when it fails (a killed process leaves at most a hidden `.tmp-*` file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file(path.parent, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _new_file(folder: Path, suffix: str) -> Path:
    for _ in range(_ATTEMPTS):
        tmp = folder / f".tmp-{secrets.token_hex(8)}{suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"{folder}: no free temporary file name after {_ATTEMPTS} tries")
