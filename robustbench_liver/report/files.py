"""Writing report files: atomically, and readable by others (they are meant to be shared)."""

from __future__ import annotations

import os
from pathlib import Path

from robustbench_liver.runs.store import atomic_write_bytes


def write_shared(path: Path, data: bytes) -> None:
    """Atomic write, then the usual file mode (the temporary file is created private)."""
    atomic_write_bytes(path, data)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)
