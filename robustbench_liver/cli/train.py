"""`robustbench-liver train`: train a U-Net on synthetic tumors only; resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robustbench_liver.cli import add_data_root

EXAMPLE = """\
example:
  robustbench-liver train --config robustbench_liver/models/weights/unet_synth.train.yaml \\
      --data-root ../shared/data --out runs/unet-synth

Tumors are synthesized on the fly over the config's base scans (phantom seeds, and real
scans under --data-root). OUT gets train.yaml, checkpoint.pt (every checkpoint_every
iterations), history.csv and, at the end, <name>.pt and <name>.yaml: a model spec to pass
to any command that takes --model. Rerun the same command after a kill: it continues from
the last checkpoint.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train a segmentation model on synthetic tumors only (resumable)",
        description="Train a MONAI network on tumors synthesized on the fly.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, required=True, help="training config (YAML)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumed if present)")
    add_data_root(parser, "folder the config's real_scans paths are relative to")
    parser.add_argument("--threads", type=int, help="torch threads (default: the config's)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from robustbench_liver.cli.progress import Progress
    from robustbench_liver.training import load_config, train

    config = load_config(args.config)
    if args.threads is not None:
        config = replace(config, threads=args.threads)
    start = _checkpoint_iteration(args.out)
    label = "training" if not start else f"training (resumed at {start})"
    with Progress(max(1, config.iterations - start), label) as bar:

        def progress(done: int, total: int, loss: float) -> None:
            bar.advance()
            if done % config.checkpoint_every == 0 and not sys.stderr.isatty():
                print(f"iteration {done}/{total}: loss {loss:.4f}", file=sys.stderr, flush=True)

        result = train(config, args.out, args.data_root, progress)
    tail = result.losses[-100:]
    mean = sum(tail) / max(1, len(tail))
    print(
        f"trained {result.iterations} iterations in {result.seconds / 60:.1f} min "
        f"(mean loss of the last {len(tail)}: {mean:.4f})\n"
        f"weights {result.weights} (sha256 {result.sha256})\nmodel spec {result.spec}"
    )
    return 0


def _checkpoint_iteration(out: Path) -> int:
    """Where a previous session stopped (0 for a new run); only for the progress bar."""
    from robustbench_liver.training.loop import CHECKPOINT

    path = out / CHECKPOINT
    if not path.exists():
        return 0
    import torch

    try:
        # mmap: the iteration count without reading the weights and optimizer state
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["iteration"])
    except Exception:  # train() reports a damaged checkpoint properly
        return 0
