"""Die with the parent: a worker or a model's process must not outlive the run that started
it (a run killed with SIGKILL included)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time


def die_with_parent(parent: int | None = None) -> None:
    """End this process (SIGKILL) when its parent dies: PR_SET_PDEATHSIG on Linux, and a
    watchdog thread that polls the parent's pid everywhere. `parent`: the pid it should
    have (a parent that died before this call is then noticed at once)."""
    expected = os.getppid() if parent is None else parent
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != expected:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == expected:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="robustbench-liver-parent-watch", daemon=True).start()
