"""Each model in its own process, which the runner can kill.

A `ModelProcess` starts `python -c BOOT` (runs.child): the model loads there once and then
answers predictions over a socket. Every wait has an end: a prediction past its timeout
kills the process group with SIGKILL (a model cannot catch or swallow it), a load has
LOAD_TIMEOUT_S, and a death is noticed within a fraction of a second. A crash, an abort, an
exit or a timeout becomes a `Failure` (status and reason, with the end of what the model
wrote to stderr) for that case only; the next case gets a fresh process.

Children die with their parent (runs.lifeline), so a killed run leaves no model running.
What the model writes to stdout or stderr is passed on to this process's stderr after each
call. Which processes a worker holds, and for how long: runs.roster.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from robustbench_liver.runs.loading import tail
from robustbench_liver.runs.wire import Check, Gone, Overdue, recv, send

LOAD_TIMEOUT_S = 600.0
"""How long a model may take to load (import, build, read its weights)."""
STOP_GRACE_S = 2.0
"""How long a model's process may take to end on its own when asked to, before SIGKILL."""
POLL_S = 0.1
"""How often a waiting runner checks whether the model's process is still alive."""
TRANSFER_GRACE_S = 60.0
"""Extra time for an answer that has begun to arrive by its deadline (a large array)."""
BOOT_VARIABLE = "ROBUSTBENCH_LIVER_BOOT"
BOOT = (
    "import json, os, sys; "
    f"boot = json.loads(os.environ.pop({BOOT_VARIABLE!r})); "
    "sys.path.insert(0, boot['root']); "
    "from robustbench_liver.runs.child import main; "
    "sys.path[:] = boot['path']; "
    "main(sys.argv[1:])"
)
"""The model's process: this very robustbench_liver (not one that a working folder holding
another copy would shadow), then this process's sys.path, so the model imports what we can;
then runs.child."""
ROOT = str(Path(__file__).resolve().parents[2])
"""The folder that holds this robustbench_liver package."""


@dataclass(frozen=True)
class Failure:
    """A case the model did not answer: a row's status and error."""

    status: str
    """model_error, timeout, crashed (a signal), exited (an exit code), invalid_prediction,
    invalid_dtype."""
    error: str


@dataclass(frozen=True)
class ModelInfo:
    """What the runner needs to know about a model, read in the model's own process."""

    name: str
    version: str = ""
    card: dict[str, Any] | None = None
    """The card as its `to_dict()` gives it (None when the model has no card)."""
    needs_liver: bool = False
    trained_on_scans: tuple[str, ...] = ()
    batch: bool = False
    """Has `predict_batch`."""
    batch_size: int = 1
    """Cases it would take per `predict_batch` call (its `batch_size`; e.g. a command tool
    that starts once per call): the runner's default unit size."""
    runtime: dict[str, str] = field(default_factory=dict)
    """Python and framework versions in the model's process (runs.child.runtime)."""


Answer = np.ndarray | Failure


class ModelProcess:
    """One model, loaded in a process of its own; restarted after it dies."""

    def __init__(self, spec: str):
        self.spec = spec
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._log: IO[bytes] | None = None
        self._relayed = 0
        self._started = 0.0
        self._info: ModelInfo | Failure | None = None

    # --- life cycle ---
    def start(self) -> None:
        """Start loading the model, unless a process is running (returns at once). After a
        failed load this tries again; `info` and the predictions do not."""
        if self._proc is not None and not self._exited():
            return
        self._finish()
        if self._log is not None:
            self._log.close()
        ours, theirs = socket.socketpair()
        log = tempfile.TemporaryFile(prefix="robustbench-liver-model-")
        boot = json.dumps({"root": ROOT, "path": sys.path})
        env = {**os.environ, "PYTHONUNBUFFERED": "1", BOOT_VARIABLE: boot}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", BOOT, str(theirs.fileno()), str(os.getpid()), self.spec],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(theirs.fileno(),),
                env=env,
                start_new_session=True,  # its own process group: a kill ends its helpers too
            )
        except BaseException:
            ours.close()
            log.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(POLL_S)
        self._sock, self._log, self._relayed, self._info = ours, log, 0, None
        self._started = time.monotonic()

    def info(self) -> ModelInfo | Failure:
        """The model's description once it has loaded (started again after a crash), or
        why it cannot load."""
        if isinstance(self._info, Failure):  # until `start` is called again
            return self._info
        self.start()
        if self._info is None:
            mark = self._log_size()
            until = self._started + LOAD_TIMEOUT_S
            try:
                (kind, payload), _ = recv(self._require_sock(), self._check(until))
            except Overdue:
                self._finish()
                self._info = Failure(
                    "model_error",
                    f"model {self.spec!r} did not load within {LOAD_TIMEOUT_S:g} s (killed)."
                    + self._said(mark),
                )
            except Gone:
                death = self._death(mark, "while loading")
                self._info = Failure("model_error", f"model {self.spec!r}: {death.error}")
            else:
                if kind == "ready":
                    self._info = ModelInfo(**payload)
                else:  # it said why, and ends
                    self._info = Failure("model_error", str(payload))
                    self._finish()
            finally:
                self._relay()
        return self._info

    @property
    def loaded(self) -> ModelInfo | None:
        """The model's description, if it has loaded (nothing is started)."""
        return self._info if isinstance(self._info, ModelInfo) else None

    def hang_up(self) -> None:
        """Close the connection: the process then ends on its own (see `stop`)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def stop(self) -> None:
        """Ask the process to end (it sees its connection close), then make sure."""
        self.hang_up()
        if self._proc is not None:
            end = time.monotonic() + STOP_GRACE_S
            while not self._exited() and time.monotonic() < end:
                time.sleep(0.01)
        self._finish()
        self._relay()
        if self._log is not None:
            self._log.close()
            self._log = None

    # --- predictions ---
    def predict(
        self,
        image: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None,
        timeout_s: float | None,
        threads: int = 1,
    ) -> Answer:
        """The model's prediction for one case, or why there is none."""
        loaded = self.info()
        if isinstance(loaded, Failure):
            return loaded
        arrays = [image] if liver is None else [image, liver]
        reply = self._exchange(("predict", tuple(spacing), threads, timeout_s), arrays, timeout_s)
        if isinstance(reply, Failure):
            return reply
        (kind, *detail), answer = reply
        if kind == "ok" and len(answer) == 1:
            return answer[0]
        return Failure(str(detail[0]), str(detail[1]))

    def predict_batch(
        self,
        items: Sequence[tuple[str, np.ndarray, tuple[float, float, float], np.ndarray | None]],
        timeout_s: float | None,
        threads: int = 1,
    ) -> dict[str, Answer]:
        """One `predict_batch` call for (case id, image, spacing, liver) items."""
        loaded = self.info()
        if isinstance(loaded, Failure):
            return {item[0]: loaded for item in items}
        layout = [(case_id, tuple(sp), liver is not None) for case_id, _, sp, liver in items]
        arrays = [a for _, image, _, liver in items for a in (image, liver) if a is not None]
        limit = None if timeout_s is None else timeout_s * len(items)
        reply = self._exchange(("batch", layout, threads, limit), arrays, limit)
        if isinstance(reply, Failure):
            return {item[0]: reply for item in items}
        (_, answers), returned = reply
        out: dict[str, Answer] = {}
        for case_id, *_ in items:
            kind, *detail = answers[case_id]
            out[case_id] = (
                returned[detail[0]] if kind == "ok" else Failure(str(detail[0]), str(detail[1]))
            )
        return out

    def _exchange(
        self, message: Any, arrays: list[np.ndarray], timeout_s: float | None
    ) -> tuple[Any, list[np.ndarray]] | Failure:
        mark = self._log_size()
        check = self._check(None if timeout_s is None else time.monotonic() + timeout_s)
        try:
            send(self._require_sock(), message, arrays, check)
            return recv(self._require_sock(), check)
        except Overdue:
            self._finish()
            return Failure(
                "timeout",
                f"no answer within {timeout_s:g} s: the model's process was killed."
                + self._said(mark),
            )
        except Gone:
            return self._death(mark, "during the prediction")
        finally:
            self._relay()

    # --- helpers ---
    def _check(self, until: float | None) -> Check:
        """Past `until` with nothing arriving: Overdue (an answer on its way by then gets
        TRANSFER_GRACE_S more to arrive whole); nothing arriving and the process is gone:
        Gone."""

        def check(idle: bool) -> None:
            if until is not None:
                late = time.monotonic() - until
                if late > 0 and (idle or late > TRANSFER_GRACE_S):
                    raise Overdue
            if idle and self._exited():
                raise Gone

        return check

    def _require_sock(self) -> socket.socket:
        if self._sock is None:
            raise Gone
        return self._sock

    def _exited(self) -> bool:
        """Has the process ended? (Not reaped yet, so its group can still be killed.)"""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return True
        if hasattr(os, "waitid"):
            try:
                flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
                return os.waitid(os.P_PID, proc.pid, flags) is not None
            except ChildProcessError:
                return True
        return proc.poll() is not None

    def _finish(self) -> int | None:
        """Kill what is left of the process group, reap the process; its exit status."""
        proc, self._proc = self._proc, None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if proc is None:
            return None
        if proc.returncode is None:
            try:  # the leader is not reaped yet: the group id is still its own
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # stuck in the kernel: let it go
            return None

    def _death(self, mark: int, when: str) -> Failure:
        """The process ended (or broke the protocol) without an answer: why."""
        end = time.monotonic() + STOP_GRACE_S
        while not self._exited() and time.monotonic() < end:  # closing down: its exit status
            time.sleep(0.01)
        code = self._finish()  # one that broke the protocol but lives is killed
        said = self._said(mark)
        if code is not None and code < 0:
            number = -code
            name = signal.Signals(number).name if number in signal.valid_signals() else number
            text = signal.strsignal(number) or "unknown signal"
            return Failure(
                "crashed", f"the model's process died from signal {name} ({text}) {when}.{said}"
            )
        return Failure("exited", f"the model's process exited with code {code} {when}.{said}")

    def _log_size(self) -> int:
        return os.fstat(self._log.fileno()).st_size if self._log is not None else 0

    def _said(self, mark: int) -> str:
        """'\nIts stderr ends with: ...', from what the process wrote since `mark`."""
        if self._log is None:
            return ""
        data = os.pread(self._log.fileno(), max(0, self._log_size() - mark), mark)
        text = tail(data.decode("utf-8", errors="replace"))
        return f"\nIts stderr ends with:\n{text}" if text.strip() else ""

    def _relay(self) -> None:
        """Pass on what the model wrote (stdout and stderr) to our stderr."""
        if self._log is None:
            return
        size = self._log_size()
        if size > self._relayed:
            data = os.pread(self._log.fileno(), size - self._relayed, self._relayed)
            self._relayed = size
            try:
                sys.stderr.write(data.decode("utf-8", errors="replace"))
                sys.stderr.flush()
            except (OSError, ValueError):  # no stderr to write to
                pass
