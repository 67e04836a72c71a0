"""`robustbench-liver demo`: what `make demo` runs, growing as the suite grows."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="the quickstart: a phantom base scan and its picture",
        description="Run the quickstart on the built-in phantom (no data needed).",
        epilog="example:\n  robustbench-liver demo --out runs/demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    parser.add_argument("--seed", type=int, default=7, help="phantom seed (default 7)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.cli import phantom

    out: Path = args.out
    phantom_args = argparse.Namespace(
        seed=args.seed,
        out=out / "phantom",
        shape=None,
        spacing=None,
        liver_volume_ml=None,
        noise_std=None,
    )
    phantom.run(phantom_args)
    print(f"demo done: open {out / 'phantom' / 'phantom.png'}")
    return 0
