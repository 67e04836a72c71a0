"""The `robustbench-liver` command line: one module per verb, listed in `main.COMMANDS`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_data_root(
    parser: argparse.ArgumentParser, what: str = "folder that file sources are read from"
) -> None:
    """--data-root, defaulting to $ROBUSTBENCH_LIVER_DATA."""
    parser.add_argument(
        "--data-root",
        type=Path,
        default=os.environ.get("ROBUSTBENCH_LIVER_DATA"),
        help=f"{what} (default: $ROBUSTBENCH_LIVER_DATA)",
    )


def add_limit(parser: argparse.ArgumentParser) -> None:
    """--limit N: a smaller plan with the full plan's mix of tumor cases and controls."""
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="about N cases per condition: tumor cases and controls in the full plan's "
        "proportion, at least one of each, the first in round-robin order",
    )
