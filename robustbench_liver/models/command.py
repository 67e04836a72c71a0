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
dies with the process that started it. Every failure names its case (and the other cases
of a batch that failed together), the command as it ran, and the last lines of the tool's
stderr: its end, where a tool says why; a timeout keeps what it wrote until then.

Spec (YAML):

    adapter: command
    argv: [nnUNetv2_predict, -i, "{input_dir}", -o, "{output_dir}", -d, "3", -c, 3d_fullres,
           -f, "0", -device, "{device}"]
    timeout_s: 3600          # per call of the tool (a batch); default 3600
    batch_size: 16           # most cases per call of the tool; default 16
    remap: {1: 1, 2: 2}      # output value -> 0/1/2 (values not listed become 0)
    env: {nnUNet_results: /models/nnunet, PATH: "/opt/nnunet/bin:$PATH"}
    device: auto             # what {device} is: auto (cuda when a GPU is there, else cpu),
                             # or a word such as cpu, cuda, cuda:1
    isolate_failures: true   # after a failed batch, run its cases one by one
    card: {name: nnunet-lits, version: "1", output: labels, ...}

Placeholders in argv: {input_dir}, {output_dir}, {python} (the Python running the bench),
{spec_dir} (the spec file's folder) and {device} (see `device:`); `env:` values may use the
last three, and `$NAME` / `${NAME}` of the bench's own environment. The tool runs in the spec
file's folder, so relative paths in argv and env are relative to the spec file; so is a
program given as a path (`./predict.sh`, `bin/tool`). A bare program name is looked up on
the PATH the tool gets: the spec's `env:` PATH when it sets one, else the bench's.
Python tools run with PYTHONUNBUFFERED=1 (unless set), so their output up to a timeout is
kept.

The card's `weights` and `sha256` are optional for a command model (the tool loads its own
weights); when given, `weights` must be a file (relative to the spec file) whose sha256 is
`sha256`, checked when the model is built, so a card never shows an unchecked file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import DataError, ModelError
from robustbench_liver.io import read_volume, save_nifti
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.models.command_tool import (
    COMMAND_CHARS,
    DEVICES,
    PLACEHOLDERS,
    TAIL_CHARS,
    TAIL_LINES,
    Call,
    detect_device,
    fill,
    resolve_program,
    run_tool,
    shorten,
    tool_env,
)
from robustbench_liver.models.protocol import BatchItem, ModelCard, SegmentationModel, check_input
from robustbench_liver.models.spec import Args, card_of

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_ONE = "image"
"""The file name `predict` gives its one image: no case id to name in an error."""
RUNNER_MARGIN_S = 2.0
"""How long before the runner's `--timeout` a tool is ended, so its failure can be told."""
SHOWN_IDS = 5
"""Case ids an error lists for a batch that failed together (the count of the rest follows)."""


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
        device: str = "auto",
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
        if not isinstance(device, str) or not DEVICES.match(device):
            raise ModelError(
                f"{where}: device must be auto or one word such as cpu, cuda, cuda:1; "
                f"got {device!r}"
            )
        self.spec_dir = (spec_dir or Path.cwd()).resolve()
        self.card = _checked_weights(card, self.spec_dir, where)
        self.argv = list(argv)
        raw_env = {str(k): str(v) for k, v in (env or {}).items()}
        if device == "auto":  # asked only when used: the check looks at the driver's files
            wanted = "{device}" in joined or any("{device}" in v for v in raw_env.values())
            device = detect_device({**os.environ, **raw_env}) if wanted else "cpu"
        self.device = device
        self._values = {
            "{python}": sys.executable,
            "{spec_dir}": str(self.spec_dir),
            "{device}": self.device,
        }
        self.env = tool_env(raw_env, self._values)
        self.program = resolve_program(fill(argv[0], self._values), self.spec_dir, self.env, where)
        self.timeout_s = float(timeout_s)
        self.batch_size = int(batch_size)
        self.remap = None if remap is None else {int(k): int(v) for k, v in remap.items()}
        self.isolate_failures = isolate_failures
        self._deadline: float | None = None

    def set_time_limit(self, seconds: float | None) -> None:
        """The runner waits `seconds` for the next call (`run --timeout`): each tool run then
        ends a little before, so its stderr is kept, not lost with a killed process."""
        if seconds is None:
            self._deadline = None
            return
        margin = min(RUNNER_MARGIN_S, 0.1 * seconds)
        self._deadline = time.monotonic() + seconds - margin

    def _time_left(self) -> float:
        if self._deadline is None:
            return self.timeout_s
        return max(0.05, min(self.timeout_s, self._deadline - time.monotonic()))

    def predict(
        self,
        image_hu: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None = None,
    ) -> np.ndarray:
        result = self.predict_batch([BatchItem(_ONE, image_hu, spacing, liver)])[_ONE]
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
            together = _together([item.case_id for item in batch])
            if call.status == "timeout":
                message = f"no answer within {call.seconds:.3g} s (killed){together}"
                return {
                    item.case_id: ToolTimeout(str(self._error(item.case_id, message, call)))
                    for item in batch
                }
            if call.status != 0:
                if self.isolate_failures and len(batch) > 1:
                    return {k: v for item in batch for k, v in self._run_batch([item]).items()}
                message = f"the command exited with status {call.status}{together}"
                return {item.case_id: self._error(item.case_id, message, call) for item in batch}
            return {item.case_id: self._read(item, out_dir, call) for item in batch}

    def _call(self, in_dir: Path, out_dir: Path) -> Call:
        """Run the tool once, in the spec file's folder."""
        values = {"{input_dir}": str(in_dir), "{output_dir}": str(out_dir), **self._values}
        argv = [self.program] + [fill(a, values) for a in self.argv[1:]]
        env = {**os.environ, "PYTHONUNBUFFERED": os.environ.get("PYTHONUNBUFFERED", "1")}
        return run_tool(argv, {**env, **self.env}, self.spec_dir, self._time_left())

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
        """The failure with its case id, the command as it ran and the stderr's last lines;
        when the tool failed, its last line also beside the failure (what one-line listings
        show)."""
        lines = call.tail.strip().splitlines()
        failed = call.status != 0 and lines
        last = f" (stderr: {shorten(lines[-1].strip(), 160)})" if failed else ""
        shown = "\n".join(lines) if lines else "(nothing on stderr)"
        case = "" if case_id == _ONE else f", case {case_id!r}"
        return ModelError(
            f"model {self.card.name!r}{case}: {message}{last}.\n"
            f"Command: {call.command}\nIts stderr ends with:\n{shown}"
        )


class ToolTimeout(ModelError, TimeoutError):
    """The tool ran out of time (its `timeout_s`, or the runner's `--timeout`): the row's
    status is `timeout`."""


def _together(case_ids: list[str]) -> str:
    """' (a batch of 3 cases that failed together: a, b, c)', or '' for one case."""
    if len(case_ids) < 2:
        return ""
    shown = ", ".join(case_ids[:SHOWN_IDS])
    more = f" and {len(case_ids) - SHOWN_IDS} more" if len(case_ids) > SHOWN_IDS else ""
    return f" (a batch of {len(case_ids)} cases that failed together: {shown}{more})"


def _checked_weights(card: ModelCard, spec_dir: Path, where: str) -> ModelCard:
    """The card with its `weights` resolved, after checking that the file exists and has the
    card's sha256; a card without weights and sha256 as it is."""
    if card.weights is None:
        if card.sha256 is not None:
            raise ModelError(
                f"{where}: the card gives a sha256 but no weights file it would be the digest "
                "of; add `weights:` (the tool's checkpoint, relative to the spec file) under "
                "`card:`, or drop `sha256:`"
            )
        return card
    path = (spec_dir / Path(card.weights).expanduser()).resolve()
    if path.is_dir():
        raise ModelError(
            f"{where}: card weights {path} is a folder; name one file in it (the checkpoint "
            "the tool loads, e.g. fold_0/checkpoint_final.pth), or drop `weights:`"
        )
    if not path.is_file():
        raise ModelError(
            f"{where}: card weights {path} not found; give the checkpoint the tool loads "
            "(relative to the spec file), or drop `weights:` and `sha256:` from the card"
        )
    actual = sha256_of(path)
    if card.sha256 is None:
        raise ModelError(
            f"{where}: the card names weights {path} without their sha256; a card never shows "
            f"unchecked weights. If this is the file, add `sha256: {actual}` under `card:`"
        )
    if actual != card.sha256:
        raise ModelError(
            f"{where}: {path} has sha256 {actual}, the card says {card.sha256}. The file "
            "changed or is not the one the card describes: restore it, or put its sha256 "
            "in the card if you replaced it on purpose"
        )
    return dataclasses.replace(card, weights=str(path))


def from_spec(data: Mapping[str, Any], path: Path) -> CommandModel:
    """A CommandModel from a parsed spec file (see the module docstring)."""
    args = Args(data, path, "command")
    argv = args.take("argv", list, what="the command as a list, with {input_dir} and {output_dir}")
    timeout = args.take("timeout_s", (int, float), 3600.0)
    batch_size = args.take("batch_size", int, 16)
    remap = args.take("remap", dict, None)
    env = args.take("env", dict, None)
    isolate = args.take("isolate_failures", bool, True)
    device = args.take("device", str, "auto")
    args.done()
    card = card_of(data.get("card"), path, "command")
    if remap is not None:
        try:
            remap = {int(k): int(v) for k, v in remap.items()}
        except (TypeError, ValueError):
            raise ModelError(f"{path}: remap must map integers to 0, 1 or 2, got {remap}") from None
    if env is not None and not all(isinstance(v, str | int | float) for v in env.values()):
        raise ModelError(f"{path}: env must map names to strings, got {env}")
    return CommandModel(
        card,
        [str(a) for a in argv],
        timeout_s=float(timeout),
        batch_size=batch_size,
        remap=remap,
        env=env,
        isolate_failures=isolate,
        spec_dir=path.parent.resolve(),
        device=device,
    )


__all__ = [
    "COMMAND_CHARS",
    "PLACEHOLDERS",
    "TAIL_CHARS",
    "TAIL_LINES",
    "CommandModel",
    "from_spec",
]
