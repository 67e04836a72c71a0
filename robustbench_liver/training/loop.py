"""The training loop: checkpoints, resume after a kill, and the exported model.

OUT/ holds train.yaml (the config), checkpoint.pt (every `checkpoint_every` iterations,
written atomically), history.csv (loss per iteration) and, at the end, <export_name>.pt (the
state dict) and <export_name>.yaml (a torch-adapter model spec with its sha256 and card).
Rerunning the same command on the same OUT continues from the last checkpoint.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from robustbench_liver.inference import InferenceSettings
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.models.protocol import ModelCard
from robustbench_liver.training.config import (
    ConfigError,
    DataSection,
    TrainConfig,
    config_from_dict,
)
from robustbench_liver.training.data import BaseScans, check_scans, sample_patches, training_case
from robustbench_liver.training.finetune import load_parent, start_from
from robustbench_liver.training.network import make_network

CHECKPOINT = "checkpoint.pt"
CONFIG = "train.yaml"
HISTORY = "history.csv"

Progress = Callable[[int, int, float], None]
"""progress(iterations done, total, last loss)."""


@dataclass(frozen=True)
class TrainResult:
    out: Path
    iterations: int
    resumed_from: int
    seconds: float
    """Wall time of all sessions of the run together."""
    losses: list[float]
    spec: Path
    weights: Path
    sha256: str


def card_of(
    config: TrainConfig, trained_on: str = "", trained_on_scans: Sequence[str] = ()
) -> ModelCard:
    """The card of the model a run produces: its pre- and post-processing are what the
    torch adapter will run, so training reads them from here too. `trained_on_scans` are
    the image digests of its base scans (`digests.base_scan_digests`), so that a run can
    flag cases built on them."""
    m = config.model
    return ModelCard(
        name=m.name,
        version=m.version,
        description=m.description,
        adapter="torch",
        hu_window=m.hu_window,
        normalize=m.normalize,
        spacing_mm=m.spacing_mm,
        roi_size=m.roi_size,
        overlap=m.overlap,
        min_tumor_mm3=m.min_tumor_mm3,
        tumors_in_liver=m.tumors_in_liver,
        min_tumor_confidence=m.min_tumor_confidence,
        classes=m.classes,
        license=m.license,
        citation=m.citation,
        trained_on=trained_on,
        trained_on_scans=tuple(trained_on_scans),
    )


def settings_of(config: TrainConfig) -> InferenceSettings:
    return card_of(config).inference_settings()


def learning_rate(config: TrainConfig, iteration: int) -> float:
    """Linear warm-up, then cosine decay to zero: a pure function of the iteration."""
    if iteration < config.warmup:
        return config.learning_rate * (iteration + 1) / config.warmup
    span = max(1, config.iterations - config.warmup)
    done = (iteration - config.warmup) / span
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))


def train(
    config: TrainConfig,
    out: str | Path,
    data_root: str | Path | None = None,
    progress: Progress | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Train (or continue training) the configured network on synthetic tumors.

    `stop_after` ends the session after that many iterations of this call (with a
    checkpoint), as a kill would: for tests of resuming.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _claim(out, config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    settings = settings_of(config)
    scans = BaseScans(config, data_root)
    check_scans(scans)
    net = make_network(config)
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    state = _load_checkpoint(out, config)
    start, losses, rows, seconds = 0, [], [], 0.0
    parent = load_parent(config.init_from)
    if state is None and parent is not None:
        start_from(net, parent, config.model.classes)
    if state is not None:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, seconds = int(state["iteration"]), float(state["seconds"])
        losses, rows = list(state["losses"]), list(state["history"])
    from monai.losses import DiceCELoss

    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    net.train()
    session_start = time.monotonic()
    end = config.iterations if stop_after is None else min(config.iterations, start + stop_after)
    for it in range(start, end):
        case = training_case(config, scans, settings, it)
        x, y = sample_patches(case, config, it)
        lr = learning_rate(config, it)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        if not torch.isfinite(loss):  # one bad case would turn every weight into NaN
            raise ConfigError(
                f"iteration {it + 1}: the loss is {float(loss.detach())} on the case of scan "
                f"{case.info['scan']} (level {case.info['level']}, image finite: "
                f"{bool(torch.isfinite(x).all())}); the run stops before the weights take "
                f"it in: the checkpoint in {out} is unharmed"
            )
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        losses.append(value)
        elapsed = seconds + time.monotonic() - session_start
        info = case.info
        rows.append(f"{it + 1},{value:.6f},{lr:.6g},{elapsed:.1f},{info['scan']},{info['level']}")
        done = it + 1
        if done % config.checkpoint_every == 0 or done == end:
            _save_checkpoint(out, config, net, optimizer, done, losses, rows, elapsed)
        if progress is not None:
            progress(done, config.iterations, value)
    seconds += time.monotonic() - session_start
    if end < config.iterations:
        return TrainResult(out, end, start, seconds, losses, Path(), Path(), "")
    # imported here: `python -m robustbench_liver.training.digests` must not find it loaded
    from robustbench_liver.training.digests import trained_on_digests

    seen = [d for _, d in trained_on_digests(config, scans, parent)]
    described = "" if parent is None else parent.describe()
    weights, spec, digest = export(config, net, out, scans.describe(), seconds, seen, described)
    return TrainResult(out, end, start, seconds, losses, spec, weights, digest)


def export(
    config: TrainConfig,
    net: torch.nn.Module,
    out: Path,
    base_scans: list[str],
    seconds: float,
    scan_digests: Sequence[str] = (),
    parent: str = "",
) -> tuple[Path, Path, str]:
    """Write the state dict and a torch-adapter spec (with sha256 and card) beside it."""
    m, d = config.model, config.data
    weights = out / f"{m.export_name}.pt"
    state = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    _atomic_save(state, weights)
    digest = sha256_of(weights)
    levels = ", ".join(f"{k} {v:g}" for k, v in d.levels.items())
    trained_on = (
        "synthetic liver tumors only (robustbench_liver.synthesis, every step on, tumor "
        f"levels weighted {levels}, {d.control_share:.0%} tumor-free cases, overrides "
        f"{d.tumor_overrides}{_phase_text(d)}) on base scans: {'; '.join(base_scans)}; "
        f"{config.iterations} iterations of {config.batch_size} patches of "
        f"{'x'.join(map(str, d.patch_size))} voxels at {m.spacing_mm} mm, seed {config.seed}, "
        f"{seconds / 60:.0f} min on CPU{parent}"
    )
    spec = {
        "adapter": "torch",
        "network": m.network,
        "network_args": dict(m.network_args),
        "checkpoint": weights.name,
        "sha256": digest,
        # the spec itself names the adapter, the weights and their sha256
        "card": {
            k: v
            for k, v in card_of(config, trained_on, scan_digests).to_dict().items()
            if k not in ("adapter", "weights", "sha256")
        },
    }
    spec_path = out / f"{m.export_name}.yaml"
    text = "# Written by `robustbench-liver train`; load with get_model(<this file>).\n"
    spec_path.write_text(text + yaml.safe_dump(spec, sort_keys=False, width=100))
    return weights, spec_path, digest


def _phase_text(d: DataSection) -> str:
    if d.phase_share <= 0:
        return ""
    lo, hi = d.phase_degree
    ranges = ", ".join(f"{t} {a:g}-{b:g}" for t, (a, b) in d.non_contrast_hu.items())
    return (
        f"; {d.phase_share:.0%} of cases moved {lo:g}-{hi:g} of the way to non-contrast CT "
        f"({ranges} HU)"
    )


def _claim(out: Path, config: TrainConfig) -> None:
    """Write the config into OUT, or check that OUT was started with the same config."""
    path = out / CONFIG
    if path.exists():
        try:
            previous = config_from_dict(yaml.safe_load(path.read_text()) or {}, str(path))
        except ConfigError as err:
            raise ConfigError(f"{out} holds an unreadable training config: {err}") from None
        if previous.digest != config.digest:
            raise ConfigError(
                f"{out} holds a run with another config ({path}); use another --out, or "
                "the same config to resume it"
            )
        return
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False, width=100))


def _load_checkpoint(out: Path, config: TrainConfig) -> dict[str, Any] | None:
    path = out / CHECKPOINT
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file: say so, do not silently start over
        raise ConfigError(
            f"cannot read the checkpoint {path} ({type(err).__name__}: {err}); delete it to "
            "start the run again"
        ) from None
    if state.get("config_digest") != config.digest:
        raise ConfigError(f"{path} belongs to another config; use another --out")
    return dict(state)


def _save_checkpoint(
    out: Path,
    config: TrainConfig,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    iteration: int,
    losses: list[float],
    rows: list[str],
    seconds: float,
) -> None:
    """The checkpoint, then the history it covers (both replaced atomically)."""
    state = {
        "iteration": iteration,
        "config_digest": config.digest,
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "losses": losses,
        "history": rows,
        "seconds": seconds,
    }
    _atomic_save(state, out / CHECKPOINT)
    tmp = out / (HISTORY + ".tmp")
    tmp.write_text(
        "iteration,loss,learning_rate,seconds,scan,level\n" + "".join(r + "\n" for r in rows)
    )
    os.replace(tmp, out / HISTORY)


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


__all__ = ["TrainResult", "card_of", "export", "learning_rate", "settings_of", "train"]
