"""Running the command adapter's external tool: its environment and program, one call with
a deadline, and the end of what it wrote.

Kept apart from the adapter (models.command) so that each stays short: this module knows
processes, files and environment variables, the adapter knows cases and label maps.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from robustbench_liver.errors import ModelError

PLACEHOLDERS = ("{input_dir}", "{output_dir}", "{python}", "{spec_dir}", "{device}")
"""What argv (and, but for the two folders, `env:` values) may use; plain text replacement."""
TAIL_LINES = 20
"""Lines of the tool's stderr a failure keeps (its end: where a tool says why)."""
TAIL_CHARS = 2000
"""... and at most this many characters of them, cut at a line or word boundary."""
COMMAND_CHARS = 600
"""The command as it ran, in an error, is cut to about this many characters."""
DEVICES = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.-]*$")
"""What `device:` may be besides "auto": one word such as cpu, cuda, cuda:1, mps."""


class Call(NamedTuple):
    """One run of the tool: exit status (or "timeout"), the tail of its stderr, and the
    command as it ran (placeholders filled in)."""

    status: int | str
    tail: str
    command: str
    seconds: float = 0.0
    """The time limit it ran under."""


def detect_device(env: Mapping[str, str]) -> str:
    """The {device} of a tool: cuda when a CUDA GPU is there for it, else cpu. Cheap: torch is
    asked only when this process imported it already, else the NVIDIA driver's files are."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return "cpu"  # GPUs hidden from the tool on purpose
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return "cuda" if torch.cuda.is_available() else "cpu"
        except Exception:  # a broken CUDA set-up: ask the driver's files below
            pass
    gpus = Path("/proc/driver/nvidia/gpus")
    try:
        present = (gpus.is_dir() and any(gpus.iterdir())) or any(Path("/dev").glob("nvidia[0-9]*"))
    except OSError:
        present = False
    return "cuda" if present else "cpu"


def fill(arg: str, values: Mapping[str, str]) -> str:
    """`arg` with each placeholder of `values` replaced (no format(): no attribute access)."""
    for key, value in values.items():
        arg = arg.replace(key, value)
    return arg


def tool_env(env: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """The spec's `env:` as the tool gets it: placeholders filled, then `$NAME` / `${NAME}`
    taken from the suite's own environment (so `PATH: /opt/nnunet/bin:$PATH` prepends)."""
    return {str(k): os.path.expandvars(fill(str(v), values)) for k, v in env.items()}


def resolve_program(program: str, spec_dir: Path, env: Mapping[str, str], where: str) -> str:
    """A path (relative ones to the spec file's folder), or a bare name found on the PATH the
    tool will have: the spec's `env:` PATH when it sets one, else the suite's. Relative PATH
    entries are the spec folder's, as they are for the tool (it runs there)."""
    if os.sep in program or (os.altsep and os.altsep in program):
        path = spec_dir / Path(program).expanduser()  # an absolute `program` stays itself
        if not path.is_file():
            raise ModelError(f"{where}: program {program} not found (looked for {path})")
        return str(path)
    own = "PATH" in env
    search = env["PATH"] if own else os.environ.get("PATH", os.defpath)
    folders = [str(spec_dir / p) if not os.path.isabs(p) else p for p in search.split(os.pathsep)]
    found = shutil.which(program, path=os.pathsep.join(folders))
    if found is not None:
        return found
    if own:
        shown = ", ".join(folders[:6]) + (", ..." if len(folders) > 6 else "")
        raise ModelError(
            f"{where}: command {program!r} not found on the PATH the spec's `env:` sets "
            f"({shown}); add the folder that holds it (e.g. PATH: /opt/venv/bin:$PATH), or "
            "give the program as a path"
        )
    raise ModelError(
        f"{where}: command {program!r} not found on PATH; install it, give its path, or set "
        "PATH in the spec's `env:` (e.g. PATH: /opt/venv/bin:$PATH)"
    )


def run_tool(argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float) -> Call:
    """Run the tool once in `cwd`. Its output goes to files, not pipes: a helper it leaves
    behind holding them cannot make us wait. On a timeout the stderr written so far is kept."""
    command = shorten(shlex.join(argv), COMMAND_CHARS)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(env),
            cwd=cwd,  # relative paths in argv and env: relative to the spec file
            start_new_session=True,  # its own process group: a timeout ends all of it
            preexec_fn=_die_with_parent,  # and it ends if we are killed
        )
        try:
            status: int | str = _wait(proc, timeout_s)
        except BaseException:  # e.g. Ctrl-C: leave no orphans
            _end(proc)
            raise
        _end(proc)  # the tool and whatever it left running in its group
        return Call(status, tail(_end_of(err) or _end_of(out)), command, timeout_s)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> int | str:
    """The tool's exit status, or "timeout". Where the system allows, the tool is left
    unreaped (a zombie), so that its process group id stays its own until `_end`."""
    if not hasattr(os, "waitid"):
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return "timeout"
    end = time.monotonic() + timeout_s
    pause = 0.001
    while True:
        try:
            done = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped elsewhere
            return proc.wait()
        if done is not None:  # exit code, or minus the signal that ended it (as Popen)
            return done.si_status if done.si_code == os.CLD_EXITED else -done.si_status
        if time.monotonic() > end:
            return "timeout"
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Kill the tool's process group (the tool, if still running, and any helper it left in
    it), then reap the tool; never waits long."""
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group we created for this call only
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # stuck in the kernel: let it go
        pass


def _die_with_parent() -> None:
    """In the tool's process, before it starts (Linux): SIGKILL when its parent dies, so a
    model's process killed by the runner takes its tool along."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _end_of(file: IO[bytes], size: int = 64 * 1024) -> bytes:
    """The last `size` bytes written to `file`."""
    length = os.fstat(file.fileno()).st_size
    return os.pread(file.fileno(), size, max(0, length - size))


def tail(data: bytes) -> str:
    """The last lines of `data`: at most TAIL_LINES and about TAIL_CHARS, whole lines only
    (one overlong last line keeps its end, from a word boundary)."""
    lines = data.decode("utf-8", errors="replace").rstrip().splitlines()[-TAIL_LINES:]
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if kept and size + len(line) + 1 > TAIL_CHARS:
            break
        kept.append(line)
        size += len(line) + 1
    if kept and len(kept[0]) > TAIL_CHARS:
        end = kept[0][-TAIL_CHARS:]
        space = end.find(" ")
        kept[0] = "… " + (end[space + 1 :] if 0 <= space < TAIL_CHARS // 2 else end)
    return "\n".join(reversed(kept))


def shorten(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters at a word boundary, marked with '…'."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + " …"


__all__ = [
    "COMMAND_CHARS",
    "PLACEHOLDERS",
    "TAIL_CHARS",
    "TAIL_LINES",
    "Call",
    "detect_device",
    "fill",
    "resolve_program",
    "run_tool",
    "shorten",
    "tail",
    "tool_env",
]
