"""Entry point of `robustbench-liver`: dispatch to one module per verb."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from robustbench_liver import __version__
from robustbench_liver.errors import RobustBenchError

# Each module defines `register(subparsers)`, which adds its parser and sets `func`.
# Listed by hand (no package scanning) so the set of verbs is explicit.
COMMANDS: tuple[str, ...] = (
    "robustbench_liver.cli.phantom",
    "robustbench_liver.cli.validate",
    "robustbench_liver.cli.synth",
    "robustbench_liver.cli.run",
    "robustbench_liver.cli.cache",
    "robustbench_liver.cli.compare",
    "robustbench_liver.cli.coverage",
    "robustbench_liver.cli.preview",
    "robustbench_liver.cli.evaluate",
    "robustbench_liver.cli.report",
    "robustbench_liver.cli.leaderboard",
    "robustbench_liver.cli.models",
    "robustbench_liver.cli.train",
    "robustbench_liver.cli.turing",
    "robustbench_liver.cli.fidelity",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robustbench-liver",
        description="Find where a liver-tumor segmentation model breaks, on synthetic tumors.",
        epilog="Example: robustbench-liver phantom --seed 7 --out phantom7/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RobustBenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
