"""The command adapter: run an external tool on folders of NIfTI files, the way nnU-Net
(`nnUNetv2_predict -i IN -o OUT ...`) and TotalSegmentator-style tools are run.

Each case is written as IN/<case_id>_0000.nii.gz (int16 HU, diagonal RAS affine from the
spacing; the liver mask as IN/<case_id>_0001.nii.gz when the card says needs_liver); the
tool is run once per batch, as an argument list and never through a shell; it must write
OUT/<case_id>.nii.gz of the same shape. A missing, unreadable, misshapen or non-finite
output fails that case only. A non-zero exit fails the batch; with `isolate_failures` each
case is then run alone so only the culprits fail. A timeout kills the tool's process group
and fails the batch; so does the end of the call, for helpers the tool left running. Its
output goes to files, not pipes, so no wait outlasts the timeout, and (on Linux) the tool
dies with the process that started it. Every failure carries the last lines of the tool's
stderr and the command as it ran.

Spec (YAML):

    adapter: command
    argv: ["nnUNetv2_predict", "-i", "{input_dir}", "-o", "{output_dir}", "-d", "3"]
    timeout_s: 3600          # per call
    batch_size: 16           # cases per call
    remap: {1: 1, 2: 2}      # output value -> 0/1/2 (values not listed become 0)
    env: {nnUNet_results: /models/nnunet}
    card: {name: nnunet-lits, output: labels, ...}

Placeholders in argv: {input_dir}, {output_dir}, {python} (this Python interpreter) and
{spec_dir} (the spec file's folder). The tool runs in the spec file's folder, so relative
paths in argv and env are relative to the spec file; so is a program given as a relative
path (`./predict.sh`, `bin/tool`). A bare program name is looked up on PATH.
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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from robustbench_liver.errors import DataError, ModelError
from robustbench_liver.io import read_volume, save_nifti
from robustbench_liver.models.protocol import BatchItem, ModelCard, SegmentationModel, check_input
from robustbench_liver.models.spec import Args, card_of

PLACEHOLDERS = ("{input_dir}", "{output_dir}", "{python}", "{spec_dir}")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
TAIL_LINES = 20
"""Lines of the tool's stderr a failure keeps (its end: where a tool says why)."""
TAIL_CHARS = 2000
"""... and at most this many characters of them, cut at a line or word boundary."""
COMMAND_CHARS = 600


class Call(NamedTuple):
    """One run of the tool: exit status (or "timeout"), the tail of its stderr, and the
    command as it ran (placeholders filled in)."""

    status: int | str
    tail: str
    command: str


class CommandModel(SegmentationModel):
    """An external program as a model; see the module docstring for the contract."""

    def __init__(
        self,
        card: ModelCard,
        argv: Sequence[str],
        timeout_s: float = 3600.0,
        batch_size: int = 16,
        remap: Mapping[int, int] | None = None,
        env: Mapping[str, str] | None = None,
        isolate_failures: bool = True,
        spec_dir: Path | None = None,
    ):
        where = f"model {card.name!r}"
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ModelError(f"{where}: argv must be a non-empty list of strings")
        joined = " ".join(argv)
        if "{input_dir}" not in joined or "{output_dir}" not in joined:
            raise ModelError(
                f"{where}: argv must contain {{input_dir}} and {{output_dir}}, got {list(argv)}"
            )
        if not timeout_s > 0 or batch_size < 1:
            raise ModelError(f"{where}: timeout_s must be > 0 and batch_size >= 1")
        if remap is not None and any(v not in (0, 1, 2) for v in remap.values()):
            raise ModelError(f"{where}: remap must map output values to 0, 1 or 2, got {remap}")
        self.card = card
        self.spec_dir = (spec_dir or Path.cwd()).resolve()
        self.argv = list(argv)
        self.program = _resolve_program(
            self._fill(argv[0], Path("."), Path(".")), self.spec_dir, where
        )
        self.timeout_s = float(timeout_s)
        self.batch_size = int(batch_size)
        self.remap = None if remap is None else {int(k): int(v) for k, v in remap.items()}
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.isolate_failures = isolate_failures

    def predict(
        self,
        image_hu: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None = None,
    ) -> np.ndarray:
        result = self.predict_batch([BatchItem("case", image_hu, spacing, liver)])["case"]
        if isinstance(result, Exception):
            raise result
        return result

    def predict_batch(self, items: Iterable[BatchItem]) -> dict[str, np.ndarray | Exception]:
        results: dict[str, np.ndarray | Exception] = {}
        ready: list[BatchItem] = []
        for item in items:
            if item.case_id in results or any(r.case_id == item.case_id for r in ready):
                raise ModelError(
                    f"model {self.card.name!r}: case id {item.case_id!r} appears twice"
                )
            try:
                if not _SAFE_ID.match(item.case_id):
                    raise ModelError(
                        f"model {self.card.name!r}: case id {item.case_id!r} cannot be a file "
                        "name; use letters, digits and - _ . +"
                    )
                image, spacing, liver = check_input(self.card, *item[1:])
                ready.append(BatchItem(item.case_id, image, spacing, liver))
            except ModelError as err:
                results[item.case_id] = err
        for start in range(0, len(ready), self.batch_size):
            results.update(self._run_batch(ready[start : start + self.batch_size]))
        return results

    def _run_batch(self, batch: list[BatchItem]) -> dict[str, np.ndarray | Exception]:
        with tempfile.TemporaryDirectory(prefix="robustbench-liver-cmd-") as tmp:
            in_dir, out_dir = Path(tmp) / "input", Path(tmp) / "output"
            in_dir.mkdir()
            out_dir.mkdir()
            for item in batch:
                affine = np.diag([*item.spacing, 1.0])
                save_nifti(in_dir / f"{item.case_id}_0000.nii.gz", item.image_hu, affine)
                if self.card.needs_liver and item.liver is not None:
                    mask = item.liver.astype(np.uint8)
                    save_nifti(in_dir / f"{item.case_id}_0001.nii.gz", mask, affine, kind="label")
            call = self._call(in_dir, out_dir)
            if call.status == "timeout":
                message = f"no answer within {self.timeout_s:g} s (killed)"
                return {item.case_id: self._error(item.case_id, message, call) for item in batch}
            if call.status != 0:
                if self.isolate_failures and len(batch) > 1:
                    return {k: v for item in batch for k, v in self._run_batch([item]).items()}
                message = f"the command exited with status {call.status}"
                return {item.case_id: self._error(item.case_id, message, call) for item in batch}
            return {item.case_id: self._read(item, out_dir, call) for item in batch}

    def _call(self, in_dir: Path, out_dir: Path) -> Call:
        """Run the tool once, in the spec file's folder. Its output goes to files, not
        pipes: a helper it leaves behind holding them cannot make us wait."""
        argv = [self.program] + [self._fill(a, in_dir, out_dir) for a in self.argv[1:]]
        command = _shorten(shlex.join(argv), COMMAND_CHARS)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**os.environ, **self.env},
                cwd=self.spec_dir,  # relative paths in argv and env: relative to the spec file
                start_new_session=True,  # its own process group: a timeout ends all of it
                preexec_fn=_die_with_parent,  # and it ends if we are killed
            )
            try:
                status: int | str = _wait(proc, self.timeout_s)
            except BaseException:  # e.g. Ctrl-C: leave no orphans
                _end(proc)
                raise
            _end(proc)  # the tool and whatever it left running in its group
            return Call(status, _tail(_end_of(err) or _end_of(out)), command)

    def _read(self, item: BatchItem, out_dir: Path, call: Call) -> np.ndarray | Exception:
        path = next(
            (
                p
                for p in (out_dir / f"{item.case_id}.nii.gz", out_dir / f"{item.case_id}.nii")
                if p.exists()
            ),
            None,
        )
        if path is None:
            written = sorted(p.name for p in out_dir.iterdir())[:5]
            return self._error(
                item.case_id,
                f"no output {item.case_id}.nii.gz (the output folder holds {written or 'nothing'})",
                call,
            )
        try:
            array = np.asarray(read_volume(path).array)
        except DataError as err:
            return self._error(item.case_id, f"unreadable output: {err}", call)
        if array.shape != item.image_hu.shape:
            return self._error(
                item.case_id,
                f"output shape {array.shape}, the input has {item.image_hu.shape}",
                call,
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            return self._error(item.case_id, "output has non-finite values (NaN or inf)", call)
        return self._convert(item.case_id, array, call)

    def _convert(self, case_id: str, array: np.ndarray, call: Call) -> np.ndarray | Exception:
        if self.card.output == "probability":
            if array.min(initial=0) < 0 or array.max(initial=0) > 1:
                return self._error(case_id, "probability output outside [0, 1]", call)
            return array.astype(np.float32)
        if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
            return self._error(case_id, "label output holds non-integer values", call)
        labels = array.astype(np.int64)
        if self.remap is not None:
            lut_keys = np.asarray(sorted(self.remap), dtype=np.int64)
            out = np.zeros(labels.shape, dtype=np.uint8)
            for key in lut_keys:
                out[labels == key] = self.remap[int(key)]
            return out
        values = np.unique(labels)
        if values.min() < 0 or values.max() > 2:
            return self._error(
                case_id,
                f"label values {values[:10].tolist()} outside 0/1/2; map them with `remap:`",
                call,
            )
        return labels.astype(np.uint8)

    def _error(self, case_id: str, message: str, call: Call) -> ModelError:
        """The failure, the command as it ran and the stderr's last lines; when the tool
        failed, its last line also beside the failure (what one-line listings show)."""
        lines = call.tail.strip().splitlines()
        failed = call.status != 0 and lines
        last = f" (stderr: {_shorten(lines[-1].strip(), 160)})" if failed else ""
        shown = "\n".join(lines) if lines else "(nothing on stderr)"
        return ModelError(
            f"model {self.card.name!r}, case {case_id!r}: {message}{last}.\n"
            f"Command: {call.command}\nIts stderr ends with:\n{shown}"
        )

    def _fill(self, arg: str, in_dir: Path, out_dir: Path) -> str:
        values = (str(in_dir), str(out_dir), sys.executable, str(self.spec_dir))
        # plain replacement: no format(), no attribute access
        for key, value in zip(PLACEHOLDERS, values, strict=True):
            arg = arg.replace(key, value)
        return arg


def _resolve_program(program: str, spec_dir: Path, where: str) -> str:
    """A path (relative ones to the spec file's folder), or a bare name found on PATH."""
    if os.sep in program or (os.altsep and os.altsep in program):
        path = spec_dir / Path(program).expanduser()  # an absolute `program` stays itself
        if not path.is_file():
            raise ModelError(f"{where}: program {program} not found (looked for {path})")
        return str(path)
    found = shutil.which(program)
    if found is None:
        raise ModelError(
            f"{where}: command {program!r} not found on PATH; install it or give a path"
        )
    return found


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


def _tail(data: bytes) -> str:
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


def _shorten(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters at a word boundary, marked with '…'."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + " …"


def from_spec(data: Mapping[str, Any], path: Path) -> CommandModel:
    """A CommandModel from a parsed spec file (see the module docstring)."""
    args = Args(data, path, "command")
    argv = args.take("argv", list, what="the command as a list, with {input_dir} and {output_dir}")
    timeout = args.take("timeout_s", (int, float), 3600.0)
    batch_size = args.take("batch_size", int, 16)
    remap = args.take("remap", dict, None)
    env = args.take("env", dict, None)
    isolate = args.take("isolate_failures", bool, True)
    args.done()
    card = card_of(data.get("card"), path, "command")
    if remap is not None:
        try:
            remap = {int(k): int(v) for k, v in remap.items()}
        except (TypeError, ValueError):
            raise ModelError(f"{path}: remap must map integers to 0, 1 or 2, got {remap}") from None
    return CommandModel(
        card,
        [str(a) for a in argv],
        timeout_s=float(timeout),
        batch_size=batch_size,
        remap=remap,
        env=env,
        isolate_failures=isolate,
        spec_dir=path.parent.resolve(),
    )


__all__ = ["PLACEHOLDERS", "CommandModel", "from_spec"]
