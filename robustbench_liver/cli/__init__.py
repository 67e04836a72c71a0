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
