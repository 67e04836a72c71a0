"""Writing report files: atomically, and readable by others (they are meant to be shared)."""

from __future__ import annotations

from pathlib import Path

from robustbench_liver.runs.store import atomic_write_bytes


def write_shared(path: Path, data: bytes) -> None:
    """Atomic write with the usual file mode (0666 & ~umask), as every atomic write has."""
    atomic_write_bytes(path, data)
